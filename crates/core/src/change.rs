//! What a change is: one thing that happened to a pipeline between two observations,
//! found by [`crate::diff`] or [`crate::recover`], or decided by the claim rules
//! ([`crate::plan`]). Every message, record and line is made from these.

use crate::state::{ErrorDetails, RetryStageMetadata, Status, Timestamp};

/// One thing that happened to a pipeline between two observations.
// An action change carries the most; a tick holds a handful of changes, so boxing it
// would buy nothing but noise.
#[allow(clippy::large_enum_variant)]
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Change {
    /// pipewatch itself could not read the pipeline for `failed_checks` checks in a row
    /// since `since` (`readable: false`, with the last `error`), or reads it again after
    /// such a streak (`readable: true`). Not found by [`crate::diff`]: the claim rules
    /// decide these, from the record's [`crate::record::Health`].
    Access {
        readable: bool,
        failed_checks: u32,
        since: Option<Timestamp>,
        error: Option<String>,
    },
    /// A whole pipeline execution that started and ended (failed, was superseded or
    /// stopped) between two observations, which no observation showed. Not found by
    /// [`crate::diff`]: recovery finds it in `ListPipelineExecutions` ([`crate::recover`]).
    Execution {
        execution_id: String,
        status: Status,
        started_at: Option<Timestamp>,
        finished_at: Option<Timestamp>,
    },
    /// The pipeline's definition was edited.
    PipelineVersion {
        version: Option<i64>,
        previous_version: Option<i64>,
    },
    /// A stage's inbound transition was disabled or enabled again.
    Transition {
        stage: String,
        enabled: bool,
        changed_by: Option<String>,
        reason: Option<String>,
        changed_at: Option<Timestamp>,
    },
    /// An execution waiting at a stage's inbound transition: arrived (`previous_status` is
    /// `None`), changed status, or left (`status` is `None`).
    Inbound {
        stage: String,
        execution_id: String,
        status: Option<Status>,
        previous_status: Option<Status>,
    },
    /// A stage's latest execution started, finished, or was replaced by another.
    Stage {
        stage: String,
        execution_id: String,
        status: Status,
        previous_status: Option<Status>,
        /// Differs from `execution_id` when a new execution replaced the one seen before.
        previous_execution_id: Option<String>,
        /// `STANDARD` or `ROLLBACK`.
        execution_type: Option<String>,
        /// The stage was run again after a failure (V2): how, and which attempt.
        retry: Option<StageRetry>,
    },
    /// A V2 condition set (gate) of a stage was evaluated.
    Condition {
        stage: String,
        condition: ConditionKind,
        status: Status,
        previous_status: Option<Status>,
        summary: Option<String>,
        /// The pipeline execution the stage is running, if any.
        pipeline_execution_id: Option<String>,
    },
    /// An action's latest execution started, finished, or was replaced by another.
    Action {
        stage: String,
        action: String,
        execution_id: Option<String>,
        status: Option<Status>,
        previous_status: Option<Status>,
        /// Differs from `execution_id` when this is a new run of the action.
        previous_execution_id: Option<String>,
        /// The action's own words, e.g. a failure reason or an approval comment.
        summary: Option<String>,
        error: Option<ErrorDetails>,
        /// The run's own page (a `CodeBuild` log, a deployment), as the provider gave it.
        external_url: Option<String>,
        /// The action's resource (a `CodeBuild` project, a repository).
        entity_url: Option<String>,
        last_updated_by: Option<String>,
        /// Where a manual approval stands, when this change is one (see [`Approval`]).
        approval: Option<Approval>,
        /// When this run started: known only if some observation saw it `InProgress`.
        started_at: Option<Timestamp>,
        /// When this run ended (its `lastStatusChange`), once its status is final.
        finished_at: Option<Timestamp>,
        /// The pipeline execution the stage is running, which this run belongs to.
        pipeline_execution_id: Option<String>,
        /// Found by recovery ([`crate::recover`]): a run that started and ended, or ended,
        /// between two observations, which no diff saw.
        recovered: bool,
    },
}

/// A manual approval's step. GetPipelineState does not say which actions are approvals;
/// an action is one while AWS sends its token, and a decision is recognised as the end of
/// a run that was seen waiting.
#[derive(Debug, Clone, Copy, PartialEq, Eq, serde::Serialize, serde::Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum Approval {
    /// Waiting for someone to approve or reject (AWS sent a token; we never keep it).
    Waiting,
    Approved,
    Rejected,
}

/// A stage run again after a failure in the same execution (V2's
/// `retryStageMetadata`): by its retry policy, or by a person, and which attempt.
#[derive(Debug, Clone, Copy, PartialEq, Eq, serde::Serialize, serde::Deserialize)]
pub struct StageRetry {
    pub automatic: bool,
    pub attempt: i64,
}

impl StageRetry {
    /// The latest retry `metadata` tells: its trigger says which count is meant (the
    /// other may be left from an earlier retry); without a trigger, a person's retry
    /// before an automatic one. `None` when no attempt is counted.
    pub fn of(metadata: &RetryStageMetadata) -> Option<Self> {
        let manual = metadata.manual_stage_retry_attempt.filter(|n| *n > 0);
        let automatic = metadata.auto_stage_retry_attempt.filter(|n| *n > 0);
        let (is_automatic, attempt) = match metadata.latest_retry_trigger.as_deref() {
            Some("AutomatedStageRetry") => (true, automatic?),
            Some("ManualStageRetry") => (false, manual?),
            _ => manual.map_or_else(|| automatic.map(|n| (true, n)), |n| Some((false, n)))?,
        };
        Some(Self {
            automatic: is_automatic,
            attempt,
        })
    }
}

