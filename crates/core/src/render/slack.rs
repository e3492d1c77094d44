//! A notification as a Slack incoming-webhook message (Block Kit): a header, then, in an
//! attachment coloured by severity, a section per change with its status symbol, a context
//! line with the commit, who started the run and how long it took, buttons to the execution
//! and the logs, and the notification id. Pure; the forwarder posts what this returns.
//!
//! Slack's limits are kept here, where they bite: 50 blocks, 150 characters in a header,
//! 3,000 in a section, 75 in a button, and about 12,000 characters of text per message
//! (refused past that, observed rather than documented), with a plain `text` fallback for
//! notifications and old clients.

use serde_json::{Value, json};

use crate::render::content::{Content, Severity};
use crate::render::mrkdwn::{self, cut, escape, escape_within};
use crate::render::text;
use crate::render::words::duration_text;

pub const MAX_BLOCKS: usize = 50;
pub const MAX_HEADER: usize = 150;
pub const MAX_SECTION: usize = 3_000;
/// Under Slack's undocumented ~12,000-character total, with room for block containers.
pub const MAX_TOTAL_TEXT: usize = 10_000;
const MAX_BUTTON_TEXT: usize = 75;
const MAX_BUTTON_URL: usize = 3_000;
const MAX_REASON: usize = 600;

/// The attachment's colour bar, by severity; grey for what is only relayed.
fn colour(content: &Content) -> &'static str {
    if content.relayed {
        return "#8C959F";
    }
    match content.severity {
        Severity::Failure => "#D1242F",
        Severity::Approval => "#8250DF",
        Severity::Warning => "#BF8700",
        Severity::Info => "#1A7F37",
    }
}

/// The webhook body for a notification.
pub fn render(content: &Content) -> Value {
    let icon = content.icon();
    let header = json!({
        "type": "header",
        "text": {
            "type": "plain_text",
            "text": cut(&format!("{icon} {}", text::clean(content.title())), MAX_HEADER),
            "emoji": true,
        },
    });

    let mut sections: Vec<String> = content
        .changes_lead_first()
        .map(|change| mrkdwn::cut_escaped(&mrkdwn::change_line(change, MAX_REASON), MAX_SECTION))
        .collect();
    if content.changes.is_empty() && !content.text.trim().is_empty() {
        sections.push(escape_within(content.text.trim(), MAX_SECTION));
    }

    let mut tail: Vec<Value> = Vec::new();
    if let Some(context) = context_line(content) {
        tail.push(json!({"type": "context", "elements": [{"type": "mrkdwn", "text": context}]}));
    }
    let buttons = buttons(content);
    if !buttons.is_empty() {
        tail.push(json!({"type": "actions", "elements": buttons}));
    }
    tail.push(json!({"type": "context", "elements": [{"type": "mrkdwn",
        "text": format!("pipewatch notification `{}`", escape(&content.id))}]}));

    // Drop trailing sections until blocks and text fit, saying how many were left out.
    let fixed_text: usize = text_length(&header) + tail.iter().map(text_length).sum::<usize>();
    let total = sections.len();
    let reserve = 1 + tail.len() + 1; // header, tail, and the "…and N more" line
    loop {
        let text: usize = sections.iter().map(|s| s.chars().count()).sum();
        if sections.len() + reserve <= MAX_BLOCKS && fixed_text + text + 40 <= MAX_TOTAL_TEXT
            || sections.len() <= 1
        {
            break;
        }
        sections.pop();
    }
    let mut blocks: Vec<Value> = sections
        .into_iter()
        .map(|text| json!({"type": "section", "text": {"type": "mrkdwn", "text": text}}))
        .collect();
    let omitted = total - blocks.len();
    if omitted > 0 {
        blocks.push(json!({"type": "context", "elements": [{"type": "mrkdwn",
            "text": format!("…and {omitted} more")}]}));
    }
    blocks.extend(tail);
    json!({
        // What notifications and clients without blocks show.
        "text": escape_within(&text::clean(content.title()), MAX_HEADER * 2),
        "blocks": [header],
        "attachments": [{"color": colour(content), "blocks": blocks}],
    })
}

/// Commit, who started the run, and how long the lead change took.
fn context_line(content: &Content) -> Option<String> {
    let mut facts = content
        .lead_execution()
        .map(mrkdwn::execution_facts)
        .unwrap_or_default();
    if let Some(seconds) = content.lead_change().and_then(|c| c.duration_seconds) {
        facts.push(format!(
            "took {}",
            duration_text(std::time::Duration::from_secs(seconds))
        ));
    }
    (!facts.is_empty()).then(|| mrkdwn::cut_escaped(&facts.join(" · "), MAX_SECTION))
}

/// The message's links as buttons, the first one primary.
fn buttons(content: &Content) -> Vec<Value> {
    content
        .actions()
        .into_iter()
        .filter(|(_, url)| url.len() <= MAX_BUTTON_URL)
        .enumerate()
        .map(|(i, (label, url))| {
            let mut button = json!({
                "type": "button",
                "text": {"type": "plain_text", "text": cut(label, MAX_BUTTON_TEXT)},
                "url": url,
                "action_id": format!("pipewatch-link-{i}"),
            });
            if i == 0 {
                button["style"] = json!("primary");
            }
            button
        })
        .collect()
}

