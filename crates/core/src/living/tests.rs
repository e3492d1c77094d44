use serde_json::json;

use super::*;

fn living(revision: u64, text: &str, severity: Severity) -> Living {
    let message = json!({"text": text, "blocks": []});
    Living {
        execution: "e-1".into(),
        revision,
        severity,
        digest: crate::render::slack_app::digest(&message),
        message,
    }
}

/// A message posted with its `ts` stored, and that rendering sent.
fn posted(revision: u64, text: &str) -> MessageRef {
    let mut reference = claim("C1", &living(revision, text, Severity::Info), 0);
    reference.ts = Some("1.000100".into());
    reference.sent = Some(reference.digest.clone());
    reference
}

#[test]
fn the_first_rendering_claims_the_message_unless_the_channel_wants_more() {
    let info = living(5, "a", Severity::Info);
    assert_eq!(next(None, &info, Severity::Info, 0), Next::Claim);
    assert_eq!(next(None, &info, Severity::Failure, 0), Next::Skip);
    let failure = living(5, "a", Severity::Failure);
    assert_eq!(next(None, &failure, Severity::Failure, 0), Next::Claim);
}

#[test]
fn a_claim_without_ts_is_waited_for_until_its_lease_then_taken_over() {
    let claimed = claim("C1", &living(5, "a", Severity::Info), 1_000);
    let newer = living(6, "b", Severity::Info);
    assert_eq!(claimed.claimed_until, 1_000 + CLAIM_LEASE_MS);
    assert_eq!(
        next(Some(&claimed), &newer, Severity::Info, 1_000),
        Next::Wait
    );
    assert_eq!(
        next(
            Some(&claimed),
            &newer,
            Severity::Info,
            claimed.claimed_until - 1
        ),
        Next::Wait
    );
    assert_eq!(
        next(
            Some(&claimed),
            &newer,
            Severity::Info,
            claimed.claimed_until
        ),
        Next::TakeOver
    );
}

#[test]
fn only_a_newer_and_different_rendering_is_recorded() {
    let stored = posted(5, "a");
    let at = |revision, text| {
        next(
            Some(&stored),
            &living(revision, text, Severity::Info),
            Severity::Failure,
            0,
        )
    };
    assert_eq!(at(6, "b"), Next::Record, "newer and different");
    assert_eq!(at(6, "a"), Next::Nothing, "newer, same rendering");
    assert_eq!(at(5, "b"), Next::Nothing, "same revision");
    assert_eq!(at(4, "b"), Next::Nothing, "older: never rolled back");
}

/// A rendering recorded and never sent (its sender's call failed, or it died) is sent by
/// the next delivery once no forwarder is sending it, even an older or equal one: a
/// redelivery of the very notification would otherwise find it recorded and do nothing.
#[test]
fn a_recorded_rendering_nobody_sends_is_sent_by_the_next_delivery() {
    let newer = recorded(&posted(5, "a"), &living(7, "c", Severity::Info), 1_000);
    let at = |stored: &MessageRef, revision, text, now| {
        next(
            Some(stored),
            &living(revision, text, Severity::Info),
            Severity::Info,
            now,
        )
    };
    let lease_end = 1_000 + CLAIM_LEASE_MS;
    assert_eq!(
        at(&newer, 6, "b", lease_end - 1),
        Next::Nothing,
        "its sender is on it"
    );
    assert_eq!(
        at(&newer, 6, "b", lease_end),
        Next::Resend,
        "its sender is gone"
    );
    let given_up = MessageRef {
        sending_until: 0,
        ..newer.clone()
    };
    assert_eq!(
        at(&given_up, 7, "c", 1_000),
        Next::Resend,
        "the same, delivered again"
    );
    let sent = MessageRef {
        sent: Some(newer.digest.clone()),
        ..given_up
    };
    assert_eq!(at(&sent, 7, "c", lease_end), Next::Nothing, "sent: nothing");
    assert_eq!(
        at(&sent, 8, "d", lease_end),
        Next::Record,
        "newer: recorded"
    );
}

