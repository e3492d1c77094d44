//! An execution's progress at one observation: every stage with where this execution
//! stands in it, its times, the action it is on, its retry attempt and what blocks it.
//!
//! The Slack app's living message is rendered whole from this at every revision, never
//! patched, so a message rendered from a later observation tells the whole run by itself.
//! `GetPipelineState` shows each stage's *latest* execution only: a stage that a newer
//! execution has run since reads [`StageStatus::Passed`] when this execution is further
//! on, and [`StageStatus::Unknown`] when it is in no stage any more.

use serde::{Deserialize, Serialize};

use crate::change::StageRetry;
use crate::state::{KnownStatus, PipelineState, StageState, Timestamp};

/// An execution across the pipeline's stages, in pipeline order.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Progress {
    pub stages: Vec<StageProgress>,
}

/// Where one execution stands in one stage.
#[serde_with::skip_serializing_none]
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct StageProgress {
    pub name: String,
    pub status: StageStatus,
    /// The stage's status as AWS spelled it, when this execution is the stage's latest.
    #[serde(default)]
    pub aws_status: Option<String>,
    /// When the stage's first action started, as far as pipewatch saw it.
    #[serde(default)]
    pub started_at: Option<Timestamp>,
    /// When its last action ended, once the stage's status is final.
    #[serde(default)]
    pub finished_at: Option<Timestamp>,
    /// The action the stage is on, or the one that failed it.
    #[serde(default)]
    pub action: Option<String>,
    /// That action's run: what an approval's buttons name, so that a button decides the
    /// run it was shown for and no later one.
    #[serde(default)]
    pub action_execution_id: Option<String>,
    /// That action is a manual approval waiting for a decision.
    #[serde(default, skip_serializing_if = "std::ops::Not::not")]
    pub awaiting_approval: bool,
    #[serde(default)]
    pub retry: Option<StageRetry>,
    /// The stage's inbound transition is disabled while this execution waits for it: who
    /// disabled it and why, in AWS's words.
    #[serde(default)]
    pub blocked: Option<Blocked>,
}

/// A disabled transition in front of the execution.
#[serde_with::skip_serializing_none]
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Blocked {
    #[serde(default)]
    pub by: Option<String>,
    #[serde(default)]
    pub reason: Option<String>,
}

/// Where an execution stands in a stage, in words a message can choose symbols for.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum StageStatus {
    /// Not reached yet.
    Pending,
    /// Waiting at the stage's inbound transition.
    Queued,
    InProgress,
    Succeeded,
    Failed,
    /// Stopped, stopping, cancelled, abandoned or superseded: ended without failing.
    Stopped,
    /// A newer execution has run the stage since; this one went on past it.
    Passed,
    /// The execution is in no stage any more (newer ones have run every stage it reached):
    /// what it did here is no longer in the state. Also a status a newer pipewatch
    /// wrote, which this version does not know.
    #[serde(other)]
    Unknown,
}

impl StageStatus {
    /// Whether the execution is done with the stage.
    pub fn is_final(self) -> bool {
        matches!(
            self,
            Self::Succeeded | Self::Failed | Self::Stopped | Self::Passed
        )
    }
}

impl Progress {
    /// `execution`'s progress in `state`. `starts` is the snapshot the tick keeps, whose
    /// runs carry the start times `GetPipelineState` does not (see
    /// [`crate::diff::essentials_since`]).
    pub fn of(state: &PipelineState, starts: Option<&PipelineState>, execution: &str) -> Self {
        let position = |stage: &StageState| {
            stage
                .latest_execution
                .as_ref()
                .is_some_and(|e| e.pipeline_execution_id == execution)
                || stage
                    .inbound()
                    .iter()
                    .any(|e| e.pipeline_execution_id == execution)
        };
        // The furthest stage this execution is seen in: stages before it were passed.
        let furthest = state.stage_states.iter().rposition(position);
        let stages = state
            .stage_states
            .iter()
            .enumerate()
            .map(|(i, stage)| {
                let place = match furthest {
                    Some(f) if i < f => Place::Before,
                    Some(_) => Place::After,
                    None => Place::Unseen,
                };
                stage_progress(stage, starts, execution, place)
            })
            .collect();
        Self { stages }
    }

