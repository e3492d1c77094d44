//! pipewatch's pure core: what a pipeline's state is, what changed, how it is worded in
//! every channel, and what the tick stores and decides. No AWS crate, no async runtime,
//! no network: this crate's `Cargo.toml` has none of them, so the compiler holds it to
//! that. It reads files only for `replay`. The `pipewatch` crate adds the adapters, the
//! tick's orchestration, the Lambda and the forwarder; `pipewatch-cli` the command line.
//!
//! The modules by floor, each importing only from the floors above it in this list
//! (`tests/it/layering.rs` checks both the list and the rule):
//!
//! 1. [`glob`]: shell-style name patterns. [`error`]: the core's errors.
//! 2. [`pipeline`]: a pipeline's identity and its record key. [`state`]: one
//!    `GetPipelineState` observation (and the history APIs' runs) as plain serde data.
//! 3. [`change`]: one thing that happened to a pipeline. [`interaction`]: a click on an
//!    approval's button in Slack, verified, read, authorized, and what it may still do.
//! 4. [`diff`]: two observations → changes; what a snapshot keeps. [`recover`]: the runs
//!    and executions no observation saw, from the history APIs' answers.
//! 5. [`render`]: changes → words, the content model, and every channel's rendering.
//! 6. [`record`]: what is stored per pipeline (snapshot, outbox, health). [`living`]: the
//!    rules that keep one living Slack message per execution and channel. [`config`]:
//!    the notifications document — who gets what — read and checked.
//! 7. [`plan`]: the claim rules: what to write and publish after an observation.
//! 8. [`replay`]: the `replay` command: changes and messages across recorded observations.

pub mod change;
pub mod config;
pub mod diff;
pub mod error;
pub mod glob;
pub mod interaction;
pub mod living;
pub mod pipeline;
pub mod plan;
pub mod record;
pub mod recover;
pub mod render;
pub mod replay;
pub mod state;
