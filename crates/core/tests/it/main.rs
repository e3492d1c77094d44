//! The core's integration tests, one binary: every channel's rendering of every bundled
//! scenario (snapshots, schema, limits), hostile input, and property tests. No service is
//! needed: the core does no I/O but reading these files.

mod channels;
mod config;
mod exercise;
// Shared with the testkit, which uses all of it; the core needs part.
#[allow(dead_code)]
#[path = "../../../testkit/src/fixtures.rs"]
mod fixtures;
mod hostile;
mod markup;
mod newer;
mod properties;
mod slack_app;
