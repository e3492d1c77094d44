//! One pipeline execution as `GetPipelineExecution` describes it: the source revisions it
//! runs and what started it. Only the facts that never change during the execution are
//! kept (no status), so a copy cached in a pipeline's record stays true.

use serde::{Deserialize, Serialize};

use super::Timestamp;
use crate::error::ParseError;

/// Free text (a commit message) longer than this is cut when an execution is kept.
const MAX_SUMMARY: usize = 1_000;

/// A URL longer than this is dropped rather than cut: half a link opens the wrong page.
const MAX_URL: usize = 2_000;

/// `GetPipelineExecution`'s `pipelineExecution`, reduced to what a notification shows.
#[serde_with::skip_serializing_none]
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct PipelineExecution {
    pub pipeline_execution_id: String,
    /// `STANDARD` or `ROLLBACK`.
    #[serde(default)]
    pub execution_type: Option<String>,
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub artifact_revisions: Vec<ArtifactRevision>,
    #[serde(default)]
    pub trigger: Option<ExecutionTrigger>,
    #[serde(default)]
    pub rollback_metadata: Option<RollbackMetadata>,
}

/// A source revision the execution runs: for a Git source, the commit.
#[serde_with::skip_serializing_none]
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(default, rename_all = "camelCase")]
pub struct ArtifactRevision {
    /// The source action's output artifact, e.g. `SourceOutput`.
    pub name: Option<String>,
    /// A commit id, an S3 version id, an image digest...
    pub revision_id: Option<String>,
    pub revision_change_identifier: Option<String>,
    /// Plain text (`CodeCommit`: the commit message), or a JSON string for connections:
    /// `{"ProviderType":"GitHub","CommitMessage":"..."}`.
    pub revision_summary: Option<String>,
    pub created: Option<Timestamp>,
    pub revision_url: Option<String>,
}

/// What started the execution: `triggerType` (`StartPipelineExecution`, `Webhook`,
/// `WebhookV2`, `CloudWatchEvent`, `PollForSourceChanges`, ...) and its detail (for a
/// manual start, the principal's ARN).
#[serde_with::skip_serializing_none]
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(default, rename_all = "camelCase")]
pub struct ExecutionTrigger {
    pub trigger_type: Option<String>,
    pub trigger_detail: Option<String>,
}

/// For a rollback: the execution whose revisions it goes back to.
#[serde_with::skip_serializing_none]
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(default, rename_all = "camelCase")]
pub struct RollbackMetadata {
    pub rollback_target_pipeline_execution_id: Option<String>,
}

/// The CLI's output wraps the execution: `{"pipelineExecution": {...}}`.
#[derive(Deserialize)]
#[serde(rename_all = "camelCase")]
struct Response {
    pipeline_execution: PipelineExecution,
}

impl PipelineExecution {
    /// Parses a `GetPipelineExecution` response (`{"pipelineExecution": {...}}`, as the
    /// AWS CLI prints it) or the bare execution object.
    pub fn from_json(bytes: &[u8]) -> Result<Self, ParseError> {
        let bytes = bytes.strip_prefix(b"\xEF\xBB\xBF").unwrap_or(bytes);
        let value: serde_json::Value =
            serde_json::from_slice(bytes).map_err(ParseError::Execution)?;
        let execution = if value.get("pipelineExecution").is_some() {
            serde_json::from_value::<Response>(value)
                .map_err(ParseError::Execution)?
                .pipeline_execution
        } else {
            serde_json::from_value::<Self>(value).map_err(ParseError::Execution)?
        };
        Ok(execution.bounded())
    }

    /// The execution with its free text cut and over-long URLs dropped, so a cached copy
    /// has a bounded size whatever a commit message holds.
    #[must_use]
    pub fn bounded(mut self) -> Self {
        for revision in &mut self.artifact_revisions {
            if let Some(summary) = &mut revision.revision_summary
                && summary.chars().count() > MAX_SUMMARY
            {
                *summary = summary.chars().take(MAX_SUMMARY).collect();
            }
            if revision
                .revision_url
                .as_ref()
                .is_some_and(|u| u.len() > MAX_URL)
            {
                revision.revision_url = None;
            }
        }
        self
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_cli_form_and_the_bare_object_both_parse() {
        let bare = r#"{"pipelineExecutionId": "e1", "status": "Succeeded",
            "artifactRevisions": [{"name": "Src", "revisionId": "abc", "created": 1427298837.768}],
            "trigger": {"triggerType": "StartPipelineExecution", "triggerDetail": "arn:aws:iam::1:user/ana"}}"#;
        let wrapped = format!(r#"{{"pipelineExecution": {bare}}}"#);
        let a = PipelineExecution::from_json(bare.as_bytes()).unwrap();
        let b = PipelineExecution::from_json(wrapped.as_bytes()).unwrap();
        assert_eq!(a, b);
        assert_eq!(a.artifact_revisions[0].revision_id.as_deref(), Some("abc"));
        assert_eq!(
            a.trigger.unwrap().trigger_type.as_deref(),
            Some("StartPipelineExecution")
        );
    }

    #[test]
    fn a_kept_execution_is_bounded() {
        let long = "m".repeat(5_000);
        let url = format!("https://example.com/{}", "u".repeat(3_000));
        let execution = PipelineExecution {
            pipeline_execution_id: "e1".into(),
            execution_type: None,
            artifact_revisions: vec![ArtifactRevision {
                revision_summary: Some(long),
                revision_url: Some(url),
                ..ArtifactRevision::default()
            }],
            trigger: None,
            rollback_metadata: None,
        }
        .bounded();
        let revision = &execution.artifact_revisions[0];
        assert_eq!(
            revision.revision_summary.as_ref().unwrap().chars().count(),
            MAX_SUMMARY
        );
        assert_eq!(revision.revision_url, None);
        // A URL of exactly the bound is kept.
        let url = format!("https://example.com/{}", "u".repeat(2_000 - 20));
        let kept = PipelineExecution {
            pipeline_execution_id: "e1".into(),
            execution_type: None,
            artifact_revisions: vec![ArtifactRevision {
                revision_url: Some(url.clone()),
                ..ArtifactRevision::default()
            }],
            trigger: None,
            rollback_metadata: None,
        }
        .bounded();
        assert_eq!(kept.artifact_revisions[0].revision_url, Some(url));
    }

    #[test]
    fn a_response_without_an_execution_id_is_refused() {
        assert!(PipelineExecution::from_json(br#"{"pipelineExecution": {}}"#).is_err());
        assert!(PipelineExecution::from_json(b"[]").is_err());
    }
}
