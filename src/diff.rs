//! Change detection: previous observation + current observation → what happened between.
//!
//! Pure and total: any two observations give a (possibly empty) list, never a panic.
//! What counts as a change, and what deliberately does not:
//!
//! | kind               | a change when                                                           |
//! |--------------------|-------------------------------------------------------------------------|
//! | `action`           | the action's latest execution (id, status) differs                      |
//! | `inbound`          | an execution queued at a stage's inbound transition appears, changes status or leaves |
//! | `stage`            | the stage's latest execution (id, status) differs                      |
//! | `transition`       | the inbound transition was enabled or disabled (absent = enabled)       |
//! | `pipeline_version` | the pipeline's definition was edited                                    |
//! | `condition`        | a V2 condition set's (before entry, on success, on failure) status differs |
//!
//! - Comparing (id, status) rather than status alone catches a run the poll never saw in
//!   progress: `Succeeded` with a new execution id is a new run.
//! - Fields that move while nothing happens (`percentComplete`, `lastStatusChange` of the
//!   same run, `updated`) are not compared at all.
//! - A stage or action that disappears is not a change (it was removed by an edit, which
//!   `pipeline_version` reports once); one that appears is compared against "never ran", so
//!   it is silent until it actually runs. An execution that vanishes from `latestExecution`
//!   is not a change either: nothing happened, the history was reset.
//! - The first observation of a pipeline has nothing to compare with: callers treat it as a
//!   silent baseline and do not call [`diff`].

use std::collections::HashMap;

use crate::state::{
    ActionExecution, ActionState, ConditionExecution, ErrorDetails, PipelineState,
    StageConditionState, StageExecution, StageState, Status, Timestamp, TransitionState,
};

/// One thing that happened to a pipeline between two observations.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Change {
    /// The pipeline's definition was edited.
    PipelineVersion {
        version: Option<i64>,
        previous_version: Option<i64>,
    },
    /// A stage's inbound transition was disabled or enabled again.
    Transition {
        stage: String,
        enabled: bool,
        changed_by: Option<String>,
        reason: Option<String>,
        changed_at: Option<Timestamp>,
    },
    /// An execution waiting at a stage's inbound transition: arrived (`previous_status` is
    /// `None`), changed status, or left (`status` is `None`).
    Inbound {
        stage: String,
        execution_id: String,
        status: Option<Status>,
        previous_status: Option<Status>,
    },
    /// A stage's latest execution started, finished, or was replaced by another.
    Stage {
        stage: String,
        execution_id: String,
        status: Status,
        previous_status: Option<Status>,
        /// Differs from `execution_id` when a new execution replaced the one seen before.
        previous_execution_id: Option<String>,
        /// `STANDARD` or `ROLLBACK`.
        execution_type: Option<String>,
    },
    /// A V2 condition set (gate) of a stage was evaluated.
    Condition {
        stage: String,
        condition: ConditionKind,
        status: Status,
        previous_status: Option<Status>,
        summary: Option<String>,
    },
    /// An action's latest execution started, finished, or was replaced by another.
    Action {
        stage: String,
        action: String,
        execution_id: Option<String>,
        status: Option<Status>,
        previous_status: Option<Status>,
        /// Differs from `execution_id` when this is a new run of the action.
        previous_execution_id: Option<String>,
        /// The action's own words, e.g. a failure reason or an approval comment.
        summary: Option<String>,
        error: Option<ErrorDetails>,
        external_url: Option<String>,
        last_updated_by: Option<String>,
        /// A manual approval is waiting for someone (AWS sent a token; we never keep it).
        approval_pending: bool,
    },
}

/// Which of a V2 stage's condition sets a [`Change::Condition`] is about.
#[derive(Debug, Clone, Copy, PartialEq, Eq, serde::Serialize)]
#[serde(rename_all = "snake_case")]
pub enum ConditionKind {
    BeforeEntry,
    OnSuccess,
    OnFailure,
}

/// The `kind` of a change, as the `replay` contract and message attributes spell it.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord, serde::Serialize)]
#[serde(rename_all = "snake_case")]
pub enum ChangeKind {
    Action,
    Inbound,
    Stage,
    Transition,
    PipelineVersion,
    Condition,
}

impl ConditionKind {
    pub fn as_str(self) -> &'static str {
        match self {
            Self::BeforeEntry => "before_entry",
            Self::OnSuccess => "on_success",
            Self::OnFailure => "on_failure",
        }
    }
}

impl ChangeKind {
    pub fn as_str(self) -> &'static str {
        match self {
            Self::Action => "action",
            Self::Inbound => "inbound",
            Self::Stage => "stage",
            Self::Transition => "transition",
            Self::PipelineVersion => "pipeline_version",
            Self::Condition => "condition",
        }
    }
}

impl Change {
    pub fn kind(&self) -> ChangeKind {
        match self {
            Self::PipelineVersion { .. } => ChangeKind::PipelineVersion,
            Self::Transition { .. } => ChangeKind::Transition,
            Self::Inbound { .. } => ChangeKind::Inbound,
            Self::Stage { .. } => ChangeKind::Stage,
            Self::Condition { .. } => ChangeKind::Condition,
            Self::Action { .. } => ChangeKind::Action,
        }
    }

