//! When Slack says no: a message deleted (by one forwarder, or found gone by two at once),
//! one that can no longer be edited, refused blocks, rate limits, a revoked token with its
//! dead letters and the operator told, and the redrive to that channel alone.

use std::time::{Duration, Instant};

use pipewatch::forward::{App, AppTarget, forward, redrive_channel};
use pipewatch::webhook::HttpsWebhook;
use pipewatch_core::render::content::Content;
use pipewatch_testkit::fake_slack::TOKEN;
use pipewatch_testkit::release::{EXECUTION, release};
use pipewatch_testkit::services::{Inbox, sdk_config};
use serde_json::json;

use super::{CHANNEL, expected, route, setup, soon};

#[tokio::test]
async fn a_message_deleted_mid_run_is_posted_again_and_nothing_is_lost() {
    let setup = setup().await;
    let app = setup.app();
    let run = release();
    for content in &run[..10] {
        app.deliver(&route(), content, soon()).await.unwrap();
    }
    let (ts, _) = setup.slack.top_level(CHANNEL).remove(0);
    setup.slack.delete(CHANNEL, &ts);
    for content in &run[10..] {
        app.deliver(&route(), content, soon()).await.unwrap();
    }
    let top = setup.slack.top_level(CHANNEL);
    assert_eq!(top.len(), 1, "one new message, the deleted one gone");
    assert_ne!(top[0].0, ts);
    assert_eq!(top[0].1, expected(&run[19]));
    // The next rendering goes to the new message, not the deleted one.
    let stored = setup.refs.get(CHANNEL, EXECUTION).await.unwrap().unwrap();
    assert_eq!(stored.ts.as_deref(), Some(top[0].0.as_str()));
}

/// Two forwarders that find the message deleted at once post one new message between
/// them: one claims the repost, the other waits for its `ts` and updates it.
#[tokio::test]
async fn two_forwarders_finding_the_message_deleted_at_once_post_one_new_message() {
    let setup = setup().await;
    let app = setup.app();
    let run = release();
    for content in &run[..10] {
        app.deliver(&route(), content, soon()).await.unwrap();
    }
    let (ts, _) = setup.slack.top_level(CHANNEL).remove(0);
    setup.slack.delete(CHANNEL, &ts);
    // The first forwarder finds the message gone and posts its replacement, held at a
    // gate; the second, with a newer rendering, finds it gone while that post is under
    // way, and the post lands only after that.
    let replacement = setup.slack.gate("chat.postMessage");
    let route = route();
    let refused = || {
        setup
            .slack
            .calls()
            .iter()
            .filter(|c| c.method == "chat.update" && !c.ok)
            .count()
    };
    let second = async {
        replacement.until_arrived(1).await;
        let second = app.deliver(&route, &run[11], soon());
        let release = async {
            pipewatch_testkit::gate::until(|| refused() >= 2, "the second to find it gone").await;
            replacement.open();
        };
        tokio::join!(second, release).0
    };
    let (first, second) = tokio::join!(app.deliver(&route, &run[10], soon()), second);
    first.unwrap();
    second.unwrap();
    let top = setup.slack.top_level(CHANNEL);
    assert_eq!(top.len(), 1, "one new message: {top:#?}");
    assert_eq!(top[0].1, expected(&run[11]), "ending at the newest");
    assert!(refused() >= 2, "both found it gone");
}

#[tokio::test]
async fn a_message_that_can_no_longer_be_edited_is_continued_in_a_new_one() {
    let setup = setup().await;
    let app = setup.app();
    let run = release();
    app.deliver(&route(), &run[0], soon()).await.unwrap();
    setup
        .slack
        .fail_next("chat.update", "edit_window_closed", 1);
    app.deliver(&route(), &run[1], soon()).await.unwrap();
    let top = setup.slack.top_level(CHANNEL);
    assert_eq!(
        top.len(),
        2,
        "the old message stays; a new one continues it"
    );
    let text = top[1].1.to_string();
    assert!(text.contains("Continues an earlier message"), "{text}");
    app.deliver(&route(), &run[2], soon()).await.unwrap();
    let top = setup.slack.top_level(CHANNEL);
    assert_eq!(top.len(), 2);
    assert_eq!(
        top[1].1,
        expected(&run[2]),
        "later renderings update the new one"
    );
}

