//! What pipewatch keeps per pipeline between ticks: the last observation and the outbox.
//!
//! Both live in one record (one DynamoDB item) so that a single conditional write both
//! claims a set of changes (moves the snapshot forward) and records the messages that
//! announce them. See [`crate::tick`] for how the record is used.

use serde::{Deserialize, Serialize};

use crate::render::message::Message;
use crate::state::{PipelineExecution, PipelineState};

/// The layout of a stored record. A record of another schema is re-baselined.
///
/// Additions that older versions can ignore keep the number: schema 1 gained the
/// `executions` cache, and snapshots gained each run's start time and whether an approval
/// was waiting. A record written before them reads as one with an empty cache and no
/// known start times (`tests/records/` keeps one of each format ever written).
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
    /// The [`crate::diff::essentials`] of the last observation.
    pub snapshot: PipelineState,
    /// Claimed messages not yet accepted by the notifier, oldest first.
    pub outbox: Vec<Pending>,
    /// What `GetPipelineExecution` said of recent executions, so each is asked once,
    /// however many changes (and redeliveries) mention it. At most
    /// [`MAX_CACHED_EXECUTIONS`], most recently used last.
    pub executions: Vec<PipelineExecution>,
    /// When the record expires (epoch seconds, a DynamoDB TTL): pushed forward as it is
    /// written, so only a pipeline no longer watched lets it lapse. `None`: never.
    pub expires_at: Option<i64>,
}

/// A claimed message and the lease of the tick that is publishing it.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Pending {
    pub message: Message,
    /// Epoch milliseconds until which the tick that leased it may still be publishing it;
    /// after that, any tick may take it over. Zero means "not leased".
    pub lease_until: i64,
}

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
