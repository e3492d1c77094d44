//! One tick: check every watched pipeline once. The only orchestration in pipewatch, and
//! the place where ordering and idempotency are decided.
//!
//! For each pipeline:
//!
//! 1. **Load, then observe.** The stored record is read (for the whole tick at once with
//!    `load_many`) *before* `GetPipelineState` is called, so the snapshot we diff against
//!    predates our observation, and a slow tick can never report the pipeline moving
//!    backwards. That read is eventually consistent (half the read units of a strong one),
//!    which is safe because a record read that way can only be *older* than the latest,
//!    never newer, and the claim below is conditional on the version read: an old record
//!    makes the diff find changes another tick already claimed, the claim then loses, and
//!    the check reloads strongly and decides again. It cannot make a change be missed
//!    either: the newest snapshot stays stored until a claim against it wins. At worst an
//!    old read delays a takeover of expired messages by a tick. `tests/tick.rs` runs
//!    overlapping ticks whose reads lag a whole tick behind: nothing doubled, nothing lost.
//! 2. **Recover.** When an action shows a new run, `ListActionExecutions` for its
//!    pipeline execution (one page, asked once per pipeline execution per check, never on
//!    a quiet tick) tells the runs no observation saw: a failure retried between checks is
//!    reported, before its retry, as an ordinary change marked `recovered`. When a stage
//!    shows a new pipeline execution, `ListPipelineExecutions` (one page) tells the
//!    executions that came and went ([`pipewatch_core::recover`]). A failed answer is logged and
//!    counted; the changes go out as observed.
//! 3. **Enrich.** For the pipeline executions the changes mention, `GetPipelineExecution`
//!    tells which commits they run and what started them. Each execution is asked once: the
//!    answer is cached in the record, so later changes of the same execution, a lost race
//!    and redeliveries call nothing. Enrichment happens *before* the claim, so the claimed
//!    messages are final and every redelivery is byte-identical. A failed enrichment
//!    (throttled, denied, not found) is logged and counted, and the message goes out
//!    without the commit: it never delays or loses a notification.
//! 4. **Claim.** The changes, their rendered messages (the outbox) and the new snapshot are
//!    written in one conditional write on the record's version. Only the tick that wins the
//!    write announces those changes; a tick that loses reloads, observes again and
//!    re-diffs. Every loss means another tick made progress, so with N overlapping ticks a
//!    tick wins within N attempts; [`MAX_CLAIM_ATTEMPTS`] bounds the loop.
//! 5. **Publish under a lease.** Claimed messages carry a lease (`now + lease`). The claiming
//!    tick publishes them; any later tick takes over a message whose lease has expired
//!    (its publisher crashed or timed out) and publishes it again, with the same id. A
//!    message under a live lease is left alone, so a tick still publishing is not doubled.
//! 6. **Acknowledge.** Messages the notifier accepted are removed from the outbox; failed
//!    ones have their lease released so the next tick retries them at once. A refused
//!    publish is not the check's failure: the message waits in the outbox, counted in
//!    `publish_failures`, `messages_pending` and the oldest pending message's age.
//!
//! 7. **Dead-letter what cannot be published.** A message the notifier refuses for good
//!    (a sender fault), or refuses [`Settings::max_publish_attempts`] times, goes to the
//!    dead-letter queue and then leaves the outbox. An outbox past its bound
//!    ([`MAX_OUTBOX_MESSAGES`], [`MAX_OUTBOX_BYTES`]) sends its oldest messages there before
//!    the claim, so new changes can always be claimed. A message leaves the outbox only
//!    once the queue holds it: nothing is dropped, and a crash in between leaves a second
//!    copy with the same id in the queue at worst.
//!
//! A pipeline that cannot be read (`GetPipelineState` fails) still has its outbox
//! published, and its streak of failures counted in the record: the check that makes it
//! [`Settings::report_failures_after`] claims one "cannot read" message, the first check
//! that reads it again one "reads again" message, and nothing is written in between.
//!
//! Quiet ticks write nothing: no changes and nothing to take over means no write at all.
//! The first observation of a pipeline is a silent baseline, and so is the observation that
//! replaces an unreadable record (counted as re-baselined).
//!
//! What this does not promise: a crash after SNS accepted a message but before the
//! acknowledgement is written leads to one redelivery, after the lease, with the same id —
//! subscribers that must never see a message twice drop ids they have seen.
//!
//! [`MAX_OUTBOX_MESSAGES`]: pipewatch_core::record::MAX_OUTBOX_MESSAGES
//! [`MAX_OUTBOX_BYTES`]: pipewatch_core::record::MAX_OUTBOX_BYTES

