//! A notification a newer pipewatch wrote (`events/sns-newer-notification.json`: schema
//! version 3, a severity and a change kind this version does not know, a known key of a
//! new shape, an approval outcome it cannot name, a stage status it has no word for), in
//! every channel the forwarder serves: told in words, never as raw JSON, never under a
//! success's colour or mark.

use pipewatch_core::render::content::{Content, Severity};
use pipewatch_core::render::{slack, slack_app, teams};
use serde_json::Value;

use crate::fixtures::repository;

fn newer() -> Content {
    let event: Value = serde_json::from_str(
        &std::fs::read_to_string(repository().join("events/sns-newer-notification.json")).unwrap(),
    )
    .unwrap();
    let body = event["Records"][0]["Sns"]["Message"].as_str().unwrap();
    Content::from_body(body).expect("a newer body is still pipewatch's")
}

#[test]
fn the_slack_webhook_tells_it_in_words_under_the_most_urgent_colour() {
    let content = newer();
    assert_eq!(
        content.severity,
        Severity::Failure,
        "critical, and a failure in it"
    );
    let message = slack::render(&content);
    let text = message.to_string();
    assert_eq!(
        message["blocks"][0]["text"]["text"],
        "⚠️ web-app-release: rollout wave 2 of 5 halted (+3 more)"
    );
    assert_eq!(message["attachments"][0]["color"], "#D1242F");
    for words in [
        "rollout wave 2 of 5 halted",
        "error rate 4.2% over the 2% guard",
        "Build/UnitTests Failed",
        "Approve/Review expired after 7 days",
        "stage Build Failed",
    ] {
        assert!(text.contains(words), "{words}: {text}");
    }
    assert!(!text.contains("schema_version"), "never the raw body");
}

#[test]
fn the_teams_card_tells_it_in_words_under_the_most_urgent_colour() {
    let card = teams::render(&newer()).to_string();
    assert!(
        card.contains(r#""text":"⚠️ web-app-release: rollout wave 2 of 5 halted (+3 more)""#),
        "{card}"
    );
    assert!(card.contains(r#""color":"Attention""#), "{card}");
    assert!(card.contains("error rate 4.2% over the 2% guard"));
    assert!(!card.contains("schema_version"));
}

#[test]
fn the_living_message_shows_the_run_and_its_thread_tells_what_needs_attention() {
    let content = newer();
    let rendered = slack_app::render(&content, slack_app::Options::default());
    assert_eq!(rendered.living.len(), 1, "one run, one message");
    let living = rendered.living[0].message.to_string();
    assert!(living.contains("failed at Build/UnitTests"), "{living}");
    assert!(!living.contains("schema_version"));
    let replies: Vec<String> = rendered
        .replies
        .iter()
        .map(|r| r.message.to_string())
        .collect();
    for words in [
        "rollout wave 2 of 5 halted",
        "Build/UnitTests Failed",
        "Approve/Review expired after 7 days",
    ] {
        assert!(
            replies.iter().any(|r| r.contains(words)),
            "{words} in the thread: {replies:#?}"
        );
    }
    assert!(replies.iter().all(|r| !r.contains('✅')), "{replies:#?}");
}
