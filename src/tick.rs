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
//! 2. **Enrich.** For the pipeline executions the changes mention, `GetPipelineExecution`
//!    tells which commits they run and what started them. Each execution is asked once: the
//!    answer is cached in the record, so later changes of the same execution, a lost race
//!    and redeliveries call nothing. Enrichment happens *before* the claim, so the claimed
//!    messages are final and every redelivery is byte-identical. A failed enrichment
//!    (throttled, denied, not found) is logged and counted, and the message goes out
//!    without the commit: it never delays or loses a notification.
//! 3. **Claim.** The changes, their rendered messages (the outbox) and the new snapshot are
//!    written in one conditional write on the record's version. Only the tick that wins the
//!    write announces those changes; a tick that loses reloads, observes again and
//!    re-diffs. Every loss means another tick made progress, so with N overlapping ticks a
//!    tick wins within N attempts; [`MAX_CLAIM_ATTEMPTS`] bounds the loop.
//! 4. **Publish under a lease.** Claimed messages carry a lease (`now + lease`). The claiming
//!    tick publishes them; any later tick takes over a message whose lease has expired
//!    (its publisher crashed or timed out) and publishes it again, with the same id. A
//!    message under a live lease is left alone, so a tick still publishing is not doubled.
//! 5. **Acknowledge.** Messages the notifier accepted are removed from the outbox; failed
//!    ones have their lease released so the next tick retries them at once.
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
use crate::error::{PipelineError, StoreError, chain};
use crate::ports::{Notifier, PipelineSource, SnapshotStore};
use crate::render::content::{Console, Context};
use crate::render::message::{Message, messages};
use crate::select::PipelineRef;
use crate::snapshot::{Expected, Loaded, MAX_CACHED_EXECUTIONS, Pending, Record, Saved};
use crate::state::{PipelineExecution, PipelineState};

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
}

/// The tick's three outside services and its settings.
pub struct Watcher<P, S, N> {
    pub source: P,
    pub store: S,
    pub notifier: N,
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
}

/// A pipeline the tick could not check, and why (the whole cause chain, one line).
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct FailedPipeline {
    pub pipeline: String,
    pub error: String,
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
    /// Pipelines not started because the invocation's deadline was near: the last ones of
    /// the tick's order, which the next tick starts with. Not failures.
    pub skipped: usize,
    /// Shards of the selection sent to the shard queue instead of being checked here.
    pub shards_sent: usize,
    pub errors: usize,
    pub failed: Vec<FailedPipeline>,
    pub duration_ms: u64,
}

impl<P: PipelineSource, S: SnapshotStore, N: Notifier> Watcher<P, S, N> {
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
                let result = if near {
                    None
                } else {
                    Some(self.check_pipeline(&pipeline, loaded).await)
                };
                (pipeline, result)
            }
        });
        let results: Vec<_> = futures_util::stream::iter(checks)
            .buffer_unordered(self.settings.max_concurrency.max(1))
            .collect()
            .await;
        for (pipeline, result) in results {
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
                }
                Some(Err(error)) => summary.failed.push(FailedPipeline {
                    pipeline: pipeline.key(),
                    error: chain(&error),
                }),
            }
        }
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
        for _ in 0..MAX_CLAIM_ATTEMPTS {
            let current = self.source.get_state(pipeline).await?;
            let changes = changes_since(&loaded, &current);
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
                return Ok(report);
            };
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

    /// Publishes what `plan` leased, then acknowledges the outcome in the store.
    async fn publish(
        &self,
        pipeline: &PipelineRef,
        plan: Plan,
        mut report: PipelineReport,
    ) -> Result<PipelineReport, PipelineError> {
        if plan.publish.is_empty() {
            report.pending = plan.record.outbox.len();
            return Ok(report);
        }
        let outcomes = self.notifier.publish(&plan.publish).await;
        let mut accepted = HashSet::new();
        let mut failed = Vec::new();
        for (message, outcome) in plan.publish.iter().zip(outcomes) {
            match outcome {
                Ok(()) => {
                    accepted.insert(message.id.clone());
                }
                Err(error) => failed.push(error),
            }
        }
        report.published = accepted.len();
        let failed_ids: HashSet<String> = failed.iter().map(|e| e.id.clone()).collect();
        let (left, writes) = self
            .acknowledge(&pipeline.key(), plan.record, &accepted, &failed_ids)
            .await?;
        report.pending = left;
        report.writes += writes;
        match failed.into_iter().next() {
            None => Ok(report),
            Some(first) => Err(PipelineError::Publish {
                failed: failed_ids.len(),
                first,
            }),
        }
    }

    /// Removes accepted messages from the outbox and releases the lease of failed ones,
    /// retrying on lost races (other ticks may append to the outbox meanwhile). Returns the
    /// outbox size after, and the writes made.
    async fn acknowledge(
        &self,
        pipeline: &str,
        mut record: Record,
        accepted: &HashSet<String>,
        failed: &HashSet<String>,
    ) -> Result<(usize, usize), StoreError> {
        for _ in 0..MAX_CLAIM_ATTEMPTS {
            let mut next = record.clone();
            next.outbox.retain(|p| !accepted.contains(&p.message.id));
            for pending in &mut next.outbox {
                if failed.contains(&pending.message.id) {
                    pending.lease_until = 0;
                }
            }
            if next.outbox == record.outbox {
                return Ok((next.outbox.len(), 0));
            }
            next.version = record.version + 1;
            match self
                .store
                .save(&next, Expected::Version(record.version))
                .await?
            {
                Saved::Written => return Ok((next.outbox.len(), 1)),
                Saved::Conflict => match self.store.load(pipeline).await? {
                    Loaded::Found(latest) => record = latest,
                    // Replaced by an unreadable or missing item: nothing left to acknowledge.
                    Loaded::Missing | Loaded::Unreadable { .. } => return Ok((0, 0)),
                },
            }
        }
        Err(StoreError {
            operation: "acknowledging published messages",
            source: format!("the record changed {MAX_CLAIM_ATTEMPTS} times in a row").into(),
        })
    }
}

