//! What the Slack app (a bot token, Slack's Web API) posts: for each pipeline execution a
//! notification touches, its **living message**, rendered whole from the execution's
//! progress ([`super::content::Progress`]) and replaced in place as the run moves; the
//! details people look for later as **thread replies**, each with a key that posts it once;
//! and, for a notification about no execution (pipewatch's health, an edited pipeline, a
//! transition), the webhook's message as it is.
//!
//! A rendering holds nothing that changes when the run does not (no revision, no clock),
//! so equal runs render equal, and an unchanged rendering is never sent twice. Pure.

use std::collections::BTreeMap;
use std::fmt::Write as _;
use std::time::Duration;

use serde_json::{Value, json};
use sha2::{Digest, Sha256};

use crate::change::Approval;
use crate::interaction::{self, Target};
use crate::render::content::{
    ChangeContent, Content, ExecutionContent, Progress, Severity, StageProgress, StageStatus,
};
use crate::render::mrkdwn::{self, cut, escape, escape_within};
use crate::render::record::Detail;
use crate::render::slack::{self, MAX_SECTION};
use crate::render::text;
use crate::render::words::{duration_text, retry_words, short_id};

/// What one notification becomes in one channel.
#[derive(Debug, Clone, PartialEq)]
pub struct Rendered {
    /// One per execution the notification tells progress of.
    pub living: Vec<Living>,
    pub replies: Vec<Reply>,
    /// A notification about no execution, posted on its own, once.
    pub standalone: Option<Standalone>,
}

/// An execution's top-level message at one revision.
#[derive(Debug, Clone, PartialEq)]
pub struct Living {
    pub execution: String,
    /// Orders the renderings of one execution: the notification's revision.
    pub revision: u64,
    /// The notification's severity: whether it may start a message in a channel.
    pub severity: Severity,
    /// `text` and `blocks`, without `channel` and `ts`; [`plain`] makes it plain text
    /// when Slack refuses the blocks.
    pub message: Value,
    /// [`digest`] of `message`.
    pub digest: String,
}

/// A detail posted once in an execution's thread.
#[derive(Debug, Clone, PartialEq)]
pub struct Reply {
    pub execution: String,
    /// Unique within the execution: posts it once, whatever the deliveries.
    pub key: String,
    /// Also shown in the channel (`reply_broadcast`).
    pub broadcast: bool,
    pub message: Value,
}

/// A message about no execution.
#[derive(Debug, Clone, PartialEq)]
pub struct Standalone {
    /// The notification's id: posts it once.
    pub key: String,
    pub severity: Severity,
    pub message: Value,
}

/// How a channel wants the app's messages.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct Options {
    /// Failure replies are also shown in the channel (`reply_broadcast`).
    pub broadcast_failures: bool,
    /// A waiting approval gets Approve and Reject buttons (the approver is installed).
    pub approve_in_slack: bool,
}

/// Decisions taken in Slack, as the approver recorded them: the summary CodePipeline keeps
/// (`Approved in Slack by Maria Silva (U024BE7LH): looks good`), by the approval's
/// [`Target::decision_key`]. A decided approval's message shows the outcome instead of
/// its buttons, whatever notification it is rendered from: one computed before the click
/// cannot bring them back.
pub type Decisions = BTreeMap<String, String>;

/// Renders `content` for the app, no decision known.
pub fn render(content: &Content, options: Options) -> Rendered {
    render_decided(content, options, &Decisions::new())
}

/// The approvals `content` would show buttons for, with `options`: the decisions worth
/// reading before rendering it.
pub fn buttons_for(content: &Content, options: Options) -> Vec<Target> {
    if !options.approve_in_slack || content.revision.is_none() {
        return Vec::new();
    }
    content
        .executions
        .iter()
        .filter_map(|e| waiting_target(content, e))
        .collect()
}

