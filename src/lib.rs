//! pipewatch watches AWS CodePipeline pipelines and tells people what changed, each change
//! exactly once. This crate is everything that talks to the outside world, on top of the
//! pure core ([`pipewatch_core`]: state, diff, recovery rules, claim rules, rendering,
//! replay), which imports no AWS crate and does no I/O.
//!
//! The modules by floor, each importing only from the floors above it in this list
//! (`tests/it/layering.rs` checks both the list and the rule):
//!
//! 1. [`ports`]: the narrow traits the tick, the Lambda and the forwarder are generic
//!    over, beside the types they speak (errors, a webhook's URL).
//! 2. [`select`]: which pipelines are watched: names, patterns, ARNs and tags, resolved
//!    over a [`ports::PipelineDirectory`].
//! 3. [`config`]: the functions' environment, parsed once into types.
//! 4. Adapters, each turning one outside service into a port: [`aws`] (CodePipeline,
//!    DynamoDB, SNS, SQS, STS, Secrets Manager, the Tagging API, and the SDK interceptor
//!    that counts every call), [`local`] (the CLI's folder and standard output),
//!    [`webhook`] (the forwarder's HTTPS posts), [`slack`] (the Slack app's Web API).
//! 5. [`tick`]: check every pipeline once: load, observe, recover, enrich, claim, publish,
//!    acknowledge. The only orchestration, where ordering and idempotency are decided.
//! 6. [`metrics`]: a tick's figures as CloudWatch EMF lines and `watch --stats`.
//!    [`redrive`]: dead letters back to the topic.
//! 7. Entry points: [`lambda`] (an event → the pipelines to check → the tick → its
//!    summary) and [`forward`] (SNS → the Slack and Teams webhooks and the Slack app).
//!    [`approve`]: a click on an approval's button in Slack, answered in time.
//!
//! The binaries in `src/bin/` and the command line (`crates/cli`) only wire these
//! together.

pub mod ports;

pub mod select;

pub mod config;

pub mod aws;
pub mod local;
pub mod slack;
pub mod webhook;

pub mod tick;

pub mod metrics;
pub mod redrive;

pub mod approve;
pub mod forward;
pub mod lambda;
