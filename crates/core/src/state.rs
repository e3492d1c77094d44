//! One observation of a pipeline: the `GetPipelineState` response as plain serde data.
//!
//! The types mirror the AWS API field for field, so that the JSON printed by
//! `aws codepipeline get-pipeline-state` (ISO-8601 timestamps) and the raw wire form
//! (epoch seconds) both parse into them. They import nothing from the AWS SDK: adapters
//! convert into them at the boundary, and everything downstream (diff, render, snapshots)
//! works on these alone.
//!
//! Three rules shape them:
//! - **Forward compatible.** Statuses are kept as the string AWS sent ([`Status`]), unknown
//!   fields are ignored, and every field the API marks optional is an `Option` or an empty list.
//! - **Secrets stay out.** An approval's `token` is reduced to "a token was present" while
//!   parsing ([`ActionExecution::token_present`]); the token itself is never stored, so no
//!   output, snapshot or log can leak it.
//! - **Names are keys.** Change detection matches stages and actions by name, so
//!   [`PipelineState::from_json`] rejects an observation whose stage or action names repeat.

mod action_run;
mod execution;
mod timestamp;

use std::collections::HashSet;
use std::fmt;

use serde::{Deserialize, Deserializer, Serialize};

pub use action_run::{ActionRun, ExecutionSummary};
pub use execution::{ArtifactRevision, ExecutionTrigger, PipelineExecution, RollbackMetadata};
pub use timestamp::Timestamp;

use crate::error::ParseError;

/// One `GetPipelineState` response: a pipeline as it stood at one moment.
#[serde_with::skip_serializing_none]
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct PipelineState {
    pub pipeline_name: String,
    /// Bumped by CodePipeline each time the pipeline's definition is edited.
    #[serde(default)]
    pub pipeline_version: Option<i64>,
    #[serde(default)]
    pub created: Option<Timestamp>,
    #[serde(default)]
    pub updated: Option<Timestamp>,
    /// Required: a response without it is not a pipeline state, whatever else it holds.
    pub stage_states: Vec<StageState>,
}

/// A stage: its transition, its queue, its latest run, its actions and (V2) its conditions.
#[serde_with::skip_serializing_none]
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct StageState {
    pub stage_name: String,
    /// The one execution waiting at the inbound transition (the 2020 API's singular field).
    #[serde(default)]
    pub inbound_execution: Option<StageExecution>,
    /// Every execution waiting at the inbound transition (V2 pipelines in QUEUED/PARALLEL mode).
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub inbound_executions: Vec<StageExecution>,
    #[serde(default)]
    pub inbound_transition_state: Option<TransitionState>,
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub action_states: Vec<ActionState>,
    #[serde(default)]
    pub latest_execution: Option<StageExecution>,
    #[serde(default)]
    pub before_entry_condition_state: Option<StageConditionState>,
    #[serde(default)]
    pub on_success_condition_state: Option<StageConditionState>,
    #[serde(default)]
    pub on_failure_condition_state: Option<StageConditionState>,
    #[serde(default)]
    pub retry_stage_metadata: Option<RetryStageMetadata>,
}

/// A pipeline execution as seen from one stage: running in it, or queued before it.
#[serde_with::skip_serializing_none]
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct StageExecution {
    pub pipeline_execution_id: String,
    pub status: Status,
    /// `STANDARD` or `ROLLBACK`.
    #[serde(default, rename = "type")]
    pub execution_type: Option<String>,
}

/// Whether executions may enter a stage. An absent `enabled` means enabled.
#[serde_with::skip_serializing_none]
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(default, rename_all = "camelCase")]
pub struct TransitionState {
    pub enabled: Option<bool>,
    pub last_changed_by: Option<String>,
    pub last_changed_at: Option<Timestamp>,
    pub disabled_reason: Option<String>,
}

impl TransitionState {
    /// Absent counts as enabled: that is how CodePipeline reports a never-disabled transition.
    pub fn is_enabled(&self) -> bool {
        self.enabled.unwrap_or(true)
    }
}

