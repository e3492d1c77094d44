//! The claim rules of [`plan`], without any service.

use serde_json::json;

use super::*;
use crate::render::message::Severity;

const NOW: i64 = 1_800_000_000_000;
const LEASE: i64 = 90_000;

fn observation(status: &str) -> PipelineState {
    serde_json::from_value(
        json!({"pipelineName": "web", "pipelineVersion": 1, "stageStates": [
        {"stageName": "Build", "actionStates": [{"actionName": "Compile",
            "latestExecution": {"actionExecutionId": "a1", "status": status,
                                "summary": "free text that snapshots do not keep"}}]}]}),
    )
    .unwrap()
}

/// The plan for observing `current` with `loaded` stored, nothing enriched.
fn decide(loaded: &Loaded, current: &PipelineState) -> Option<Plan> {
    plan_with(loaded, current, None)
}

fn plan_with(loaded: &Loaded, current: &PipelineState, retention_s: Option<i64>) -> Option<Plan> {
    let facts = Facts {
        changes: changes_since(loaded, current),
        fresh: &[],
        console: None,
        retention_s,
    };
    plan(
        &crate::pipeline::PipelineRef::home("web"),
        loaded,
        current,
        facts,
        NOW,
        LEASE,
    )
}

fn stored(status: &str, outbox: Vec<Pending>) -> Loaded {
    Loaded::Found(Record {
        pipeline: "web".into(),
        version: 41,
        snapshot: Some(essentials(&observation(status))),
        outbox,
        executions: Vec::new(),
        expires_at: None,
        health: Health::default(),
    })
}

fn pending(id: &str, lease_until: i64) -> Pending {
    let mut message = messages(
        "web",
        &diff(&observation("InProgress"), &observation("Failed")),
        &Context::default(),
        id,
    )
    .remove(0);
    message.id = id.into();
    Pending {
        message,
        lease_until,
        claimed_at: NOW - 1,
        attempts: 0,
    }
}

#[test]
fn a_first_sight_is_a_silent_baseline_written_only_if_absent() {
    let plan = decide(&Loaded::Missing, &observation("InProgress")).unwrap();
    assert_eq!(plan.expected, Expected::Absent);
    assert!(plan.publish.is_empty());
    // A new record starts at the clock, in milliseconds.
    assert_eq!(plan.record.version, 1_800_000_000_000);
    assert_eq!(
        plan.record.snapshot,
        Some(essentials(&observation("InProgress")))
    );
}

#[test]
fn a_quiet_tick_writes_nothing() {
    let loaded = stored("InProgress", vec![]);
    assert!(decide(&loaded, &observation("InProgress")).is_none());
}

#[test]
fn changes_are_claimed_with_their_messages_under_a_lease() {
    let loaded = stored("InProgress", vec![]);
    let plan = decide(&loaded, &observation("Failed")).unwrap();
    assert_eq!(plan.expected, Expected::Version(41));
    assert_eq!(plan.record.version, 42);
    assert_eq!(plan.changes, 1);
    assert_eq!(plan.publish.len(), 1);
    assert_eq!(plan.publish[0].id, "web/42/1");
    assert_eq!(plan.record.outbox.len(), 1);
    assert_eq!(plan.record.outbox[0].lease_until, NOW + LEASE);
    assert_eq!(
        plan.record.snapshot,
        Some(essentials(&observation("Failed")))
    );
}

#[test]
fn messages_under_another_ticks_live_lease_are_left_alone() {
    let loaded = stored("Failed", vec![pending("web/40/1", NOW + 1)]);
    assert!(decide(&loaded, &observation("Failed")).is_none());

    // New changes are claimed, but only they are published by this tick.
    let plan = decide(&loaded, &observation("Succeeded")).unwrap();
    let ids: Vec<&str> = plan.publish.iter().map(|m| m.id.as_str()).collect();
    assert_eq!(ids, ["web/42/1"]);
    assert_eq!(plan.record.outbox.len(), 2);
    assert_eq!(
        plan.record.outbox[0].lease_until,
        NOW + 1,
        "the other lease is kept"
    );
}

#[test]
fn messages_whose_lease_expired_are_taken_over_without_moving_the_snapshot() {
    let loaded = stored(
        "Failed",
        vec![pending("web/40/1", NOW), pending("web/40/2", 0)],
    );
    let plan = decide(&loaded, &observation("Failed")).unwrap();
    let ids: Vec<&str> = plan.publish.iter().map(|m| m.id.as_str()).collect();
    assert_eq!(
        ids,
        ["web/40/1", "web/40/2"],
        "same ids as the first attempt"
    );
    assert!(
        plan.record
            .outbox
            .iter()
            .all(|p| p.lease_until == NOW + LEASE)
    );
    assert_eq!(plan.changes, 0);
    let Loaded::Found(before) = &loaded else {
        unreachable!()
    };
    assert_eq!(plan.record.snapshot, before.snapshot);
    assert_eq!(plan.expected, Expected::Version(41));
}