/// The approval `execution` waits for, as its buttons name it.
fn waiting_target(content: &Content, execution: &ExecutionContent) -> Option<Target> {
    let progress = execution.progress.as_ref()?;
    let stage = progress.stages.iter().find(|s| s.awaiting_approval)?;
    Some(Target {
        pipeline: content.pipeline.clone(),
        arn: content.pipeline_arn.clone(),
        stage: stage.name.clone(),
        action: stage.action.clone()?,
        action_execution_id: stage.action_execution_id.clone()?,
        execution: Some(execution.id.clone()),
    })
}

/// Renders `content` for the app, showing the outcome of the approvals `decided`.
pub fn render_decided(content: &Content, options: Options, decided: &Decisions) -> Rendered {
    let broadcast_failures = options.broadcast_failures;
    let living: Vec<Living> = match content.revision {
        Some(revision) => content
            .executions
            .iter()
            .filter_map(|execution| {
                let progress = execution.progress.as_ref()?;
                let message = living_message(content, execution, progress, options, decided);
                Some(Living {
                    execution: execution.id.clone(),
                    revision,
                    severity: content.severity,
                    digest: digest(&message),
                    message,
                })
            })
            .collect(),
        None => Vec::new(),
    };
    let replies = content
        .changes
        .iter()
        .filter_map(|change| {
            let execution = change.pipeline_execution_id.as_deref()?;
            living
                .iter()
                .any(|l| l.execution == execution)
                .then_some(())?;
            let key = reply_key(change)?;
            let failed = change.severity == Severity::Failure;
            Some(Reply {
                execution: execution.to_owned(),
                key,
                broadcast: broadcast_failures && failed,
                message: reply(change),
            })
        })
        .collect();
    let standalone = living.is_empty().then(|| Standalone {
        key: content.id.clone(),
        severity: content.severity,
        message: slack::render(content),
    });
    Rendered {
        living,
        replies,
        standalone,
    }
}

/// Approve and Reject, each asking for confirmation, naming the approval run they decide
/// (never its token).
fn decision_buttons(target: &Target) -> [Value; 2] {
    let what = format!(
        "*{}/{}* of *{}*",
        escape(&text::clean(&target.stage)),
        escape(&text::clean(&target.action)),
        escape(&text::clean(&target.pipeline))
    );
    let button = |label: &str, action_id: &str, style: &str, question: String| {
        json!({"type": "button", "text": {"type": "plain_text", "text": label},
            "action_id": action_id, "style": style, "value": target.to_value(),
            "confirm": {"title": {"type": "plain_text", "text": format!("{label}?")},
                "text": {"type": "mrkdwn", "text": cut(&question, 300)},
                "confirm": {"type": "plain_text", "text": label},
                "deny": {"type": "plain_text", "text": "Cancel"}}})
    };
    [
        button(
            "Approve",
            interaction::APPROVE,
            "primary",
            format!("Approve {what}? The pipeline moves on."),
        ),
        button(
            "Reject",
            interaction::REJECT,
            "danger",
            format!("Reject {what}? The execution stops there; you are asked why."),
        ),
    ]
}

/// A SHA-256 of a rendering, in hex: equal renderings, equal digests.
pub fn digest(message: &Value) -> String {
    let hash = Sha256::digest(message.to_string().as_bytes());
    hash.iter()
        .fold(String::with_capacity(64), |mut hex, byte| {
            let _ = write!(hex, "{byte:02x}");
            hex
        })
}

/// `message`, saying that it continues an earlier message Slack no longer lets the app
/// edit (`cant_update_message`, `edit_window_closed`), with a link to it when known.
pub fn continuing(message: &Value, earlier: Option<&str>) -> Value {
    let mut message = message.clone();
    let words = match earlier {
        Some(link) => {
            format!("Continues <{link}|an earlier message> that can no longer be edited.")
        }
        None => "Continues an earlier message that can no longer be edited.".to_owned(),
    };
    if let Some(blocks) = message["blocks"].as_array_mut() {
        blocks.insert(
            0,
            json!({"type": "context", "elements": [{"type": "mrkdwn", "text": words}]}),
        );
    }
    if let Some(text) = message["text"].as_str() {
        message["text"] = json!(format!("{text} (continued)"));
    }
    message
}

