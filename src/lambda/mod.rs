//! The Lambda's logic, between the runtime and the tick: what an event asks for, which
//! pipelines that means, the tick, the summary log line, and the invocation's error when
//! pipelines failed.
//!
//! Events, dispatched by shape ([`Invocation::read`]):
//! - **a schedule** (an EventBridge scheduled event, or `{}` from EventBridge Scheduler):
//!   the configured selection, resolved and cached for `DISCOVERY_SECONDS`. A selection
//!   larger than `SHARD_SIZE` is split into shards sent to the shard queue, which this same
//!   function consumes; otherwise it is checked here.
//! - **`{"pipelines": [...]}`**: a schedule's custom input: those entries instead (names,
//!   patterns or ARNs; tags still apply).
//! - **an SQS event**: shards from the shard queue, `{"pipelines": ["key", ...]}` each.
//! - **a CodePipeline event** (`"source": "aws.codepipeline"`: a pipeline, stage or action
//!   execution state change), straight from an EventBridge rule, or many at once through
//!   the event queue (SQS records whose bodies are such events). Only the pipelines they
//!   name are checked, each once however many events name it (a release's burst of
//!   dozens of events is one check per pipeline), and only if the selection watches
//!   them; the others are counted as ignored. The event's content is never taken as the
//!   state: the tick observes, so an event and a scheduled tick racing on one change
//!   claim it once. A malformed event is logged and counted, not an error: EventBridge
//!   would only retry it.
//!
//! Every path ends in the same tick, so the claim decides ordering and idempotency for all.
//!
//! An invocation fails only for pipewatch's own failures (a bad event, the selection, the
//! shard queue, its table or a contended record). A watched pipeline that cannot be read
//! is not one: it is counted (`FailedPipelines`), logged with its reason, and announced
//! once on the topic by the tick, so one deleted pipeline cannot keep the `Errors` alarm
//! firing with nothing said.
//! Pipelines are started in a rotating order: when the invocation's deadline is near, the
//! rest are skipped (not failed) and the next tick in this container starts with them.

mod event;
pub mod logging;

use std::collections::HashSet;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::time::Instant;

use serde_json::Value;
use tokio::sync::Mutex;

pub use event::{Invocation, PipelineEvent};
pub use logging::init_logging;

use pipewatch_core::pipeline::PipelineRef;

use crate::ports::{
    DeadLetterQueue, Notifier, PipelineDirectory, PipelineSource, ShardQueue, SnapshotStore,
};
use crate::select::{Discovery, Home, Selection, resolve};
use crate::tick::{TickSummary, Watcher, describe_failures};

/// Why an invocation failed. Each is reported to Lambda as an invocation error, so the
/// `Errors` metric (and an alarm on it) sees them.
#[derive(Debug, thiserror::Error)]
pub enum InvocationError {
    #[error("the event is neither a schedule, nor {{\"pipelines\": [...]}}, nor SQS shards: {0}")]
    BadEvent(String),
    #[error("resolving the watched pipelines failed: {0}")]
    Selection(String),
    #[error("sending {shards} shards to the shard queue failed: {reason}")]
    Shards { shards: usize, reason: String },
    #[error("{failed} of {total} pipelines failed: {list}")]
    PipelinesFailed {
        failed: usize,
        total: usize,
        list: String,
        /// The tick's figures, for its metrics.
        summary: Box<TickSummary>,
    },
}

/// How Lambda reports the error: a stable type to alarm or search on, the whole message.
impl From<InvocationError> for lambda_runtime::Diagnostic {
    fn from(error: InvocationError) -> Self {
        let error_type = match error {
            InvocationError::BadEvent(_) => "pipewatch.BadEvent",
            InvocationError::Selection(_) => "pipewatch.SelectionFailed",
            InvocationError::Shards { .. } => "pipewatch.ShardsFailed",
            InvocationError::PipelinesFailed { .. } => "pipewatch.PipelinesFailed",
        };
        Self {
            error_type: error_type.to_owned(),
            error_message: error.to_string(),
        }
    }
}