#[tokio::test]
async fn refused_blocks_are_sent_again_as_plain_text_and_rate_limits_are_waited_out() {
    let setup = setup().await;
    let app = setup.app();
    let run = release();
    setup
        .slack
        .fail_next("chat.postMessage", "invalid_blocks", 1);
    app.deliver(&route(), &run[0], soon()).await.unwrap();
    let top = setup.slack.top_level(CHANNEL);
    assert_eq!(top.len(), 1);
    assert!(top[0].1.get("blocks").is_none(), "plain text: {}", top[0].1);
    assert!(top[0].1["text"].as_str().unwrap().contains("Stage0"));

    setup.slack.fail_next("chat.update", "429:3", 1);
    setup.slack.fail_next("chat.update", "internal_error", 1);
    let started = Instant::now();
    app.deliver(&route(), &run[1], soon()).await.unwrap();
    assert!(
        started.elapsed() >= Duration::from_secs(3),
        "Retry-After: 3 was honoured, not the 1 s fallback"
    );
    assert_eq!(setup.slack.top_level(CHANNEL)[0].1, expected(&run[1]));
}

/// A wait Slack asks for that would end past the invocation's deadline is not waited: the
/// delivery fails at once, for Lambda to deliver it again, whether a post or an update.
#[tokio::test]
async fn a_rate_limit_past_the_deadline_fails_at_once_and_the_fakes_limit_is_waited_out() {
    let setup = setup().await;
    let app = setup.app();
    let run = release();
    let deadline = || Instant::now() + Duration::from_secs(20);
    for (method, content) in [("chat.postMessage", &run[0]), ("chat.update", &run[1])] {
        setup.slack.fail_next(method, "429:60", 1);
        let started = Instant::now();
        let limited = app.deliver(&route(), content, deadline()).await;
        assert!(
            matches!(
                limited,
                Err(pipewatch::forward::AppError::Transient(
                    pipewatch::slack::SlackError::RateLimited {
                        retry_after: Some(wait)
                    }
                )) if wait == Duration::from_mins(1)
            ),
            "{method}: {limited:?}"
        );
        assert!(
            started.elapsed() < Duration::from_secs(2),
            "{method}: not waited"
        );
        // Delivered again by Lambda, a minute later: past the lease of the forwarder
        // that recorded the rendering and could not send it, so the redelivery sends it.
        if method == "chat.update" {
            setup.expire_sending().await;
        }
        app.deliver(&route(), content, soon()).await.unwrap();
        assert_eq!(setup.slack.top_level(CHANNEL)[0].1, expected(content));
    }
    // Slack's own limiter: two calls per 2 s window; the rest wait as it says.
    setup.slack.limit(2, Duration::from_secs(2));
    let started = Instant::now();
    for content in &run[2..6] {
        app.deliver(&route(), content, soon()).await.unwrap();
    }
    let limited = setup.slack.calls().iter().filter(|c| !c.ok).count();
    assert!(
        limited >= 3,
        "the limiter refused calls ({limited} refusals)"
    );
    assert!(started.elapsed() >= Duration::from_secs(1));
    assert_eq!(setup.slack.top_level(CHANNEL)[0].1, expected(&run[5]));
}

/// Slack keeps the blocks an update leaves out: a plain-text update must empty them, or
/// people go on seeing the older rendering under the newer text.
#[tokio::test]
async fn an_update_refused_for_its_blocks_replaces_the_old_blocks_with_plain_text() {
    let setup = setup().await;
    let app = setup.app();
    let run = release();
    app.deliver(&route(), &run[0], soon()).await.unwrap();
    setup
        .slack
        .fail_next("chat.update", "msg_blocks_too_long", 1);
    app.deliver(&route(), &run[1], soon()).await.unwrap();
    let top = setup.slack.top_level(CHANNEL);
    assert_eq!(top.len(), 1, "the same message, updated");
    assert_eq!(
        top[0].1["blocks"],
        json!([]),
        "no stale blocks: {}",
        top[0].1
    );
    let newer = expected(&run[1]);
    let words = newer["text"].as_str().unwrap();
    assert!(
        top[0].1["text"].as_str().unwrap().starts_with(words),
        "{}",
        top[0].1
    );
    assert!(
        setup.refs.dead_letters(CHANNEL).await.unwrap().is_empty(),
        "a content refusal is no channel problem"
    );
}