#[serde_with::skip_serializing_none]
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct ActionState {
    pub action_name: String,
    #[serde(default)]
    pub current_revision: Option<Revision>,
    #[serde(default)]
    pub latest_execution: Option<ActionExecution>,
    #[serde(default)]
    pub entity_url: Option<String>,
    #[serde(default)]
    pub revision_url: Option<String>,
}

/// The source revision an action (or a condition's rule) last worked on.
#[serde_with::skip_serializing_none]
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(default, rename_all = "camelCase")]
pub struct Revision {
    pub revision_id: Option<String>,
    pub revision_change_id: Option<String>,
    pub created: Option<Timestamp>,
}

/// An action's latest run.
#[serde_with::skip_serializing_none]
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(default, rename_all = "camelCase")]
pub struct ActionExecution {
    pub action_execution_id: Option<String>,
    pub status: Option<Status>,
    pub summary: Option<String>,
    pub last_status_change: Option<Timestamp>,
    /// When this run started, as far as pipewatch knows. `GetPipelineState` has no start
    /// time, so AWS never sends this: snapshots keep the `lastStatusChange` of the first
    /// observation that saw the run `InProgress` (see [`crate::diff::essentials_since`]).
    /// Named after `ListActionExecutions`' own `startTime`.
    pub start_time: Option<Timestamp>,
    /// Whether AWS sent an approval `token`: a manual approval is waiting for a decision.
    /// The token itself is a secret (it lets anyone approve) and is dropped while parsing.
    #[serde(
        rename = "tokenPresent",
        alias = "token",
        deserialize_with = "token_presence",
        skip_serializing_if = "std::ops::Not::not"
    )]
    pub token_present: bool,
    pub last_updated_by: Option<String>,
    pub external_execution_id: Option<String>,
    pub external_execution_url: Option<String>,
    pub percent_complete: Option<i64>,
    pub error_details: Option<ErrorDetails>,
    #[serde(rename = "logStreamARN")]
    pub log_stream_arn: Option<String>,
}

/// Why an action or rule failed, as the action's provider reported it.
#[serde_with::skip_serializing_none]
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(default)]
pub struct ErrorDetails {
    pub code: Option<String>,
    pub message: Option<String>,
}

/// The state of one of a V2 stage's condition sets (before entry, on success, on failure).
#[serde_with::skip_serializing_none]
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(default, rename_all = "camelCase")]
pub struct StageConditionState {
    pub latest_execution: Option<ConditionExecution>,
    #[serde(skip_serializing_if = "Vec::is_empty")]
    pub condition_states: Vec<ConditionState>,
}

/// The latest evaluation of a condition set, or of one condition in it.
#[serde_with::skip_serializing_none]
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(default, rename_all = "camelCase")]
pub struct ConditionExecution {
    pub status: Option<Status>,
    pub summary: Option<String>,
    pub last_status_change: Option<Timestamp>,
}

#[serde_with::skip_serializing_none]
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(default, rename_all = "camelCase")]
pub struct ConditionState {
    pub latest_execution: Option<ConditionExecution>,
    #[serde(skip_serializing_if = "Vec::is_empty")]
    pub rule_states: Vec<RuleState>,
}

#[serde_with::skip_serializing_none]
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(default, rename_all = "camelCase")]
pub struct RuleState {
    pub rule_name: Option<String>,
    pub current_revision: Option<Revision>,
    pub latest_execution: Option<RuleExecution>,
    pub entity_url: Option<String>,
    pub revision_url: Option<String>,
}

/// A rule's latest run. Like an action's, its `token` is reduced to presence.
#[serde_with::skip_serializing_none]
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(default, rename_all = "camelCase")]
pub struct RuleExecution {
    pub rule_execution_id: Option<String>,
    pub status: Option<Status>,
    pub summary: Option<String>,
    pub last_status_change: Option<Timestamp>,
    #[serde(
        rename = "tokenPresent",
        alias = "token",
        deserialize_with = "token_presence",
        skip_serializing_if = "std::ops::Not::not"
    )]
    pub token_present: bool,
    pub last_updated_by: Option<String>,
    pub external_execution_id: Option<String>,
    pub external_execution_url: Option<String>,
    pub error_details: Option<ErrorDetails>,
}