mod clock;
mod history;
mod publish;
mod summary;

use std::collections::HashSet;
use std::time::{Duration, Instant};

use futures_util::StreamExt;
use pipewatch_core::error::chain;
use pipewatch_core::pipeline::PipelineRef;
use pipewatch_core::plan::{
    Facts, changes_since, oldest, outbox_of, pending, plan, plan_unreadable,
};
use pipewatch_core::record::{Loaded, Saved};
use pipewatch_core::render::console::Console;
use pipewatch_core::state::PipelineExecution;

pub use clock::Clock;
pub use summary::{FailedPipeline, PipelineReport, TickSummary, describe_failures};

use crate::ports::{
    BoxError, DeadLetterQueue, Notifier, PipelineSource, SnapshotStore, SourceError, StoreError,
};
use history::History;

/// How many times one pipeline's claim may lose a race before the tick gives up on it.
pub const MAX_CLAIM_ATTEMPTS: u32 = 10;

/// A pipeline is not started when less than this is left before the invocation's
/// deadline: time for one check (read, observe, enrich, claim, publish, acknowledge) with
/// the SDK's per-call timeout to spare. A short invocation keeps a quarter of its time
/// instead, so that something is always checked.
pub const DEADLINE_MARGIN: Duration = Duration::from_secs(10);

/// At most this many executions are enriched per pipeline per tick (a V2 queue can hold
/// many); the others' messages go out without their commits.
pub const MAX_ENRICHED_PER_CHECK: usize = 10;