/// The top-level message of `execution` as `progress` tells it.
fn living_message(
    content: &Content,
    execution: &ExecutionContent,
    progress: &Progress,
    options: Options,
    decided: &Decisions,
) -> Value {
    let (icon, state) = standing(progress);
    let pipeline = text::clean(&content.pipeline);
    let title = match &execution.url {
        Some(url) => mrkdwn::link(url, &pipeline),
        None => escape(&pipeline),
    };
    let mut blocks = vec![json!({"type": "section", "text": {"type": "mrkdwn",
        "text": mrkdwn::cut_escaped(&format!("{icon} *{title}* {}", escape(&state)), MAX_SECTION)}})];

    let mut facts = mrkdwn::execution_facts(execution);
    facts.push(format!("execution `{}`", escape(&short_id(&execution.id))));
    blocks.push(json!({"type": "context", "elements": [{"type": "mrkdwn",
        "text": mrkdwn::cut_escaped(&facts.join(" · "), MAX_SECTION)}]}));

    // The stages, one line each, in as few sections as Slack's section limit allows,
    // within the message's total (the blocks above and the buttons below stay).
    let mut budget = slack::MAX_TOTAL_TEXT
        .saturating_sub(blocks.iter().map(|b| b.to_string().len()).sum::<usize>() + 200);
    let mut sections: Vec<String> = Vec::new();
    let mut section = String::new();
    let mut shown = 0;
    for stage in &progress.stages {
        let line = mrkdwn::cut_escaped(&stage_line(stage), MAX_SECTION);
        let size = line.chars().count() + 1;
        // Room kept for the "…and N more" line. The text runs out long before the blocks
        // do: a few sections of 3,000 characters hold the 10,000.
        if size + 40 > budget {
            break;
        }
        budget -= size;
        if !section.is_empty() && section.chars().count() + size > MAX_SECTION {
            sections.push(std::mem::take(&mut section));
        }
        if !section.is_empty() {
            section.push('\n');
        }
        section.push_str(&line);
        shown += 1;
    }
    if !section.is_empty() {
        sections.push(section);
    }
    for text in sections {
        blocks.push(json!({"type": "section", "text": {"type": "mrkdwn", "text": text}}));
    }
    let omitted = progress.stages.len() - shown;
    if omitted > 0 {
        blocks.push(json!({"type": "context", "elements": [{"type": "mrkdwn",
            "text": format!("…and {omitted} more stages")}]}));
    }

    let mut elements: Vec<Value> = Vec::new();
    let waiting = progress.stages.iter().find(|s| s.awaiting_approval);
    let target = waiting_target(content, execution).filter(|_| options.approve_in_slack);
    let outcome = target.as_ref().and_then(|t| decided.get(&t.decision_key()));
    match (&target, outcome) {
        (Some(_), Some(summary)) => {
            let icon = if summary.starts_with("Rejected") {
                "⛔"
            } else {
                "✅"
            };
            blocks.push(json!({"type": "context", "elements": [{"type": "mrkdwn",
                "text": mrkdwn::cut_escaped(&format!("{icon} {}", escape(&text::clean(summary))), MAX_SECTION)}]}));
        }
        (Some(target), None) => elements.extend(decision_buttons(target)),
        (None, _) => {}
    }
    let mut links = Vec::new();
    if waiting.is_some()
        && outcome.is_none()
        && let Some(url) = content.links.pipeline.as_deref()
    {
        links.push(("Review approval", url));
    }
    if let Some(url) = execution.url.as_deref() {
        links.push(("View execution", url));
    }
    let styled = elements.is_empty();
    for (i, (label, url)) in links.into_iter().enumerate() {
        let mut button = json!({"type": "button",
            "text": {"type": "plain_text", "text": label},
            "url": url, "action_id": format!("pipewatch-link-{i}")});
        if styled && i == 0 {
            button["style"] = json!("primary");
        }
        elements.push(button);
    }
    if !elements.is_empty() {
        blocks.push(json!({"type": "actions", "elements": elements}));
    }
    json!({
        "text": cut(&format!("{icon} {pipeline} {state}"), slack::MAX_HEADER * 2),
        "blocks": blocks,
    })
}

