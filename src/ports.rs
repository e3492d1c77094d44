//! The outside world, as narrow traits that the tick, the Lambda and the forwarder are
//! generic over, each beside the small types it speaks (its errors, a webhook's URL).
//!
//! | trait | what it is | adapters |
//! |---|---|---|
//! | [`PipelineSource`] | a pipeline's state, its executions, its history | [`crate::aws::CodePipelineSource`] |
//! | [`PipelineDirectory`] | which pipelines exist, and which carry tags | [`crate::aws::CodePipelineSource`] |
//! | [`SnapshotStore`] | each pipeline's [`Record`] | [`crate::aws::DynamoStore`], [`crate::local::FileStore`] |
//! | [`Notifier`] | where messages go | [`crate::aws::SnsNotifier`], [`crate::local::StdoutNotifier`] |
//! | [`DeadLetterQueue`] | messages that leave an outbox unpublished | [`crate::aws::sqs::SqsDeadLetters`], [`crate::local::DeadLetterFile`] |
//! | [`ShardQueue`] | shards of a large selection | [`crate::aws::sqs::SqsShardQueue`] |
//! | [`Webhook`] | the forwarder's posts | [`crate::webhook::HttpsWebhook`] |
//!
//! Each binary wires one concrete set: AWS adapters in the Lambda, the SDK source with
//! local adapters in the CLI. Tests drive the same code with the same adapters against
//! local emulators.

use std::collections::HashMap;
use std::error::Error;
use std::fmt;
use std::future::Future;
use std::time::Duration;

use pipewatch_core::pipeline::{Location, PipelineRef};
use pipewatch_core::record::{DeadLetter, Expected, Loaded, Record, Saved};
use pipewatch_core::render::message::Message;
use pipewatch_core::state::{ActionRun, ExecutionSummary, PipelineExecution, PipelineState};

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

/// A cause from an adapter, kept opaque so the core never names an SDK type.
pub type BoxError = Box<dyn Error + Send + Sync>;

/// Why a pipeline (or one of its executions) could not be read. `operation` names the
/// call: `GetPipelineState` or `GetPipelineExecution`.
#[derive(Debug, thiserror::Error)]
pub enum SourceError {
    #[error("the pipeline does not exist")]
    PipelineNotFound(#[source] BoxError),
    #[error("the pipeline execution does not exist")]
    ExecutionNotFound(#[source] BoxError),
    #[error("{operation} failed")]
    Api {
        operation: &'static str,
        #[source]
        source: BoxError,
    },
    #[error("{operation} returned an unusable answer")]
    Invalid {
        operation: &'static str,
        #[source]
        source: BoxError,
    },
}

/// A snapshot store operation that failed (not a lost race: that is `Saved::Conflict`).
#[derive(Debug, thiserror::Error)]
#[error("{operation} failed")]
pub struct StoreError {
    pub operation: &'static str,
    #[source]
    pub source: BoxError,
}

/// A message the notifier did not accept.
#[derive(Debug, thiserror::Error)]
#[error("publishing message {id} failed{}", if *.permanent { " for good" } else { "" })]
pub struct NotifyError {
    pub id: String,
    /// The notifier will never take this message as it is (a sender fault: an invalid
    /// parameter, the topic's key disabled): it is dead-lettered at once, not retried.
    pub permanent: bool,
    #[source]
    pub source: BoxError,
}

/// A webhook URL, validated and kept out of logs: anyone holding it can post to the
/// channel. Its `Debug` hides it, and no error message includes it.
#[derive(Clone, PartialEq, Eq)]
pub struct WebhookUrl(hyper::Uri);

impl WebhookUrl {
    /// Accepts an `https://` URL (or `http://` for a local test server). The error never
    /// repeats the value.
    pub fn parse(url: &str) -> Result<Self, String> {
        let uri: hyper::Uri = url
            .trim()
            .parse()
            .map_err(|_| "the webhook secret is not a URL".to_owned())?;
        match (uri.scheme_str(), uri.host()) {
            (Some("https" | "http"), Some(_)) => Ok(Self(uri)),
            _ => Err("the webhook secret is not an http(s) URL with a host".to_owned()),
        }
    }

    /// The URL itself, for the client that posts to it (and nothing else).
    pub fn uri(&self) -> &hyper::Uri {
        &self.0
    }

    /// The URL's host, which is not secret (`hooks.slack.com`): for error messages.
    pub fn host(&self) -> &str {
        self.0.host().unwrap_or("the webhook")
    }

    /// Removes any piece of this URL's path and query from `text` (a server's error body
    /// may echo the request).
    pub fn redact(&self, text: &str) -> String {
        let secret_parts = self
            .0
            .path_and_query()
            .map(hyper::http::uri::PathAndQuery::as_str)
            .unwrap_or_default()
            .split(['/', '?', '&', '='])
            .filter(|part| part.len() >= 6)
            .collect::<Vec<_>>();
        let mut text = text.to_owned();
        for part in secret_parts {
            text = text.replace(part, "[redacted]");
        }
        text
    }
}

impl fmt::Debug for WebhookUrl {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("WebhookUrl([redacted])")
    }
}

/// Why a post did not go through.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum PostError {
    /// The webhook refused the message, and would again: retrying cannot help (400, 401,
    /// 403, 404, 410, 413, ...).
    #[error("{host} refused the message with {status}: {meaning}{detail}")]
    Refused {
        host: String,
        status: u16,
        meaning: &'static str,
        detail: String,
    },
    /// 429: too many messages; try again after `retry_after` when the server said.
    #[error("{host} is rate limiting (429){}", retry_after.map_or_else(String::new, |d| format!(", retry after {} s", d.as_secs())))]
    RateLimited {
        host: String,
        retry_after: Option<Duration>,
    },
    /// 5xx, 408, a timeout or a connection failure: trying again later may work.
    #[error("{host} is unavailable: {detail}")]
    Unavailable { host: String, detail: String },
}

impl PostError {
    /// Whether trying again (later) could succeed.
    pub fn is_permanent(&self) -> bool {
        matches!(self, Self::Refused { .. })
    }
}
