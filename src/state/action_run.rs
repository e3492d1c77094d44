//! One action run as `ListActionExecutions` lists it: what recovery needs to report a run
//! that started and ended between two observations ([`crate::recover`]).

use super::{ErrorDetails, Status, Timestamp};

/// An action's run in a pipeline execution, finished or not.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ActionRun {
    pub pipeline_execution_id: String,
    pub action_execution_id: String,
    pub stage: String,
    pub action: String,
    /// `InProgress`, `Abandoned`, `Succeeded` or `Failed`, as AWS spells it.
    pub status: Status,
    pub started_at: Option<Timestamp>,
    pub updated_at: Option<Timestamp>,
    pub updated_by: Option<String>,
    pub summary: Option<String>,
    pub external_url: Option<String>,
    pub error: Option<ErrorDetails>,
}
