//! The living message's rules one by one, each in the one interleaving that needs it, held
//! by the fake's gates rather than sleeps: a test that fails when its rule is removed.
//!
//! - the conditional store of a first post's `ts` (a slow poster whose lease passed must
//!   not overwrite the take-over's message);
//! - the re-read after the first post, with the waiting forwarder's recording of a newer
//!   rendering: the newest appears with no later delivery;
//! - a take-over posts the newest rendering recorded, not its own;
//! - a first post that failed releases its claim: the next delivery posts at once, not
//!   after the 30-second lease;
//! - a route that starts messages at failures, and the stack's alarms, told once.

use std::time::{Duration, Instant};

use pipewatch::forward::{App, AppError, AppRoute, AppTarget, forward};
use pipewatch::webhook::HttpsWebhook;
use pipewatch_core::render::content::{Content, Severity};
use pipewatch_core::state::Timestamp;
use pipewatch_testkit::release::{EXECUTION, release};
use serde_json::Value;

use super::{CHANNEL, Setup, expected, route, setup, soon};

/// The text of the first post of `content`'s living message, to hold it at a gate by.
fn text_of(content: &Content) -> String {
    expected(content)["text"].as_str().unwrap().to_owned()
}

impl Setup {
    /// The `ts` stored for the release's message.
    async fn stored_ts(&self) -> Option<String> {
        self.refs.get(CHANNEL, EXECUTION).await.unwrap()?.ts
    }

    /// The top-level message whose `ts` is `ts`.
    fn message(&self, ts: &str) -> Value {
        self.slack
            .top_level(CHANNEL)
            .into_iter()
            .find(|(t, _)| t == ts)
            .map(|(_, m)| m)
            .unwrap()
    }
}

/// A first post so slow that its lease passes: another delivery takes over and posts. The
/// slow poster's `ts` is stored only while its claim is still its own, so it cannot
/// overwrite the take-over's, and the run goes on in the take-over's message.
#[tokio::test]
async fn a_slow_first_post_whose_lease_passed_does_not_take_the_message_back() {
    let setup = setup().await;
    let app = setup.app();
    let run = release();
    let route = route();
    let slow = setup.slack.gate(&text_of(&run[0]));
    assert!(!text_of(&run[1]).contains(&text_of(&run[0])));
    let take_over = async {
        slow.until_arrived(1).await;
        setup.expire_claim().await;
        let taken = app.deliver(&route, &run[1], soon()).await;
        let taken_ts = setup.stored_ts().await;
        slow.open();
        (taken, taken_ts)
    };
    let (first, (taken, taken_ts)) = tokio::join!(app.deliver(&route, &run[0], soon()), take_over);
    first.unwrap();
    assert_eq!(taken.unwrap().posts, 1, "the take-over posted");
    let taken_ts = taken_ts.unwrap();
    assert_eq!(
        setup.slack.top_level(CHANNEL).len(),
        2,
        "the slow post landed too"
    );
    assert_eq!(
        setup.stored_ts().await.unwrap(),
        taken_ts,
        "and took nothing back"
    );

    app.deliver(&route, &run[2], soon()).await.unwrap();
    assert_eq!(setup.stored_ts().await.unwrap(), taken_ts);
    assert_eq!(
        setup.message(&taken_ts),
        expected(&run[2]),
        "followed where it went on"
    );
}

/// The newest rendering arrives while the first post is in flight: the waiting forwarder
/// records it, and the poster, reading again once its `ts` is stored, sends it. No later
/// delivery comes to repair the message.
#[tokio::test]
async fn a_rendering_recorded_while_the_first_post_is_in_flight_is_sent_by_the_poster() {
    let setup = setup().await;
    let app = setup.app();
    let run = release();
    let route = route();
    let first_post = setup.slack.gate(&text_of(&run[0]));
    let newer = run[1].revision.unwrap();
    let waiting = async {
        first_post.until_arrived(1).await;
        let delivered = app.deliver(&route, &run[1], soon());
        // Once the waiting forwarder has recorded the newer rendering, the post lands.
        let recorded = async {
            while setup
                .refs
                .get(CHANNEL, EXECUTION)
                .await
                .unwrap()
                .unwrap()
                .revision
                != newer
            {
                tokio::time::sleep(Duration::from_millis(5)).await;
            }
            first_post.open();
        };
        tokio::join!(delivered, recorded).0
    };
    let (first, second) = tokio::join!(app.deliver(&route, &run[0], soon()), waiting);
    first.unwrap();
    assert_eq!(
        second.unwrap().posts,
        0,
        "the waiting forwarder sent nothing itself"
    );
    let top = setup.slack.top_level(CHANNEL);
    assert_eq!(top.len(), 1);
    assert_eq!(
        top[0].1,
        expected(&run[1]),
        "the newest, with no later delivery"
    );
}