#[test]
fn after_a_call_the_newest_recorded_rendering_is_sent_if_it_is_not_what_was_sent() {
    let stored = posted(5, "a");
    let c = living(7, "c", Severity::Info);
    let newer = recorded(&stored, &c, 1_000);
    assert_eq!(newer.sending_until, 1_000 + CLAIM_LEASE_MS);
    assert_eq!(newer.revision, 7);
    assert_eq!(
        newer.message,
        c.message.to_string(),
        "the rendering to send is kept"
    );
    assert_eq!(newer.digest, c.digest);
    assert_eq!(newer.ts, stored.ts, "recording keeps the message");
    let sent_old = stored.digest.clone();
    assert_eq!(resend(&newer, &sent_old), Some(newer.message.as_str()));
    assert_eq!(resend(&newer, &newer.digest), None);
}

#[test]
fn the_simulation_posts_once_updates_in_order_and_threads_each_reply_once() {
    use crate::render::slack_app::{Rendered, Reply};
    let rendering = |revision, text: &str, replies: Vec<Reply>| Rendered {
        living: vec![living(revision, text, Severity::Info)],
        replies,
        standalone: None,
    };
    let reply = Reply {
        execution: "e-1".into(),
        key: "failed/Build/Unit/x".into(),
        broadcast: true,
        message: json!({"text": "failed"}),
    };
    let mut app = Simulation::new("C1", Severity::Info);
    let methods = |calls: Vec<Call>| calls.iter().map(|c| c.method).collect::<Vec<_>>();
    assert_eq!(
        methods(app.deliver(&rendering(1, "a", vec![]))),
        ["chat.postMessage"]
    );
    let calls = app.deliver(&rendering(2, "b", vec![reply.clone()]));
    assert_eq!(methods(calls.clone()), ["chat.update", "chat.postMessage"]);
    assert_eq!(calls[0].body["ts"], "1700000000.000100");
    assert_eq!(calls[1].body["thread_ts"], "1700000000.000100");
    assert_eq!(calls[1].body["reply_broadcast"], true);
    assert!(
        app.deliver(&rendering(2, "b", vec![reply.clone()]))
            .is_empty(),
        "a duplicate"
    );
    assert!(
        app.deliver(&rendering(1, "a", vec![])).is_empty(),
        "an older one"
    );
}

#[test]
fn a_take_over_posts_the_newest_rendering_recorded_under_the_expired_claim() {
    let mut expired = claim("C1", &living(5, "a", Severity::Info), 0);
    expired = recorded(&expired, &living(8, "c", Severity::Info), 0);
    let older = living(6, "b", Severity::Info);
    let over = claim_over(Some(&expired), "C1", &older, 100);
    assert_eq!(
        (over.revision, over.message.as_str()),
        (8, expired.message.as_str())
    );
    assert_eq!(over.claimed_until, 100 + CLAIM_LEASE_MS);
    let newer = living(9, "d", Severity::Info);
    assert_eq!(claim_over(Some(&expired), "C1", &newer, 100).revision, 9);
    assert_eq!(claim_over(None, "C1", &older, 100).revision, 6);
    // The same revision again: its own rendering, freshly made, is posted.
    let same = living(8, "c2", Severity::Info);
    assert_eq!(
        claim_over(Some(&expired), "C1", &same, 100).message,
        same.message.to_string()
    );
}

#[test]
fn dead_letters_are_sent_again_per_pipeline_by_revision_then_part_as_numbers() {
    let mut ids = vec![
        "web/10/1",
        "web/9/10",
        "api/100/1",
        "web/9/2",
        "5f0c1a2b-sns-message",
        "web/9/1",
        "api/20/1",
    ];
    ids.sort_by_key(|id| redrive_order(id));
    assert_eq!(
        ids,
        [
            "5f0c1a2b-sns-message",
            "api/20/1",
            "api/100/1",
            "web/9/1",
            "web/9/2",
            "web/9/10",
            "web/10/1"
        ]
    );
    assert_eq!(redrive_order("web/x/1"), (None, "web/x/1"));
    assert_eq!(redrive_order("web/1/y"), (None, "web/1/y"));
    assert_eq!(redrive_order("1/2"), (None, "1/2"));
}
