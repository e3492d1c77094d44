//! A notification as an AWS Chatbot custom notification (the `https` body): the documented
//! schema (`version`, `source`, `id`, `content`, `metadata`) and nothing else.
//!
//! - `metadata.threadId` is the lead change's pipeline execution, so one release's updates
//!   thread together in the channel; the pipeline's name when the message has none.
//! - Links go in `content.nextSteps`, written in Slack's link markup, which Chatbot
//!   renders (`client-markdown`).
//! - Chatbot documents no length limits. The description is kept within Slack's 3,000
//!   characters for a section, where Chatbot posts it, ending "…and N more" when changes
//!   do not fit; the title within Slack's 150 for a header.

use std::fmt::Write as _;

use serde_json::{Value, json};

use crate::render::content::Content;
use crate::render::mrkdwn::{self, cut, escape, escape_within, link};

pub const MAX_TITLE: usize = 150;
pub const MAX_DESCRIPTION: usize = 3_000;
/// Reasons are cut to this in the description, so several changes fit.
const MAX_REASON: usize = 300;
const MAX_KEYWORDS: usize = 5;

/// The `https` body of a message.
pub fn render(content: &Content) -> Value {
    let icon = content.icon();
    let title = escape_within(&format!("{icon} {}", content.title()), MAX_TITLE);

    let mut next_steps = Vec::new();
    if let Some((label, url)) = content.main_link() {
        next_steps.push(link(url, label));
    }
    if let Some(url) = content.logs_link() {
        next_steps.push(link(url, "Logs"));
    }
    if let Some(execution) = content.lead_execution() {
        for revision in execution
            .revisions
            .iter()
            .filter(|r| r.url.is_some())
            .take(2)
        {
            let label = format!("Commit {}", revision.short_id.as_deref().unwrap_or("?"));
            next_steps.push(link(revision.url.as_deref().unwrap_or_default(), &label));
        }
    }
    if let Some(url) = content.links.pipeline.as_deref()
        && !next_steps.iter().any(|s| s.contains(url))
    {
        next_steps.push(link(url, "Pipeline"));
    }

    let mut keywords = vec![
        content.pipeline.clone(),
        content.severity.as_str().to_owned(),
    ];
    for change in &content.changes {
        if let Some(stage) = &change.record.stage
            && !keywords.contains(stage)
            && keywords.len() < MAX_KEYWORDS
        {
            keywords.push(stage.clone());
        }
    }
    keywords.retain(|k| !k.is_empty());

    let thread = content
        .lead_execution()
        .map_or(content.pipeline.as_str(), |e| e.id.as_str());
    let mut metadata = json!({
        "threadId": if thread.is_empty() { "pipewatch" } else { thread },
        "summary": content.subject,
        "eventType": "pipewatch",
        "additionalContext": {
            "pipeline": content.pipeline,
            "severity": content.severity.as_str(),
            "notificationId": content.id,
        },
    });
    if let Some(arn) = &content.pipeline_arn {
        metadata["relatedResources"] = json!([arn]);
    }
    json!({
        "version": "1.0",
        "source": "custom",
        "id": content.id,
        "content": {
            "textType": "client-markdown",
            "title": title,
            "description": description(content),
            "nextSteps": next_steps,
            "keywords": keywords,
        },
        "metadata": metadata,
    })
}

/// A line per change, then the commit and who started the run, within the limit.
fn description(content: &Content) -> String {
    let mut footer = String::new();
    if let Some(execution) = content.lead_execution() {
        let mut facts: Vec<String> = execution
            .commit_lines()
            .iter()
            .map(|line| format!("Commit {}", escape(line)))
            .collect();
        if let Some(trigger) = &execution.trigger {
            facts.push(escape(&trigger.summary));
        }
        if !facts.is_empty() {
            footer = facts.join(" · ");
        }
    }
    let mut lines: Vec<String> = content
        .changes_lead_first()
        .map(|change| mrkdwn::change_line(change, MAX_REASON))
        .collect();
    if content.changes.is_empty() {
        lines.push(escape(content.text.trim()));
    }
    fit(&mut lines, &footer, MAX_DESCRIPTION)
}

/// Joins `lines` and `footer`, dropping trailing lines for "…and N more" until it fits.
pub(crate) fn fit(lines: &mut Vec<String>, footer: &str, limit: usize) -> String {
    let join = |lines: &[String], omitted: usize| {
        let mut text = lines.join("\n");
        if omitted > 0 {
            let _ = write!(text, "\n…and {omitted} more");
        }
        if !footer.is_empty() {
            text.push_str("\n\n");
            text.push_str(footer);
        }
        text
    };
    let total = lines.len();
    loop {
        let text = join(lines, total - lines.len());
        if text.chars().count() <= limit || lines.len() <= 1 {
            return cut(&text, limit);
        }
        lines.pop();
    }
}

#[cfg(test)]
mod tests {
    use serde_json::json;

    use super::*;
    use crate::render::content::Context;
    use crate::state::PipelineState;

    #[test]
    fn keywords_are_the_pipeline_its_severity_and_the_first_stages_five_at_most() {
        let stages = |status: &str| {
            let stages: Vec<serde_json::Value> = ["Source", "Build", "Test", "Stage", "Prod"]
                .iter()
                .map(|name| {
                    json!({"stageName": name,
                    "latestExecution": {"pipelineExecutionId": "e-1", "status": status}})
                })
                .collect();
            serde_json::from_value::<PipelineState>(
                json!({"pipelineName": "web", "stageStates": stages}),
            )
            .unwrap()
        };
        let changes = crate::diff::diff(&stages("InProgress"), &stages("Succeeded"));
        assert_eq!(changes.len(), 5);
        let keywords = |count: usize| {
            let content = Content::build(
                "web",
                &changes[..count],
                &Context::default(),
                "web/1/1",
                (1, 1),
            );
            render(&content)["content"]["keywords"].clone()
        };
        // Chatbot documents no bound; it shows each keyword as a tag, so five is ours.
        assert_eq!(
            keywords(5),
            json!(["web", "info", "Source", "Build", "Test"])
        );
        assert_eq!(keywords(2), json!(["web", "info", "Source", "Build"]));
    }
}
