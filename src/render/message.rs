//! Changes → the notification for one pipeline and one tick.
//!
//! One message per pipeline per tick holds all of its changes, so a release that moves
//! five actions at once is one email, not five. A message is split into parts only when
//! its SNS payload would pass [`MAX_PAYLOAD_BYTES`]. Everything here is pure: the
//! idempotency id is chosen by the caller (the tick), and the message is stored in the
//! outbox exactly as it will be published, so every redelivery is byte-identical.

use std::fmt::Write as _;

use serde::{Deserialize, Serialize};

use crate::diff::Change;
use crate::render::record::ChangeRecord;
use crate::render::text;
use crate::state::KnownStatus;

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
    /// The changes as a JSON document, for queues and programs.
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

/// How urgent a message is: that of its most urgent change. Lets a subscription filter
/// policy say "only failures and approvals" (`{"severity": ["failure", "approval"]}`).
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, PartialOrd, Ord, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum Severity {
    /// Progress: something started or succeeded, a definition was edited.
    #[default]
    Info,
    /// Needs watching: a transition disabled, an execution queued, stopped or cancelled.
    Warning,
    /// Needs a person: a manual approval is waiting.
    Approval,
    /// Something failed.
    Failure,
}

impl Severity {
    pub fn as_str(self) -> &'static str {
        match self {
            Self::Info => "info",
            Self::Warning => "warning",
            Self::Approval => "approval",
            Self::Failure => "failure",
        }
    }

    /// The severity of one change.
    pub fn of(change: &Change) -> Self {
        use KnownStatus::{Abandoned, Cancelled, Errored, Failed, Stopped, Stopping};
        let status = change.status().and_then(crate::state::Status::known);
        if matches!(status, Some(Failed | Errored | Abandoned)) {
            Self::Failure
        } else if matches!(
            change,
            Change::Action {
                approval_pending: true,
                ..
            }
        ) {
            Self::Approval
        } else if matches!(status, Some(Stopped | Stopping | Cancelled))
            || matches!(
                change,
                Change::Transition { enabled: false, .. }
                    | Change::Inbound {
                        status: Some(_),
                        previous_status: None,
                        ..
                    }
            )
        {
            Self::Warning
        } else {
            Self::Info
        }
    }
}

/// The JSON body of a message.
#[derive(Serialize)]
struct Body<'a> {
    id: &'a str,
    pipeline: &'a str,
    subject: &'a str,
    /// One readable line per change, for forwarders that post text (Slack webhooks).
    text: &'a str,
    part: usize,
    parts: usize,
    changes: Vec<ChangeRecord<'a>>,
}

/// The messages for `changes` of `pipeline`; ids are `{id_prefix}/{part}`.
pub fn messages(pipeline: &str, changes: &[Change], id_prefix: &str) -> Vec<Message> {
    if changes.is_empty() {
        return Vec::new();
    }
    let bounded: Vec<Change> = changes.iter().map(bound_free_text).collect();
    let groups = split_to_fit(pipeline, &bounded);
    let parts = groups.len();
    groups
        .iter()
        .enumerate()
        .map(|(i, group)| {
            build(
                pipeline,
                group,
                &format!("{id_prefix}/{}", i + 1),
                i + 1,
                parts,
            )
        })
        .collect()
}

/// Halves `changes` until each group's SNS payload fits (each group rendered once per
/// level). A single change always fits: its free text is bounded.
fn split_to_fit<'a>(pipeline: &str, changes: &'a [Change]) -> Vec<&'a [Change]> {
    let fits = changes.len() <= 1
        || sns_payload(&build(pipeline, changes, "", 1, 1)).len() <= MAX_PAYLOAD_BYTES;
    if fits {
        return vec![changes];
    }
    let (left, right) = changes.split_at(changes.len() / 2);
    let mut groups = split_to_fit(pipeline, left);
    groups.extend(split_to_fit(pipeline, right));
    groups
}

fn build(pipeline: &str, changes: &[Change], id: &str, part: usize, parts: usize) -> Message {
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
    let lines: Vec<String> = changes.iter().map(|c| text::line(pipeline, c)).collect();
    let text = lines.join("\n");
    let subject = subject(pipeline, changes, part, parts);
    let body = Body {
        id,
        pipeline,
        subject: &subject,
        text: &text,
        part,
        parts,
        changes: changes
            .iter()
            .map(|c| ChangeRecord::new(pipeline, c))
            .collect(),
    };
    Message {
        id: id.to_owned(),
        pipeline: pipeline.to_owned(),
        body: serde_json::to_string(&body).expect("a message body always serialises"),
        subject,
        text,
        attributes,
    }
}

/// The `MessageStructure=json` payload: a body per protocol, `default` for all others.
///
/// - `email`: the readable lines and the id;
/// - `https`: an AWS Chatbot custom notification, which Chatbot (an HTTPS subscriber)
///   renders in Slack or Teams; other HTTPS subscribers get the same documented JSON;
/// - `default` (queues, Lambda, email-json, ...): the changes as JSON records.
pub fn sns_payload(message: &Message) -> String {
    let email = format!(
        "{}\n\n-- \npipewatch notification {}\n",
        message.text, message.id
    );
    let description = message.text.lines().fold(String::new(), |mut out, line| {
        let _ = writeln!(out, "• {line}");
        out
    });
    let chatbot = serde_json::json!({
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
    });
    serde_json::json!({ "default": message.body, "email": email, "https": chatbot.to_string() })
        .to_string()
}

