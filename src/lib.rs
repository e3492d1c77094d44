//! pipewatch watches AWS CodePipeline pipelines and tells people what changed.
//!
//! It polls `GetPipelineState`, compares each answer with the last one it kept, and
//! reports every change — including the ones CodePipeline's own notifications never
//! send: executions queued at a stage's inbound transition, and transitions disabled
//! or enabled.
//!
//! A pure core:
//!
//! - [`state`]: one observation of a pipeline, as plain serde data (no AWS types).
//! - [`diff`]: previous + current observation → the list of [`diff::Change`]s.
//! - [`render`]: changes → a terminal line, a flat JSON record, a notification message.
//! - [`replay`]: the `replay` command's core: changes across recorded observations.
//!
//! The tick and its edges:
//!
//! - [`tick`]: check every pipeline once — claim, publish, acknowledge. The one place where
//!   ordering and idempotency are decided.
//! - [`snapshot`]: what is stored per pipeline between ticks (snapshot + outbox).
//! - [`ports`]: the narrow traits the tick uses for CodePipeline, the store and the notifier.
//! - [`aws`]: the adapters the Lambda uses (CodePipeline, DynamoDB, SNS).
//! - [`local`]: the adapters the CLI uses (a folder of snapshots, standard output).
//! - [`lambda`]: the Lambda handler: event → tick → summary.
//! - [`forward`], [`webhook`]: the optional Slack forwarder: SNS → incoming webhook.
//! - [`config`]: environment → typed configuration, checked at cold start.
//! - [`error`]: error types that keep their causes.
//!
//! The binaries in `src/bin/` only wire these together.

pub mod aws;
pub mod config;
pub mod diff;
pub mod error;
pub mod forward;
pub mod glob;
pub mod lambda;
pub mod local;
pub mod metrics;
pub mod ports;
pub mod recover;
pub mod redrive;
pub mod render;
pub mod replay;
pub mod select;
pub mod snapshot;
pub mod state;
pub mod tick;
pub mod webhook;
