//! A notification as a Microsoft Teams message for a Workflows webhook: one Adaptive Card
//! (schema 1.5, the highest Teams renders) with the same content and actions as Slack's —
//! a title coloured by severity, a block per change, the commit and who started the run as
//! labelled lines, and buttons to the execution and the logs.
//!
//! Every piece of text that comes from a pipeline (names, reasons, comments, commit
//! messages) or from the topic is a `TextRun`, which renders no Markdown (see `plain`).
//!
//! Teams refuses a message over about 28 KB; the card is kept under [`MAX_BYTES`] by
//! leaving out trailing changes ("…and N more"). The card holds only what the official
//! Adaptive Card 1.5 schema allows (so no Teams-only `msteams` width).

use serde_json::{Value, json};

use crate::render::content::{Content, Severity};
use crate::render::text;
use crate::render::words::duration_text;

/// Under Teams' ~28 KB message limit, with room for the webhook's own envelope.
pub const MAX_BYTES: usize = 25_000;
const MAX_REASON: usize = 600;
/// A message without changes (an alarm, something relayed): its text, at most this long.
const MAX_TEXT: usize = 4_000;
const MAX_ACTIONS: usize = 4;

/// The Adaptive Card's colour for the title, by severity; the default for what is only
/// relayed.
fn colour(content: &Content) -> &'static str {
    if content.relayed {
        return "Default";
    }
    match content.severity {
        Severity::Failure => "Attention",
        Severity::Approval | Severity::Warning => "Warning",
        Severity::Info => "Good",
    }
}

/// The webhook body for a notification.
pub fn render(content: &Content) -> Value {
    let icon = content.icon();
    let title = rich(vec![json!({
        "type": "TextRun",
        "text": format!("{icon} {}", text::clean(content.title())),
        "weight": "Bolder",
        "size": "Medium",
        "color": colour(content),
    })]);
    let mut changes: Vec<Value> = content
        .changes_lead_first()
        .map(|change| {
            let mut headline = vec![
                plain(&format!("{} ", change.icon())),
                json!({"type": "TextRun", "text": text::clean(&change.what), "weight": "Bolder"}),
            ];
            if let Some(seconds) = change.duration_seconds {
                let took = duration_text(std::time::Duration::from_secs(seconds));
                headline.push(plain(&format!(" after {took}")));
            }
            let mut items = vec![rich(headline)];
            for words in [
                change
                    .why
                    .as_deref()
                    .map(|why| cut(&text::clean(why), MAX_REASON)),
                change.who.as_deref().map(text::clean),
            ]
            .into_iter()
            .flatten()
            {
                items.push(subtle(&words));
            }
            json!({"type": "Container", "items": items, "spacing": "Medium"})
        })
        .collect();
    if content.changes.is_empty() {
        // One block per line: a run does not break lines.
        changes.extend(
            cut(content.text.trim(), MAX_TEXT)
                .lines()
                .filter(|line| !line.trim().is_empty())
                .map(|line| rich(vec![plain(&text::clean(line))])),
        );
    }

    let mut tail = facts(content);
    tail.push(rich(vec![json!({
        "type": "TextRun",
        "text": format!("pipewatch notification {}", text::clean(&content.id)),
        "size": "Small",
        "isSubtle": true,
    })]));
    let actions = actions(content);

    let total = changes.len();
    loop {
        let card = card(&title, &changes, total - changes.len(), &tail, &actions);
        if card.to_string().len() <= MAX_BYTES || changes.len() <= 1 {
            return card;
        }
        changes.pop();
    }
}

fn card(
    title: &Value,
    changes: &[Value],
    omitted: usize,
    tail: &[Value],
    actions: &[Value],
) -> Value {
    let mut body = vec![title.clone()];
    body.extend(changes.iter().cloned());
    if omitted > 0 {
        body.push(
            json!({"type": "TextBlock", "text": format!("…and {omitted} more"),
            "wrap": true, "isSubtle": true}),
        );
    }
    body.extend(tail.iter().cloned());
    json!({
        "type": "message",
        "attachments": [{
            "contentType": "application/vnd.microsoft.card.adaptive",
            "contentUrl": null,
            "content": {
                "$schema": "http://adaptivecards.io/schemas/adaptive-card.json",
                "type": "AdaptiveCard",
                "version": "1.5",
                "body": body,
                "actions": actions,
            },
        }],
    })
}