#[test]
fn an_unreadable_record_is_rebaselined_keeping_its_outbox_and_version_line() {
    let loaded = Loaded::Unreadable {
        version: Some(7),
        outbox: vec![pending("web/7/1", 0)],
        reason: "snapshot: invalid deflate stream".into(),
    };
    let first = decide(&loaded, &observation("Failed")).unwrap();
    assert!(first.rebaselined);
    assert_eq!(first.expected, Expected::Version(7));
    assert_eq!(first.record.version, 8);
    assert_eq!(
        first.publish.len(),
        1,
        "the readable outbox is still delivered"
    );
    assert_eq!(first.changes, 0, "a re-baseline is silent");

    let hopeless = Loaded::Unreadable {
        version: None,
        outbox: vec![],
        reason: "schema 99".into(),
    };
    let plan = decide(&hopeless, &observation("Failed")).unwrap();
    assert_eq!(plan.expected, Expected::UnreadableVersion);
    // A new record starts at the clock, in milliseconds.
    assert_eq!(plan.record.version, 1_800_000_000_000);
}

/// The plan with records expiring `retention_s` after each write.
fn decide_with_retention(
    loaded: &Loaded,
    current: &PipelineState,
    retention_s: i64,
) -> Option<Plan> {
    plan_with(loaded, current, Some(retention_s))
}

fn stored_expiring(expires_at: Option<i64>) -> Loaded {
    let Loaded::Found(mut record) = stored("InProgress", vec![]) else {
        unreachable!()
    };
    record.expires_at = expires_at;
    Loaded::Found(record)
}

#[test]
fn every_write_pushes_the_expiry_forward() {
    const DAY: i64 = 86_400;
    let plan =
        decide_with_retention(&Loaded::Missing, &observation("InProgress"), 90 * DAY).unwrap();
    assert_eq!(plan.record.expires_at, Some(NOW / 1000 + 90 * DAY));
    let changed = decide_with_retention(
        &stored_expiring(Some(NOW / 1000 + 80 * DAY)),
        &observation("Failed"),
        90 * DAY,
    )
    .unwrap();
    assert_eq!(changed.record.expires_at, Some(NOW / 1000 + 90 * DAY));
}

#[test]
fn a_quiet_record_is_written_again_only_once_half_its_retention_has_gone() {
    const DAY: i64 = 86_400;
    // 10 days gone, and exactly half (45 days left): not yet.
    for left in [80 * DAY, 45 * DAY] {
        let fresh = stored_expiring(Some(NOW / 1000 + left));
        assert!(
            decide_with_retention(&fresh, &observation("InProgress"), 90 * DAY).is_none(),
            "a quiet tick writes nothing ({left} s left)"
        );
    }
    for stale in [
        stored_expiring(Some(NOW / 1000 + 40 * DAY)),
        stored_expiring(None),
    ] {
        let touch = decide_with_retention(&stale, &observation("InProgress"), 90 * DAY).unwrap();
        assert_eq!(touch.changes, 0);
        assert!(touch.publish.is_empty());
        assert_eq!(touch.expected, Expected::Version(41));
        assert_eq!(touch.record.expires_at, Some(NOW / 1000 + 90 * DAY));
        let Loaded::Found(before) = &stale else {
            unreachable!()
        };
        assert_eq!(touch.record.snapshot, before.snapshot, "nothing else moves");
    }
    // Without a retention (the CLI's folder) nothing is ever written for expiry.
    assert!(decide(&stored_expiring(None), &observation("InProgress")).is_none());
}

/// The plan after a failed read with `loaded` stored, announcing after `threshold`.
fn decide_unreadable(loaded: &Loaded, threshold: u32) -> Option<Plan> {
    decide_unreadable_at(loaded, threshold, NOW)
}

fn decide_unreadable_at(loaded: &Loaded, threshold: u32, now: i64) -> Option<Plan> {
    plan_unreadable(
        &crate::pipeline::PipelineRef::home("web"),
        loaded,
        "GetPipelineState failed: AccessDeniedException",
        threshold,
        None,
        now,
        LEASE,
    )
}