/// Which of a V2 stage's condition sets a [`Change::Condition`] is about.
#[derive(Debug, Clone, Copy, PartialEq, Eq, serde::Serialize, serde::Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum ConditionKind {
    BeforeEntry,
    OnSuccess,
    OnFailure,
}

/// The `kind` of a change, as the `replay` contract and message attributes spell it.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord, serde::Serialize)]
#[serde(rename_all = "snake_case")]
pub enum ChangeKind {
    Action,
    Inbound,
    Stage,
    Transition,
    PipelineVersion,
    Condition,
    Access,
    Execution,
}

impl ConditionKind {
    pub fn as_str(self) -> &'static str {
        match self {
            Self::BeforeEntry => "before_entry",
            Self::OnSuccess => "on_success",
            Self::OnFailure => "on_failure",
        }
    }
}

impl ChangeKind {
    pub fn as_str(self) -> &'static str {
        match self {
            Self::Action => "action",
            Self::Inbound => "inbound",
            Self::Stage => "stage",
            Self::Transition => "transition",
            Self::PipelineVersion => "pipeline_version",
            Self::Condition => "condition",
            Self::Access => "access",
            Self::Execution => "execution",
        }
    }
}

impl Change {
    pub fn kind(&self) -> ChangeKind {
        match self {
            Self::PipelineVersion { .. } => ChangeKind::PipelineVersion,
            Self::Transition { .. } => ChangeKind::Transition,
            Self::Inbound { .. } => ChangeKind::Inbound,
            Self::Stage { .. } => ChangeKind::Stage,
            Self::Condition { .. } => ChangeKind::Condition,
            Self::Action { .. } => ChangeKind::Action,
            Self::Access { .. } => ChangeKind::Access,
            Self::Execution { .. } => ChangeKind::Execution,
        }
    }

    /// The stage the change happened in; `None` for a pipeline edit or access.
    pub fn stage(&self) -> Option<&str> {
        match self {
            Self::PipelineVersion { .. } | Self::Access { .. } | Self::Execution { .. } => None,
            Self::Transition { stage, .. }
            | Self::Inbound { stage, .. }
            | Self::Stage { stage, .. }
            | Self::Condition { stage, .. }
            | Self::Action { stage, .. } => Some(stage),
        }
    }

    /// Whether this is the same execution as before with a new status, rather than a
    /// new execution (a first run, a retry, the next release).
    pub fn same_execution(&self) -> bool {
        match self {
            Self::Stage {
                execution_id,
                previous_execution_id,
                ..
            } => previous_execution_id.as_ref() == Some(execution_id),
            Self::Action {
                execution_id,
                previous_execution_id,
                ..
            } => execution_id.is_some() && previous_execution_id == execution_id,
            _ => true,
        }
    }

    /// How long the run took, when both ends are known (never guessed).
    pub fn duration(&self) -> Option<std::time::Duration> {
        let (Self::Action {
            started_at: Some(started),
            finished_at: Some(finished),
            ..
        }
        | Self::Execution {
            started_at: Some(started),
            finished_at: Some(finished),
            ..
        }) = self
        else {
            return None;
        };
        let millis = finished.unix_millis().checked_sub(started.unix_millis())?;
        u64::try_from(millis)
            .ok()
            .map(std::time::Duration::from_millis)
    }

    /// The pipeline execution this change is about or belongs to, if any.
    pub fn pipeline_execution_id(&self) -> Option<&str> {
        match self {
            Self::PipelineVersion { .. } | Self::Transition { .. } | Self::Access { .. } => None,
            Self::Inbound { execution_id, .. }
            | Self::Stage { execution_id, .. }
            | Self::Execution { execution_id, .. } => Some(execution_id),
            Self::Condition {
                pipeline_execution_id,
                ..
            }
            | Self::Action {
                pipeline_execution_id,
                ..
            } => pipeline_execution_id.as_deref(),
        }
    }

    /// The new status, exactly as AWS spells it.
    pub fn status(&self) -> Option<&Status> {
        match self {
            Self::PipelineVersion { .. } | Self::Transition { .. } | Self::Access { .. } => None,
            Self::Stage { status, .. }
            | Self::Condition { status, .. }
            | Self::Execution { status, .. } => Some(status),
            Self::Inbound { status, .. } | Self::Action { status, .. } => status.as_ref(),
        }
    }

    pub fn previous_status(&self) -> Option<&Status> {
        match self {
            Self::PipelineVersion { .. }
            | Self::Transition { .. }
            | Self::Access { .. }
            | Self::Execution { .. } => None,
            Self::Inbound {
                previous_status, ..
            }
            | Self::Stage {
                previous_status, ..
            }
            | Self::Condition {
                previous_status, ..
            }
            | Self::Action {
                previous_status, ..
            } => previous_status.as_ref(),
        }
    }
}