/// A decided write: the record to store, under which condition, and what to publish
/// once it is stored.
#[derive(Debug)]
struct Plan {
    record: Record,
    expected: Expected,
    publish: Vec<Message>,
    changes: usize,
    rebaselined: bool,
}

/// The changes since the stored snapshot: none for a first sight or an unreadable record
/// (both are silent baselines).
fn changes_since(loaded: &Loaded, current: &PipelineState) -> Vec<Change> {
    match loaded {
        Loaded::Found(stored) => diff(&stored.snapshot, current),
        Loaded::Missing | Loaded::Unreadable { .. } => Vec::new(),
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
                snapshot: essentials(current),
                outbox: Vec::new(),
                executions: Vec::new(),
                expires_at,
            },
            expected: Expected::Absent,
            publish: Vec::new(),
            changes: 0,
            rebaselined: false,
        }),
        Loaded::Unreadable {
            version, outbox, ..
        } => {
            let mut outbox = outbox.clone();
            let publish = take_over_expired(&mut outbox, now, lease_until);
            Some(Plan {
                record: Record {
                    pipeline: pipeline.key(),
                    // Moving on from the old version (or the clock) keeps message ids unique.
                    version: version.map_or_else(|| first_version(now), |v| v + 1),
                    snapshot: essentials(current),
                    outbox,
                    executions: Vec::new(),
                    expires_at,
                },
                expected: version.map_or(Expected::UnreadableVersion, Expected::Version),
                publish,
                changes: 0,
                rebaselined: true,
            })
        }
        Loaded::Found(stored) => {
            let changes = facts.changes;
            let mut outbox = stored.outbox.clone();
            let mut publish = take_over_expired(&mut outbox, now, lease_until);
            // A quiet record is written again only when half its retention has gone, so a
            // watched pipeline's record never expires and quiet ticks still write nothing.
            let stale = facts.retention_s.is_some_and(|r| {
                stored
                    .expires_at
                    .is_none_or(|at| at < now_s.saturating_add(r / 2))
            });
            if changes.is_empty() && publish.is_empty() && !stale {
                return None;
            }
            let version = stored.version + 1;
            let executions = cached_executions(&stored.executions, facts.fresh, &changes);
            // A pipeline elsewhere links to its own region's console and account.
            let elsewhere = pipeline
                .location
                .as_ref()
                .and_then(|l| Console::new(&l.region, Some(&l.account)));
            let context = Context {
                console: elsewhere.as_ref().or(facts.console),
                executions: &executions,
            };
            let id_prefix = format!("{}/{version}", pipeline.key());
            for message in messages(&pipeline.name, &changes, &context, &id_prefix) {
                outbox.push(Pending {
                    message: message.clone(),
                    lease_until,
                });
                publish.push(message);
            }
            Some(Plan {
                record: Record {
                    pipeline: pipeline.key(),
                    version,
                    snapshot: next_snapshot(&stored.snapshot, current, &changes),
                    outbox,
                    executions,
                    expires_at,
                },
                expected: Expected::Version(stored.version),
                publish,
                changes: changes.len(),
                rebaselined: false,
            })
        }
    }
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
    match loaded {
        Loaded::Found(record) => record.outbox.len(),
        Loaded::Unreadable { outbox, .. } => outbox.len(),
        Loaded::Missing => 0,
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
