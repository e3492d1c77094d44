//! The shared harness of pipewatch's integration tests (the root crate's `tests/it` and the
//! CLI's `tests/cli`): the local emulators `scripts/test.sh` starts, the wire-level fakes
//! the real SDK clients talk to, fault proxies, the Lambda runtime, and the recorded
//! scenarios. Nothing here is a mock: every fake speaks the service's wire protocol.
//!
//! - [`services`]: DynamoDB Local and moto, found through `AWS_ENDPOINT_URL_<SERVICE>`; a
//!   test's own table, topic and queues ([`services::Inbox`]).
//! - [`world`]: one test's world (the fake, a table, an inbox) and the watcher and
//!   function over it.
//! - [`approver`]: the built approver with its secrets, queue, table and fakes, and clicks
//!   signed as Slack signs them.
//! - [`fake_codepipeline`]: CodePipeline (and the Tagging API) over HTTP, with faults.
//! - [`fake_slack`]: Slack's Web API (`chat.postMessage`, `chat.update`) over HTTP, with
//!   its refusals, rate limits, revoked tokens and deleted messages.
//! - [`fault_proxy`]: a proxy in front of an emulator that injects throttling, errors and
//!   stalls. [`http`]: the small HTTP server both are built on. [`gate`]: where the fakes
//!   hold calls until a test lets them through, instead of racing sleeps.
//! - [`lambda`]: cargo-lambda's local Runtime API with one of the built bootstraps.
//! - [`stack`]: the deploy rehearsal's CloudFormation emulator.
//! - [`fixtures`]: the recorded scenarios; [`records`]: records as earlier versions wrote them;
//!   [`release`]: a release told in 20 notifications, for the Slack app.
//! - [`docs`]: the examples in the docs, checked against what produces them.
//! - [`bill`]: a simulated day's billable units, the price table, and the docs' cost table.
#![allow(clippy::missing_panics_doc)] // a test harness panics to fail the test

pub mod approver;
pub mod bill;
pub mod docs;
pub mod fake_codepipeline;
pub mod fake_slack;
pub mod fault_proxy;
pub mod fixtures;
pub mod gate;
pub mod http;
pub mod lambda;
pub mod records;
pub mod release;
pub mod services;
pub mod stack;
pub mod world;
