//! Runs as the history APIs list them, for recovery ([`crate::recover`]): one action run
//! (`ListActionExecutions`) and one pipeline execution (`ListPipelineExecutions`), each
//! reduced to what a report of a run no observation saw needs.

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

/// A pipeline execution as `ListPipelineExecutions` summarises it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ExecutionSummary {
    pub pipeline_execution_id: String,
    /// `InProgress`, `Stopped`, `Stopping`, `Succeeded`, `Superseded`, `Failed`,
    /// `Cancelled`, as AWS spells it.
    pub status: Status,
    pub started_at: Option<Timestamp>,
    pub updated_at: Option<Timestamp>,
}
