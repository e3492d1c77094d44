//! An execution as a message tells it: its commits (the source revisions, their messages
//! and links) and what started it, from `GetPipelineExecution`'s answer when the tick had
//! one.

use serde::{Deserialize, Serialize};

use super::{Context, Progress, is_web_link};
use crate::render::text;
use crate::render::words::{short_principal, short_revision};
use crate::state::{ArtifactRevision, ExecutionTrigger};

/// A pipeline execution: which commits it runs and what started it.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct ExecutionContent {
    pub id: String,
    /// The execution's timeline in the console.
    pub url: Option<String>,
    /// Whether `GetPipelineExecution` answered; without it no commit or trigger is known.
    pub enriched: bool,
    pub trigger: Option<Trigger>,
    pub revisions: Vec<RevisionContent>,
    /// For a rollback: the execution whose revisions it goes back to.
    #[serde(default)]
    pub rollback_of: Option<String>,
    /// Where the execution stands in every stage, when the notification was made.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub progress: Option<Progress>,
}

/// What started an execution.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Trigger {
    /// `triggerType` as AWS spells it.
    #[serde(rename = "type")]
    pub trigger_type: Option<String>,
    /// `triggerDetail`, whole (for a manual start, the principal's ARN).
    pub detail: Option<String>,
    /// In words: `started by maria.silva (ReleaseManager)`.
    pub summary: String,
}

/// A source revision: for Git, a commit.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct RevisionContent {
    /// The source's output artifact.
    pub name: Option<String>,
    /// Whole, as AWS gave it.
    pub id: Option<String>,
    /// For people: a Git commit's first 7 characters.
    pub short_id: Option<String>,
    /// The commit message (from JSON summaries, their `CommitMessage`).
    pub message: Option<String>,
    /// `GitHub`, `Bitbucket`...: from a connection's JSON summary.
    pub provider: Option<String>,
    pub url: Option<String>,
}

impl ExecutionContent {
    pub(super) fn new(pipeline: &str, id: &str, context: &Context<'_>) -> Self {
        let facts = context
            .executions
            .iter()
            .find(|e| e.pipeline_execution_id == id);
        Self {
            id: id.to_owned(),
            url: context.console.map(|c| c.execution_url(pipeline, id)),
            enriched: facts.is_some(),
            trigger: facts.and_then(|f| f.trigger.as_ref()).map(Trigger::new),
            revisions: facts
                .map(|f| {
                    f.artifact_revisions
                        .iter()
                        .map(RevisionContent::new)
                        .collect()
                })
                .unwrap_or_default(),
            rollback_of: facts
                .and_then(|f| f.rollback_metadata.as_ref())
                .and_then(|r| r.rollback_target_pipeline_execution_id.clone()),
            progress: context
                .state
                .map(|state| Progress::of(state, context.starts, id)),
        }
    }

    /// One line per revision: `4e1243b Merge pull request #412...` (first line only).
    pub fn commit_lines(&self) -> Vec<String> {
        self.revisions.iter().map(RevisionContent::line).collect()
    }
}

impl Trigger {
    fn new(trigger: &ExecutionTrigger) -> Self {
        let kind = trigger.trigger_type.as_deref().unwrap_or("");
        let by = trigger.trigger_detail.as_deref().map(short_principal);
        let summary = match (kind, by) {
            ("StartPipelineExecution", Some(by)) => format!("started by {by}"),
            ("StartPipelineExecution", None) => "started manually".to_owned(),
            ("ManualRollback", Some(by)) => format!("rollback started by {by}"),
            ("AutomatedRollback", _) => "automatic rollback".to_owned(),
            ("Webhook" | "WebhookV2", _) => "started by a source change (webhook)".to_owned(),
            ("PollForSourceChanges", _) => "started by a source change (polling)".to_owned(),
            ("CloudWatchEvent", _) => "started by an EventBridge rule".to_owned(),
            ("CreatePipeline", _) => "started when the pipeline was created".to_owned(),
            ("", _) => "started".to_owned(),
            (other, _) => format!("started by {}", text::clean(other)),
        };
        Self {
            trigger_type: trigger.trigger_type.clone(),
            detail: trigger.trigger_detail.clone(),
            summary,
        }
    }
}

impl RevisionContent {
    fn new(revision: &ArtifactRevision) -> Self {
        let (message, provider) = revision
            .revision_summary
            .as_deref()
            .map(commit_message)
            .unwrap_or_default();
        Self {
            name: revision.name.clone(),
            id: revision.revision_id.clone(),
            short_id: revision.revision_id.as_deref().map(short_revision),
            message,
            provider,
            url: revision.revision_url.clone().filter(|u| is_web_link(u)),
        }
    }

    /// `4e1243b Merge pull request #412...`: the short id and the message's first line.
    pub fn line(&self) -> String {
        let first_line = self
            .message
            .as_deref()
            .and_then(|m| m.lines().map(str::trim).find(|l| !l.is_empty()))
            .map(text::clean);
        match (self.short_id.as_deref(), first_line) {
            (Some(id), Some(message)) => format!("{} {message}", text::clean(id)),
            (Some(id), None) => text::clean(id),
            (None, Some(message)) => message,
            (None, None) => "unknown revision".to_owned(),
        }
    }
}

/// `revisionSummary` → (commit message, provider). Connections send JSON
/// (`{"ProviderType":"GitHub","CommitMessage":"..."}`); `CodeCommit` and S3 plain text.
pub(super) fn commit_message(summary: &str) -> (Option<String>, Option<String>) {
    let parsed = serde_json::from_str::<serde_json::Value>(summary)
        .ok()
        .filter(serde_json::Value::is_object);
    let (message, provider) = match &parsed {
        Some(json) => (
            json["CommitMessage"].as_str().map(str::to_owned),
            json["ProviderType"].as_str().map(str::to_owned),
        ),
        None => (Some(summary.to_owned()), None),
    };
    let message = message
        .map(|m| m.trim().to_owned())
        .filter(|m| !m.is_empty());
    (message, provider)
}