#[test]
fn failed_reads_are_counted_then_announced_once_then_nothing_until_recovery() {
    // Never read: a record of failures only, with no snapshot.
    let first = decide_unreadable(&Loaded::Missing, 3).unwrap();
    assert_eq!(first.expected, Expected::Absent);
    assert_eq!(first.record.snapshot, None);
    assert_eq!(first.record.health.failures, 1);
    assert_eq!(first.record.health.since, NOW);
    assert!(first.publish.is_empty());

    // A minute later: the streak still started at the first failure.
    let second = decide_unreadable_at(&Loaded::Found(first.record), 3, NOW + 60_000).unwrap();
    assert_eq!(second.record.health.failures, 2);
    assert_eq!(second.record.health.since, NOW);
    assert!(second.publish.is_empty());

    let third = decide_unreadable(&Loaded::Found(second.record), 3).unwrap();
    assert!(third.record.health.reported);
    assert_eq!(third.publish.len(), 1, "announced at the threshold");
    assert_eq!(third.changes, 1, "the announcement is a change");
    let announced = &third.publish[0];
    assert_eq!(announced.attributes.severity, Severity::Failure);
    assert_eq!(announced.attributes.kinds, ["access"]);
    assert!(
        announced.text.contains("cannot read") && announced.text.contains("AccessDenied"),
        "{}",
        announced.text
    );

    // Announced and published: later failures write nothing.
    let mut after = third.record;
    after.outbox.clear();
    let loaded = Loaded::Found(after.clone());
    assert!(decide_unreadable(&loaded, 3).is_none());

    // The first successful read: a silent baseline (nothing to diff against) and one
    // "reads again" message; the streak is over.
    let back = decide(&loaded, &observation("Failed")).unwrap();
    assert_eq!(back.record.health, Health::default());
    assert_eq!(
        back.record.snapshot,
        Some(essentials(&observation("Failed")))
    );
    assert_eq!(back.publish.len(), 1);
    assert!(back.publish[0].text.contains("reads the pipeline again"));
    assert_eq!(back.publish[0].attributes.severity, Severity::Info);
}

#[test]
fn a_streak_shorter_than_the_threshold_ends_silently() {
    let loaded = stored("InProgress", vec![]);
    let failed = decide_unreadable(&loaded, 3).unwrap();
    assert_eq!(failed.record.health.failures, 1);
    assert_eq!(failed.record.version, 42);
    let back = decide(&Loaded::Found(failed.record), &observation("InProgress")).unwrap();
    assert!(
        back.publish.is_empty(),
        "nothing was announced, nothing to take back"
    );
    assert_eq!(back.record.health, Health::default());
}

#[test]
fn an_outbox_past_its_bound_evicts_its_oldest_messages_and_keeps_the_new_one() {
    // The outbox's bound: 100 messages (and 200,000 bytes).
    let outbox: Vec<Pending> = (0..100)
        .map(|i| pending(&format!("web/{i}/1"), 0))
        .collect();
    let loaded = stored("InProgress", outbox);
    let plan = decide(&loaded, &observation("Failed")).unwrap();
    assert_eq!(plan.record.outbox.len(), 100);
    let evicted: Vec<&str> = plan.evict.iter().map(|l| l.message.id.as_str()).collect();
    assert_eq!(evicted, ["web/0/1"], "the oldest goes first");
    assert!(plan.evict[0].reason.contains("bound"));
    assert_eq!(plan.record.outbox.last().unwrap().message.id, "web/42/1");
    assert!(
        !plan.publish.iter().any(|m| m.id == "web/0/1"),
        "an evicted message is not also published"
    );

    // By bytes: few but large messages. Three halves of the bound: two must go.
    let big = |id: &str| {
        let mut big = pending(id, 0);
        big.message.body = "x".repeat(100_000);
        big
    };
    let loaded = stored(
        "InProgress",
        vec![big("web/1/1"), big("web/2/1"), big("web/3/1")],
    );
    let plan = decide(&loaded, &observation("Failed")).unwrap();
    let evicted: Vec<&str> = plan.evict.iter().map(|l| l.message.id.as_str()).collect();
    assert_eq!(evicted, ["web/1/1", "web/2/1"]);
    let ids: Vec<&str> = plan
        .record
        .outbox
        .iter()
        .map(|p| p.message.id.as_str())
        .collect();
    assert_eq!(ids, ["web/3/1", "web/42/1"]);

    // At the bound exactly (99 and the new one), nothing goes.
    let outbox: Vec<Pending> = (0..99).map(|i| pending(&format!("web/{i}/1"), 0)).collect();
    let plan = decide(&stored("InProgress", outbox), &observation("Failed")).unwrap();
    assert_eq!(plan.record.outbox.len(), 100);
    assert!(plan.evict.is_empty());

    // One message alone stays, even past the bytes' bound.
    let mut plan = decide(&stored("InProgress", vec![]), &observation("Failed")).unwrap();
    plan.record.outbox = vec![big("web/42/1"), big("web/42/2")]
        .into_iter()
        .map(|mut p| {
            p.message.body = "x".repeat(250_000);
            p
        })
        .collect();
    let plan = bounded(plan);
    let evicted: Vec<&str> = plan.evict.iter().map(|l| l.message.id.as_str()).collect();
    assert_eq!(evicted, ["web/42/1"]);
    assert_eq!(plan.record.outbox.len(), 1);

    // Two messages of exactly 200,000 bytes between them (as stored, in JSON): nothing goes.
    let size = |p: &Pending| serde_json::to_vec(p).unwrap().len();
    let first = big("web/42/1");
    let mut second = big("web/42/2");
    second.message.body.clear();
    second.message.body = "x".repeat(200_000 - size(&first) - size(&second));
    assert_eq!(size(&first) + size(&second), 200_000);
    let mut plan = decide(&stored("InProgress", vec![]), &observation("Failed")).unwrap();
    plan.record.outbox = vec![first, second];
    let plan = bounded(plan);
    assert!(plan.evict.is_empty(), "{:?}", plan.evict);
    assert_eq!(plan.record.outbox.len(), 2);
}

