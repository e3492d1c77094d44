//! What a check asks besides the pipeline's state: the history APIs, for the runs and
//! executions no observation saw ([`pipewatch_core::recover`]), and
//! `GetPipelineExecution`, for the commits and trigger of the executions the changes
//! mention. Each is asked at most once per check, so a lost race asks nothing again, and
//! a failed call is logged and counted, never fatal: the changes go out as observed.

use pipewatch_core::change::Change;
use pipewatch_core::error::chain;
use pipewatch_core::pipeline::PipelineRef;
use pipewatch_core::plan::mentioned;
use pipewatch_core::record::{Loaded, Record};
use pipewatch_core::recover;
use pipewatch_core::state::{ActionRun, ExecutionSummary, PipelineExecution, PipelineState};

use super::{MAX_ENRICHED_PER_CHECK, PipelineReport, Watcher};
use crate::ports::{DeadLetterQueue, Notifier, PipelineSource, SnapshotStore, SourceError};

/// What one check asked of the history APIs (`None`: the call failed), so that a lost
/// race asks nothing again.
#[derive(Default)]
pub(super) struct History {
    runs: Vec<(String, Option<Vec<ActionRun>>)>,
    executions_asked: bool,
    executions: Option<Vec<ExecutionSummary>>,
}

impl<P: PipelineSource, S: SnapshotStore, N: Notifier, D: DeadLetterQueue> Watcher<P, S, N, D> {
    /// `changes` with the runs and executions no observation saw ([`crate::recover`]):
    /// `ListActionExecutions` for each pipeline execution where an action shows a new run,
    /// `ListPipelineExecutions` when a stage shows a new execution, each asked once per
    /// check. A failed call is logged and counted; the changes go out as observed.
    pub(super) async fn recover(
        &self,
        pipeline: &PipelineRef,
        loaded: &Loaded,
        current: &PipelineState,
        changes: Vec<Change>,
        history: &mut History,
        report: &mut PipelineReport,
    ) -> Vec<Change> {
        let Loaded::Found(Record {
            snapshot: Some(previous),
            ..
        }) = loaded
        else {
            return changes;
        };
        let failed = |operation: &str, error: &SourceError| {
            tracing::warn!(
                %pipeline,
                operation,
                error = %chain(error),
                "a history call failed; what came and went between checks is not recovered"
            );
        };
        for id in recover::executions_to_ask(&changes, previous) {
            if history.runs.iter().any(|(asked, _)| asked == id) {
                continue;
            }
            let runs = self.source.action_runs(pipeline, id).await;
            if let Err(error) = &runs {
                report.recovery_failures += 1;
                failed("ListActionExecutions", error);
            }
            history.runs.push((id.to_owned(), runs.ok()));
        }
        if recover::needs_executions(&changes) && !history.executions_asked {
            let recent = self.source.recent_executions(pipeline).await;
            if let Err(error) = &recent {
                report.recovery_failures += 1;
                failed("ListPipelineExecutions", error);
            }
            history.executions_asked = true;
            history.executions = recent.ok();
        }
        let answers: Vec<(String, Vec<ActionRun>)> = history
            .runs
            .iter()
            .filter_map(|(id, runs)| runs.clone().map(|runs| (id.clone(), runs)))
            .collect();
        let before = changes.len();
        let mut changes = recover::with_missed_runs(changes, previous, &answers);
        if let Some(recent) = &history.executions {
            changes = recover::with_unseen_executions(changes, previous, current, recent);
        }
        report.recovered = changes.len() - before;
        changes
    }

    /// Asks `GetPipelineExecution` about each execution `changes` mention that neither the
    /// record nor this check knows yet. Failures are logged and counted, never fatal.
    pub(super) async fn enrich(
        &self,
        pipeline: &PipelineRef,
        loaded: &Loaded,
        changes: &[Change],
        asked: &mut Vec<(String, Option<PipelineExecution>)>,
        report: &mut PipelineReport,
    ) {
        let cached: &[PipelineExecution] = match loaded {
            Loaded::Found(record) => &record.executions,
            _ => &[],
        };
        for id in mentioned(changes) {
            let known = cached.iter().any(|e| e.pipeline_execution_id == id)
                || asked.iter().any(|(asked, _)| asked == id);
            if known {
                continue;
            }
            if asked.len() >= MAX_ENRICHED_PER_CHECK {
                break;
            }
            match self.source.get_execution(pipeline, id).await {
                Ok(execution) => {
                    report.enriched += 1;
                    asked.push((id.to_owned(), Some(execution)));
                }
                Err(error) => {
                    report.enrichment_failures += 1;
                    tracing::warn!(
                        %pipeline,
                        execution = id,
                        error = %chain(&error),
                        "GetPipelineExecution failed; the message goes out without the commit"
                    );
                    asked.push((id.to_owned(), None));
                }
            }
        }
    }
}