/// The execution's state as a whole: a symbol and words.
fn standing(progress: &Progress) -> (&'static str, String) {
    let at = |stage: &StageProgress| match &stage.action {
        Some(action) => format!("{}/{}", text::clean(&stage.name), text::clean(action)),
        None => text::clean(&stage.name),
    };
    if let Some(failed) = progress
        .stages
        .iter()
        .find(|s| s.status == StageStatus::Failed)
    {
        return ("❌", format!("failed at {}", at(failed)));
    }
    if let Some(waiting) = progress.stages.iter().find(|s| s.awaiting_approval) {
        return ("✋", format!("waiting for approval at {}", at(waiting)));
    }
    if let Some(blocked) = progress.stages.iter().find(|s| s.blocked.is_some()) {
        return (
            "🔒",
            format!(
                "held before {}: transition disabled",
                text::clean(&blocked.name)
            ),
        );
    }
    match progress.current() {
        Some(stage) if stage.status == StageStatus::InProgress => {
            ("🔄", format!("in progress: {}", at(stage)))
        }
        Some(stage) if stage.status == StageStatus::Queued => {
            ("⏳", format!("queued before {}", text::clean(&stage.name)))
        }
        Some(stage) if stage.status == StageStatus::Stopped => (
            "⏹️",
            format!(
                "{} at {}",
                stage.aws_status.as_deref().map_or("stopped", text_status),
                text::clean(&stage.name)
            ),
        ),
        _ if progress
            .stages
            .iter()
            .all(|s| matches!(s.status, StageStatus::Succeeded | StageStatus::Passed)) =>
        {
            let took = total_seconds(progress)
                .map(|s| format!(" in {}", duration_text(Duration::from_secs(s))))
                .unwrap_or_default();
            ("✅", format!("succeeded{took}"))
        }
        Some(stage) if stage.status.is_final() => (
            "🔄",
            format!("in progress: {} done", text::clean(&stage.name)),
        ),
        Some(stage) => ("🔹", format!("at {}", text::clean(&stage.name))),
        None => ("🔹", "no longer shown by CodePipeline".to_owned()),
    }
}

fn text_status(status: &str) -> &str {
    match status {
        "Cancelled" => "cancelled",
        "Abandoned" => "abandoned",
        "Superseded" => "superseded",
        _ => "stopped",
    }
}

/// From the first known start to the last known end, when every stage is done.
fn total_seconds(progress: &Progress) -> Option<u64> {
    let start = progress.stages.iter().filter_map(|s| s.started_at).min()?;
    let end = progress.stages.iter().filter_map(|s| s.finished_at).max()?;
    u64::try_from((end.unix_millis() - start.unix_millis()) / 1000).ok()
}

/// `❌ *Build* — UnitTests failed · 1m35s (manual retry 1)`.
fn stage_line(stage: &StageProgress) -> String {
    let name = escape(&text::clean(&stage.name));
    let action = stage.action.as_deref().map(|a| escape(&text::clean(a)));
    let mut line = match stage.status {
        StageStatus::Pending => format!("◻️ {name}"),
        StageStatus::Unknown => format!("▫️ {name} — no longer shown"),
        StageStatus::Passed => format!("☑️ {name}"),
        StageStatus::Queued => match &stage.blocked {
            Some(blocked) => {
                let mut words = format!("🔒 *{name}* — waiting: transition disabled");
                if let Some(by) = &blocked.by {
                    let _ = write!(words, " by {}", escape(&text::clean(&short(by))));
                }
                if let Some(reason) = &blocked.reason {
                    let _ = write!(words, ": {}", escape_within(&text::clean(reason), 300));
                }
                words
            }
            None => format!("⏳ *{name}* — queued"),
        },
        StageStatus::InProgress => match (&action, stage.awaiting_approval) {
            (Some(action), true) => format!("✋ *{name}* — {action} waiting for approval"),
            (Some(action), false) => format!("🔄 *{name}* — {action}"),
            (None, _) => format!("🔄 *{name}*"),
        },
        StageStatus::Succeeded => format!("✅ {name}"),
        StageStatus::Failed => match &action {
            Some(action) => format!("❌ *{name}* — {action} failed"),
            None => format!("❌ *{name}* failed"),
        },
        StageStatus::Stopped => format!(
            "⏹️ {name} {}",
            stage.aws_status.as_deref().map_or("stopped", text_status)
        ),
    };
    if let Some(seconds) = stage.duration_seconds() {
        let _ = write!(line, " · {}", duration_text(Duration::from_secs(seconds)));
    } else if stage.status == StageStatus::InProgress
        && let Some(start) = stage.started_at
    {
        // Slack shows the time in each reader's own zone.
        let seconds = start.unix_millis() / 1000;
        let _ = write!(line, " · since <!date^{seconds}^{{time}}|{start}>");
    }
    if let Some(retry) = stage.retry {
        let _ = write!(line, " ({})", retry_words(retry));
    }
    line
}