fn push_distinct(values: &mut Vec<String>, value: &str) {
    if !values.iter().any(|v| v == value) {
        values.push(value.to_owned());
    }
}

/// `pipeline: headline (+N more)`, for the change that matters most.
fn subject(pipeline: &str, changes: &[Change], part: usize, parts: usize) -> String {
    // Ties keep the earliest change (pipeline order); max_by_key alone would take the last.
    let (_, lead) = changes
        .iter()
        .enumerate()
        .max_by_key(|(i, c)| (importance(c), std::cmp::Reverse(*i)))
        .expect("messages are built for at least one change");
    let more = match changes.len() {
        1 => String::new(),
        n => format!(" (+{} more)", n - 1),
    };
    let part = if parts > 1 {
        format!(" [{part}/{parts}]")
    } else {
        String::new()
    };
    sns_subject(&format!("{pipeline}: {}{more}{part}", headline(lead)))
}

/// Higher is more worth a subject line.
fn importance(change: &Change) -> u8 {
    let failed = change
        .status()
        .and_then(crate::state::Status::known)
        .is_some_and(|s| {
            matches!(
                s,
                KnownStatus::Failed
                    | KnownStatus::Errored
                    | KnownStatus::Stopped
                    | KnownStatus::Abandoned
            )
        });
    match change {
        // A failed action names what broke; its stage's failure only says where.
        Change::Action { .. } if failed => 7,
        _ if failed => 6,
        Change::Action {
            approval_pending: true,
            ..
        } => 5,
        Change::Transition { enabled: false, .. } => 4,
        Change::Inbound {
            status: Some(_),
            previous_status: None,
            ..
        } => 3,
        Change::PipelineVersion { .. } => 2,
        Change::Stage { .. } => 1,
        _ => 0,
    }
}

fn headline(change: &Change) -> String {
    let status = change.status().map_or("", crate::state::Status::as_str);
    match change {
        Change::Action {
            stage,
            action,
            approval_pending: true,
            ..
        } => format!("approval waiting at {stage}/{action}"),
        Change::Action { stage, action, .. } => format!("{stage}/{action} {status}"),
        Change::Stage { stage, .. } => format!("stage {stage} {status}"),
        Change::Inbound {
            stage,
            status: Some(_),
            previous_status: None,
            ..
        } => {
            format!("execution queued before {stage}")
        }
        Change::Inbound {
            stage,
            status: None,
            ..
        } => format!("execution left the queue before {stage}"),
        Change::Inbound { stage, .. } => format!("queued execution before {stage} {status}"),
        Change::Transition { stage, enabled, .. } => format!(
            "transition into {stage} {}",
            if *enabled { "enabled" } else { "disabled" }
        ),
        Change::PipelineVersion { version, .. } => match version {
            Some(v) => format!("definition edited (version {v})"),
            None => "definition edited".to_owned(),
        },
        Change::Condition {
            stage, condition, ..
        } => format!("{} conditions of {stage} {status}", condition.as_str()),
    }
}

/// SNS subjects: ASCII, no line breaks or control characters, under 100 characters.
fn sns_subject(text: &str) -> String {
    let ascii: String = text
        .chars()
        .map(|c| match c {
            c if c.is_ascii_control() => ' ',
            c if c.is_ascii() => c,
            _ => '?',
        })
        .collect();
    if ascii.len() <= 99 {
        ascii
    } else {
        format!("{}...", &ascii[..96])
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
            last_updated_by: None,
            approval_pending: false,
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
            },
        ];
        let messages = messages("web", &changes, "web/7");
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
        assert_eq!(chatbot["content"]["title"], message.subject.as_str());
        assert_eq!(
            chatbot["content"]["description"]
                .as_str()
                .unwrap()
                .lines()
                .count(),
            3
        );
    }

    #[test]
    fn subjects_follow_sns_rules_whatever_the_names() {
        let mut change = action(&"Ünïcode\nname".repeat(20), "Failed", None);
        if let Change::Action { stage, .. } = &mut change {
            *stage = "Stage\u{1b}[31m".into();
        }
        let message = &messages("web", &[change], "x")[0];
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
        let messages = messages("web", &changes, "web/9");
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
        let message = &messages("web", &changes, "x")[0];
        assert_eq!(message.attributes.kinds, ["action"]);
    }

    #[test]
    fn a_message_is_as_severe_as_its_most_severe_change() {
        let mut approval = action("Review", "InProgress", None);
        if let Change::Action {
            approval_pending, ..
        } = &mut approval
        {
            *approval_pending = true;
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
                messages("web", &changes, "x")[0].attributes.severity,
                expected,
                "{changes:?}"
            );
        }
    }

    #[test]
    fn no_changes_no_message() {
        assert!(messages("web", &[], "x").is_empty());
    }

    #[test]
    fn rank_ties_keep_the_first_change() {
        let changes = [
            action("First", "Failed", None),
            action("Second", "Failed", None),
        ];
        assert!(messages("web", &changes, "x")[0].subject.contains("First"));
    }
}
