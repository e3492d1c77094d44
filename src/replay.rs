//! `replay`: run change detection over recorded observations of one pipeline.
//!
//! Every file is read and checked before anything is reported, so a bad file yields an
//! error and no partial output that a reader could mistake for the whole story.

use std::path::{Path, PathBuf};

use crate::diff::{Change, diff};
use crate::error::ReplayError;
use crate::state::PipelineState;

/// Consecutive observations of one pipeline, oldest first.
#[derive(Debug)]
pub struct Recording {
    pub pipeline: String,
    states: Vec<PipelineState>,
}

/// The changes found in one file against the file before it.
#[derive(Debug)]
pub struct Step {
    /// 1-based: the second file is step 1 (the first is the silent baseline).
    pub number: usize,
    pub changes: Vec<Change>,
}

impl Recording {
    /// Reads and parses every file; all must observe the same pipeline.
    pub fn load(paths: &[PathBuf]) -> Result<Self, ReplayError> {
        let mut states = Vec::with_capacity(paths.len());
        for path in paths {
            let state = read(path)?;
            if let Some(first) = states.first().map(|s: &PipelineState| &s.pipeline_name)
                && *first != state.pipeline_name
            {
                return Err(ReplayError::MixedPipelines {
                    path: path.clone(),
                    found: state.pipeline_name,
                    expected: first.clone(),
                });
            }
            states.push(state);
        }
        let pipeline = states
            .first()
            .map(|s| s.pipeline_name.clone())
            .unwrap_or_default();
        Ok(Self { pipeline, states })
    }

    /// The first observation is the baseline; each later one is diffed with its predecessor.
    pub fn steps(&self) -> impl Iterator<Item = Step> + '_ {
        self.states.windows(2).enumerate().map(|(i, pair)| Step {
            number: i + 1,
            changes: diff(&pair[0], &pair[1]),
        })
    }
}

fn read(path: &Path) -> Result<PipelineState, ReplayError> {
    let bytes = std::fs::read(path).map_err(|source| ReplayError::Read {
        path: path.to_owned(),
        source,
    })?;
    PipelineState::from_json(&bytes).map_err(|source| ReplayError::Parse {
        path: path.to_owned(),
        source,
    })
}