/// How a stage was retried after a failure (automatic or manual) and how often.
#[serde_with::skip_serializing_none]
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(default, rename_all = "camelCase")]
pub struct RetryStageMetadata {
    pub auto_stage_retry_attempt: Option<i64>,
    pub manual_stage_retry_attempt: Option<i64>,
    pub latest_retry_trigger: Option<String>,
}

/// A status exactly as AWS spelled it.
///
/// Kept as a string rather than an enum so that a value added by a newer API flows
/// through parsing, diffing and messages unchanged; [`Status::known`] recognises the
/// values we know how to word.
#[derive(Debug, Clone, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(transparent)]
pub struct Status(String);

/// The statuses CodePipeline documents for actions, stages, executions and conditions.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum KnownStatus {
    InProgress,
    Succeeded,
    Failed,
    Stopping,
    Stopped,
    Cancelled,
    Abandoned,
    Superseded,
    Skipped,
    Errored,
    Overridden,
}

impl Status {
    pub fn new(status: impl Into<String>) -> Self {
        Self(status.into())
    }

    /// Whether the run is over: any documented status but `InProgress` and `Stopping`.
    /// A status from a newer API is not assumed to be final.
    pub fn is_final(&self) -> bool {
        self.known()
            .is_some_and(|s| !matches!(s, KnownStatus::InProgress | KnownStatus::Stopping))
    }

    pub fn as_str(&self) -> &str {
        &self.0
    }

    /// The documented status this is, or `None` for a value from a newer API.
    pub fn known(&self) -> Option<KnownStatus> {
        Some(match self.0.as_str() {
            "InProgress" => KnownStatus::InProgress,
            "Succeeded" => KnownStatus::Succeeded,
            "Failed" => KnownStatus::Failed,
            "Stopping" => KnownStatus::Stopping,
            "Stopped" => KnownStatus::Stopped,
            "Cancelled" => KnownStatus::Cancelled,
            "Abandoned" => KnownStatus::Abandoned,
            "Superseded" => KnownStatus::Superseded,
            "Skipped" => KnownStatus::Skipped,
            "Errored" => KnownStatus::Errored,
            "Overridden" => KnownStatus::Overridden,
            _ => return None,
        })
    }
}

impl fmt::Display for Status {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.0)
    }
}

impl PipelineState {
    /// Parses one `GetPipelineState` response, CLI or wire form, and checks that stage
    /// names and action names within a stage are unique (they are the diff's keys).
    pub fn from_json(bytes: &[u8]) -> Result<Self, ParseError> {
        // Files saved by some Windows editors start with a UTF-8 byte order mark.
        let bytes = bytes.strip_prefix(b"\xEF\xBB\xBF").unwrap_or(bytes);
        match bytes.iter().find(|b| !b.is_ascii_whitespace()) {
            None => return Err(ParseError::Empty),
            // serde would also accept a struct written as an array; a response never is.
            Some(b'[') => return Err(ParseError::NotAnObject),
            Some(_) => {}
        }
        let state: Self = serde_json::from_slice(bytes).map_err(ParseError::Json)?;
        state.validate()?;
        Ok(state)
    }

    /// The checks serde cannot express: a name, and unique stage and action names.
    pub fn validate(&self) -> Result<(), ParseError> {
        if self.pipeline_name.is_empty() {
            return Err(ParseError::EmptyPipelineName);
        }
        let mut stages = HashSet::new();
        for stage in &self.stage_states {
            if !stages.insert(stage.stage_name.as_str()) {
                return Err(ParseError::DuplicateStage(stage.stage_name.clone()));
            }
            let mut actions = HashSet::new();
            for action in &stage.action_states {
                if !actions.insert(action.action_name.as_str()) {
                    return Err(ParseError::DuplicateAction {
                        stage: stage.stage_name.clone(),
                        action: action.action_name.clone(),
                    });
                }
            }
        }
        Ok(())
    }

