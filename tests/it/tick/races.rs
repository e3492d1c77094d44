//! Ticks that overlap, and ticks killed or crashed between claim, publish and
//! acknowledgement: every change announced exactly once, with stable ids.

use std::collections::HashMap;
use std::sync::atomic::{AtomicBool, Ordering};
use std::time::Duration;

use pipewatch::aws::SnsNotifier;
use pipewatch::ports::Notifier;
use pipewatch::ports::NotifyError;
use pipewatch::tick::TickSummary;
use pipewatch_core::render::message::Message;
use pipewatch_testkit::fault_proxy::{Fault, FaultProxy};
use pipewatch_testkit::world::World;
use serde_json::json;

use super::{TickByName, names, run_state, settings, watcher};

/// Whether the eight ticks overlap here is the scheduler's to decide; whatever it decides,
/// nothing is announced twice or lost (the next test forces the races).
#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn overlapping_ticks_announce_every_change_exactly_once() {
    overlapping_ticks(None).await;
}

/// Batch reads are eventually consistent: the claim must still decide alone, even when
/// every read is a whole tick old.
#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn overlapping_ticks_reading_old_records_still_announce_every_change_exactly_once() {
    let proxy = FaultProxy::start(&pipewatch_testkit::services::require(
        "AWS_ENDPOINT_URL_DYNAMODB",
    ));
    proxy.lag_batch_reads();
    let conflicts = overlapping_ticks(Some(&proxy)).await;
    assert!(proxy.stale_answers() > 0, "some reads were old");
    // A tick reading a record older than the one written meanwhile claims against an old
    // version, however the ticks are scheduled: its claim loses and is decided again.
    assert!(
        conflicts > 0,
        "claims against old reads were lost and decided again"
    );
}

/// Eight ticks at once over ten pipelines for six rounds of new runs, their DynamoDB calls
/// through `proxy` if given; asserts every run announced exactly once, returns the claims
/// lost and decided again.
async fn overlapping_ticks(proxy: Option<&FaultProxy>) -> usize {
    const TICKS: usize = 8;
    const PIPELINES: usize = 10;
    const ROUNDS: usize = 6;
    let harness = std::sync::Arc::new(World::new().await);
    let store_url = proxy.map(FaultProxy::url);
    let pipelines = names("busy", PIPELINES);
    let mut conflicts_or_quiet = 0;
    let mut conflicts = 0;
    for round in 0..=ROUNDS {
        for pipeline in &pipelines {
            harness.fake.set_state(&run_state(pipeline, round));
        }
        let ticks: Vec<_> = (0..TICKS)
            .map(|_| {
                let harness = std::sync::Arc::clone(&harness);
                let pipelines = pipelines.clone();
                let store_url = store_url.clone();
                tokio::spawn(async move {
                    match store_url {
                        None => watcher(&harness).tick(&pipelines).await,
                        Some(url) => {
                            let watcher = harness.watcher_with(
                                harness.store_via(&url),
                                harness.notifier(),
                                settings(Duration::from_mins(1)),
                            );
                            watcher.tick(&pipelines).await
                        }
                    }
                })
            })
            .collect();
        for tick in ticks {
            let summary: TickSummary = tick.await.unwrap();
            assert!(summary.failed.is_empty(), "{summary:?}");
            conflicts_or_quiet += PIPELINES - summary.changes.min(PIPELINES);
            conflicts += summary.conflicts;
        }
    }
    let delivered = harness.inbox.drain().await;
    let mut announced: HashMap<String, usize> = HashMap::new();
    for message in &delivered {
        for change in message.changes() {
            *announced
                .entry(change["execution_id"].as_str().unwrap().to_owned())
                .or_default() += 1;
        }
    }
    let expected: Vec<String> = pipelines
        .iter()
        .flat_map(|p| (1..=ROUNDS).map(move |run| format!("{p}-run-{run}")))
        .collect();
    let duplicated = announced.values().filter(|n| **n > 1).count();
    let lost = expected
        .iter()
        .filter(|id| !announced.contains_key(*id))
        .count();
    println!(
        "concurrency ({}): {TICKS} ticks at once x {ROUNDS} rounds x {PIPELINES} pipelines: {} changes, {} messages, {duplicated} duplicated, {lost} lost ({conflicts_or_quiet} pipeline checks found nothing left to claim, {conflicts} claims lost and decided again)",
        if proxy.is_some() {
            "reads a tick old"
        } else {
            "fresh reads"
        },
        expected.len(),
        delivered.len()
    );
    assert!(expected.len() >= 50);
    assert_eq!(duplicated, 0);
    assert_eq!(lost, 0);
    assert_eq!(
        announced.len(),
        expected.len(),
        "nothing announced that did not happen"
    );
    conflicts
}