    /// The stage the execution is at: in progress or waiting, else the last it reached.
    pub fn current(&self) -> Option<&StageProgress> {
        self.stages
            .iter()
            .find(|s| matches!(s.status, StageStatus::InProgress | StageStatus::Queued))
            .or_else(|| {
                self.stages
                    .iter()
                    .rev()
                    .find(|s| !matches!(s.status, StageStatus::Pending | StageStatus::Unknown))
            })
    }
}

impl StageProgress {
    /// How long the stage ran, once it ended and its start was seen.
    pub fn duration_seconds(&self) -> Option<u64> {
        let (start, end) = (self.started_at?, self.finished_at?);
        u64::try_from((end.unix_millis() - start.unix_millis()) / 1000).ok()
    }
}

/// Where a stage lies against the furthest stage the execution is seen in.
#[derive(Clone, Copy, PartialEq, Eq)]
enum Place {
    Before,
    /// That stage or a later one.
    After,
    /// The execution is in no stage any more: newer ones have run everywhere it went.
    Unseen,
}

fn stage_progress(
    stage: &StageState,
    starts: Option<&PipelineState>,
    execution: &str,
    place: Place,
) -> StageProgress {
    let mut progress = StageProgress {
        name: stage.stage_name.clone(),
        status: StageStatus::Pending,
        aws_status: None,
        started_at: None,
        finished_at: None,
        action: None,
        action_execution_id: None,
        awaiting_approval: false,
        retry: None,
        blocked: None,
    };
    let latest = stage
        .latest_execution
        .as_ref()
        .filter(|e| e.pipeline_execution_id == execution);
    let queued = stage
        .inbound()
        .iter()
        .any(|e| e.pipeline_execution_id == execution);
    if queued {
        progress.status = StageStatus::Queued;
        if !stage.transition_enabled() {
            let transition = stage.inbound_transition_state.as_ref();
            progress.blocked = Some(Blocked {
                by: transition.and_then(|t| t.last_changed_by.clone()),
                reason: transition.and_then(|t| t.disabled_reason.clone()),
            });
        }
        return progress;
    }
    let Some(latest) = latest else {
        progress.status = match place {
            Place::Before => StageStatus::Passed,
            Place::Unseen if stage.latest_execution.is_some() => StageStatus::Unknown,
            Place::After | Place::Unseen => StageStatus::Pending,
        };
        return progress;
    };
    progress.aws_status = Some(latest.status.as_str().to_owned());
    progress.status = match latest.status.known() {
        Some(KnownStatus::Succeeded | KnownStatus::Skipped | KnownStatus::Overridden) => {
            StageStatus::Succeeded
        }
        Some(KnownStatus::Failed | KnownStatus::Errored) => StageStatus::Failed,
        // Running, or a status from a newer API: not assumed to be over.
        Some(KnownStatus::InProgress) | None => StageStatus::InProgress,
        Some(_) => StageStatus::Stopped,
    };
    progress.retry = stage.retry_stage_metadata.as_ref().and_then(StageRetry::of);
    let known_start = |action: &str, id: Option<&String>| {
        starts
            .and_then(|s| s.stage(&stage.stage_name))
            .and_then(|s| s.action_states.iter().find(|a| a.action_name == action))
            .and_then(|a| a.latest_execution.as_ref())
            .filter(|e| e.action_execution_id.is_some() && e.action_execution_id.as_ref() == id)
            .and_then(|e| e.start_time)
    };
    for action in &stage.action_states {
        let Some(run) = &action.latest_execution else {
            continue;
        };
        let start = run
            .start_time
            .or_else(|| known_start(&action.action_name, run.action_execution_id.as_ref()));
        if let Some(start) = start {
            progress.started_at = Some(progress.started_at.map_or(start, |s| s.min(start)));
        }
        if let Some(changed) = run.last_status_change {
            progress.finished_at = Some(progress.finished_at.map_or(changed, |f| f.max(changed)));
        }
        let status = run.status.as_ref().and_then(crate::state::Status::known);
        let on_it = match progress.status {
            StageStatus::InProgress => status == Some(KnownStatus::InProgress),
            StageStatus::Failed => matches!(status, Some(KnownStatus::Failed)),
            _ => false,
        };
        if on_it && progress.action.is_none() {
            progress.action = Some(action.action_name.clone());
            progress
                .action_execution_id
                .clone_from(&run.action_execution_id);
            progress.awaiting_approval = run.token_present;
        }
    }
    if !progress.status.is_final() {
        progress.finished_at = None;
    }
    progress
}