    pub fn stage(&self, name: &str) -> Option<&StageState> {
        self.stage_states.iter().find(|s| s.stage_name == name)
    }
}

impl StageState {
    /// The executions queued at this stage's inbound transition: the union of the list
    /// (V2) and the singular field (2020 API), keyed by execution id, list order first.
    pub fn inbound(&self) -> Vec<&StageExecution> {
        let mut seen = HashSet::new();
        self.inbound_executions
            .iter()
            .chain(self.inbound_execution.as_ref())
            .filter(|e| seen.insert(e.pipeline_execution_id.as_str()))
            .collect()
    }

    pub fn transition_enabled(&self) -> bool {
        self.inbound_transition_state
            .as_ref()
            .is_none_or(TransitionState::is_enabled)
    }
}

/// Reads an approval token (a string) or our own presence flag (a bool) as "present?".
fn token_presence<'de, D: Deserializer<'de>>(deserializer: D) -> Result<bool, D::Error> {
    struct Presence;
    impl serde::de::Visitor<'_> for Presence {
        type Value = bool;
        fn expecting(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
            f.write_str("an approval token string or a boolean")
        }
        fn visit_bool<E: serde::de::Error>(self, v: bool) -> Result<bool, E> {
            Ok(v)
        }
        fn visit_str<E: serde::de::Error>(self, v: &str) -> Result<bool, E> {
            Ok(!v.is_empty())
        }
        // JSON's null (the only format these are read from: `deserialize_any` never asks
        // for `visit_none` there).
        fn visit_unit<E: serde::de::Error>(self) -> Result<bool, E> {
            Ok(false)
        }
    }
    deserializer.deserialize_any(Presence)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn parse(json: &str) -> Result<PipelineState, ParseError> {
        PipelineState::from_json(json.as_bytes())
    }

    const MINIMAL: &str = r#"{"pipelineName": "p", "stageStates": [{"stageName": "Source"}]}"#;

    #[test]
    fn a_never_run_pipeline_parses_with_nothing_but_names() {
        let state = parse(MINIMAL).unwrap();
        assert_eq!(state.pipeline_name, "p");
        assert_eq!(state.stage_states[0].latest_execution, None);
        assert!(state.stage_states[0].transition_enabled());
    }

    #[test]
    fn cli_and_wire_timestamps_parse_to_the_same_instant() {
        let cli =
            r#"{"pipelineName":"p","created":"2025-11-20T09:14:03.512000+00:00","stageStates":[]}"#;
        let wire = r#"{"pipelineName":"p","created":1.763630043512E9,"stageStates":[]}"#;
        assert_eq!(parse(cli).unwrap().created, parse(wire).unwrap().created);
        assert!(parse(cli).unwrap().created.is_some());
    }

    #[test]
    fn an_unknown_status_flows_through_unchanged() {
        let json = r#"{"pipelineName":"p","stageStates":[{"stageName":"S",
            "latestExecution":{"pipelineExecutionId":"e","status":"Paused"}}]}"#;
        let state = parse(json).unwrap();
        let status = &state.stage_states[0]
            .latest_execution
            .as_ref()
            .unwrap()
            .status;
        assert_eq!(status.as_str(), "Paused");
        assert_eq!(status.known(), None);
        // Every status CodePipeline documents (stages, actions and executions together).
        let documented = [
            ("InProgress", KnownStatus::InProgress),
            ("Succeeded", KnownStatus::Succeeded),
            ("Failed", KnownStatus::Failed),
            ("Stopping", KnownStatus::Stopping),
            ("Stopped", KnownStatus::Stopped),
            ("Cancelled", KnownStatus::Cancelled),
            ("Abandoned", KnownStatus::Abandoned),
            ("Superseded", KnownStatus::Superseded),
            ("Skipped", KnownStatus::Skipped),
            ("Errored", KnownStatus::Errored),
            ("Overridden", KnownStatus::Overridden),
        ];
        for (spelled, known) in documented {
            assert_eq!(Status::new(spelled).known(), Some(known), "{spelled}");
        }
    }

    #[test]
    fn unknown_fields_are_ignored() {
        let json = r#"{"pipelineName":"p","shinyNewField":{"a":1},"stageStates":[{"stageName":"S","future":[1]}]}"#;
        assert!(parse(json).is_ok());
    }

    #[test]
    fn the_approval_token_is_reduced_to_its_presence() {
        let json = r#"{"pipelineName":"p","stageStates":[{"stageName":"Approve","actionStates":[
            {"actionName":"Manual","latestExecution":{"status":"InProgress",
             "token":"0c3f6f3c-secret-token"}}]}]}"#;
        let state = parse(json).unwrap();
        let execution = state.stage_states[0].action_states[0]
            .latest_execution
            .as_ref()
            .unwrap();
        assert!(execution.token_present);
        let serialised = serde_json::to_string(&state).unwrap();
        assert!(!serialised.contains("secret-token"), "{serialised}");
        assert!(!format!("{state:?}").contains("secret-token"));
        assert_eq!(
            parse(&serialised).unwrap(),
            state,
            "presence survives a round trip"
        );
        // What counts as no token: an empty string, null, or our own flag set false.
        for absent in [
            r#""token":"""#,
            r#""token":null"#,
            r#""tokenPresent":false"#,
        ] {
            let json = format!(
                r#"{{"pipelineName":"p","stageStates":[{{"stageName":"A","actionStates":[
                {{"actionName":"M","latestExecution":{{"status":"InProgress",{absent}}}}}]}}]}}"#
            );
            let state = parse(&json).unwrap();
            let execution = state.stage_states[0].action_states[0]
                .latest_execution
                .as_ref();
            assert!(!execution.unwrap().token_present, "{absent}");
        }
    }

    #[test]
    fn inbound_is_the_union_of_both_fields_keyed_by_execution_id() {
        let json = r#"{"pipelineName":"p","stageStates":[{"stageName":"Deploy",
            "inboundExecution":{"pipelineExecutionId":"b","status":"InProgress"},
            "inboundExecutions":[{"pipelineExecutionId":"a","status":"InProgress"},
                                 {"pipelineExecutionId":"b","status":"InProgress"}]}]}"#;
        let state = parse(json).unwrap();
        let ids: Vec<_> = state.stage_states[0]
            .inbound()
            .iter()
            .map(|e| e.pipeline_execution_id.as_str())
            .collect();
        assert_eq!(ids, ["a", "b"]);
    }

    #[test]
    fn bad_input_is_rejected_with_a_reason() {
        let cases = [
            ("", "empty"),
            ("{", "EOF while parsing"),
            (r#"{"stageStates":[]}"#, "missing field `pipelineName`"),
            (r#"{"pipelineName":"p"}"#, "missing field `stageStates`"),
            (
                r#"{"pipelineName":"","stageStates":[]}"#,
                "pipelineName is empty",
            ),
            (
                r#"{"pipelineName":"p","stageStates":[{"stageName":"A"},{"stageName":"A"}]}"#,
                "stage `A` appears more than once",
            ),
            (
                r#"{"pipelineName":"p","stageStates":[{"stageName":"A","actionStates":[{"actionName":"x"},{"actionName":"x"}]}]}"#,
                "action `x` appears more than once in stage `A`",
            ),
            (
                r#"{"pipelineName":"p","created":"yesterday","stageStates":[]}"#,
                "timestamp",
            ),
        ];
        for (input, expected) in cases {
            let err = parse(input).expect_err(input);
            let message = crate::error::chain(&err);
            assert!(message.contains(expected), "{input}: {message}");
        }
    }
}
