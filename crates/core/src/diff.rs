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

use crate::change::{Approval, Change, ConditionKind, StageRetry};
use crate::state::{
    ActionExecution, ActionState, ConditionExecution, KnownStatus, PipelineState,
    StageConditionState, StageExecution, StageState, Status, Timestamp, TransitionState,
};

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
                retry: now.retry_stage_metadata.as_ref().and_then(StageRetry::of),
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
    let running = now
        .latest_execution
        .as_ref()
        .map(|e| e.pipeline_execution_id.as_str());
    for (kind, was, is) in conditions {
        diff_condition(stage, kind, was.as_ref(), is.as_ref(), running, changes);
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
        if let Some(change) = diff_action(stage, action, was, running) {
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
    running: Option<&str>,
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
            pipeline_execution_id: running.map(str::to_owned),
        });
    }
}

fn diff_action(
    stage: &str,
    action: &ActionState,
    was: Option<&ActionExecution>,
    running: Option<&str>,
) -> Option<Change> {
    let now = action.latest_execution.as_ref()?;
    let key = |e: &ActionExecution| (e.action_execution_id.clone(), e.status.clone());
    if was.map(key) == Some(key(now)) {
        return None;
    }
    if now.action_execution_id.is_none() && now.status.is_none() {
        // An execution record with neither id nor status says nothing happened.
        return None;
    }
    let same_run = was.filter(|w| {
        w.action_execution_id.is_some() && w.action_execution_id == now.action_execution_id
    });
    let approval = if now.token_present {
        Some(Approval::Waiting)
    } else if same_run.is_some_and(|w| w.token_present) {
        match now.status.as_ref().and_then(Status::known) {
            Some(KnownStatus::Succeeded) => Some(Approval::Approved),
            Some(KnownStatus::Failed) => Some(Approval::Rejected),
            _ => None,
        }
    } else {
        None
    };
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
        entity_url: action.entity_url.clone(),
        last_updated_by: now.last_updated_by.clone(),
        approval,
        started_at: same_run.and_then(start_of).or_else(|| start_of(now)),
        finished_at: now
            .status
            .as_ref()
            .filter(|s| s.is_final())
            .and(now.last_status_change),
        pipeline_execution_id: running.map(str::to_owned),
        recovered: false,
    })
}

/// When a run started, if known: kept in a snapshot, or its `lastStatusChange` while it
/// is `InProgress` (the moment it went in progress).
fn start_of(execution: &ActionExecution) -> Option<Timestamp> {
    execution.start_time.or_else(|| {
        execution
            .status
            .as_ref()
            .filter(|s| s.known() == Some(KnownStatus::InProgress))
            .and(execution.last_status_change)
    })
}

/// What the tick stores after observing `current` against the stored `previous`: the
/// essentials of `current` (remembering the runs' start times), or `previous` itself when
/// nothing changed, so that what vanished without being a change (a removed stage, a
/// reset execution) is still remembered. `replay` follows the same rule.
pub fn next_snapshot(
    previous: &PipelineState,
    current: &PipelineState,
    changes: &[Change],
) -> PipelineState {
    if changes.is_empty() {
        previous.clone()
    } else {
        essentials_since(previous, current)
    }
}

/// [`essentials`] of `current`, keeping the start time `previous` knew for each run that is
/// still the action's latest: a run seen `InProgress` and now finished keeps its start, so
/// its duration can be told.
pub fn essentials_since(previous: &PipelineState, current: &PipelineState) -> PipelineState {
    let mut next = essentials(current);
    for stage in &mut next.stage_states {
        let Some(before) = previous.stage(&stage.stage_name) else {
            continue;
        };
        for action in &mut stage.action_states {
            let Some(now) = action.latest_execution.as_mut() else {
                continue;
            };
            let started = before
                .action_states
                .iter()
                .find(|a| a.action_name == action.action_name)
                .and_then(|a| a.latest_execution.as_ref())
                .filter(|e| {
                    e.action_execution_id.is_some()
                        && e.action_execution_id == now.action_execution_id
                })
                .and_then(|e| e.start_time);
            now.start_time = now.start_time.or(started);
        }
    }
    next
}

/// Exactly what [`diff`] reads of a *previous* observation, and nothing else.
///
/// Snapshots keep only this: summaries, URLs, revisions and timestamps are read from the
/// current observation alone, so dropping them from the stored one changes no diff (a
/// property test holds us to that) and keeps a 2,500-action pipeline's snapshot small.
/// Two facts about an action's run are kept because the next diff needs them: when it
/// started (for its duration) and whether an approval was waiting (to recognise the
/// decision).
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
                                start_time: start_of(e),
                                token_present: e.token_present,
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