    /// The stage the change happened in; `None` only for a pipeline edit.
    pub fn stage(&self) -> Option<&str> {
        match self {
            Self::PipelineVersion { .. } => None,
            Self::Transition { stage, .. }
            | Self::Inbound { stage, .. }
            | Self::Stage { stage, .. }
            | Self::Condition { stage, .. }
            | Self::Action { stage, .. } => Some(stage),
        }
    }

    /// Whether this is the same execution as before with a new status, rather than a
    /// new execution (a first run, a retry, the next release).
    pub fn same_execution(&self) -> bool {
        match self {
            Self::Stage {
                execution_id,
                previous_execution_id,
                ..
            } => previous_execution_id.as_ref() == Some(execution_id),
            Self::Action {
                execution_id,
                previous_execution_id,
                ..
            } => execution_id.is_some() && previous_execution_id == execution_id,
            _ => true,
        }
    }

    /// The new status, exactly as AWS spells it.
    pub fn status(&self) -> Option<&Status> {
        match self {
            Self::PipelineVersion { .. } | Self::Transition { .. } => None,
            Self::Stage { status, .. } | Self::Condition { status, .. } => Some(status),
            Self::Inbound { status, .. } | Self::Action { status, .. } => status.as_ref(),
        }
    }

    pub fn previous_status(&self) -> Option<&Status> {
        match self {
            Self::PipelineVersion { .. } | Self::Transition { .. } => None,
            Self::Inbound {
                previous_status, ..
            }
            | Self::Stage {
                previous_status, ..
            }
            | Self::Condition {
                previous_status, ..
            }
            | Self::Action {
                previous_status, ..
            } => previous_status.as_ref(),
        }
    }
}

/// Everything that happened between `previous` and `current`, pipeline edit first, then
/// stage by stage in the current pipeline's order.
pub fn diff(previous: &PipelineState, current: &PipelineState) -> Vec<Change> {
    let mut changes = Vec::new();
    if previous.pipeline_version != current.pipeline_version {
        changes.push(Change::PipelineVersion {
            version: current.pipeline_version,
            previous_version: previous.pipeline_version,
        });
    }
    let previous_stages: HashMap<&str, &StageState> = previous
        .stage_states
        .iter()
        .map(|s| (s.stage_name.as_str(), s))
        .collect();
    // A stage seen for the first time is compared against one that never ran.
    let never_ran = StageState::default();
    for stage in &current.stage_states {
        let before = previous_stages
            .get(stage.stage_name.as_str())
            .copied()
            .unwrap_or(&never_ran);
        diff_stage(before, stage, &mut changes);
    }
    changes
}

fn diff_stage(before: &StageState, now: &StageState, changes: &mut Vec<Change>) {
    let stage = &now.stage_name;
    if before.transition_enabled() != now.transition_enabled() {
        let transition = now.inbound_transition_state.clone().unwrap_or_default();
        changes.push(Change::Transition {
            stage: stage.clone(),
            enabled: now.transition_enabled(),
            changed_by: transition.last_changed_by,
            reason: transition.disabled_reason,
            changed_at: transition.last_changed_at,
        });
    }
    diff_inbound(before, now, changes);
    if let Some(latest) = &now.latest_execution {
        let previous = before.latest_execution.as_ref();
        let same_run = previous.is_some_and(|p| {
            p.pipeline_execution_id == latest.pipeline_execution_id && p.status == latest.status
        });
        if !same_run {
            changes.push(Change::Stage {
                stage: stage.clone(),
                execution_id: latest.pipeline_execution_id.clone(),
                status: latest.status.clone(),
                previous_status: previous.map(|p| p.status.clone()),
                previous_execution_id: previous.map(|p| p.pipeline_execution_id.clone()),
                execution_type: latest.execution_type.clone(),
            });
        }
    }
    let conditions = [
        (
            ConditionKind::BeforeEntry,
            &before.before_entry_condition_state,
            &now.before_entry_condition_state,
        ),
        (
            ConditionKind::OnSuccess,
            &before.on_success_condition_state,
            &now.on_success_condition_state,
        ),
        (
            ConditionKind::OnFailure,
            &before.on_failure_condition_state,
            &now.on_failure_condition_state,
        ),
    ];
    for (kind, was, is) in conditions {
        diff_condition(stage, kind, was.as_ref(), is.as_ref(), changes);
    }
    let previous_actions: HashMap<&str, &ActionState> = before
        .action_states
        .iter()
        .map(|a| (a.action_name.as_str(), a))
        .collect();
    for action in &now.action_states {
        let was = previous_actions
            .get(action.action_name.as_str())
            .and_then(|a| a.latest_execution.as_ref());
        if let Some(change) = diff_action(stage, action, was) {
            changes.push(change);
        }
    }
}

