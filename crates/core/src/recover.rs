//! Recovery: the action runs that came and went between two observations.
//!
//! A build fails and is retried within the minute: the next observation shows the retry
//! `InProgress` with a new `actionExecutionId`, and the failure was never seen. When an
//! observation shows an action on a new run, the tick asks `ListActionExecutions` for
//! that run's pipeline execution (one page, once per pipeline execution per check; none
//! on a quiet tick) and this module finds, in its answer, the runs of the same action no
//! observation saw:
//!
//! - the run last seen unfinished, now finished: its outcome (`Failed (was InProgress)`);
//! - runs that started after it and before the new one;
//! - when the last seen run belongs to an older pipeline execution: every earlier run of
//!   the action in the new one.
//!
//! Each becomes an ordinary action change, marked `recovered`, placed before the change
//! that revealed it, oldest first: same claim, same outbox, same messages. A run is never
//! reported twice: later checks start from the newest run seen, and only look after it.
//! When the answer cannot tell (the history is gone, or the last seen run is missing from
//! a page of the same pipeline execution), nothing is recovered: today's behaviour.
//!
//! Whole pipeline executions are recovered the same way: when a stage shows a new
//! pipeline execution, one page of `ListPipelineExecutions` (newest first) is read back
//! to the newest execution the last observation showed; the finished ones in between
//! that no observation shows (failed, superseded, stopped between two checks) are
//! reported first, oldest first, as [`Change::Execution`].

use std::collections::HashMap;

use crate::change::Change;
use crate::state::{ActionRun, ExecutionSummary, KnownStatus, PipelineState, Status};

/// The pipeline executions worth asking about: those in which an action shows a new run,
/// and, when the run last seen was unfinished in another pipeline execution (the one
/// `previous` showed in its stage), that one too, for its outcome. In order, each once.
pub fn executions_to_ask<'a>(changes: &'a [Change], previous: &'a PipelineState) -> Vec<&'a str> {
    let mut ids: Vec<&str> = Vec::new();
    for change in changes {
        if let Change::Action {
            stage,
            execution_id: Some(_),
            previous_status,
            pipeline_execution_id: Some(id),
            recovered: false,
            ..
        } = change
            && !change.same_execution()
        {
            let unfinished = previous_status.as_ref().is_some_and(|s| !s.is_final());
            let earlier = previous_execution(previous, stage).filter(|e| *e != id.as_str());
            for id in std::iter::once(id.as_str()).chain(earlier.filter(|_| unfinished)) {
                if !ids.contains(&id) {
                    ids.push(id);
                }
            }
        }
    }
    ids
}

/// The pipeline execution `state` shows as `stage`'s latest.
fn previous_execution<'a>(observation: &'a PipelineState, stage: &str) -> Option<&'a str> {
    observation
        .stage(stage)
        .and_then(|s| s.latest_execution.as_ref())
        .map(|e| e.pipeline_execution_id.as_str())
}

/// Whether `changes` show a stage on a new pipeline execution, so that executions may
/// have come and gone since the last observation.
pub fn needs_executions(changes: &[Change]) -> bool {
    changes
        .iter()
        .any(|c| matches!(c, Change::Stage { .. }) && !c.same_execution())
}

/// `changes` preceded by the executions `recent` (newest first) lists between the newest
/// one `previous` showed and now, finished, that neither observation shows: oldest first.
/// Nothing when `recent` does not reach back to an execution `previous` showed.
pub fn with_unseen_executions(
    changes: Vec<Change>,
    previous: &PipelineState,
    current: &PipelineState,
    recent: &[ExecutionSummary],
) -> Vec<Change> {
    let before = shown(previous);
    let now = shown(current);
    let mut unseen = Vec::new();
    let mut reached = false;
    for execution in recent {
        let id = execution.pipeline_execution_id.as_str();
        if let Some(seen_status) = before.get(id) {
            // The newest execution seen: if it ended unseen (it left every stage
            // unfinished), its end is news too.
            let failed = execution.status.is_final()
                && execution.status.known() != Some(KnownStatus::Succeeded);
            if !now.contains_key(id) && !seen_status.is_final() && failed {
                unseen.push(Change::Execution {
                    execution_id: id.to_owned(),
                    status: execution.status.clone(),
                    started_at: execution.started_at,
                    finished_at: execution.updated_at,
                });
            }
            reached = true;
            break;
        }
        if !now.contains_key(id) && execution.status.is_final() {
            unseen.push(Change::Execution {
                execution_id: id.to_owned(),
                status: execution.status.clone(),
                started_at: execution.started_at,
                finished_at: execution.updated_at,
            });
        }
    }
    if !reached || unseen.is_empty() {
        return changes;
    }
    unseen.reverse();
    unseen.extend(changes);
    unseen
}

/// The pipeline executions an observation shows (each stage's latest and queued ones),
/// with the status it shows them in (the last stage's, for one in several).
fn shown(state: &PipelineState) -> HashMap<&str, &Status> {
    state
        .stage_states
        .iter()
        .flat_map(|stage| {
            stage
                .latest_execution
                .iter()
                .chain(stage.inbound_execution.iter())
                .chain(stage.inbound_executions.iter())
        })
        .map(|e| (e.pipeline_execution_id.as_str(), &e.status))
        .collect()
}