#[tokio::test]
async fn sns_failing_for_several_ticks_loses_nothing_and_keeps_ids() {
    let harness = World::new().await;
    let (proxy, watcher) = harness.with_sns_proxy(settings(Duration::from_mins(1)));
    let pipelines = vec!["flaky".to_owned()];
    harness.fake.set_state(&run_state("flaky", 0));
    watcher.tick(&pipelines).await;

    // Three ticks of outage: throttled, then 500s while claiming a change each, then
    // throttled again with nothing new, only the retries of what is pending.
    let outage = [
        (Some(1), Fault::sns_throttling()),
        (Some(2), Fault::server_error()),
        (None, Fault::sns_throttling()),
    ];
    for (run, fault) in outage {
        proxy.always(fault);
        if let Some(run) = run {
            harness.fake.set_state(&run_state("flaky", run));
        }
        let summary = watcher.tick(&pipelines).await;
        // Not a failed check: the messages wait in the outbox, and the figures say so.
        assert!(summary.failed.is_empty(), "{summary:?}");
        assert!(summary.publish_failures >= 1, "{summary:?}");
        assert!(summary.messages_pending >= 1, "{summary:?}");
        assert_eq!(summary.messages_published, 0);
    }
    let pending: Vec<String> = harness
        .stored("flaky")
        .await
        .outbox
        .iter()
        .map(|p| p.message.id.clone())
        .collect();
    assert_eq!(pending.len(), 2);
    assert!(harness.inbox.drain().await.is_empty());

    proxy.heal();
    let summary = watcher.tick(&pipelines).await;
    assert!(summary.failed.is_empty(), "{summary:?}");
    assert_eq!(
        (summary.messages_published, summary.messages_pending),
        (2, 0)
    );
    let delivered = harness.inbox.drain().await;
    let ids: Vec<&str> = delivered
        .iter()
        .map(pipewatch_testkit::services::Delivered::id)
        .collect();
    assert_eq!(
        ids, pending,
        "the messages claimed during the outage, same ids, in order"
    );
    assert!(harness.stored("flaky").await.outbox.is_empty());
    println!(
        "sns outage: {} requests faulted over 3 ticks; {} messages delivered after recovery, 0 lost",
        proxy.faulted(),
        delivered.len()
    );
}

#[tokio::test]
async fn a_tick_killed_between_claim_and_publish_is_completed_after_its_lease() {
    let harness = World::new().await;
    // A lease no slow machine can outrun; the clock is moved past it instead of waited on.
    let lease = Duration::from_hours(1);
    let (proxy, watcher) = harness.with_sns_proxy(settings(lease));
    let pipelines = vec!["crashy".to_owned()];
    harness.fake.set_state(&run_state("crashy", 0));
    watcher.tick(&pipelines).await;

    // SNS never answers; the tick is killed (its future dropped) while publishing.
    proxy.always(Fault::Hang);
    harness.fake.set_state(&run_state("crashy", 1));
    kill_when(watcher.tick(&pipelines), || proxy.faulted() > 0).await;
    let claimed = harness.stored("crashy").await;
    assert_eq!(
        claimed.outbox.len(),
        1,
        "the claim was written before the crash"
    );
    proxy.heal();

    // Within the lease, another tick leaves the message to its (dead) owner.
    let early = watcher.tick(&pipelines).await;
    assert_eq!(
        (
            early.messages_published,
            early.messages_pending,
            early.writes
        ),
        (0, 1, 0)
    );
    assert!(harness.inbox.drain().await.is_empty());

    watcher
        .settings
        .clock
        .advance(lease + Duration::from_secs(1));
    let late = watcher.tick(&pipelines).await;
    assert_eq!(
        (late.messages_published, late.messages_pending),
        (1, 0),
        "{late:?}"
    );
    let delivered = harness.inbox.drain().await;
    assert_eq!(delivered.len(), 1);
    assert_eq!(delivered[0].id(), claimed.outbox[0].message.id);
    assert_eq!(delivered[0].changes()[0]["execution_id"], "crashy-run-1");
}