/// Why checking one pipeline failed. Other pipelines of the tick go on regardless.
#[derive(Debug, thiserror::Error)]
pub enum PipelineError {
    #[error("observing it")]
    Source(#[from] SourceError),
    #[error("reading or writing its snapshot")]
    Store(#[from] StoreError),
    #[error("its snapshot changed under it {0} times in a row")]
    Contention(u32),
    #[error("{count} messages could not be dead-lettered; they stay in the outbox")]
    DeadLetter {
        count: usize,
        #[source]
        source: BoxError,
    },
}

/// How a tick behaves.
#[derive(Debug, Clone)]
pub struct Settings {
    /// How long a tick may be publishing claimed messages before another tick takes them
    /// over. Must exceed the longest a tick can run (the Lambda timeout), or a slow but
    /// live tick could be doubled.
    pub lease: Duration,
    /// How many pipelines are checked at once.
    pub max_concurrency: usize,
    /// Where console links point; `None` leaves them out.
    pub console: Option<Console>,
    /// How long a record lives unwritten before it expires (a DynamoDB TTL); `None`:
    /// records never expire (the CLI's folder).
    pub retention: Option<Duration>,
    /// Refused publishes after which a message is dead-lettered (at least 1).
    pub max_publish_attempts: u32,
    /// Failed reads in a row after which "cannot read" is announced (at least 1).
    pub report_failures_after: u32,
    /// What time it is for leases and the deadline: the system's, unless a test moves it.
    pub clock: Clock,
}

/// The tick's outside services and its settings.
pub struct Watcher<P, S, N, D> {
    pub source: P,
    pub store: S,
    pub notifier: N,
    pub dead_letters: D,
    pub settings: Settings,
}

impl<P: PipelineSource, S: SnapshotStore, N: Notifier, D: DeadLetterQueue> Watcher<P, S, N, D> {
    fn clock(&self) -> &Clock {
        &self.settings.clock
    }

    /// Checks every pipeline once, at most `max_concurrency` at a time. One pipeline's
    /// failure never stops the others; failures are listed in the summary.
    pub async fn run_tick(&self, pipelines: &[PipelineRef]) -> TickSummary {
        self.run_tick_until(pipelines, None).await
    }

    /// [`Watcher::run_tick`], starting no pipeline within [`DEADLINE_MARGIN`] of
    /// `deadline` (a quarter of the time left, if less): those are counted as skipped, in
    /// order, so they are the tail of `pipelines` (checks start in order).
    pub async fn run_tick_until(
        &self,
        pipelines: &[PipelineRef],
        deadline: Option<Instant>,
    ) -> TickSummary {
        let started = Instant::now();
        let mut unique = HashSet::new();
        let pipelines: Vec<PipelineRef> = pipelines
            .iter()
            .filter(|p| unique.insert(p.key()))
            .cloned()
            .collect();
        let keys: Vec<String> = pipelines.iter().map(PipelineRef::key).collect();

        let mut summary = TickSummary::default();
        let mut prefetched = match self.store.load_many(&keys).await {
            Ok(loaded) => loaded,
            Err(error) => {
                // Without snapshots nothing can be claimed safely: fail every pipeline.
                let error = chain(&PipelineError::Store(error));
                summary.failed = keys
                    .into_iter()
                    .map(|pipeline| FailedPipeline {
                        pipeline,
                        error: error.clone(),
                        unreadable: false,
                    })
                    .collect();
                summary.errors = summary.failed.len();
                summary.duration_ms = elapsed_ms(started);
                return summary;
            }
        };
        // Owned names keep these futures `Send` (a borrowed one trips a higher-ranked
        // lifetime limitation of async closures).
        let margin = deadline
            .map(|d| DEADLINE_MARGIN.min(d.saturating_duration_since(self.clock().instant()) / 4));
        let checks = pipelines.into_iter().map(|pipeline| {
            let loaded = prefetched
                .remove(&pipeline.key())
                .unwrap_or(Loaded::Missing);
            async move {
                // Decided when the check starts, not when it is queued.
                let near = deadline
                    .zip(margin)
                    .is_some_and(|(d, margin)| self.clock().instant() + margin >= d);
                // What a failed check leaves pending, as far as this tick knows.
                let before = outbox_of(&loaded).map_or((0, None), |o| (o.len(), oldest(o)));
                let result = if near {
                    None
                } else {
                    Some(self.check_pipeline(&pipeline, loaded).await)
                };
                (pipeline, result, before)
            }
        });
        let results: Vec<_> = futures_util::stream::iter(checks)
            .buffer_unordered(self.settings.max_concurrency.max(1))
            .collect()
            .await;
        let mut oldest_pending_at: Option<i64> = None;
        for (pipeline, result, (pending_before, oldest_before)) in results {
            match result {
                None => summary.skipped += 1,
                Some(Ok(report)) => {
                    summary.add(&report);
                    oldest_pending_at = min_some(oldest_pending_at, report.oldest_pending_at);
                }
                Some(Err(error)) => {
                    summary.messages_pending += pending_before;
                    oldest_pending_at = min_some(oldest_pending_at, oldest_before);
                    summary.failed.push(FailedPipeline {
                        pipeline: pipeline.key(),
                        error: chain(&error),
                        unreadable: matches!(error, PipelineError::Source(_)),
                    });
                }
            }
        }
        summary.oldest_pending_ms = oldest_pending_at.map_or(0, |at| {
            u64::try_from(self.clock().epoch_ms().saturating_sub(at)).unwrap_or_default()
        });
        summary.failed.sort_by(|a, b| a.pipeline.cmp(&b.pipeline));
        summary.errors = summary.failed.len();
        summary.duration_ms = elapsed_ms(started);
        summary
    }

    /// Checks one pipeline, starting from what the store held for it (`loaded`, read
    /// before this call). See the module docs for the order of operations.
    pub async fn check_pipeline(
        &self,
        pipeline: &PipelineRef,
        mut loaded: Loaded,
    ) -> Result<PipelineReport, PipelineError> {
        let lease_ms = i64::try_from(self.settings.lease.as_millis()).unwrap_or(i64::MAX);
        let mut report = PipelineReport::default();
        // Enrichment answers of this check, kept across lost races (`None`: it failed).
        let mut asked: Vec<(String, Option<PipelineExecution>)> = Vec::new();
        // Action runs by pipeline execution, and the recent executions, likewise asked
        // once per check.
        let mut history = History::default();
        for _ in 0..MAX_CLAIM_ATTEMPTS {
            let current = match self.source.get_state(pipeline).await {
                Ok(current) => current,
                Err(error) => return Err(self.unreadable(pipeline, loaded, error).await),
            };
            let changes = changes_since(&loaded, &current);
            let changes = self
                .recover(
                    pipeline,
                    &loaded,
                    &current,
                    changes,
                    &mut history,
                    &mut report,
                )
                .await;
            self.enrich(pipeline, &loaded, &changes, &mut asked, &mut report)
                .await;
            let fresh: Vec<PipelineExecution> =
                asked.iter().filter_map(|(_, e)| e.clone()).collect();
            let facts = Facts {
                changes,
                fresh: &fresh,
                console: self.settings.console.as_ref(),
                retention_s: self
                    .settings
                    .retention
                    .map(|r| i64::try_from(r.as_secs()).unwrap_or(i64::MAX)),
            };
            let Some(plan) = plan(
                pipeline,
                &loaded,
                &current,
                facts,
                self.clock().epoch_ms(),
                lease_ms,
            ) else {
                report.pending = pending(&loaded);
                report.oldest_pending_at = outbox_of(&loaded).and_then(oldest);
                return Ok(report);
            };
            self.evict(&plan).await?;
            report.dead_lettered += plan.evict.len();
            match self.store.save(&plan.record, plan.expected).await? {
                Saved::Conflict => {
                    report.conflicts += 1;
                    loaded = self.store.load(&pipeline.key()).await?;
                }
                Saved::Written => {
                    report.writes += 1;
                    report.changes = plan.changes;
                    report.rebaselined = plan.rebaselined;
                    if let Loaded::Unreadable { reason, .. } = &loaded {
                        tracing::warn!(%pipeline, reason, "unreadable snapshot re-baselined");
                    }
                    return self.publish(pipeline, plan, report).await;
                }
            }
        }
        Err(PipelineError::Contention(MAX_CLAIM_ATTEMPTS))
    }

    /// A check that could not read the pipeline: counts the streak in the record (claiming
    /// the "cannot read" message when it reaches the threshold) and publishes what the
    /// outbox holds, then returns the read's error. Recording is best effort: it fails
    /// or loses a race only to be done by the next check.
    async fn unreadable(
        &self,
        pipeline: &PipelineRef,
        mut loaded: Loaded,
        error: SourceError,
    ) -> PipelineError {
        let lease_ms = i64::try_from(self.settings.lease.as_millis()).unwrap_or(i64::MAX);
        let reason = chain(&error);
        for _ in 0..MAX_CLAIM_ATTEMPTS {
            let threshold = self.settings.report_failures_after.max(1);
            let Some(plan) = plan_unreadable(
                pipeline,
                &loaded,
                &reason,
                threshold,
                self.settings.console.as_ref(),
                self.clock().epoch_ms(),
                lease_ms,
            ) else {
                break;
            };
            if let Err(e) = self.evict(&plan).await {
                tracing::warn!(%pipeline, error = %chain(&e), "recording a failed read");
                break;
            }
            match self.store.save(&plan.record, plan.expected).await {
                Ok(Saved::Written) => {
                    if plan.changes > 0 {
                        tracing::warn!(%pipeline, error = %reason, "announcing that the pipeline cannot be read");
                    }
                    if let Err(e) = self
                        .publish(pipeline, plan, PipelineReport::default())
                        .await
                    {
                        tracing::warn!(%pipeline, error = %chain(&e), "publishing for an unreadable pipeline");
                    }
                    break;
                }
                Ok(Saved::Conflict) => match self.store.load(&pipeline.key()).await {
                    Ok(latest) => loaded = latest,
                    Err(_) => break,
                },
                Err(e) => {
                    tracing::warn!(%pipeline, error = %chain(&e), "recording a failed read");
                    break;
                }
            }
        }
        PipelineError::Source(error)
    }
}

fn min_some(a: Option<i64>, b: Option<i64>) -> Option<i64> {
    match (a, b) {
        (Some(a), Some(b)) => Some(a.min(b)),
        (a, b) => a.or(b),
    }
}

fn elapsed_ms(started: Instant) -> u64 {
    u64::try_from(started.elapsed().as_millis()).unwrap_or(u64::MAX)
}