/// The characters of text a block holds, as Slack counts toward its total.
fn text_length(block: &Value) -> usize {
    match block {
        Value::String(s) => s.chars().count(),
        Value::Array(items) => items.iter().map(text_length).sum(),
        Value::Object(map) => map
            .iter()
            .filter(|(k, _)| k.as_str() == "text" || k.as_str() == "elements")
            .map(|(_, v)| text_length(v))
            .sum(),
        _ => 0,
    }
}

#[cfg(test)]
mod tests {
    use serde_json::json;

    use super::*;
    use crate::change::Change;
    use crate::render::content::Context;
    use crate::state::{PipelineExecution, PipelineState};

    fn failed_actions(count: usize, reason: &str) -> Vec<Change> {
        let stages = |status: &str| {
            let actions: Vec<Value> = (0..count)
                .map(|i| {
                    json!({"actionName": format!("A{i:02}"), "latestExecution": {
                    "actionExecutionId": format!("a-{i}"), "status": status,
                    "errorDetails": {"code": "JobFailed", "message": reason}}})
                })
                .collect();
            serde_json::from_value::<PipelineState>(json!({"pipelineName": "web",
                "stageStates": [{"stageName": "Build", "actionStates": actions}]}))
            .unwrap()
        };
        crate::diff::diff(&stages("InProgress"), &stages("Failed"))
    }

    fn sections(post: &Value) -> Vec<&str> {
        post["attachments"][0]["blocks"]
            .as_array()
            .unwrap()
            .iter()
            .filter(|b| b["type"] == "section")
            .map(|b| b["text"]["text"].as_str().unwrap())
            .collect()
    }

    #[test]
    fn past_fifty_blocks_the_last_changes_are_counted_not_shown() {
        let changes = failed_actions(60, "exit 1");
        let content = Content::build("web", &changes, &Context::default(), "web/1/1", (1, 1));
        let post = render(&content);
        // 50 blocks: the header, 47 changes, "…and 13 more" and the id (no links, no
        // commit without a console or an execution).
        assert_eq!(sections(&post).len(), 47);
        let blocks = post["attachments"][0]["blocks"].as_array().unwrap();
        assert_eq!(blocks.len() + 1, 50);
        assert_eq!(blocks[47]["elements"][0]["text"], "…and 13 more");
        // Fewer changes: all shown, nothing said about more.
        let post = render(&Content::build(
            "web",
            &changes[..5],
            &Context::default(),
            "web/1/1",
            (1, 1),
        ));
        assert_eq!(sections(&post).len(), 5);
        assert!(!post.to_string().contains("…and "));
    }

    #[test]
    fn past_our_text_budget_the_last_changes_are_counted_not_shown() {
        // Long reasons are cut short in a section, but 45 such changes are too much text
        // (and within 50 blocks).
        let changes = failed_actions(45, &"x".repeat(5_000));
        let content = Content::build("web", &changes, &Context::default(), "web/1/1", (1, 1));
        let post = render(&content);
        let shown = sections(&post);
        let section = shown[0].chars().count();
        let total = text_length(&post["blocks"]) + text_length(&post["attachments"][0]["blocks"]);
        // Within our 10,000 (a margin under Slack's ~12,000), and no room for another.
        assert!(total <= 10_000, "{total}");
        assert!(total + section > 10_000 - 40, "{total} + {section}");
        assert!(shown.len() > 1 && shown.len() < 45, "{}", shown.len());
    }

    #[test]
    fn text_is_counted_as_slack_counts_it() {
        let block = json!({"type": "context", "elements": [
            {"type": "mrkdwn", "text": "héllo"}, {"type": "mrkdwn", "text": "ab"}],
            "block_id": "not text"});
        assert_eq!(text_length(&block), 7);
        assert_eq!(text_length(&json!([block, {"text": "x"}])), 8);
        assert_eq!(text_length(&json!(42)), 0);
    }

    #[test]
    fn a_commit_link_that_is_not_a_web_link_is_plain_text() {
        let execution = |url: &str| {
            PipelineExecution::from_json(
                json!({"pipelineExecution": {"pipelineExecutionId": "e-1",
                    "artifactRevisions": [{"name": "Src",
                        "revisionId": "4e1243bd22c66e76c2ba9eddc1f91394e57f9f83",
                        "revisionSummary": "Fix", "revisionUrl": url}]}})
                .to_string()
                .as_bytes(),
            )
            .unwrap()
        };
        let stages = |status: &str| {
            serde_json::from_value::<PipelineState>(json!({"pipelineName": "web",
                "stageStates": [{"stageName": "Build",
                "latestExecution": {"pipelineExecutionId": "e-1", "status": status}}]}))
            .unwrap()
        };
        let changes = crate::diff::diff(&stages("InProgress"), &stages("Failed"));
        for (url, linked) in [
            (
                "https://github.com/acme/web/commit/4e1243b".to_owned(),
                true,
            ),
            ("javascript:alert(1)".to_owned(), false),
            (
                "https://github.com/acme/web/commit/4e1243b >".to_owned(),
                false,
            ),
        ] {
            let executions = [execution(&url)];
            let ctx = Context {
                console: None,
                executions: &executions,
                ..Context::default()
            };
            let content = Content::build("web", &changes, &ctx, "web/1/1", (1, 1));
            let line = context_line(&content).unwrap();
            assert_eq!(line.contains(&format!("<{url}|4e1243b>")), linked, "{line}");
            assert!(line.contains("4e1243b"), "{line}");
        }
    }
}
