//! pipewatch watches AWS CodePipeline pipelines and tells people what changed.
//!
//! It polls `GetPipelineState`, compares each answer with the last one it kept, and
//! reports every change — including the ones CodePipeline's own notifications never
//! send: executions queued at a stage's inbound transition, and transitions disabled
//! or enabled.
//!
//! The crate is a pure core with thin edges:
//!
//! - [`state`]: one observation of a pipeline, as plain serde data (no AWS types).
//! - [`diff`]: previous + current observation → the list of [`diff::Change`]s.
//! - [`render`]: changes → a terminal line, or a flat JSON record.
//! - [`replay`]: the `replay` command's core: changes across recorded observations.
//! - [`error`]: error types that keep their causes.
//!
//! The binaries in `src/bin/` only parse arguments and wire these together.

pub mod diff;
pub mod error;
pub mod render;
pub mod replay;
pub mod state;