/// `changes` with the runs `listed` (runs by pipeline execution) shows that no
/// observation saw, each before the change that revealed it, oldest first. `previous` is
/// the snapshot the changes were found against.
pub fn with_missed_runs(
    changes: Vec<Change>,
    previous: &PipelineState,
    listed: &[(String, Vec<ActionRun>)],
) -> Vec<Change> {
    let mut out = Vec::with_capacity(changes.len());
    for change in changes {
        out.extend(missed_before(&change, previous, listed));
        out.push(change);
    }
    out
}

/// The runs `change` (an action on a new run) reveals were missed.
fn missed_before(
    change: &Change,
    previous: &PipelineState,
    listed: &[(String, Vec<ActionRun>)],
) -> Vec<Change> {
    let Change::Action {
        stage,
        action,
        execution_id: Some(current),
        previous_execution_id,
        previous_status,
        pipeline_execution_id: Some(execution),
        entity_url,
        recovered: false,
        ..
    } = change
    else {
        return Vec::new();
    };
    if change.same_execution() {
        return Vec::new();
    }
    let Some((_, runs)) = listed.iter().find(|(id, _)| id == execution) else {
        return Vec::new();
    };
    let runs: Vec<&ActionRun> = runs
        .iter()
        .filter(|r| &r.stage == stage && &r.action == action)
        .collect();
    let started = |id: &str| {
        runs.iter()
            .find(|r| r.action_execution_id == id)
            .and_then(|r| r.started_at)
    };
    let current_start = started(current);
    let before_current = |run: &ActionRun| {
        run.action_execution_id != *current
            && match (run.started_at, current_start) {
                (Some(at), Some(current)) => at <= current,
                _ => true,
            }
    };
    let last_seen = previous_execution_id
        .as_ref()
        .and_then(|id| runs.iter().copied().find(|r| &r.action_execution_id == id));
    let mut missed: Vec<(&ActionRun, bool)> = Vec::new();
    if let Some(seen) = last_seen {
        // Its outcome, when the observation saw it unfinished.
        let finished_unseen = previous_status.as_ref() != Some(&seen.status)
            && seen.status.known() != Some(KnownStatus::InProgress);
        if finished_unseen {
            missed.push((seen, true));
        }
        // And the runs between it and the new one (when its start is known).
        if let Some(seen_start) = seen.started_at {
            missed.extend(
                runs.iter()
                    .filter(|run| {
                        run.action_execution_id != seen.action_execution_id
                            && run.started_at.is_some_and(|at| at > seen_start)
                            && before_current(run)
                    })
                    .map(|run| (*run, false)),
            );
        }
    } else {
        // The last seen run is not in this answer. If it belonged to this pipeline
        // execution, the page (or the history) is incomplete: say nothing.
        let earlier = previous_execution(previous, stage);
        if previous_execution_id.is_some() && earlier == Some(execution.as_str()) {
            return Vec::new();
        }
        // It belonged to an earlier execution: its outcome, if it finished unseen.
        let outcome = previous_execution_id.as_ref().and_then(|id| {
            listed
                .iter()
                .filter(|(listed_id, _)| Some(listed_id.as_str()) == earlier)
                .flat_map(|(_, runs)| runs)
                .find(|r| &r.action_execution_id == id)
        });
        if let Some(seen) = outcome
            && previous_status.as_ref() != Some(&seen.status)
            && seen.status.is_final()
        {
            missed.push((seen, true));
        }
        missed.extend(
            runs.iter()
                .filter(|r| before_current(r))
                .map(|r| (*r, false)),
        );
    }
    into_changes(
        missed,
        change,
        previous_status.as_ref(),
        entity_url.as_deref(),
    )
}

/// The missed runs as changes, oldest first. The last seen run keeps the status it was
/// seen in as its previous status.
fn into_changes(
    mut missed: Vec<(&ActionRun, bool)>,
    revealing: &Change,
    seen_status: Option<&crate::state::Status>,
    entity_url: Option<&str>,
) -> Vec<Change> {
    missed.sort_by_key(|(run, _)| run.started_at);
    missed
        .into_iter()
        .map(|(run, was_seen)| Change::Action {
            stage: run.stage.clone(),
            action: run.action.clone(),
            execution_id: Some(run.action_execution_id.clone()),
            status: Some(run.status.clone()),
            previous_status: if was_seen { seen_status.cloned() } else { None },
            previous_execution_id: was_seen.then(|| run.action_execution_id.clone()),
            summary: run.summary.clone(),
            error: run.error.clone(),
            external_url: run.external_url.clone(),
            entity_url: entity_url.map(str::to_owned),
            last_updated_by: run.updated_by.clone(),
            approval: None,
            started_at: run.started_at,
            finished_at: run.updated_at.filter(|_| run.status.is_final()),
            pipeline_execution_id: revealing.pipeline_execution_id().map(str::to_owned),
            recovered: true,
        })
        .collect()
}

#[cfg(test)]
mod tests;
