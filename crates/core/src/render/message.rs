//! Changes → the notification for one pipeline and one tick.
//!
//! One message per pipeline per tick holds all of its changes, so a release that moves
//! five actions at once is one email, not five. A message is split into parts only when
//! its SNS payload would pass [`MAX_PAYLOAD_BYTES`]. Everything here is pure: the
//! idempotency id is chosen by the caller (the tick), and the message is stored in the
//! outbox exactly as it will be published, so every redelivery is byte-identical.
//!
//! What a message says is decided by [`Content`]; this module adds what only SNS needs:
//! the subject, the filterable attributes, the size limit and the per-protocol payload.

use std::fmt::Write as _;

use serde::{Deserialize, Serialize};

use crate::change::Change;
pub use crate::render::content::Severity;
use crate::render::content::{Content, Context};
use crate::render::{chatbot, email};

/// SNS takes 256 KiB per message and per `PublishBatch` call; staying under 200 KB
/// leaves room for the subject and attributes and lets small messages share a batch.
pub const MAX_PAYLOAD_BYTES: usize = 200_000;

/// Free text (summaries, error messages) longer than this is cut in the JSON body.
const MAX_FREE_TEXT: usize = 2_000;

/// A notification ready to publish, as kept in the outbox.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Message {
    /// Stable across redeliveries; subscribers may drop a message whose id they have seen.
    pub id: String,
    pub pipeline: String,
    /// Under 100 ASCII characters, no control characters: SNS's rules for email subjects.
    pub subject: String,
    /// One readable line per change.
    pub text: String,
    /// The [`Content`] as JSON: the `default` body, which every other body is rendered from.
    pub body: String,
    /// For subscription filter policies.
    pub attributes: Attributes,
}

/// Message attributes: the severity, and sets of distinct values in first-seen order.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct Attributes {
    pub severity: Severity,
    pub stages: Vec<String>,
    pub kinds: Vec<String>,
    pub statuses: Vec<String>,
}

/// The messages for `changes` of `pipeline`; ids are `{id_prefix}/{part}`.
pub fn messages(
    pipeline: &str,
    changes: &[Change],
    context: &Context<'_>,
    id_prefix: &str,
) -> Vec<Message> {
    if changes.is_empty() {
        return Vec::new();
    }
    let bounded: Vec<Change> = changes.iter().map(bound_free_text).collect();
    let groups = split_to_fit(pipeline, &bounded, context);
    let parts = groups.len();
    groups
        .iter()
        .enumerate()
        .map(|(i, group)| {
            build(
                pipeline,
                group,
                context,
                &format!("{id_prefix}/{}", i + 1),
                (i + 1, parts),
            )
        })
        .collect()
}

/// Halves `changes` until each group's SNS payload fits (each group rendered once per
/// level). A single change always fits: its free text is bounded.
fn split_to_fit<'a>(
    pipeline: &str,
    changes: &'a [Change],
    context: &Context<'_>,
) -> Vec<&'a [Change]> {
    let fits = changes.len() <= 1
        || sns_payload(&build(pipeline, changes, context, "", (1, 1))).len() <= MAX_PAYLOAD_BYTES;
    if fits {
        return vec![changes];
    }
    let (left, right) = changes.split_at(changes.len() / 2);
    let mut groups = split_to_fit(pipeline, left, context);
    groups.extend(split_to_fit(pipeline, right, context));
    groups
}

fn build(
    pipeline: &str,
    changes: &[Change],
    context: &Context<'_>,
    id: &str,
    part: (usize, usize),
) -> Message {
    let mut attributes = Attributes::default();
    for change in changes {
        attributes.severity = attributes.severity.max(Severity::of(change));
        push_distinct(&mut attributes.kinds, change.kind().as_str());
        if let Some(stage) = change.stage() {
            push_distinct(&mut attributes.stages, stage);
        }
        if let Some(status) = change.status() {
            push_distinct(&mut attributes.statuses, status.as_str());
        }
    }
    let said = Content::build(pipeline, changes, context, id, part);
    Message {
        id: id.to_owned(),
        pipeline: pipeline.to_owned(),
        body: serde_json::to_string(&said).expect("a message body always serialises"),
        subject: said.subject,
        text: said.text,
        attributes,
    }
}

/// The `MessageStructure=json` payload: a body per protocol, `default` for all others.
///
/// - `email`: plain text for a mail client ([`email`]);
/// - `https`: an AWS Chatbot custom notification ([`chatbot`]), which Chatbot (an HTTPS
///   subscriber) renders in Slack or Teams; other HTTPS subscribers get the same JSON;
/// - `default` (queues, Lambda, email-json, ...): the [`Content`] as JSON.
///
/// The email and Chatbot bodies are rendered from the stored body, so a redelivery is
/// byte-identical. A body that does not read back (never written by this version) still
/// goes out, with its text lines.
pub fn sns_payload(message: &Message) -> String {
    let (email, chatbot) = match Content::from_body(&message.body) {
        Ok(content) => (
            email::render(&content),
            chatbot::render(&content).to_string(),
        ),
        Err(_) => (plain_email(message), plain_chatbot(message).to_string()),
    };
    serde_json::json!({ "default": message.body, "email": email, "https": chatbot }).to_string()
}