#[cfg(test)]
mod tests {
    use super::*;

    fn state(json: serde_json::Value) -> PipelineState {
        serde_json::from_value(json).unwrap()
    }

    fn statuses(progress: &Progress) -> Vec<(&str, StageStatus)> {
        progress
            .stages
            .iter()
            .map(|s| (s.name.as_str(), s.status))
            .collect()
    }

    #[test]
    fn stages_before_the_furthest_seen_are_passed_and_later_ones_pending() {
        let state = state(serde_json::json!({"pipelineName": "web", "stageStates": [
            {"stageName": "Source", "latestExecution": {"pipelineExecutionId": "new", "status": "Succeeded"}},
            {"stageName": "Build", "latestExecution": {"pipelineExecutionId": "old", "status": "InProgress"},
             "actionStates": [{"actionName": "Compile", "latestExecution": {"actionExecutionId": "c1",
                "status": "InProgress", "lastStatusChange": 1_700_000_100}}]},
            {"stageName": "Deploy", "latestExecution": {"pipelineExecutionId": "older", "status": "Succeeded"}}
        ]}));
        let old = Progress::of(&state, None, "old");
        assert_eq!(
            statuses(&old),
            [
                ("Source", StageStatus::Passed),
                ("Build", StageStatus::InProgress),
                ("Deploy", StageStatus::Pending)
            ]
        );
        assert_eq!(old.stages[1].action.as_deref(), Some("Compile"));
        assert_eq!(old.current().map(|s| s.name.as_str()), Some("Build"));
        let new = Progress::of(&state, None, "new");
        assert_eq!(
            statuses(&new),
            [
                ("Source", StageStatus::Succeeded),
                ("Build", StageStatus::Pending),
                ("Deploy", StageStatus::Pending)
            ]
        );
        let gone = Progress::of(&state, None, "oldest");
        assert!(gone.stages.iter().all(|s| s.status == StageStatus::Unknown));
        assert_eq!(gone.current(), None);
    }

    #[test]
    fn a_queued_execution_behind_a_disabled_transition_says_who_and_why() {
        let state = state(serde_json::json!({"pipelineName": "web", "stageStates": [
            {"stageName": "Build", "latestExecution": {"pipelineExecutionId": "e", "status": "Succeeded"}},
            {"stageName": "Prod", "inboundExecution": {"pipelineExecutionId": "e", "status": "InProgress"},
             "inboundTransitionState": {"enabled": false, "lastChangedBy": "maria", "disabledReason": "freeze"}}
        ]}));
        let progress = Progress::of(&state, None, "e");
        assert_eq!(progress.stages[1].status, StageStatus::Queued);
        assert_eq!(
            progress.stages[1].blocked,
            Some(Blocked {
                by: Some("maria".into()),
                reason: Some("freeze".into())
            })
        );
        assert_eq!(progress.current().map(|s| s.name.as_str()), Some("Prod"));
    }

