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
//!    executions that came and went ([`crate::recover`]). A failed answer is logged and
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

use std::collections::HashSet;
use std::time::{Duration, Instant};

use futures_util::StreamExt;
use serde::Serialize;

use crate::diff::{Change, diff, essentials, next_snapshot};
use crate::error::{PipelineError, SourceError, StoreError, chain};
use crate::ports::{DeadLetterQueue, Notifier, PipelineSource, SnapshotStore};
use crate::recover;
use crate::render::content::{Console, Context};
use crate::render::message::{Message, messages};
use crate::select::PipelineRef;
use crate::snapshot::{
    DeadLetter, Expected, Health, Loaded, MAX_CACHED_EXECUTIONS, MAX_OUTBOX_BYTES,
    MAX_OUTBOX_MESSAGES, Pending, Record, Saved,
};
use crate::state::{ActionRun, ExecutionSummary, PipelineExecution, PipelineState, Timestamp};

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
}

/// The tick's outside services and its settings.
pub struct Watcher<P, S, N, D> {
    pub source: P,
    pub store: S,
    pub notifier: N,
    pub dead_letters: D,
    pub settings: Settings,
}

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

impl<P: PipelineSource, S: SnapshotStore, N: Notifier, D: DeadLetterQueue> Watcher<P, S, N, D> {
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
        let margin =
            deadline.map(|d| DEADLINE_MARGIN.min(d.saturating_duration_since(Instant::now()) / 4));
        let checks = pipelines.into_iter().map(|pipeline| {
            let loaded = prefetched
                .remove(&pipeline.key())
                .unwrap_or(Loaded::Missing);
            async move {
                // Decided when the check starts, not when it is queued.
                let near = deadline
                    .zip(margin)
                    .is_some_and(|(d, margin)| Instant::now() + margin >= d);
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
                    summary.pipelines_checked += 1;
                    summary.changes += report.changes;
                    summary.messages_published += report.published;
                    summary.messages_pending += report.pending;
                    summary.rebaselined += usize::from(report.rebaselined);
                    summary.writes += report.writes;
                    summary.conflicts += report.conflicts;
                    summary.enriched += report.enriched;
                    summary.enrichment_failures += report.enrichment_failures;
                    summary.dead_lettered += report.dead_lettered;
                    summary.publish_failures += report.publish_failures;
                    summary.recovered += report.recovered;
                    summary.recovery_failures += report.recovery_failures;
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
            u64::try_from(now_ms().saturating_sub(at)).unwrap_or_default()
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
            let Some(plan) = plan(pipeline, &loaded, &current, facts, now_ms(), lease_ms) else {
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
                now_ms(),
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

    /// Sends what `plan` evicts from the outbox to the dead-letter queue, before the plan
    /// is written (so a message is never only in neither place).
    async fn evict(&self, plan: &Plan) -> Result<(), PipelineError> {
        if plan.evict.is_empty() {
            return Ok(());
        }
        tracing::warn!(
            pipeline = %plan.record.pipeline,
            messages = plan.evict.len(),
            "the outbox is over its bound: dead-lettering its oldest messages"
        );
        self.dead_letters
            .send(&plan.evict)
            .await
            .map_err(|source| PipelineError::DeadLetter {
                count: plan.evict.len(),
                source,
            })
    }

    /// `changes` with the runs and executions no observation saw ([`crate::recover`]):
    /// `ListActionExecutions` for each pipeline execution where an action shows a new run,
    /// `ListPipelineExecutions` when a stage shows a new execution, each asked once per
    /// check. A failed call is logged and counted; the changes go out as observed.
    async fn recover(
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
    async fn enrich(
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

    /// Publishes what `plan` leased, dead-letters what the notifier refused for good (or
    /// too often), then acknowledges the outcome in the store.
    async fn publish(
        &self,
        pipeline: &PipelineRef,
        plan: Plan,
        mut report: PipelineReport,
    ) -> Result<PipelineReport, PipelineError> {
        if plan.publish.is_empty() {
            report.pending = plan.record.outbox.len();
            report.oldest_pending_at = oldest(&plan.record.outbox);
            return Ok(report);
        }
        let outcomes = self.notifier.publish(&plan.publish).await;
        let mut gone = HashSet::new();
        let mut failed = Vec::new();
        let mut letters = Vec::new();
        let max_attempts = self.settings.max_publish_attempts.max(1);
        for (message, outcome) in plan.publish.iter().zip(outcomes) {
            match outcome {
                Ok(()) => {
                    report.published += 1;
                    gone.insert(message.id.clone());
                }
                Err(error) => {
                    let pending = plan
                        .record
                        .outbox
                        .iter()
                        .find(|p| p.message.id == message.id);
                    let attempts = pending.map_or(1, |p| p.attempts + 1);
                    if error.permanent || attempts >= max_attempts {
                        letters.push(DeadLetter {
                            message: message.clone(),
                            reason: chain(&error),
                            attempts,
                            claimed_at: pending.map_or(0, |p| p.claimed_at),
                        });
                    } else {
                        failed.push(error);
                    }
                }
            }
        }
        if !letters.is_empty() {
            match self.dead_letters.send(&letters).await {
                Ok(()) => {
                    for letter in &letters {
                        tracing::error!(
                            %pipeline,
                            id = %letter.message.id,
                            attempts = letter.attempts,
                            reason = %letter.reason,
                            "message dead-lettered"
                        );
                        gone.insert(letter.message.id.clone());
                    }
                    report.dead_lettered += letters.len();
                }
                Err(e) => {
                    tracing::error!(%pipeline, error = %chain(&*e), "dead-lettering failed; the messages stay in the outbox");
                    failed.extend(letters.into_iter().map(|l| crate::error::NotifyError {
                        id: l.message.id,
                        permanent: true,
                        source: l.reason.into(),
                    }));
                }
            }
        }
        let failed_ids: HashSet<String> = failed.iter().map(|e| e.id.clone()).collect();
        let (left, oldest_at, writes) = self
            .acknowledge(&pipeline.key(), plan.record, &gone, &failed_ids)
            .await?;
        report.pending = left;
        report.oldest_pending_at = oldest_at;
        report.writes += writes;
        report.publish_failures = failed_ids.len();
        // Not the check's failure: the messages wait in the outbox, and the pending
        // figures (and their alarm) tell how long.
        if let Some(first) = failed.first() {
            tracing::warn!(
                %pipeline,
                failed = failed_ids.len(),
                error = %chain(first),
                "messages not published; they stay in the outbox"
            );
        }
        Ok(report)
    }

    /// Removes published and dead-lettered messages from the outbox, and counts an
    /// attempt on failed ones and releases their lease, retrying on lost races (other
    /// ticks may append to the outbox meanwhile). Returns the outbox size after, when its
    /// oldest message was claimed, and the writes made.
    async fn acknowledge(
        &self,
        pipeline: &str,
        mut record: Record,
        gone: &HashSet<String>,
        failed: &HashSet<String>,
    ) -> Result<(usize, Option<i64>, usize), StoreError> {
        for _ in 0..MAX_CLAIM_ATTEMPTS {
            let mut next = record.clone();
            next.outbox.retain(|p| !gone.contains(&p.message.id));
            for pending in &mut next.outbox {
                if failed.contains(&pending.message.id) {
                    pending.lease_until = 0;
                    pending.attempts = pending.attempts.saturating_add(1);
                }
            }
            if next.outbox == record.outbox {
                return Ok((next.outbox.len(), oldest(&next.outbox), 0));
            }
            next.version = record.version + 1;
            match self
                .store
                .save(&next, Expected::Version(record.version))
                .await?
            {
                Saved::Written => return Ok((next.outbox.len(), oldest(&next.outbox), 1)),
                Saved::Conflict => match self.store.load(pipeline).await? {
                    Loaded::Found(latest) => record = latest,
                    // Replaced by an unreadable or missing item: nothing left to acknowledge.
                    Loaded::Missing | Loaded::Unreadable { .. } => return Ok((0, None, 0)),
                },
            }
        }
        Err(StoreError {
            operation: "acknowledging published messages",
            source: format!("the record changed {MAX_CLAIM_ATTEMPTS} times in a row").into(),
        })
    }
}

/// What one check asked of the history APIs (`None`: the call failed), so that a lost
/// race asks nothing again.
#[derive(Default)]
struct History {
    runs: Vec<(String, Option<Vec<ActionRun>>)>,
    executions_asked: bool,
    executions: Option<Vec<ExecutionSummary>>,
}

/// A decided write: the record to store, under which condition, and what to publish
/// once it is stored.
#[derive(Debug)]
struct Plan {
    record: Record,
    expected: Expected,
    publish: Vec<Message>,
    /// Messages over the outbox's bound, for the dead-letter queue before the write.
    evict: Vec<DeadLetter>,
    changes: usize,
    rebaselined: bool,
}

/// The changes since the stored snapshot: none for a first sight or an unreadable record
/// (both are silent baselines).
fn changes_since(loaded: &Loaded, current: &PipelineState) -> Vec<Change> {
    match loaded {
        Loaded::Found(Record {
            snapshot: Some(snapshot),
            ..
        }) => diff(snapshot, current),
        Loaded::Found(_) | Loaded::Missing | Loaded::Unreadable { .. } => Vec::new(),
    }
}

/// The distinct pipeline executions `changes` mention, in order.
fn mentioned(changes: &[Change]) -> Vec<&str> {
    let mut ids: Vec<&str> = Vec::new();
    for id in changes.iter().filter_map(Change::pipeline_execution_id) {
        if !ids.contains(&id) {
            ids.push(id);
        }
    }
    ids
}

/// What [`plan`] decides from besides the stored record and the observation.
struct Facts<'a> {
    /// [`changes_since`] the stored snapshot.
    changes: Vec<Change>,
    /// Executions this check enriched, not yet in the record's cache.
    fresh: &'a [PipelineExecution],
    console: Option<&'a Console>,
    /// The records' retention in seconds, when they expire.
    retention_s: Option<i64>,
}

/// The record's cache after this check: the fresh answers added, the executions `changes`
/// mention moved to the back (most recently used), the oldest dropped past the bound.
fn cached_executions(
    stored: &[PipelineExecution],
    fresh: &[PipelineExecution],
    changes: &[Change],
) -> Vec<PipelineExecution> {
    let mut cache: Vec<PipelineExecution> = stored.to_vec();
    for execution in fresh {
        if !cache
            .iter()
            .any(|e| e.pipeline_execution_id == execution.pipeline_execution_id)
        {
            cache.push(execution.clone());
        }
    }
    for id in mentioned(changes) {
        if let Some(at) = cache.iter().position(|e| e.pipeline_execution_id == id) {
            let used = cache.remove(at);
            cache.push(used);
        }
    }
    let excess = cache.len().saturating_sub(MAX_CACHED_EXECUTIONS);
    cache.drain(..excess);
    cache
}

/// Decides what to write for `current`, given what was stored. `None`: nothing to write.
/// Pure, so the claim rules are unit-tested without any service.
fn plan(
    pipeline: &PipelineRef,
    loaded: &Loaded,
    current: &PipelineState,
    facts: Facts<'_>,
    now: i64,
    lease_ms: i64,
) -> Option<Plan> {
    let lease_until = now.saturating_add(lease_ms);
    let now_s = now / 1000;
    let expires_at = facts.retention_s.map(|r| now_s.saturating_add(r));
    match loaded {
        Loaded::Missing => Some(Plan {
            record: Record {
                pipeline: pipeline.key(),
                version: first_version(now),
                snapshot: Some(essentials(current)),
                outbox: Vec::new(),
                executions: Vec::new(),
                expires_at,
                health: Health::default(),
            },
            expected: Expected::Absent,
            publish: Vec::new(),
            evict: Vec::new(),
            changes: 0,
            rebaselined: false,
        }),
        Loaded::Unreadable {
            version, outbox, ..
        } => {
            let mut outbox = outbox.clone();
            let publish = take_over_expired(&mut outbox, now, lease_until);
            Some(bounded(Plan {
                record: Record {
                    pipeline: pipeline.key(),
                    // Moving on from the old version (or the clock) keeps message ids unique.
                    version: version.map_or_else(|| first_version(now), |v| v + 1),
                    snapshot: Some(essentials(current)),
                    outbox,
                    executions: Vec::new(),
                    expires_at,
                    health: Health::default(),
                },
                expected: version.map_or(Expected::UnreadableVersion, Expected::Version),
                publish,
                evict: Vec::new(),
                changes: 0,
                rebaselined: true,
            }))
        }
        Loaded::Found(stored) => {
            let mut changes = facts.changes;
            let mut outbox = stored.outbox.clone();
            let mut publish = take_over_expired(&mut outbox, now, lease_until);
            // A quiet record is written again only when half its retention has gone, so a
            // watched pipeline's record never expires and quiet ticks still write nothing.
            let stale = facts.retention_s.is_some_and(|r| {
                stored
                    .expires_at
                    .is_none_or(|at| at < now_s.saturating_add(r / 2))
            });
            if changes.is_empty() && publish.is_empty() && !stale && stored.health.is_healthy() {
                return None;
            }
            let version = stored.version + 1;
            let executions = cached_executions(&stored.executions, facts.fresh, &changes);
            let snapshot = match &stored.snapshot {
                Some(previous) => next_snapshot(previous, current, &changes),
                // Read for the first time, after failed reads only: a silent baseline.
                None => essentials(current),
            };
            if stored.health.reported {
                changes.insert(
                    0,
                    Change::Access {
                        readable: true,
                        failed_checks: stored.health.failures,
                        since: Timestamp::from_unix_millis(stored.health.since),
                        error: None,
                    },
                );
            }
            let id_prefix = format!("{}/{version}", pipeline.key());
            for message in announce(pipeline, &changes, &executions, facts.console, &id_prefix) {
                outbox.push(Pending {
                    message: message.clone(),
                    lease_until,
                    claimed_at: now,
                    attempts: 0,
                });
                publish.push(message);
            }
            Some(bounded(Plan {
                record: Record {
                    pipeline: pipeline.key(),
                    version,
                    snapshot: Some(snapshot),
                    outbox,
                    executions,
                    expires_at,
                    health: Health::default(),
                },
                expected: Expected::Version(stored.version),
                publish,
                evict: Vec::new(),
                changes: changes.len(),
                rebaselined: false,
            }))
        }
    }
}

/// Decides what to write after a failed read: the streak counted (until it is
/// announced), the "cannot read" message claimed when it reaches `threshold`, and expired
/// messages taken over. `None`: nothing to write.
fn plan_unreadable(
    pipeline: &PipelineRef,
    loaded: &Loaded,
    reason: &str,
    threshold: u32,
    console: Option<&Console>,
    now: i64,
    lease_ms: i64,
) -> Option<Plan> {
    let lease_until = now.saturating_add(lease_ms);
    let (mut record, expected) = match loaded {
        // Its outbox is kept by the next successful read; nothing to count against.
        Loaded::Unreadable { .. } => return None,
        Loaded::Missing => (
            Record {
                pipeline: pipeline.key(),
                version: first_version(now),
                snapshot: None,
                outbox: Vec::new(),
                executions: Vec::new(),
                expires_at: None,
                health: Health::default(),
            },
            Expected::Absent,
        ),
        Loaded::Found(stored) => {
            let mut record = stored.clone();
            record.version += 1;
            (record, Expected::Version(stored.version))
        }
    };
    let mut publish = take_over_expired(&mut record.outbox, now, lease_until);
    let mut changes = 0;
    let health = &mut record.health;
    let counting = !health.reported;
    if counting {
        if health.failures == 0 {
            health.since = now;
        }
        health.failures = health.failures.saturating_add(1);
        reason.clone_into(&mut health.error);
        if health.failures >= threshold {
            health.reported = true;
            let change = Change::Access {
                readable: false,
                failed_checks: health.failures,
                since: Timestamp::from_unix_millis(health.since),
                error: Some(reason.to_owned()),
            };
            let id_prefix = format!("{}/{}", pipeline.key(), record.version);
            for message in announce(pipeline, &[change], &[], console, &id_prefix) {
                record.outbox.push(Pending {
                    message: message.clone(),
                    lease_until,
                    claimed_at: now,
                    attempts: 0,
                });
                publish.push(message);
                changes += 1;
            }
        }
    } else if publish.is_empty() {
        // Announced already: nothing in between.
        return None;
    }
    Some(bounded(Plan {
        record,
        expected,
        publish,
        evict: Vec::new(),
        changes,
        rebaselined: false,
    }))
}

/// The messages announcing `changes`, linked to the pipeline's own console.
fn announce(
    pipeline: &PipelineRef,
    changes: &[Change],
    executions: &[PipelineExecution],
    console: Option<&Console>,
    id_prefix: &str,
) -> Vec<Message> {
    // A pipeline elsewhere links to its own region's console and account.
    let elsewhere = pipeline
        .location
        .as_ref()
        .and_then(|l| Console::new(&l.region, Some(&l.account)));
    let context = Context {
        console: elsewhere.as_ref().or(console),
        executions,
    };
    messages(&pipeline.name, changes, &context, id_prefix)
}

/// `plan` with its outbox within [`MAX_OUTBOX_MESSAGES`] and [`MAX_OUTBOX_BYTES`]: the
/// oldest messages past the bound move to `evict` (and out of `publish`). The newest
/// message always stays, whatever its size.
fn bounded(mut plan: Plan) -> Plan {
    let sizes: Vec<usize> = plan
        .record
        .outbox
        .iter()
        .map(|p| serde_json::to_vec(p).map_or(0, |json| json.len()))
        .collect();
    let mut bytes: usize = sizes.iter().sum();
    let mut count = plan.record.outbox.len();
    let mut excess = 0;
    while count > 1 && (count > MAX_OUTBOX_MESSAGES || bytes > MAX_OUTBOX_BYTES) {
        bytes -= sizes[excess];
        count -= 1;
        excess += 1;
    }
    if excess == 0 {
        return plan;
    }
    let evicted: Vec<Pending> = plan.record.outbox.drain(..excess).collect();
    plan.publish
        .retain(|m| !evicted.iter().any(|p| p.message.id == m.id));
    plan.evict = evicted
        .iter()
        .map(|p| {
            DeadLetter::new(
                p,
                format!(
                    "the outbox passed its bound ({MAX_OUTBOX_MESSAGES} messages, {MAX_OUTBOX_BYTES} bytes) while the notifier refused them"
                ),
            )
        })
        .collect();
    plan
}

/// Leases every message whose lease has expired to this tick, and returns them.
fn take_over_expired(outbox: &mut [Pending], now: i64, lease_until: i64) -> Vec<Message> {
    outbox
        .iter_mut()
        .filter(|p| p.lease_until <= now)
        .map(|p| {
            p.lease_until = lease_until;
            p.message.clone()
        })
        .collect()
}

fn pending(loaded: &Loaded) -> usize {
    outbox_of(loaded).map_or(0, <[Pending]>::len)
}

fn outbox_of(loaded: &Loaded) -> Option<&[Pending]> {
    match loaded {
        Loaded::Found(record) => Some(&record.outbox),
        Loaded::Unreadable { outbox, .. } => Some(outbox),
        Loaded::Missing => None,
    }
}

/// When the oldest message of `outbox` with a known claim time was claimed.
fn oldest(outbox: &[Pending]) -> Option<i64> {
    outbox
        .iter()
        .map(|p| p.claimed_at)
        .filter(|&at| at > 0)
        .min()
}

fn min_some(a: Option<i64>, b: Option<i64>) -> Option<i64> {
    match (a, b) {
        (Some(a), Some(b)) => Some(a.min(b)),
        (a, b) => a.or(b),
    }
}

/// A new record starts at the clock in milliseconds rather than 1, so that a record deleted
/// and created again never reuses a version, and so never reuses a message id.
fn first_version(now: i64) -> u64 {
    u64::try_from(now).unwrap_or(1).max(1)
}

fn now_ms() -> i64 {
    crate::state::Timestamp::now().unix_millis()
}

fn elapsed_ms(started: Instant) -> u64 {
    u64::try_from(started.elapsed().as_millis()).unwrap_or(u64::MAX)
}

/// Groups the tick's failures for the invocation error: `a (why); b (why)`.
pub fn describe_failures(failed: &[FailedPipeline]) -> String {
    failed
        .iter()
        .map(|f| format!("{} ({})", f.pipeline, f.error))
        .collect::<Vec<_>>()
        .join("; ")
}

#[cfg(test)]
mod tests;
