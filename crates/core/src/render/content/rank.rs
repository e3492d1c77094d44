//! How much a change matters: its [`Severity`], which subscription filters read, and its
//! importance, which picks the change a message leads with.

use serde::{Deserialize, Serialize};

use crate::change::{Approval, Change};
use crate::render::record::{ChangeRecord, Detail};
use crate::state::{KnownStatus, Status};

/// How urgent a message is: that of its most urgent change. Lets a subscription filter
/// policy say "only failures and approvals" (`{"severity": ["failure", "approval"]}`).
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, PartialOrd, Ord, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum Severity {
    /// Progress: something started or succeeded, a definition was edited.
    #[default]
    Info,
    /// Needs watching: a transition disabled, an execution queued, stopped (its actions
    /// abandoned), cancelled or rolled back.
    Warning,
    /// Needs a person: a manual approval is waiting.
    Approval,
    /// Something failed.
    Failure,
}

impl Severity {
    pub fn as_str(self) -> &'static str {
        match self {
            Self::Info => "info",
            Self::Warning => "warning",
            Self::Approval => "approval",
            Self::Failure => "failure",
        }
    }

    /// Parses the names [`Severity::as_str`] gives.
    pub fn parse(name: &str) -> Option<Self> {
        [Self::Info, Self::Warning, Self::Approval, Self::Failure]
            .into_iter()
            .find(|s| s.as_str() == name)
    }

    /// The severity of one change.
    pub fn of(change: &Change) -> Self {
        use KnownStatus::{Abandoned, Cancelled, Errored, Failed, Stopped, Stopping};
        let status = change.status().and_then(Status::known);
        if matches!(status, Some(Failed | Errored))
            || matches!(
                change,
                Change::Access {
                    readable: false,
                    ..
                }
            )
        {
            Self::Failure
        } else if matches!(
            change,
            Change::Action {
                approval: Some(Approval::Waiting),
                ..
            }
        ) {
            Self::Approval
        } else if matches!(status, Some(Stopped | Stopping | Cancelled | Abandoned))
            || matches!(
                (change, status),
                (Change::Execution { .. }, Some(KnownStatus::Superseded))
            )
            || is_rollback(change)
            || matches!(
                change,
                Change::Transition { enabled: false, .. }
                    | Change::Inbound {
                        status: Some(_),
                        previous_status: None,
                        ..
                    }
            )
        {
            Self::Warning
        } else {
            Self::Info
        }
    }
}

/// A severity as a body names it: a name this version does not know (a newer
/// pipewatch's) reads as needing attention, never as [`Severity::Info`].
pub(super) fn lenient_severity(name: Option<&str>) -> Severity {
    name.and_then(Severity::parse).unwrap_or(Severity::Warning)
}

/// [`lenient_severity`] for serde, on the body's severity fields.
pub(super) fn lenient<'de, D: serde::Deserializer<'de>>(
    deserializer: D,
) -> Result<Severity, D::Error> {
    let value = serde_json::Value::deserialize(deserializer)?;
    Ok(lenient_severity(value.as_str()))
}

/// The severity of a record written before records carried one.
pub(super) fn legacy_severity(record: &ChangeRecord) -> Severity {
    let approval_pending = matches!(
        record.detail,
        Detail::Action {
            approval_pending: true,
            ..
        }
    );
    match record.status.as_deref().map(|s| Status::new(s).known()) {
        Some(Some(KnownStatus::Failed | KnownStatus::Errored)) => Severity::Failure,
        _ if approval_pending => Severity::Approval,
        Some(Some(
            KnownStatus::Stopped
            | KnownStatus::Stopping
            | KnownStatus::Cancelled
            | KnownStatus::Abandoned,
        )) => Severity::Warning,
        _ => Severity::Info,
    }
}

/// Index of the change that matters most; ties keep the earliest (pipeline order).
pub(super) fn lead(changes: &[Change]) -> usize {
    changes
        .iter()
        .enumerate()
        .max_by_key(|(i, c)| (importance(c), std::cmp::Reverse(*i)))
        .map_or(0, |(i, _)| i)
}

/// Higher is more worth a subject line.
fn importance(change: &Change) -> u8 {
    let failed = change.status().and_then(Status::known).is_some_and(|s| {
        matches!(
            s,
            KnownStatus::Failed
                | KnownStatus::Errored
                | KnownStatus::Stopped
                | KnownStatus::Abandoned
        )
    });
    match change {
        // pipewatch blind to a pipeline outranks anything it saw.
        Change::Access {
            readable: false, ..
        } => 8,
        // A failed action names what broke; its stage's failure only says where.
        Change::Action { .. } if failed => 7,
        _ if failed => 6,
        Change::Action {
            approval: Some(Approval::Waiting),
            ..
        } => 5,
        Change::Transition { enabled: false, .. } => 4,
        Change::Inbound {
            status: Some(_),
            previous_status: None,
            ..
        } => 3,
        Change::PipelineVersion { .. } => 2,
        Change::Stage { .. } => 1,
        _ => 0,
    }
}

fn is_rollback(change: &Change) -> bool {
    matches!(change, Change::Stage { execution_type: Some(t), .. } if t == "ROLLBACK")
}
