//! pipewatch's integration tests, one binary (its dependencies link once), a module per
//! area, all on one harness (`crates/testkit`): DynamoDB Local and moto started by
//! `scripts/test.sh`, wire-level fakes the real SDK clients talk to, fault proxies in front
//! of the emulators, and the built Lambda bootstraps on cargo-lambda's Runtime API.

mod approver;
mod deploy;
mod docs;
mod document;
mod events;
mod forwarder;
mod lambda;
mod layering;
mod logs;
mod reach;
mod recovery;
mod slack_app;
mod template;
mod tick;
