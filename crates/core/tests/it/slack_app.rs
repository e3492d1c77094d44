//! The Slack app's Web API calls for every bundled scenario (`replay --format slack-app`),
//! held to Slack's limits and to the app's goal: one post per run, an update only when
//! the message changes, each thread reply once.

use pipewatch_core::replay::{Format, Recording};
use serde_json::Value;

use crate::channels::{SLACK_MAX_BLOCKS, assert_blocks_within_limits, assert_slack_limits, replay};
use crate::fixtures::{scenario_files, scenario_names};

/// One Web API call of the Slack app: a message in blocks (the living message, a reply),
/// or the webhook's message posted on its own.
pub(crate) fn assert_app_call_limits(call: &Value, what: &str) {
    let body = &call["body"];
    assert_eq!(body["channel"], pipewatch_core::replay::REPLAY_CHANNEL);
    match call["method"].as_str().unwrap() {
        "chat.update" => assert!(
            body["ts"].is_string(),
            "{what}: an update names its message"
        ),
        "chat.postMessage" => assert!(body.get("ts").is_none()),
        other => panic!("{what}: {other}"),
    }
    if body.get("attachments").is_some() {
        return assert_slack_limits(body, what);
    }
    let blocks = body["blocks"].as_array().unwrap();
    assert!(
        blocks.len() <= SLACK_MAX_BLOCKS,
        "{what}: {} blocks",
        blocks.len()
    );
    assert_blocks_within_limits(blocks, what);
    assert!(
        !body["text"].as_str().unwrap().is_empty(),
        "a fallback text"
    );
}

/// `--step N` prints the calls of step N alone, made after the steps before: the run's
/// message was posted at step 1, so step 2 updates it.
#[test]
fn one_step_is_told_after_the_steps_before_it() {
    let format = Format::from_name("slack-app").unwrap();
    let mut out = Vec::new();
    Recording::load(&scenario_files("release-failure-retry"))
        .unwrap()
        .write(format, None, Some(2), None, &mut out)
        .unwrap();
    let methods: Vec<String> = String::from_utf8(out)
        .unwrap()
        .lines()
        .map(|l| {
            serde_json::from_str::<Value>(l).unwrap()["method"]
                .as_str()
                .unwrap()
                .to_owned()
        })
        .collect();
    assert_eq!(
        methods,
        ["chat.update", "chat.postMessage"],
        "the update, then the failure's reply"
    );
}

/// The Slack app's goal, over every bundled scenario: one top-level post per execution,
/// then an update only when the message changes, and each thread reply once.
#[test]
fn the_slack_app_posts_once_per_execution_and_never_sends_the_same_message_twice() {
    for scenario in scenario_names() {
        let calls: Vec<Value> = replay(&scenario, "slack-app")
            .lines()
            .map(|line| serde_json::from_str(line).unwrap())
            .collect();
        let mut last = std::collections::BTreeMap::<String, Value>::new();
        let mut replies = std::collections::BTreeSet::new();
        for call in &calls {
            let body = &call["body"];
            if let Some(thread) = body["thread_ts"].as_str() {
                assert!(
                    last.contains_key(thread),
                    "{scenario}: a reply in a posted thread"
                );
                assert!(
                    replies.insert(body.to_string()),
                    "{scenario}: a reply twice"
                );
                continue;
            }
            if body.get("attachments").is_some() {
                continue; // a notification about no execution, posted on its own
            }
            let mut message = body.clone();
            message.as_object_mut().unwrap().remove("ts");
            if call["method"] == "chat.update" {
                let ts = body["ts"].as_str().unwrap();
                let before = last.insert(ts.to_owned(), message.clone());
                assert_ne!(before, Some(message), "{scenario}: a redundant update");
            } else {
                let ts = call["ts"].as_str().expect("a post is answered with its ts");
                last.insert(ts.to_owned(), message);
            }
        }
        assert!(!last.is_empty(), "{scenario}: the app posted nothing");
    }
}
