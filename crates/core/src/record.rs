//! What pipewatch keeps per pipeline between ticks: the last observation and the outbox.
//!
//! Both live in one record (one DynamoDB item) so that a single conditional write both
//! claims a set of changes (moves the snapshot forward) and records the messages that
//! announce them. See [`crate::plan`] for the rules that write it.

use serde::{Deserialize, Serialize};

use crate::render::message::Message;
use crate::state::{PipelineExecution, PipelineState};

/// The layout of a stored record. A record of another schema is re-baselined.
///
/// Additions that older versions can ignore keep the number: schema 1 gained the
/// `executions` cache, and snapshots gained each run's start time and whether an approval
/// was waiting; then outbox messages gained their claim time and attempts, and records
/// their failed-read streak (`health`, and no `snapshot` until a read succeeds). A record
/// written before them reads as one with an empty cache, no known start times, messages
/// never attempted, and a healthy pipeline (`tests/records/` keeps one of each format
/// ever written).
pub const SCHEMA_VERSION: u32 = 1;

/// How many executions' commits and triggers a record remembers, most recently used last.
pub const MAX_CACHED_EXECUTIONS: usize = 20;

/// One pipeline's stored state.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Record {
    pub pipeline: String,
    /// Optimistic lock: every write is conditional on the version read, and increments it.
    /// Also the middle part of message ids, so it must never repeat for a pipeline.
    pub version: u64,
    /// The [`crate::diff::essentials`] of the last observation; `None` for a pipeline
    /// never read yet (only its failed reads are recorded).
    pub snapshot: Option<PipelineState>,
    /// Claimed messages not yet accepted by the notifier, oldest first.
    pub outbox: Vec<Pending>,
    /// What `GetPipelineExecution` said of recent executions, so each is asked once,
    /// however many changes (and redeliveries) mention it. At most
    /// [`MAX_CACHED_EXECUTIONS`], most recently used last.
    pub executions: Vec<PipelineExecution>,
    /// When the record expires (epoch seconds, a DynamoDB TTL): pushed forward as it is
    /// written, so only a pipeline no longer watched lets it lapse. `None`: never.
    pub expires_at: Option<i64>,
    /// The current streak of checks that could not read the pipeline.
    pub health: Health,
}

/// Consecutive checks that could not read a pipeline (`GetPipelineState` failed), and
/// whether that was announced: one "cannot read" message once the streak reaches the
/// threshold, one "reading again" when it ends, nothing in between.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct Health {
    /// Failed checks in a row; 0 when the last check read the pipeline.
    pub failures: u32,
    /// When the streak's first failure happened (epoch milliseconds).
    #[serde(default)]
    pub since: i64,
    /// The last failure's reason, one line.
    #[serde(default)]
    pub error: String,
    /// Whether the "cannot read" message was claimed for this streak.
    #[serde(default)]
    pub reported: bool,
}

impl Health {
    pub fn is_healthy(&self) -> bool {
        self.failures == 0 && !self.reported
    }
}

/// A claimed message and the lease of the tick that is publishing it.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Pending {
    pub message: Message,
    /// Epoch milliseconds until which the tick that leased it may still be publishing it;
    /// after that, any tick may take it over. Zero means "not leased".
    pub lease_until: i64,
    /// Epoch milliseconds when the message was claimed; 0 in records written before 0.2
    /// (unknown).
    #[serde(default)]
    pub claimed_at: i64,
    /// Publishes the notifier refused so far; at [`MAX_PUBLISH_ATTEMPTS`] (or at a
    /// permanent refusal) the message is dead-lettered.
    #[serde(default)]
    pub attempts: u32,
}

/// A message leaving the outbox without being published, and why: it goes to the
/// dead-letter queue intact (id, subject, body, attributes) to be redriven later.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct DeadLetter {
    pub message: Message,
    pub reason: String,
    pub attempts: u32,
    /// When it was claimed (epoch milliseconds; 0: unknown).
    pub claimed_at: i64,
}

impl DeadLetter {
    pub fn new(pending: &Pending, reason: impl Into<String>) -> Self {
        Self {
            message: pending.message.clone(),
            reason: reason.into(),
            attempts: pending.attempts,
            claimed_at: pending.claimed_at,
        }
    }
}

/// How many refused publishes a message gets before it is dead-lettered, unless configured.
pub const MAX_PUBLISH_ATTEMPTS: u32 = 10;

/// An outbox holds at most this many messages; past it the oldest are dead-lettered.
pub const MAX_OUTBOX_MESSAGES: usize = 100;

/// ... and at most this many bytes of messages as JSON. Deflating never makes data much
/// larger, so with the snapshot (under 100 KB deflated for CodePipeline's largest pipeline)
/// an item stays well under the 350 KB budget whatever the outbox holds.
pub const MAX_OUTBOX_BYTES: usize = 200_000;

/// What a store found for a pipeline.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Loaded {
    /// Never seen: the next observation is a silent baseline.
    Missing,
    Found(Record),
    /// An item exists but cannot be used as it is (corrupt, truncated, unknown schema).
    /// Whatever could be read is kept: the version (to write conditionally, and so message
    /// ids never repeat) and the outbox (so pending messages are not lost).
    Unreadable {
        version: Option<u64>,
        outbox: Vec<Pending>,
        reason: String,
    },
}

/// The condition a write is made under.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Expected {
    /// No record exists yet.
    Absent,
    /// The record is still at this version.
    Version(u64),
    /// The record is still unreadable with no usable version.
    UnreadableVersion,
}

/// The result of a conditional write.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Saved {
    Written,
    /// Another writer got there first: reload and decide again.
    Conflict,
}
