//! What the approver asks of Slack's Web API through the real client, against the fake:
//! the user groups' members, and the reason's dialog, which a click's `trigger_id` opens
//! once, within 3 seconds.

use std::collections::BTreeSet;
use std::time::{Duration, Instant};

use pipewatch::approve::{GROUPS_TIMEOUT, GroupCache};
use pipewatch::slack::{BotToken, SlackApi};
use pipewatch_testkit::fake_slack::{FakeSlack, TOKEN};

fn api(slack: &FakeSlack) -> SlackApi {
    SlackApi::new(BotToken::parse(TOKEN).unwrap(), Some(&slack.url())).unwrap()
}

#[tokio::test]
async fn members_are_read_once_per_while_and_an_unreadable_group_decides_nothing() {
    let slack = FakeSlack::start();
    slack.set_group("S0RELEASE1", &["U024BE7LH", "U0RELEASE01"]);
    slack.set_group("S0WEBTEAM1", &["U0WEBDEV01"]);
    let api = api(&slack);
    let groups = BTreeSet::from(["S0RELEASE1", "S0WEBTEAM1"]);
    let cache = GroupCache::default();
    let members = cache.members(&api, &groups).await.unwrap();
    assert_eq!(
        members["S0RELEASE1"],
        BTreeSet::from(["U024BE7LH".to_owned(), "U0RELEASE01".to_owned()])
    );
    assert_eq!(members["S0WEBTEAM1"].len(), 1);
    assert_eq!(cache.members(&api, &groups).await.unwrap(), members);
    let calls = slack.calls();
    assert_eq!(calls.len(), 2, "one call per group, once: {calls:?}");
    assert!(
        calls
            .iter()
            .all(|c| c.method == "usergroups.users.list" && c.ok)
    );

    // Slack refuses one group (a missing scope): nothing is known, nothing kept.
    let fresh = GroupCache::default();
    slack.fail_next("usergroups.users.list", "missing_scope", 1);
    assert_eq!(fresh.members(&api, &groups).await, None);
    assert!(
        fresh.members(&api, &groups).await.is_some(),
        "read again next time"
    );
    let unknown = BTreeSet::from(["S0NOSUCH01"]);
    assert_eq!(GroupCache::default().members(&api, &unknown).await, None);

    // Slack is slow: the answer to the click cannot wait.
    slack.hold("S0RELEASE1", Duration::from_secs(3));
    let started = Instant::now();
    assert_eq!(GroupCache::default().members(&api, &groups).await, None);
    assert!(started.elapsed() < GROUPS_TIMEOUT + Duration::from_millis(500));
}

/// A reading is trusted for its time, then read again: someone removed from a group can
/// decide no longer than that.
#[tokio::test]
async fn members_are_read_again_once_their_time_has_passed() {
    let slack = FakeSlack::start();
    slack.set_group("S0RELEASE1", &["U024BE7LH", "U0RELEASE01"]);
    let api = api(&slack);
    let groups = BTreeSet::from(["S0RELEASE1"]);
    let lasting = GroupCache::trusted_for(Duration::from_mins(2));
    let expired = GroupCache::trusted_for(Duration::ZERO);
    for cache in [&lasting, &expired] {
        let members = cache.members(&api, &groups).await.unwrap();
        assert!(members["S0RELEASE1"].contains("U0RELEASE01"));
    }
    slack.set_group("S0RELEASE1", &["U024BE7LH"]);
    let kept = lasting.members(&api, &groups).await.unwrap();
    assert!(kept["S0RELEASE1"].contains("U0RELEASE01"), "still trusted");
    let read = expired.members(&api, &groups).await.unwrap();
    assert!(
        !read["S0RELEASE1"].contains("U0RELEASE01"),
        "removed: read again"
    );
    assert_eq!(slack.calls().len(), 3, "two first readings, one read again");
}

/// A `trigger_id` opens one dialog, within 3 seconds of the click (Slack's interactivity
/// reference): the approver opens it at once, before answering; a later or second try is
/// refused in words the approver can tell apart.
#[tokio::test]
async fn a_clicks_trigger_id_opens_one_dialog_within_three_seconds() {
    use pipewatch::slack::SlackError;
    let slack = FakeSlack::start();
    let api = api(&slack);
    let view =
        serde_json::json!({"type": "modal", "title": {"type": "plain_text", "text": "Why?"}});
    let open = |trigger: &str| {
        let body = serde_json::json!({"trigger_id": trigger, "view": view});
        let api = &api;
        async move { api.open_view(&body).await }
    };
    let fresh = slack.trigger_id();
    let late = slack.trigger_id();
    open(&fresh).await.unwrap();
    let gone = |code: &str| Err(SlackError::TriggerGone(code.to_owned()));
    assert_eq!(open(&fresh).await, gone("exchanged_trigger_id"));
    assert_eq!(open("1.2.never-issued").await, gone("invalid_trigger_id"));
    tokio::time::sleep(Duration::from_millis(3_100)).await;
    assert_eq!(open(&late).await, gone("expired_trigger_id"));
}
