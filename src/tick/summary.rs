//! What a tick did: each pipeline's report, summed into the one summary the Lambda logs,
//! returns, and turns into metrics.

use serde::Serialize;

/// What happened to one pipeline in a tick.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize)]
pub struct PipelineReport {
    pub changes: usize,
    pub published: usize,
    /// Messages still in the outbox after this tick (failed, or leased by another tick).
    pub pending: usize,
    pub rebaselined: bool,
    /// Conditional writes this check made (0 on a quiet tick).
    pub writes: usize,
    /// Claims lost to another tick's write (or made against an old read), after which the
    /// record was reloaded and the check decided again.
    pub conflicts: usize,
    /// `GetPipelineExecution` calls that answered, and that failed.
    pub enriched: usize,
    pub enrichment_failures: usize,
    /// Runs no observation saw, found with `ListActionExecutions`; the calls that failed.
    pub recovered: usize,
    pub recovery_failures: usize,
    /// Messages sent to the dead-letter queue.
    pub dead_lettered: usize,
    /// Messages the notifier refused this time; they stay in the outbox.
    pub publish_failures: usize,
    /// When the oldest message still pending was claimed (epoch milliseconds), if known.
    pub oldest_pending_at: Option<i64>,
}

/// A pipeline the tick could not check, and why (the whole cause chain, one line).
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct FailedPipeline {
    pub pipeline: String,
    pub error: String,
    /// The pipeline itself could not be read (`GetPipelineState` failed), as opposed to
    /// pipewatch's own store or notifier failing.
    pub unreadable: bool,
}

/// The one-line account of a tick that the Lambda logs.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize)]
pub struct TickSummary {
    pub pipelines_checked: usize,
    pub changes: usize,
    pub messages_published: usize,
    pub messages_pending: usize,
    pub rebaselined: usize,
    pub writes: usize,
    /// Claims lost and decided again (see [`PipelineReport::conflicts`]).
    pub conflicts: usize,
    /// `GetPipelineExecution` calls that answered, and that failed (their messages went
    /// out without commits).
    pub enriched: usize,
    pub enrichment_failures: usize,
    /// Runs no observation saw, reported from `ListActionExecutions`, and the calls that
    /// failed (their changes went out as observed).
    pub recovered: usize,
    pub recovery_failures: usize,
    /// Messages sent to the dead-letter queue (refused for good, too often, or past the
    /// outbox's bound).
    pub dead_lettered: usize,
    /// Publishes the notifier refused (retried from the outbox).
    pub publish_failures: usize,
    /// How long the oldest message still pending has waited, in milliseconds (0: none).
    pub oldest_pending_ms: u64,
    /// Pipelines not started because the invocation's deadline was near: the last ones of
    /// the tick's order, which the next tick starts with. Not failures.
    pub skipped: usize,
    /// Shards of the selection sent to the shard queue instead of being checked here.
    pub shards_sent: usize,
    /// CodePipeline events this invocation received, and of those the ones naming a
    /// pipeline the selection does not watch, or none (see [`crate::lambda`]).
    pub events: usize,
    pub events_ignored: usize,
    pub errors: usize,
    pub failed: Vec<FailedPipeline>,
    pub duration_ms: u64,
}

impl TickSummary {
    /// Adds one checked pipeline's figures.
    pub(super) fn add(&mut self, report: &PipelineReport) {
        self.pipelines_checked += 1;
        self.changes += report.changes;
        self.messages_published += report.published;
        self.messages_pending += report.pending;
        self.rebaselined += usize::from(report.rebaselined);
        self.writes += report.writes;
        self.conflicts += report.conflicts;
        self.enriched += report.enriched;
        self.enrichment_failures += report.enrichment_failures;
        self.dead_lettered += report.dead_lettered;
        self.publish_failures += report.publish_failures;
        self.recovered += report.recovered;
        self.recovery_failures += report.recovery_failures;
    }
}

/// Groups the tick's failures for the invocation error: `a (why); b (why)`.
pub fn describe_failures(failed: &[FailedPipeline]) -> String {
    failed
        .iter()
        .map(|f| format!("{} ({})", f.pipeline, f.error))
        .collect::<Vec<_>>()
        .join("; ")
}