/// A notifier that publishes for real, then never returns: a crash after SNS accepted the
/// message but before the outbox was acknowledged.
struct PublishThenDie {
    notifier: SnsNotifier,
    published: AtomicBool,
}

impl Notifier for PublishThenDie {
    async fn publish(&self, messages: &[Message]) -> Vec<Result<(), NotifyError>> {
        let _ = self.notifier.publish(messages).await;
        self.published.store(true, Ordering::SeqCst);
        std::future::pending().await
    }
}

/// Drives `tick` until `now` says so, then drops it mid-flight: to the store and SNS,
/// exactly what a killed process looks like. Panics if the tick finishes first.
async fn kill_when(tick: impl std::future::Future<Output = TickSummary>, now: impl Fn() -> bool) {
    tokio::pin!(tick);
    loop {
        tokio::select! {
            summary = &mut tick => panic!("the tick finished before it could be killed: {summary:?}"),
            () = tokio::time::sleep(Duration::from_millis(10)) => if now() { return },
        }
    }
}

#[tokio::test]
async fn a_crash_after_publishing_redelivers_once_with_the_same_id() {
    let harness = World::new().await;
    let lease = Duration::from_hours(1);
    let dying = harness.watcher_with(
        harness.store(),
        PublishThenDie {
            notifier: harness.notifier(),
            published: AtomicBool::new(false),
        },
        settings(lease),
    );
    let healthy = harness.watcher_with(harness.store(), harness.notifier(), settings(lease));
    let pipelines = vec!["twice".to_owned()];
    harness.fake.set_state(&run_state("twice", 0));
    harness.fake.set_execution(&execution_of("twice-execution"));
    healthy.tick(&pipelines).await;

    harness.fake.set_state(&run_state("twice", 1));
    kill_when(dying.tick(&pipelines), || {
        dying.notifier.published.load(Ordering::SeqCst)
    })
    .await;
    healthy
        .settings
        .clock
        .advance(lease + Duration::from_secs(1));
    let summary = healthy.tick(&pipelines).await;
    assert_eq!(summary.messages_published, 1);

    let delivered = harness.inbox.drain().await;
    assert_eq!(delivered.len(), 2, "delivered, then redelivered");
    assert_eq!(
        delivered[0].id(),
        delivered[1].id(),
        "a redelivery shares the id"
    );
    assert_eq!(delivered[0].body, delivered[1].body);
    assert_eq!(
        delivered[1].body["executions"][0]["revisions"][0]["short_id"], "c0ffee1",
        "the redelivery carries the enrichment made before the claim"
    );
    assert_eq!(
        harness.fake.execution_calls("twice-execution"),
        1,
        "and calls nothing"
    );
    assert!(harness.stored("twice").await.outbox.is_empty());
}

/// A `GetPipelineExecution` response for `id`, with one commit.
fn execution_of(id: &str) -> String {
    json!({"pipelineExecution": {"pipelineExecutionId": id, "status": "InProgress",
        "artifactRevisions": [{"name": "Src", "revisionId": "c0ffee1234567890abcdef1234567890abcdef12",
            "revisionSummary": "Fix the retry"}],
        "trigger": {"triggerType": "StartPipelineExecution",
            "triggerDetail": "arn:aws:iam::123456789012:user/ana"}}})
    .to_string()
}