/// A claim whose poster died before posting: a newer rendering recorded while it was
/// honoured, then the lease passes. The delivery that takes over posts the newest
/// recorded rendering, even when it carries an older one itself.
#[tokio::test]
async fn a_take_over_posts_the_newest_rendering_recorded() {
    let setup = setup().await;
    let app = setup.app();
    let run = release();
    let route = route();
    let first = &pipewatch_core::render::slack_app::render(&run[0], super::OPTIONS).living[0];
    let now = Timestamp::now().unix_millis();
    let dead = pipewatch_core::living::claim(CHANNEL, first, now);
    assert!(setup.refs.claim(&dead, now).await.unwrap());
    // Within the lease: the newer rendering is recorded, and the delivery gives up.
    let waited = app
        .deliver(&route, &run[1], Instant::now() + Duration::from_secs(6))
        .await;
    assert!(matches!(waited, Err(AppError::Waiting(_))), "{waited:?}");
    setup.expire_claim().await;
    app.deliver(&route, &run[0], soon()).await.unwrap();
    let top = setup.slack.top_level(CHANNEL);
    assert_eq!(top.len(), 1);
    assert_eq!(
        top[0].1,
        expected(&run[1]),
        "the newest recorded, not its own"
    );
}

/// A first post Slack refused releases its claim: once the channel is fixed the next
/// delivery posts at once instead of waiting out the claim's 30-second lease.
#[tokio::test]
async fn a_failed_first_post_releases_its_claim_for_the_next_delivery() {
    let setup = setup().await;
    let app = setup.app();
    let run = release();
    setup
        .slack
        .fail_next("chat.postMessage", "channel_not_found", 1);
    let refused = app.deliver(&route(), &run[0], soon()).await;
    assert!(
        matches!(refused, Err(AppError::Destination(_))),
        "{refused:?}"
    );
    let started = Instant::now();
    app.deliver(&route(), &run[1], Instant::now() + Duration::from_secs(15))
        .await
        .unwrap();
    assert!(
        started.elapsed() < Duration::from_secs(5),
        "posted at once, not after the lease: {:?}",
        started.elapsed()
    );
    assert_eq!(setup.slack.top_level(CHANNEL)[0].1, expected(&run[1]));
}

/// A route that starts messages only at failures: nothing for the run while it goes well,
/// its message at the failure, then followed to its end. The stack's alarms reach it
/// (they name no pipeline), told once however often SNS delivers them.
#[tokio::test]
async fn a_failure_route_starts_at_the_failure_and_alarms_are_told_once() {
    let setup = setup().await;
    let app = setup.app();
    let run = release();
    let failures = AppRoute {
        severity: Severity::Failure,
        ..route()
    };
    for content in &run[..7] {
        app.deliver(&failures, content, soon()).await.unwrap();
    }
    assert!(setup.slack.calls().is_empty(), "nothing while it goes well");
    app.deliver(&failures, &run[7], soon()).await.unwrap();
    assert_eq!(
        setup.slack.top_level(CHANNEL).len(),
        1,
        "its message at the failure"
    );
    for content in &run[8..] {
        app.deliver(&failures, content, soon()).await.unwrap();
    }
    let top = setup.slack.top_level(CHANNEL);
    assert_eq!(top.len(), 1);
    assert_eq!(top[0].1, expected(&run[19]), "followed to its end");

    let routes = [failures];
    let target = AppTarget {
        app: App {
            api: &setup.api,
            refs: &setup.refs,
        },
        routes: &routes,
        operator: None,
    };
    let alarm: aws_lambda_events::sns::SnsEvent = serde_json::from_str(
        &std::fs::read_to_string(concat!(
            env!("CARGO_MANIFEST_DIR"),
            "/events/sns-alarm.json"
        ))
        .unwrap(),
    )
    .unwrap();
    let webhook = HttpsWebhook::new().unwrap();
    for _ in 0..2 {
        forward(&webhook, &[], None, Some(&target), &alarm, soon())
            .await
            .unwrap();
    }
    let top = setup.slack.top_level(CHANNEL);
    assert_eq!(top.len(), 2, "the alarm, once: {top:#?}");
    let alarm_text = top[1].1.to_string();
    assert!(
        alarm_text.contains("ALARM: pipewatch-watcher-errors"),
        "{alarm_text}"
    );
}