    #[test]
    fn times_come_from_the_snapshot_when_the_state_has_no_start() {
        let run = |start: Option<i64>| {
            state(serde_json::json!({"pipelineName": "web", "stageStates": [
                {"stageName": "Build", "latestExecution": {"pipelineExecutionId": "e", "status": "Failed"},
                 "actionStates": [
                    {"actionName": "Unit", "latestExecution": {"actionExecutionId": "u", "status": "Failed",
                        "lastStatusChange": 1_700_000_300, "startTime": start}},
                    {"actionName": "Lint", "latestExecution": {"actionExecutionId": "l", "status": "Succeeded",
                        "lastStatusChange": 1_700_000_200}}]}
            ]}))
        };
        let progress = Progress::of(&run(None), Some(&run(Some(1_700_000_000))), "e");
        let build = &progress.stages[0];
        assert_eq!(build.status, StageStatus::Failed);
        assert_eq!(build.action.as_deref(), Some("Unit"));
        assert_eq!(build.duration_seconds(), Some(300));
        assert_eq!(
            Progress::of(&run(None), None, "e").stages[0].duration_seconds(),
            None
        );
    }

    #[test]
    fn a_waiting_approval_and_a_retry_attempt_are_told() {
        let state = state(serde_json::json!({"pipelineName": "web", "stageStates": [
            {"stageName": "Prod", "latestExecution": {"pipelineExecutionId": "e", "status": "InProgress"},
             "retryStageMetadata": {"manualStageRetryAttempt": 2, "latestRetryTrigger": "ManualStageRetry"},
             "actionStates": [
                {"actionName": "Done", "latestExecution": {"status": "Succeeded"}},
                {"actionName": "Approve", "latestExecution": {"actionExecutionId": "run-1", "status": "InProgress", "token": "secret"}}]}
        ]}));
        let prod = &Progress::of(&state, None, "e").stages[0];
        assert_eq!(prod.action.as_deref(), Some("Approve"));
        assert_eq!(prod.action_execution_id.as_deref(), Some("run-1"));
        assert!(prod.awaiting_approval);
        assert_eq!(
            prod.retry,
            Some(StageRetry {
                automatic: false,
                attempt: 2
            })
        );
        assert_eq!(
            prod.finished_at, None,
            "a stage in progress has not finished"
        );
    }

    #[test]
    fn an_execution_seen_only_queued_further_on_has_passed_the_stages_before() {
        let state = state(serde_json::json!({"pipelineName": "web", "stageStates": [
            {"stageName": "Build", "latestExecution": {"pipelineExecutionId": "newer", "status": "InProgress"}},
            {"stageName": "Deploy", "inboundExecution": {"pipelineExecutionId": "e", "status": "InProgress"}},
            {"stageName": "Verify"}
        ]}));
        assert_eq!(
            statuses(&Progress::of(&state, None, "e")),
            [
                ("Build", StageStatus::Passed),
                ("Deploy", StageStatus::Queued),
                ("Verify", StageStatus::Pending)
            ]
        );
        // Seen nowhere: a stage something else ran is unknown, one never run is pending.
        assert_eq!(
            statuses(&Progress::of(&state, None, "gone")),
            [
                ("Build", StageStatus::Unknown),
                ("Deploy", StageStatus::Pending),
                ("Verify", StageStatus::Pending)
            ]
        );
    }

    #[test]
    fn a_start_time_is_taken_only_from_the_same_run_of_the_action() {
        let run = |id: &str, start: Option<i64>| {
            state(serde_json::json!({"pipelineName": "web", "stageStates": [
                {"stageName": "Build", "latestExecution": {"pipelineExecutionId": "e", "status": "Succeeded"},
                 "actionStates": [{"actionName": "Unit", "latestExecution": {"actionExecutionId": id,
                    "status": "Succeeded", "lastStatusChange": 1_700_000_300, "startTime": start}}]}
            ]}))
        };
        let earlier_run = run("u-1", Some(1_700_000_000));
        let progress = Progress::of(&run("u-2", None), Some(&earlier_run), "e");
        assert_eq!(progress.stages[0].started_at, None, "another run's start");
    }
}
