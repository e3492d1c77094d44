//! The core's errors, each keeping its cause as `source` so callers can print the whole
//! chain.
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