/// An IAM principal, shortened as the other channels do.
fn short(principal: &str) -> String {
    crate::render::words::short_principal(principal)
}

/// The key that posts a change's detail once in its execution's thread; `None` for a
/// change that is told by the living message alone.
fn reply_key(change: &ChangeContent) -> Option<String> {
    let record = &change.record;
    let stage = record.stage.as_deref().unwrap_or("-");
    let action = record.action.as_deref().unwrap_or("-");
    let run = record.execution_id.as_deref().unwrap_or("-");
    let status = record.status.as_deref().unwrap_or("-");
    if record.recovered {
        return Some(format!("recovered/{stage}/{action}/{run}/{status}"));
    }
    match &record.detail {
        Detail::Action { .. } => match change.approval() {
            Some(Approval::Waiting) => Some(format!("approval/{stage}/{action}/{run}/waiting")),
            Some(decided) => Some(format!("approval/{stage}/{action}/{run}/{decided:?}")),
            None if change.severity == Severity::Failure => {
                Some(format!("failed/{stage}/{action}/{run}"))
            }
            None => None,
        },
        Detail::Stage {
            retry: Some(retry), ..
        } if status == "InProgress" => Some(format!(
            "retry/{stage}/{}/{}",
            if retry.automatic {
                "automatic"
            } else {
                "manual"
            },
            retry.attempt
        )),
        // A kind a newer pipewatch knows, worth attention: told once, by its own words.
        Detail::Other if change.severity > Severity::Info => Some(format!(
            "other/{stage}/{action}/{run}/{status}/{}",
            &digest(&Value::String(change.what.clone()))[..12]
        )),
        // A whole execution no observation saw is always recovered: keyed above.
        _ => None,
    }
}

/// A thread reply: the change's line with its reason, and its links.
fn reply(change: &ChangeContent) -> Value {
    let mut blocks = vec![json!({"type": "section", "text": {"type": "mrkdwn",
        "text": mrkdwn::cut_escaped(&mrkdwn::change_line(change, 2_000), MAX_SECTION)}})];
    let links: Vec<String> = [
        ("Logs", change.links.logs.as_deref()),
        ("Resource", change.links.entity.as_deref()),
    ]
    .into_iter()
    .filter_map(|(label, url)| url.map(|url| mrkdwn::link(url, label)))
    .collect();
    if !links.is_empty() {
        blocks.push(json!({"type": "context", "elements": [{"type": "mrkdwn",
            "text": links.join(" · ")}]}));
    }
    json!({
        "text": cut(&format!("{} {}", change.icon(), change.what_with_duration()), 300),
        "blocks": blocks,
    })
}

/// A message without blocks, for when Slack refuses the blocks (`invalid_blocks`,
/// `msg_too_long`): its fallback text and the blocks' text, cut to one section.
pub fn plain(message: &Value) -> Value {
    let mut lines = vec![message["text"].as_str().unwrap_or_default().to_owned()];
    for block in message["blocks"].as_array().into_iter().flatten().skip(1) {
        if let Some(text) = block["text"]["text"].as_str() {
            lines.push(text.to_owned());
        }
    }
    json!({"text": mrkdwn::cut_escaped(&lines.join("\n"), MAX_SECTION)})
}

#[cfg(test)]
mod tests;