#[tokio::test]
async fn a_revoked_token_keeps_the_message_as_a_dead_letter_and_tells_the_operator_once() {
    let setup = setup().await;
    let config = sdk_config().await;
    let operator = Inbox::create(&config).await;
    let sns = aws_sdk_sns::Client::new(&config);
    let routes = [route()];
    let target = AppTarget {
        app: App {
            api: &setup.api,
            refs: &setup.refs,
        },
        routes: &routes,
        operator: Some((&sns, &operator.topic_arn)),
    };
    setup.slack.revoke();
    let webhook = HttpsWebhook::new().unwrap();
    let run = release();
    for (i, content) in run[..2].iter().enumerate() {
        let event = sns_event(&format!("m-{i}"), content);
        let forwarded = forward(&webhook, &[], None, Some(&target), &event, soon()).await;
        assert!(forwarded.is_ok(), "retrying cannot help: {forwarded:?}");
    }
    let told = operator.drain_raw().await;
    assert_eq!(told.len(), 1, "told once: {told:#?}");
    assert!(
        told[0].contains(CHANNEL) && told[0].contains("the bot token was revoked (token_revoked)"),
        "{}",
        told[0]
    );
    assert!(!told[0].contains(TOKEN));
    for content in &run[..2] {
        let key = format!("slack/{CHANNEL}/dead/{}", content.id);
        let item = setup
            .dynamodb
            .get_item()
            .table_name(&setup.table)
            .key(
                pipewatch::aws::dynamodb::KEY,
                aws_sdk_dynamodb::types::AttributeValue::S(key),
            )
            .send()
            .await
            .unwrap()
            .item
            .expect("a dead letter for the channel");
        assert_eq!(
            item["reason"].as_s().unwrap(),
            "the bot token was revoked (token_revoked)"
        );
        assert_eq!(
            Content::from_body(item["body"].as_s().unwrap()).unwrap().id,
            content.id
        );
    }

    // Fixed: the redrive sends them to this channel alone, as one living message.
    setup.slack.restore();
    let redriven = redrive_channel(&target, CHANNEL, soon()).await.unwrap();
    assert_eq!((redriven.delivered, redriven.kept), (2, 0), "{redriven:?}");
    let top = setup.slack.top_level(CHANNEL);
    assert_eq!(top.len(), 1);
    assert_eq!(top[0].1, expected(&run[1]));
    assert!(setup.refs.dead_letters(CHANNEL).await.unwrap().is_empty());
    assert!(
        operator.drain_raw().await.is_empty(),
        "nothing goes back through a topic"
    );
    let again = redrive_channel(&target, CHANNEL, soon()).await.unwrap();
    assert_eq!((again.delivered, again.kept), (0, 0));
}

#[tokio::test]
async fn a_redrive_stops_at_the_first_letter_still_refused_and_keeps_the_rest() {
    let setup = setup().await;
    let routes = [route()];
    let target = AppTarget {
        app: App {
            api: &setup.api,
            refs: &setup.refs,
        },
        routes: &routes,
        operator: None,
    };
    setup.slack.revoke();
    let webhook = HttpsWebhook::new().unwrap();
    let run = release();
    for (i, content) in run[..3].iter().enumerate() {
        let event = sns_event(&format!("m-{i}"), content);
        forward(&webhook, &[], None, Some(&target), &event, soon())
            .await
            .unwrap();
    }
    let redriven = redrive_channel(&target, CHANNEL, soon()).await.unwrap();
    assert_eq!((redriven.delivered, redriven.kept), (0, 3));
    assert_eq!(
        redriven.reason.as_deref(),
        Some("the bot token was revoked (token_revoked)")
    );
    assert_eq!(setup.refs.dead_letters(CHANNEL).await.unwrap().len(), 3);
    let elsewhere = redrive_channel(&target, "C0NOROUTE", soon())
        .await
        .unwrap_err();
    assert_eq!(
        elsewhere,
        "no route of SLACK_APP_ROUTES is for channel \"C0NOROUTE\""
    );
}

/// An SNS event carrying `content` as the tick publishes it.
fn sns_event(id: &str, content: &Content) -> aws_lambda_events::sns::SnsEvent {
    serde_json::from_value(json!({"Records": [{"EventSource": "aws:sns", "EventVersion": "1.0",
        "EventSubscriptionArn": "arn:aws:sns:eu-west-1:123456789012:pipewatch:1",
        "Sns": {"Type": "Notification", "MessageId": id,
            "TopicArn": "arn:aws:sns:eu-west-1:123456789012:pipewatch",
            "Subject": content.subject, "Message": serde_json::to_string(content).unwrap(),
            "Timestamp": "2026-12-03T10:00:00.000Z", "SignatureVersion": "1", "Signature": "x",
            "SigningCertUrl": "https://example.com/c.pem", "UnsubscribeUrl": "https://example.com/u",
            "MessageAttributes": {}}}]}))
    .unwrap()
}

/// Revisions and parts are numbers: a channel's letters come back revision 9 before 10 and
/// part 2 before 10, whatever their ids sort to as text.
#[tokio::test]
async fn dead_letters_come_back_oldest_revision_first_by_number() {
    let setup = setup().await;
    let stored = ["web/10/1", "web/9/10", "web/9/2", "api/100/1", "api/20/1"];
    for (at, id) in stored.iter().enumerate() {
        let at = i64::try_from(at).unwrap();
        setup
            .refs
            .dead_letter(CHANNEL, id, "{}", "channel_not_found", at)
            .await
            .unwrap();
    }
    let letters = setup.refs.dead_letters(CHANNEL).await.unwrap();
    let ids: Vec<&str> = letters.iter().map(|(id, _, _)| id.as_str()).collect();
    assert_eq!(
        ids,
        ["api/20/1", "api/100/1", "web/9/2", "web/9/10", "web/10/1"]
    );
}