fn diff_inbound(before: &StageState, now: &StageState, changes: &mut Vec<Change>) {
    let was: HashMap<&str, &Status> = before
        .inbound()
        .into_iter()
        .map(|e| (e.pipeline_execution_id.as_str(), &e.status))
        .collect();
    let is = now.inbound();
    for execution in &is {
        let previous = was.get(execution.pipeline_execution_id.as_str()).copied();
        if previous != Some(&execution.status) {
            changes.push(Change::Inbound {
                stage: now.stage_name.clone(),
                execution_id: execution.pipeline_execution_id.clone(),
                status: Some(execution.status.clone()),
                previous_status: previous.cloned(),
            });
        }
    }
    for left in before.inbound() {
        let id = left.pipeline_execution_id.as_str();
        if !is.iter().any(|e| e.pipeline_execution_id == id) {
            changes.push(Change::Inbound {
                stage: now.stage_name.clone(),
                execution_id: id.to_owned(),
                status: None,
                previous_status: Some(left.status.clone()),
            });
        }
    }
}

fn diff_condition(
    stage: &str,
    kind: ConditionKind,
    was: Option<&StageConditionState>,
    is: Option<&StageConditionState>,
    changes: &mut Vec<Change>,
) {
    let latest = |c: Option<&StageConditionState>| c.and_then(|c| c.latest_execution.clone());
    let Some(now) = latest(is) else { return };
    let Some(status) = now.status else { return };
    let previous_status = latest(was).and_then(|e| e.status);
    if previous_status.as_ref() != Some(&status) {
        changes.push(Change::Condition {
            stage: stage.to_owned(),
            condition: kind,
            status,
            previous_status,
            summary: now.summary,
        });
    }
}

fn diff_action(stage: &str, action: &ActionState, was: Option<&ActionExecution>) -> Option<Change> {
    let now = action.latest_execution.as_ref()?;
    let key = |e: &ActionExecution| (e.action_execution_id.clone(), e.status.clone());
    if was.map(key) == Some(key(now)) {
        return None;
    }
    if now.action_execution_id.is_none() && now.status.is_none() {
        // An execution record with neither id nor status says nothing happened.
        return None;
    }
    Some(Change::Action {
        stage: stage.to_owned(),
        action: action.action_name.clone(),
        execution_id: now.action_execution_id.clone(),
        status: now.status.clone(),
        previous_status: was.and_then(|e| e.status.clone()),
        previous_execution_id: was.and_then(|e| e.action_execution_id.clone()),
        summary: now.summary.clone(),
        error: now.error_details.clone(),
        external_url: now.external_execution_url.clone(),
        last_updated_by: now.last_updated_by.clone(),
        approval_pending: now.token_present,
    })
}

/// Exactly what [`diff`] reads of a *previous* observation, and nothing else.
///
/// Snapshots keep only this: summaries, URLs, revisions and timestamps are read from the
/// current observation alone, so dropping them from the stored one changes no diff (a
/// property test holds us to that) and keeps a 2,500-action pipeline's snapshot small.
pub fn essentials(state: &PipelineState) -> PipelineState {
    let execution = |e: &StageExecution| StageExecution {
        pipeline_execution_id: e.pipeline_execution_id.clone(),
        status: e.status.clone(),
        execution_type: None,
    };
    let condition = |c: &Option<StageConditionState>| {
        c.as_ref().map(|c| StageConditionState {
            latest_execution: c.latest_execution.as_ref().map(|e| ConditionExecution {
                status: e.status.clone(),
                ..ConditionExecution::default()
            }),
            condition_states: Vec::new(),
        })
    };
    PipelineState {
        pipeline_name: state.pipeline_name.clone(),
        pipeline_version: state.pipeline_version,
        created: None,
        updated: None,
        stage_states: state
            .stage_states
            .iter()
            .map(|stage| StageState {
                stage_name: stage.stage_name.clone(),
                inbound_execution: None,
                inbound_executions: stage.inbound().into_iter().map(execution).collect(),
                inbound_transition_state: (!stage.transition_enabled()).then(|| TransitionState {
                    enabled: Some(false),
                    ..TransitionState::default()
                }),
                action_states: stage
                    .action_states
                    .iter()
                    .map(|action| ActionState {
                        action_name: action.action_name.clone(),
                        current_revision: None,
                        latest_execution: action.latest_execution.as_ref().map(|e| {
                            ActionExecution {
                                action_execution_id: e.action_execution_id.clone(),
                                status: e.status.clone(),
                                ..ActionExecution::default()
                            }
                        }),
                        entity_url: None,
                        revision_url: None,
                    })
                    .collect(),
                latest_execution: stage.latest_execution.as_ref().map(execution),
                before_entry_condition_state: condition(&stage.before_entry_condition_state),
                on_success_condition_state: condition(&stage.on_success_condition_state),
                on_failure_condition_state: condition(&stage.on_failure_condition_state),
                retry_stage_metadata: None,
            })
            .collect(),
    }
}

#[cfg(test)]
mod tests;
