//! The three outside services, as narrow traits the tick is generic over.
//!
//! Each binary wires one concrete set: AWS adapters ([`crate::aws`]) in the Lambda, the
//! SDK source with local adapters ([`crate::local`]) in the CLI. Tests drive the tick with
//! the same adapters against local emulators.

use std::collections::HashMap;
use std::future::Future;

use crate::error::{BoxError, NotifyError, SourceError, StoreError};
use crate::render::message::Message;
use crate::select::{Location, PipelineRef};
use crate::snapshot::{DeadLetter, Expected, Loaded, Record, Saved};
use crate::state::{ActionRun, ExecutionSummary, PipelineExecution, PipelineState};
use crate::webhook::{PostError, WebhookUrl};

/// Where observations come from: `GetPipelineState`, `GetPipelineExecution` for the
/// commit and trigger of the executions a notification mentions, and
/// `ListActionExecutions` and `ListPipelineExecutions` for the runs between two
/// observations.
pub trait PipelineSource: Sync {
    fn get_state(
        &self,
        pipeline: &PipelineRef,
    ) -> impl Future<Output = Result<PipelineState, SourceError>> + Send;

    fn get_execution(
        &self,
        pipeline: &PipelineRef,
        execution_id: &str,
    ) -> impl Future<Output = Result<PipelineExecution, SourceError>> + Send;

    /// The action runs of one pipeline execution, newest first: one page of
    /// `ListActionExecutions` (up to 100 runs), for recovering runs between observations.
    fn action_runs(
        &self,
        pipeline: &PipelineRef,
        pipeline_execution_id: &str,
    ) -> impl Future<Output = Result<Vec<ActionRun>, SourceError>> + Send;

    /// The pipeline's latest executions, newest first: one page of
    /// `ListPipelineExecutions` (up to 100), for recovering executions between
    /// observations.
    fn recent_executions(
        &self,
        pipeline: &PipelineRef,
    ) -> impl Future<Output = Result<Vec<ExecutionSummary>, SourceError>> + Send;
}

/// Where the watched pipelines are found: `ListPipelines` for patterns, the Resource
/// Groups Tagging API for tags. `location` is `None` for the home account and region.
pub trait PipelineDirectory: Sync {
    /// Every pipeline name at `location`, every page.
    fn list_pipelines(
        &self,
        location: Option<&Location>,
    ) -> impl Future<Output = Result<Vec<String>, SourceError>> + Send;

    /// The names of the pipelines at `location` that carry every one of `tags`.
    fn tagged_pipelines(
        &self,
        location: Option<&Location>,
        tags: &[(String, String)],
    ) -> impl Future<Output = Result<Vec<String>, SourceError>> + Send;
}

/// Where each pipeline's [`Record`] is kept.
pub trait SnapshotStore: Sync {
    /// Loads many records at once, by key ([`PipelineRef::key`]); records missing from the
    /// answer are [`Loaded::Missing`]. May be eventually consistent (a record a moment
    /// old): the claim's conditional write still decides, see [`crate::tick`].
    fn load_many(
        &self,
        pipelines: &[String],
    ) -> impl Future<Output = Result<HashMap<String, Loaded>, StoreError>> + Send;

    /// Loads one record, strongly consistent: used after a lost race.
    fn load(&self, pipeline: &str) -> impl Future<Output = Result<Loaded, StoreError>> + Send;

    /// Writes `record` only if the stored one still matches `expected`.
    fn save(
        &self,
        record: &Record,
        expected: Expected,
    ) -> impl Future<Output = Result<Saved, StoreError>> + Send;
}

/// Where messages go.
pub trait Notifier: Sync {
    /// Publishes `messages`, reporting per message: one may be accepted while another fails.
    fn publish(
        &self,
        messages: &[Message],
    ) -> impl Future<Output = Vec<Result<(), NotifyError>>> + Send;
}

/// Where messages go that leave the outbox unpublished: refused for good by the
/// notifier, refused too many times, or the oldest of an outbox over its bound. Each keeps
/// its id, subject, body and attributes, so it can be redriven to the notifier later.
pub trait DeadLetterQueue: Sync {
    /// Stores every letter, or fails (then the messages stay in the outbox).
    fn send(&self, letters: &[DeadLetter]) -> impl Future<Output = Result<(), BoxError>> + Send;
}

/// Where a selection too large for one invocation is sent, in shards that the function
/// itself consumes: each shard is a list of record keys ([`PipelineRef::key`]).
pub trait ShardQueue: Sync {
    fn send(&self, shards: &[Vec<String>]) -> impl Future<Output = Result<(), BoxError>> + Send;
}

/// Where the forwarder posts: Slack and Teams incoming webhooks.
pub trait Webhook: Sync {
    fn post(
        &self,
        url: &WebhookUrl,
        body: &serde_json::Value,
    ) -> impl Future<Output = Result<(), PostError>> + Send;
}