/// Commit(s), who started the run, and for a rollback what it goes back to: a line each,
/// its label in bold, the commit's id a link to it.
fn facts(content: &Content) -> Vec<Value> {
    let mut facts = Vec::new();
    let Some(execution) = content.lead_execution() else {
        return facts;
    };
    let fact = |label: &str, mut value: Vec<Value>| {
        value.insert(
            0,
            json!({"type": "TextRun", "text": format!("{label}: "), "weight": "Bolder"}),
        );
        json!({"type": "RichTextBlock", "inlines": value, "spacing": "Small"})
    };
    for revision in execution.revisions.iter().take(3) {
        let line = text::clean(&revision.line());
        let value = match (&revision.url, &revision.short_id) {
            (Some(url), Some(id)) => {
                let message = line.strip_prefix(id.as_str()).unwrap_or(&line).trim_start();
                vec![
                    json!({"type": "TextRun", "text": text::clean(id),
                        "selectAction": {"type": "Action.OpenUrl", "url": url}}),
                    plain(&format!(" {message}")),
                ]
            }
            _ => vec![plain(&line)],
        };
        facts.push(fact("Commit", value));
    }
    if let Some(trigger) = &execution.trigger {
        let summary = capitalised(&text::clean(&trigger.summary));
        facts.push(fact("Trigger", vec![plain(&summary)]));
    }
    if let Some(target) = &execution.rollback_of {
        facts.push(fact("Rolls back to", vec![plain(&text::clean(target))]));
    }
    facts.push(fact("Execution", vec![plain(&text::clean(&execution.id))]));
    facts
}

/// The message's links, as Slack's buttons.
fn actions(content: &Content) -> Vec<Value> {
    content
        .actions()
        .into_iter()
        .take(MAX_ACTIONS)
        .map(|(title, url)| json!({"type": "Action.OpenUrl", "title": title, "url": url}))
        .collect()
}

/// Text from a pipeline (or from anyone on the topic) is only ever a `TextRun` of a
/// `RichTextBlock`: a run renders no Markdown (Adaptive Cards' schema: "Markdown is not
/// supported"), so `[reset your password](https://…)` or `**urgent**` in a commit message
/// or a failure reason shows as the characters it is, in Teams and in any other host.
/// `TextBlock`s, which do render Markdown, hold only pipewatch's own words.
fn plain(text: &str) -> Value {
    json!({"type": "TextRun", "text": text})
}

/// A run of toned-down text in a block of its own, close under the one before.
fn subtle(text: &str) -> Value {
    json!({"type": "RichTextBlock", "spacing": "None",
        "inlines": [{"type": "TextRun", "text": text, "isSubtle": true}]})
}

fn rich(inlines: Vec<Value>) -> Value {
    json!({"type": "RichTextBlock", "inlines": Value::Array(inlines)})
}

fn capitalised(text: &str) -> String {
    let mut chars = text.chars();
    chars
        .next()
        .map_or_else(String::new, |c| c.to_uppercase().chain(chars).collect())
}

fn cut(text: &str, max: usize) -> String {
    crate::render::mrkdwn::cut(text, max)
}

#[cfg(test)]
mod tests {
    use serde_json::json;

    use super::*;
    use crate::render::content::Context;
    use crate::state::PipelineState;

    #[test]
    fn past_teams_size_the_last_changes_are_counted_not_shown() {
        let stages = |status: &str| {
            let actions: Vec<Value> = (0..200)
                .map(|i| {
                    json!({"actionName": format!("A{i:03}"), "latestExecution": {
                    "actionExecutionId": format!("a-{i}"), "status": status,
                    "errorDetails": {"code": "JobFailed", "message": "x".repeat(300)}}})
                })
                .collect();
            serde_json::from_value::<PipelineState>(json!({"pipelineName": "web",
                "stageStates": [{"stageName": "Build", "actionStates": actions}]}))
            .unwrap()
        };
        let changes = crate::diff::diff(&stages("InProgress"), &stages("Failed"));
        let content = Content::build("web", &changes, &Context::default(), "web/1/1", (1, 1));
        let card = render(&content);
        // Teams refuses a message over 28 KB.
        assert!(card.to_string().len() <= 27_000);
        let body = card["attachments"][0]["content"]["body"]
            .as_array()
            .unwrap();
        let shown = body.iter().filter(|b| b["type"] == "Container").count();
        assert!(shown > 1 && shown < 200, "{shown}");
        let more = format!("…and {} more", 200 - shown);
        assert!(body.iter().any(|b| b["text"] == more.as_str()), "{more}");
        // All of a few.
        let few = render(&Content::build(
            "web",
            &changes[..3],
            &Context::default(),
            "web/1/1",
            (1, 1),
        ));
        assert!(!few.to_string().contains("…and "));
    }
}