/// The function: the tick and what decides which pipelines it checks. Built once per cold
/// start; what it caches (the resolved selection, where the next tick starts) lives as
/// long as the container.
pub struct Function<P, S, N, D, Q> {
    pub watcher: Watcher<P, S, N, D>,
    pub selection: Selection,
    pub home: Home,
    /// The shard queue, when the template made one.
    pub shards: Option<Q>,
    pub shard_size: usize,
    discovery: Mutex<Discovery>,
    /// Where the next tick starts in the resolved order, so no pipeline starves when
    /// deadlines cut ticks short.
    next_start: AtomicUsize,
}

impl<P, S, N, D, Q> Function<P, S, N, D, Q>
where
    P: PipelineSource + PipelineDirectory,
    S: SnapshotStore,
    N: Notifier,
    D: DeadLetterQueue,
    Q: ShardQueue,
{
    pub fn new(
        watcher: Watcher<P, S, N, D>,
        selection: Selection,
        home: Home,
        discovery: std::time::Duration,
        shards: Option<Q>,
        shard_size: usize,
    ) -> Self {
        // A fresh container starts somewhere else than the last one did.
        let start = usize::try_from(pipewatch_core::state::Timestamp::now().unix_millis() / 1000)
            .unwrap_or_default();
        Self {
            watcher,
            selection,
            home,
            shards,
            shard_size: shard_size.max(1),
            discovery: Mutex::new(Discovery::new(discovery)),
            next_start: AtomicUsize::new(start),
        }
    }

    /// One invocation. `deadline` is the invocation's.
    pub async fn handle(
        &self,
        event: &Value,
        deadline: Option<Instant>,
    ) -> Result<TickSummary, InvocationError> {
        let pipelines = match Invocation::read(event)? {
            Invocation::Schedule => self.watched().await?,
            Invocation::Entries(entries) => {
                let selection = Selection {
                    tags: self.selection.tags.clone(),
                    ..entries
                };
                resolve(&selection, &self.home, &self.watcher.source)
                    .await
                    .map_err(|e| InvocationError::Selection(pipewatch_core::error::chain(&e)))?
            }
            Invocation::Shards(pipelines) => {
                return self.tick(pipelines, deadline).await;
            }
            Invocation::Events { events, malformed } => {
                return self.on_events(&events, malformed, deadline).await;
            }
        };
        if pipelines.len() > self.shard_size
            && let Some(queue) = &self.shards
        {
            return self.fan_out(queue, &pipelines).await;
        }
        self.tick(pipelines, deadline).await
    }

    /// The configured selection, from the cache while it is fresh.
    async fn watched(&self) -> Result<Vec<PipelineRef>, InvocationError> {
        let mut discovery = self.discovery.lock().await;
        if let Some(pipelines) = discovery.fresh() {
            return Ok(pipelines.to_vec());
        }
        let pipelines = resolve(&self.selection, &self.home, &self.watcher.source)
            .await
            .map_err(|e| InvocationError::Selection(pipewatch_core::error::chain(&e)))?;
        tracing::info!(
            pipelines = pipelines.len(),
            "resolved the watched pipelines"
        );
        discovery.remember(pipelines.clone());
        Ok(pipelines)
    }

    /// Checks the watched pipelines `events` name, each once.
    async fn on_events(
        &self,
        events: &[PipelineEvent],
        malformed: usize,
        deadline: Option<Instant>,
    ) -> Result<TickSummary, InvocationError> {
        let watched: HashSet<String> = self.watched().await?.iter().map(PipelineRef::key).collect();
        let mut named: Vec<PipelineRef> = Vec::new();
        let mut ignored = 0;
        for event in events {
            let pipeline = self
                .home
                .pipeline(&event.region, &event.account, &event.pipeline);
            if !watched.contains(&pipeline.key()) {
                ignored += 1;
            } else if !named.contains(&pipeline) {
                named.push(pipeline);
            }
        }
        if ignored > 0 {
            tracing::info!(ignored, "events for pipelines the selection does not watch");
        }
        let mut summary = if named.is_empty() {
            TickSummary::default()
        } else {
            // No rotation: an event's few pipelines are all checked.
            self.watcher.run_tick_until(&named, deadline).await
        };
        summary.events = events.len() + malformed;
        summary.events_ignored = ignored + malformed;
        log_summary(&summary);
        Self::outcome(summary, named.len())
    }

    /// Sends the selection as shards of at most `shard_size` keys.
    async fn fan_out(
        &self,
        queue: &Q,
        pipelines: &[PipelineRef],
    ) -> Result<TickSummary, InvocationError> {
        let shards: Vec<Vec<String>> = pipelines
            .chunks(self.shard_size)
            .map(|chunk| chunk.iter().map(PipelineRef::key).collect())
            .collect();
        queue
            .send(&shards)
            .await
            .map_err(|e| InvocationError::Shards {
                shards: shards.len(),
                reason: pipewatch_core::error::chain(&*e),
            })?;
        let summary = TickSummary {
            shards_sent: shards.len(),
            ..TickSummary::default()
        };
        log_summary(&summary);
        Ok(summary)
    }

    /// The tick, starting where the last one in this container stopped.
    async fn tick(
        &self,
        mut pipelines: Vec<PipelineRef>,
        deadline: Option<Instant>,
    ) -> Result<TickSummary, InvocationError> {
        let total = pipelines.len();
        if total == 0 {
            return Ok(TickSummary::default());
        }
        let start = self.next_start.load(Ordering::Relaxed) % total;
        pipelines.rotate_left(start);
        let summary = self.watcher.run_tick_until(&pipelines, deadline).await;
        // The skipped are the tail of this order: the next tick begins with them.
        self.next_start
            .store((start + total - summary.skipped) % total, Ordering::Relaxed);
        log_summary(&summary);
        Self::outcome(summary, total)
    }

    /// The invocation's result for a tick over `total` pipelines.
    fn outcome(summary: TickSummary, total: usize) -> Result<TickSummary, InvocationError> {
        // A pipeline that cannot be read is the FailedPipelines metric's and its own
        // message's to tell, not the invocation's: one deleted pipeline would otherwise
        // keep the Errors alarm firing. pipewatch's own store or notifier failing is.
        let broken: Vec<_> = summary
            .failed
            .iter()
            .filter(|f| !f.unreadable)
            .cloned()
            .collect();
        if broken.is_empty() {
            Ok(summary)
        } else {
            Err(InvocationError::PipelinesFailed {
                failed: broken.len(),
                total,
                list: describe_failures(&broken),
                summary: Box::new(summary),
            })
        }
    }
}

/// The tick's one JSON log line.
pub fn log_summary(summary: &TickSummary) {
    let failed: Vec<&str> = summary.failed.iter().map(|f| f.pipeline.as_str()).collect();
    tracing::info!(
        pipelines_checked = summary.pipelines_checked,
        changes = summary.changes,
        messages_published = summary.messages_published,
        messages_pending = summary.messages_pending,
        rebaselined = summary.rebaselined,
        writes = summary.writes,
        enriched = summary.enriched,
        enrichment_failures = summary.enrichment_failures,
        recovered = summary.recovered,
        recovery_failures = summary.recovery_failures,
        dead_lettered = summary.dead_lettered,
        publish_failures = summary.publish_failures,
        oldest_pending_ms = summary.oldest_pending_ms,
        conflicts = summary.conflicts,
        skipped = summary.skipped,
        shards_sent = summary.shards_sent,
        events = summary.events,
        events_ignored = summary.events_ignored,
        errors = summary.errors,
        failed = %failed.join(","),
        duration_ms = summary.duration_ms,
        "tick summary"
    );
    for failure in &summary.failed {
        tracing::error!(pipeline = %failure.pipeline, error = %failure.error, "pipeline check failed");
    }
}