fn execution(id: &str) -> PipelineExecution {
    PipelineExecution {
        pipeline_execution_id: id.into(),
        execution_type: None,
        artifact_revisions: Vec::new(),
        trigger: None,
        rollback_metadata: None,
    }
}

fn ids(cache: &[PipelineExecution]) -> Vec<&str> {
    cache
        .iter()
        .map(|e| e.pipeline_execution_id.as_str())
        .collect()
}

/// A stage whose latest run is `execution`, with one action of `action_id` in it.
fn running(execution: &str, action_id: &str, status: &str) -> PipelineState {
    serde_json::from_value(
        json!({"pipelineName": "web", "pipelineVersion": 1, "stageStates": [
        {"stageName": "Build",
         "latestExecution": {"pipelineExecutionId": execution, "status": status},
         "actionStates": [{"actionName": "Compile", "latestExecution":
            {"actionExecutionId": action_id, "status": status}}]}]}),
    )
    .unwrap()
}

#[test]
fn the_executions_changes_mention_are_named_once_each_in_order() {
    let changes = diff(
        &running("e0", "a0", "Succeeded"),
        &running("e1", "a1", "InProgress"),
    );
    assert_eq!(changes.len(), 2, "{changes:?}");
    assert_eq!(mentioned(&changes), ["e1"]);
    assert!(mentioned(&[]).is_empty());
}

#[test]
fn the_execution_cache_adds_each_answer_once_keeps_the_used_last_and_holds_twenty() {
    let stored: Vec<PipelineExecution> = ["e1", "e2", "e3"].map(execution).into();
    // e2 answered again (already cached) and e4 for the first time.
    let cache = cached_executions(&stored, &[execution("e2"), execution("e4")], &[]);
    assert_eq!(ids(&cache), ["e1", "e2", "e3", "e4"]);
    // A change of e1 makes it the most recently used.
    let about_e1 = diff(
        &running("e0", "a0", "Succeeded"),
        &running("e1", "a1", "InProgress"),
    );
    let cache = cached_executions(&cache, &[], &about_e1);
    assert_eq!(ids(&cache), ["e2", "e3", "e4", "e1"]);
    // Past 20 the least recently used go.
    let many: Vec<PipelineExecution> = (1..=25).map(|i| execution(&format!("e{i}"))).collect();
    let cache = cached_executions(&many, &[], &about_e1);
    assert_eq!(cache.len(), 20);
    assert_eq!(ids(&cache)[..2], ["e7", "e8"]);
    assert_eq!(ids(&cache)[19], "e1");
}

#[test]
fn the_outbox_is_counted_and_its_oldest_claim_found_whatever_was_loaded() {
    let claimed = |at: i64| Pending {
        claimed_at: at,
        ..pending("web/1/1", 0)
    };
    // A message of a record written before claim times were kept reads 0: unknown.
    let outbox = vec![claimed(0), claimed(300), claimed(200)];
    assert_eq!(oldest(&outbox), Some(200));
    assert_eq!(oldest(&[claimed(0)]), None);
    assert_eq!(oldest(&[]), None);

    let found = stored("InProgress", outbox.clone());
    assert_eq!(super::pending(&found), 3);
    let unreadable = Loaded::Unreadable {
        version: Some(3),
        outbox: outbox[..2].to_vec(),
        reason: "corrupt".into(),
    };
    assert_eq!(super::pending(&unreadable), 2);
    assert_eq!(outbox_of(&unreadable).map(<[Pending]>::len), Some(2));
    assert_eq!(super::pending(&Loaded::Missing), 0);
    assert!(outbox_of(&Loaded::Missing).is_none());
}
