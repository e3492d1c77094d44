//! The claim rules: given what the store held for a pipeline and what was observed, what
//! to write, under which condition, and what to publish once it is written. Pure, so every
//! rule is unit-tested without a service; the tick (in the `pipewatch` crate) carries the
//! plans out and decides again after a lost race.
//!
//! - A first sight, and the observation that replaces an unreadable record, are silent
//!   baselines.
//! - Changes are claimed together with their messages (the outbox) and the new snapshot,
//!   in one write conditional on the version read; the messages carry a lease.
//! - Messages whose lease expired are taken over (published again, with their ids).
//! - A quiet record is not written, unless half its retention has gone.
//! - A streak of failed reads is counted, announced once at its threshold, and once when
//!   it ends.
//! - An outbox past its bound sends its oldest messages to the dead letters first.
//! - A new record's version starts at the clock, so message ids never repeat.

use crate::change::Change;
use crate::diff::{diff, essentials, next_snapshot};
use crate::pipeline::PipelineRef;
use crate::record::{
    DeadLetter, Expected, Health, Loaded, MAX_CACHED_EXECUTIONS, MAX_OUTBOX_BYTES,
    MAX_OUTBOX_MESSAGES, Pending, Record,
};
use crate::render::console::Console;
use crate::render::content::Context;
use crate::render::message::{Message, messages};
use crate::state::{PipelineExecution, PipelineState, Timestamp};

/// A decided write: the record to store, under which condition, and what to publish
/// once it is stored.
#[derive(Debug)]
pub struct Plan {
    pub record: Record,
    pub expected: Expected,
    pub publish: Vec<Message>,
    /// Messages over the outbox's bound, for the dead-letter queue before the write.
    pub evict: Vec<DeadLetter>,
    pub changes: usize,
    pub rebaselined: bool,
}

/// The changes since the stored snapshot: none for a first sight or an unreadable record
/// (both are silent baselines).
pub fn changes_since(loaded: &Loaded, current: &PipelineState) -> Vec<Change> {
    match loaded {
        Loaded::Found(Record {
            snapshot: Some(snapshot),
            ..
        }) => diff(snapshot, current),
        Loaded::Found(_) | Loaded::Missing | Loaded::Unreadable { .. } => Vec::new(),
    }
}

/// The distinct pipeline executions `changes` mention, in order.
pub fn mentioned(changes: &[Change]) -> Vec<&str> {
    let mut ids: Vec<&str> = Vec::new();
    for id in changes.iter().filter_map(Change::pipeline_execution_id) {
        if !ids.contains(&id) {
            ids.push(id);
        }
    }
    ids
}

/// What [`plan`] decides from besides the stored record and the observation.
pub struct Facts<'a> {
    /// [`changes_since`] the stored snapshot.
    pub changes: Vec<Change>,
    /// Executions this check enriched, not yet in the record's cache.
    pub fresh: &'a [PipelineExecution],
    pub console: Option<&'a Console>,
    /// The records' retention in seconds, when they expire.
    pub retention_s: Option<i64>,
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
#[allow(clippy::too_many_lines)] // one arm per state of the record, each whole
pub fn plan(
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
            let seen = Seen {
                state: Some(current),
                starts: Some(&snapshot),
                revision: version,
            };
            for message in announce(
                pipeline,
                &changes,
                &executions,
                facts.console,
                seen,
                &id_prefix,
            ) {
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
pub fn plan_unreadable(
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
            let seen = Seen {
                state: None,
                starts: None,
                revision: record.version,
            };
            for message in announce(pipeline, &[change], &[], console, seen, &id_prefix) {
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

/// What the tick saw when it found the changes, for the executions' progress.
#[derive(Clone, Copy)]
struct Seen<'a> {
    state: Option<&'a PipelineState>,
    starts: Option<&'a PipelineState>,
    revision: u64,
}

/// The messages announcing `changes`, linked to the pipeline's own console.
fn announce(
    pipeline: &PipelineRef,
    changes: &[Change],
    executions: &[PipelineExecution],
    console: Option<&Console>,
    seen: Seen<'_>,
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
        state: seen.state,
        starts: seen.starts,
        revision: Some(seen.revision),
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

pub fn pending(loaded: &Loaded) -> usize {
    outbox_of(loaded).map_or(0, <[Pending]>::len)
}

pub fn outbox_of(loaded: &Loaded) -> Option<&[Pending]> {
    match loaded {
        Loaded::Found(record) => Some(&record.outbox),
        Loaded::Unreadable { outbox, .. } => Some(outbox),
        Loaded::Missing => None,
    }
}

/// When the oldest message of `outbox` with a known claim time was claimed.
pub fn oldest(outbox: &[Pending]) -> Option<i64> {
    outbox
        .iter()
        .map(|p| p.claimed_at)
        .filter(|&at| at > 0)
        .min()
}

/// A new record starts at the clock in milliseconds rather than 1, so that a record deleted
/// and created again never reuses a version, and so never reuses a message id.
pub fn first_version(now: i64) -> u64 {
    u64::try_from(now).unwrap_or(1).max(1)
}

#[cfg(test)]
mod tests;