/// The email of a message whose body does not read back: its lines and its id.
fn plain_email(message: &Message) -> String {
    format!(
        "{}\n\n-- \npipewatch notification {}\n",
        message.text, message.id
    )
}

/// The Chatbot body of a message whose body does not read back.
fn plain_chatbot(message: &Message) -> serde_json::Value {
    let description = message.text.lines().fold(String::new(), |mut out, line| {
        let _ = writeln!(out, "• {line}");
        out
    });
    serde_json::json!({
        "version": "1.0",
        "source": "custom",
        "id": message.id,
        "content": {
            "textType": "client-markdown",
            "title": message.subject,
            "description": description,
            "keywords": [message.pipeline, message.attributes.severity.as_str()],
        },
        "metadata": {
            "threadId": message.pipeline,
            "summary": message.subject,
            "eventType": "pipewatch",
        },
    })
}

fn push_distinct(values: &mut Vec<String>, value: &str) {
    if !values.iter().any(|v| v == value) {
        values.push(value.to_owned());
    }
}

/// The change with its free text cut to [`MAX_FREE_TEXT`] characters.
fn bound_free_text(change: &Change) -> Change {
    let cut = |text: &Option<String>| {
        text.as_ref()
            .map(|t| t.chars().take(MAX_FREE_TEXT).collect::<String>())
    };
    let mut change = change.clone();
    match &mut change {
        Change::Action { summary, error, .. } => {
            *summary = cut(summary);
            if let Some(error) = error {
                error.message = cut(&error.message);
                error.code = cut(&error.code);
            }
        }
        Change::Condition { summary, .. } => *summary = cut(summary),
        Change::Transition { reason, .. } => *reason = cut(reason),
        _ => {}
    }
    change
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::state::{ErrorDetails, Status};

    fn action(name: &str, status: &str, summary: Option<String>) -> Change {
        Change::Action {
            stage: "Build".into(),
            action: name.into(),
            execution_id: Some(format!("{name}-1")),
            status: Some(Status::new(status)),
            previous_status: Some(Status::new("InProgress")),
            previous_execution_id: Some(format!("{name}-1")),
            summary,
            error: None,
            external_url: None,
            entity_url: None,
            last_updated_by: None,
            approval: None,
            started_at: None,
            finished_at: None,
            pipeline_execution_id: None,
            recovered: false,
        }
    }

    #[test]
    fn all_changes_of_a_tick_make_one_message_led_by_the_failure() {
        let changes = [
            action("Compile", "Succeeded", None),
            action("UnitTests", "Failed", Some("exit status 1".into())),
            Change::Stage {
                stage: "Build".into(),
                execution_id: "e1".into(),
                status: Status::new("Failed"),
                previous_status: Some(Status::new("InProgress")),
                previous_execution_id: Some("e1".into()),
                execution_type: None,
                retry: None,
            },
        ];
        let messages = messages("web", &changes, &Context::default(), "web/7");
        assert_eq!(messages.len(), 1);
        let message = &messages[0];
        assert_eq!(message.id, "web/7/1");
        assert_eq!(message.subject, "web: Build/UnitTests Failed (+2 more)");
        assert_eq!(message.attributes.kinds, ["action", "stage"]);
        assert_eq!(message.attributes.statuses, ["Succeeded", "Failed"]);
        assert_eq!(message.attributes.stages, ["Build"]);
        assert_eq!(message.attributes.severity, Severity::Failure);
        assert_eq!(message.text.lines().count(), 3);
        let body: serde_json::Value = serde_json::from_str(&message.body).unwrap();
        assert_eq!(body["id"], "web/7/1");
        assert_eq!(body["changes"][1]["summary"], "exit status 1");
        let payload: serde_json::Value = serde_json::from_str(&sns_payload(message)).unwrap();
        assert_eq!(payload["default"], message.body.as_str());
        assert!(payload["email"].as_str().unwrap().contains("web/7/1"));
        let chatbot: serde_json::Value =
            serde_json::from_str(payload["https"].as_str().unwrap()).unwrap();
        assert_eq!(
            (chatbot["version"].as_str(), chatbot["source"].as_str()),
            (Some("1.0"), Some("custom"))
        );
        assert_eq!(
            chatbot["content"]["title"],
            "❌ web: Build/UnitTests Failed (+2 more)"
        );
        let description = chatbot["content"]["description"].as_str().unwrap();
        assert_eq!(description.matches("\n> exit status 1").count(), 1);
        assert_eq!(
            description.lines().count(),
            4,
            "a line per change, and the reason"
        );
    }

    #[test]
    fn subjects_follow_sns_rules_whatever_the_names() {
        let mut change = action(&"Ünïcode\nname".repeat(20), "Failed", None);
        if let Change::Action { stage, .. } = &mut change {
            *stage = "Stage\u{1b}[31m".into();
        }
        let message = &messages("web", &[change], &Context::default(), "x")[0];
        assert!(message.subject.len() < 100, "{}", message.subject);
        assert!(message.subject.is_ascii());
        assert!(!message.subject.chars().any(|c| c.is_ascii_control()));
    }

    #[test]
    fn a_huge_tick_is_split_into_parts_under_the_sns_limit() {
        let long = "x".repeat(10_000);
        let changes: Vec<Change> = (0..400)
            .map(|i| {
                let mut change = action(&format!("A{i}"), "Failed", Some(long.clone()));
                if let Change::Action { error, .. } = &mut change {
                    *error = Some(ErrorDetails {
                        code: Some("E".into()),
                        message: Some(long.clone()),
                    });
                }
                change
            })
            .collect();
        let messages = messages("web", &changes, &Context::default(), "web/9");
        assert!(messages.len() > 1);
        let mut total = 0;
        for (i, message) in messages.iter().enumerate() {
            assert!(sns_payload(message).len() <= MAX_PAYLOAD_BYTES);
            assert_eq!(message.id, format!("web/9/{}", i + 1));
            assert!(
                message
                    .subject
                    .ends_with(&format!("[{}/{}]", i + 1, messages.len()))
            );
            let body: serde_json::Value = serde_json::from_str(&message.body).unwrap();
            total += body["changes"].as_array().unwrap().len();
        }
        assert_eq!(total, 400, "no change lost in the split");
    }

    #[test]
    fn kinds_are_listed_once() {
        let changes = [action("A", "Failed", None), action("B", "Failed", None)];
        let message = &messages("web", &changes, &Context::default(), "x")[0];
        assert_eq!(message.attributes.kinds, ["action"]);
    }

    #[test]
    fn a_message_is_as_severe_as_its_most_severe_change() {
        let mut approval = action("Review", "InProgress", None);
        if let Change::Action { approval, .. } = &mut approval {
            *approval = Some(crate::change::Approval::Waiting);
        }
        let disabled = Change::Transition {
            stage: "Deploy".into(),
            enabled: false,
            changed_by: None,
            reason: None,
            changed_at: None,
        };
        let cases = [
            (vec![action("A", "Succeeded", None)], Severity::Info),
            (
                vec![action("A", "Succeeded", None), disabled.clone()],
                Severity::Warning,
            ),
            (vec![disabled, approval.clone()], Severity::Approval),
            (
                vec![approval, action("A", "Failed", None)],
                Severity::Failure,
            ),
            (vec![action("A", "Stopped", None)], Severity::Warning),
        ];
        for (changes, expected) in cases {
            assert_eq!(
                messages("web", &changes, &Context::default(), "x")[0]
                    .attributes
                    .severity,
                expected,
                "{changes:?}"
            );
        }
    }

    #[test]
    fn no_changes_no_message() {
        assert!(messages("web", &[], &Context::default(), "x").is_empty());
    }

    #[test]
    fn rank_ties_keep_the_first_change() {
        let changes = [
            action("First", "Failed", None),
            action("Second", "Failed", None),
        ];
        assert!(
            messages("web", &changes, &Context::default(), "x")[0]
                .subject
                .contains("First")
        );
    }

    #[test]
    fn a_body_that_does_not_read_back_is_still_told_by_email_and_chatbot() {
        let mut message = messages(
            "web",
            &[action("Build", "Failed", None)],
            &Context::default(),
            "web/3",
        )
        .remove(0);
        message.body = "not the content model".into();
        message.text = "line one\nline two".into();
        let payload: serde_json::Value = serde_json::from_str(&sns_payload(&message)).unwrap();
        assert_eq!(payload["default"], "not the content model");
        assert_eq!(
            payload["email"],
            "line one\nline two\n\n-- \npipewatch notification web/3/1\n"
        );
        let chatbot: serde_json::Value =
            serde_json::from_str(payload["https"].as_str().unwrap()).unwrap();
        assert_eq!(
            chatbot["content"]["description"],
            "• line one\n• line two\n"
        );
        assert_eq!(chatbot["content"]["title"], message.subject.as_str());
        assert_eq!(chatbot["id"], "web/3/1");
    }

    #[test]
    fn free_text_of_every_kind_is_bounded_before_it_is_rendered() {
        let long = Some("x".repeat(10_000));
        let changes = [
            action("Build", "Failed", long.clone()),
            Change::Transition {
                stage: "Deploy".into(),
                enabled: false,
                changed_by: None,
                reason: long.clone(),
                changed_at: None,
            },
            Change::Condition {
                stage: "Deploy".into(),
                condition: crate::change::ConditionKind::BeforeEntry,
                status: Status::new("Failed"),
                previous_status: None,
                summary: long,
                pipeline_execution_id: None,
            },
        ];
        for change in changes {
            let bounded = bound_free_text(&change);
            let text = match &bounded {
                Change::Action { summary, .. } | Change::Condition { summary, .. } => summary,
                Change::Transition { reason, .. } => reason,
                _ => unreachable!(),
            };
            assert_eq!(
                text.as_ref().unwrap().chars().count(),
                2_000,
                "{:?}",
                change.kind()
            );
        }
    }
}
