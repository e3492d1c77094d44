//! Error types, each keeping its cause as `source` so callers can print the whole chain.
//!
//! Display strings name only their own layer ("events/x.json", "not a GetPipelineState
//! response"); [`chain`] joins a layer with its causes into the one-line message users see.

use std::error::Error;
use std::path::PathBuf;

/// Why a document is not a usable `GetPipelineState` response.
#[derive(Debug, thiserror::Error)]
pub enum ParseError {
    #[error("the file is empty")]
    Empty,
    #[error("not a GetPipelineState response: expected a JSON object, found an array")]
    NotAnObject,
    #[error("not a GetPipelineState response")]
    Json(#[source] serde_json::Error),
    #[error("not a GetPipelineExecution response")]
    Execution(#[source] serde_json::Error),
    #[error("pipelineName is empty")]
    EmptyPipelineName,
    #[error("stage `{0}` appears more than once")]
    DuplicateStage(String),
    #[error("action `{action}` appears more than once in stage `{stage}`")]
    DuplicateAction { stage: String, action: String },
}

/// Why `replay` could not run over its files.
#[derive(Debug, thiserror::Error)]
pub enum ReplayError {
    #[error("{}", path.display())]
    Read {
        path: PathBuf,
        #[source]
        source: std::io::Error,
    },
    #[error("{}", path.display())]
    Parse {
        path: PathBuf,
        #[source]
        source: ParseError,
    },
    #[error(
        "{}: an observation of pipeline `{found}`, but the files before it observe `{expected}`",
        path.display()
    )]
    MixedPipelines {
        path: PathBuf,
        found: String,
        expected: String,
    },
}

/// An error and all its causes on one line: `outer: cause: root cause`.
pub fn chain(error: &dyn Error) -> String {
    let mut message = error.to_string();
    let mut source = error.source();
    while let Some(cause) = source {
        message.push_str(": ");
        message.push_str(&cause.to_string());
        source = cause.source();
    }
    message
}

/// A cause from an adapter, kept opaque so the core never names an SDK type.
pub type BoxError = Box<dyn Error + Send + Sync>;

/// Why a pipeline (or one of its executions) could not be read. `operation` names the
/// call: `GetPipelineState` or `GetPipelineExecution`.
#[derive(Debug, thiserror::Error)]
pub enum SourceError {
    #[error("the pipeline does not exist")]
    PipelineNotFound(#[source] BoxError),
    #[error("the pipeline execution does not exist")]
    ExecutionNotFound(#[source] BoxError),
    #[error("{operation} failed")]
    Api {
        operation: &'static str,
        #[source]
        source: BoxError,
    },
    #[error("{operation} returned an unusable answer")]
    Invalid {
        operation: &'static str,
        #[source]
        source: BoxError,
    },
}

/// A snapshot store operation that failed (not a lost race: that is `Saved::Conflict`).
#[derive(Debug, thiserror::Error)]
#[error("{operation} failed")]
pub struct StoreError {
    pub operation: &'static str,
    #[source]
    pub source: BoxError,
}

/// A message the notifier did not accept.
#[derive(Debug, thiserror::Error)]
#[error("publishing message {id} failed{}", if *.permanent { " for good" } else { "" })]
pub struct NotifyError {
    pub id: String,
    /// The notifier will never take this message as it is (a sender fault: an invalid
    /// parameter, the topic's key disabled): it is dead-lettered at once, not retried.
    pub permanent: bool,
    #[source]
    pub source: BoxError,
}

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
