//! The Lambda's logic, between the runtime and the tick: what an event asks for, which
//! pipelines that means, the tick, the summary log line, and the invocation's error when
//! pipelines failed.
//!
//! Events, dispatched by shape ([`Invocation::read`]):
//! - **a schedule** (an EventBridge scheduled event, or `{}` from EventBridge Scheduler):
//!   the configured selection, resolved and cached for `DISCOVERY_SECONDS`. A selection
//!   larger than `SHARD_SIZE` is split into shards sent to the shard queue, which this same
//!   function consumes; otherwise it is checked here.
//! - **`{"pipelines": [...]}`**: a schedule's custom input: those entries instead (names,
//!   patterns or ARNs; tags still apply).
//! - **an SQS event**: shards from the shard queue, `{"pipelines": ["key", ...]}` each.
//! - **a CodePipeline event** (`"source": "aws.codepipeline"`: a pipeline, stage or action
//!   execution state change), straight from an EventBridge rule, or many at once through
//!   the event queue (SQS records whose bodies are such events). Only the pipelines they
//!   name are checked, each once however many events name it (a release's burst of
//!   dozens of events is one check per pipeline), and only if the selection watches
//!   them; the others are counted as ignored. The event's content is never taken as the
//!   state: the tick observes, so an event and a scheduled tick racing on one change
//!   claim it once. A malformed event is logged and counted, not an error: EventBridge
//!   would only retry it.
//!
//! Every path ends in the same tick, so the claim decides ordering and idempotency for all.
//!
//! An invocation fails only for pipewatch's own failures (a bad event, the selection, the
//! shard queue, its table or a contended record). A watched pipeline that cannot be read
//! is not one: it is counted (`FailedPipelines`), logged with its reason, and announced
//! once on the topic by the tick, so one deleted pipeline cannot keep the `Errors` alarm
//! firing with nothing said.
//! Pipelines are started in a rotating order: when the invocation's deadline is near, the
//! rest are skipped (not failed) and the next tick in this container starts with them.

use std::collections::HashSet;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::time::Instant;

use aws_lambda_events::cloudwatch_events::CloudWatchEvent;
use serde::Deserialize;
use serde_json::Value;
use tokio::sync::Mutex;

use crate::ports::{
    DeadLetterQueue, Notifier, PipelineDirectory, PipelineSource, ShardQueue, SnapshotStore,
};
use crate::select::{Discovery, Home, PipelineRef, Selection, resolve};
use crate::tick::{TickSummary, Watcher, describe_failures};

/// Why an invocation failed. Each is reported to Lambda as an invocation error, so the
/// `Errors` metric (and an alarm on it) sees them.
#[derive(Debug, thiserror::Error)]
pub enum InvocationError {
    #[error("the event is neither a schedule, nor {{\"pipelines\": [...]}}, nor SQS shards: {0}")]
    BadEvent(String),
    #[error("resolving the watched pipelines failed: {0}")]
    Selection(String),
    #[error("sending {shards} shards to the shard queue failed: {reason}")]
    Shards { shards: usize, reason: String },
    #[error("{failed} of {total} pipelines failed: {list}")]
    PipelinesFailed {
        failed: usize,
        total: usize,
        list: String,
        /// The tick's figures, for its metrics.
        summary: Box<TickSummary>,
    },
}

/// How Lambda reports the error: a stable type to alarm or search on, the whole message.
impl From<InvocationError> for lambda_runtime::Diagnostic {
    fn from(error: InvocationError) -> Self {
        let error_type = match error {
            InvocationError::BadEvent(_) => "pipewatch.BadEvent",
            InvocationError::Selection(_) => "pipewatch.SelectionFailed",
            InvocationError::Shards { .. } => "pipewatch.ShardsFailed",
            InvocationError::PipelinesFailed { .. } => "pipewatch.PipelinesFailed",
        };
        Self {
            error_type: error_type.to_owned(),
            error_message: error.to_string(),
        }
    }
}

/// What an event asks for.
#[derive(Debug, PartialEq, Eq)]
pub enum Invocation {
    /// Check the configured selection.
    Schedule,
    /// Check these entries instead (a schedule's custom input).
    Entries(Selection),
    /// Check these pipelines: shards from the shard queue, all records together.
    Shards(Vec<PipelineRef>),
    /// Check the pipelines these CodePipeline events name, if watched.
    Events {
        events: Vec<PipelineEvent>,
        /// Events that name no pipeline (logged, then skipped).
        malformed: usize,
    },
}

/// What a CodePipeline event says that pipewatch uses: which pipeline, where. Nothing
/// else is read from it: the tick observes the pipeline itself.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct PipelineEvent {
    pub pipeline: String,
    pub region: String,
    pub account: String,
}

impl PipelineEvent {
    /// A CodePipeline event (`source` `aws.codepipeline`), or why it is not a usable one.
    fn read(event: &Value) -> Result<Self, String> {
        let text = |value: &Value, what: &str| {
            value
                .as_str()
                .filter(|s| !s.is_empty())
                .map(str::to_owned)
                .ok_or_else(|| format!("a CodePipeline event without {what}"))
        };
        Ok(Self {
            pipeline: text(&event["detail"]["pipeline"], "detail.pipeline")?,
            region: text(&event["region"], "region")?,
            account: text(&event["account"], "account")?,
        })
    }
}

/// Whether `value` is an EventBridge event from CodePipeline.
fn from_codepipeline(value: &Value) -> bool {
    value["source"] == "aws.codepipeline"
}

/// A schedule's custom input, or a shard.
#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct PipelinesInput {
    pipelines: Vec<String>,
}

impl Invocation {
    /// Reads an event; a bad one is an error that says what was expected.
    pub fn read(event: &Value) -> Result<Self, InvocationError> {
        let bad = |problem: String| InvocationError::BadEvent(problem);
        let Some(object) = event.as_object() else {
            return Err(bad(format!("got {}", kind_of(event))));
        };
        if object.contains_key("pipelines") {
            let input: PipelinesInput =
                serde_json::from_value(event.clone()).map_err(|e| bad(e.to_string()))?;
            if input.pipelines.is_empty() {
                return Err(bad("\"pipelines\" is empty".into()));
            }
            let selection = Selection::parse(&input.pipelines.join(","))
                .map_err(|problem| bad(format!("\"pipelines\" {problem}")))?;
            return Ok(Self::Entries(selection));
        }
        if from_codepipeline(event) {
            return Ok(match PipelineEvent::read(event) {
                Ok(event) => Self::Events {
                    events: vec![event],
                    malformed: 0,
                },
                Err(problem) => {
                    tracing::warn!(problem, "skipping a malformed CodePipeline event");
                    Self::Events {
                        events: Vec::new(),
                        malformed: 1,
                    }
                }
            });
        }
        if let Some(records) = object.get("Records").and_then(Value::as_array) {
            if let Some(events) = Self::queued_events(records) {
                return Ok(events);
            }
            let mut pipelines = Vec::new();
            for record in records {
                if record["eventSource"] != "aws:sqs" {
                    return Err(bad("a record that is not from SQS".into()));
                }
                let body = record["body"].as_str().unwrap_or_default();
                let shard: PipelinesInput = serde_json::from_str(body).map_err(|e| {
                    bad(format!("a shard that is not {{\"pipelines\": [...]}}: {e}"))
                })?;
                for key in &shard.pipelines {
                    pipelines.push(
                        PipelineRef::from_key(key)
                            .map_err(|problem| bad(format!("a shard {problem}")))?,
                    );
                }
            }
            return Ok(Self::Shards(pipelines));
        }
        // A scheduled event (or an empty object, as EventBridge Scheduler sends by default).
        if !object.is_empty() {
            let _: CloudWatchEvent =
                serde_json::from_value(event.clone()).map_err(|e| bad(e.to_string()))?;
        }
        Ok(Self::Schedule)
    }
}

impl Invocation {
    /// The event queue's batch: SQS records whose bodies are CodePipeline events. `None`
    /// when the batch is not one (shards). A record that is not a usable event is logged
    /// and counted.
    fn queued_events(records: &[Value]) -> Option<Self> {
        let bodies: Vec<Option<Value>> = records
            .iter()
            .map(|r| {
                r["body"]
                    .as_str()
                    .and_then(|body| serde_json::from_str(body).ok())
            })
            .collect();
        if !bodies.iter().flatten().any(from_codepipeline) {
            return None;
        }
        let mut events = Vec::new();
        let mut malformed = 0;
        for (record, body) in records.iter().zip(bodies) {
            let read = match body {
                _ if record["eventSource"] != "aws:sqs" => {
                    Err("a record that is not from SQS".into())
                }
                Some(body) if from_codepipeline(&body) => PipelineEvent::read(&body),
                _ => Err("a queued message that is not a CodePipeline event".into()),
            };
            match read {
                Ok(event) => events.push(event),
                Err(problem) => {
                    tracing::warn!(
                        problem,
                        message_id = record["messageId"].as_str().unwrap_or_default(),
                        "skipping a malformed CodePipeline event"
                    );
                    malformed += 1;
                }
            }
        }
        Some(Self::Events { events, malformed })
    }
}

fn kind_of(value: &Value) -> &'static str {
    match value {
        Value::Null => "null",
        Value::Bool(_) => "a boolean",
        Value::Number(_) => "a number",
        Value::String(_) => "a string",
        Value::Array(_) => "an array",
        Value::Object(_) => "an object",
    }
}

/// The function: the tick and what decides which pipelines it checks. Built once per cold
/// start; what it caches (the resolved selection, where the next tick starts) lives as
/// long as the container.
pub struct Function<P, S, N, D, Q> {
    pub watcher: Watcher<P, S, N, D>,
    pub selection: Selection,
    pub home: Home,
    /// The shard queue, when the template made one.
    pub shards: Option<Q>,
    pub shard_size: usize,
    discovery: Mutex<Discovery>,
    /// Where the next tick starts in the resolved order, so no pipeline starves when
    /// deadlines cut ticks short.
    next_start: AtomicUsize,
}

impl<P, S, N, D, Q> Function<P, S, N, D, Q>
where
    P: PipelineSource + PipelineDirectory,
    S: SnapshotStore,
    N: Notifier,
    D: DeadLetterQueue,
    Q: ShardQueue,
{
    pub fn new(
        watcher: Watcher<P, S, N, D>,
        selection: Selection,
        home: Home,
        discovery: std::time::Duration,
        shards: Option<Q>,
        shard_size: usize,
    ) -> Self {
        // A fresh container starts somewhere else than the last one did.
        let start = usize::try_from(crate::state::Timestamp::now().unix_millis() / 1000)
            .unwrap_or_default();
        Self {
            watcher,
            selection,
            home,
            shards,
            shard_size: shard_size.max(1),
            discovery: Mutex::new(Discovery::new(discovery)),
            next_start: AtomicUsize::new(start),
        }
    }

    /// One invocation. `deadline` is the invocation's.
    pub async fn handle(
        &self,
        event: &Value,
        deadline: Option<Instant>,
    ) -> Result<TickSummary, InvocationError> {
        let pipelines = match Invocation::read(event)? {
            Invocation::Schedule => self.watched().await?,
            Invocation::Entries(entries) => {
                let selection = Selection {
                    tags: self.selection.tags.clone(),
                    ..entries
                };
                resolve(&selection, &self.home, &self.watcher.source)
                    .await
                    .map_err(|e| InvocationError::Selection(crate::error::chain(&e)))?
            }
            Invocation::Shards(pipelines) => {
                return self.tick(pipelines, deadline).await;
            }
            Invocation::Events { events, malformed } => {
                return self.on_events(&events, malformed, deadline).await;
            }
        };
        if pipelines.len() > self.shard_size
            && let Some(queue) = &self.shards
        {
            return self.fan_out(queue, &pipelines).await;
        }
        self.tick(pipelines, deadline).await
    }

    /// The configured selection, from the cache while it is fresh.
    async fn watched(&self) -> Result<Vec<PipelineRef>, InvocationError> {
        let mut discovery = self.discovery.lock().await;
        if let Some(pipelines) = discovery.fresh() {
            return Ok(pipelines.to_vec());
        }
        let pipelines = resolve(&self.selection, &self.home, &self.watcher.source)
            .await
            .map_err(|e| InvocationError::Selection(crate::error::chain(&e)))?;
        tracing::info!(
            pipelines = pipelines.len(),
            "resolved the watched pipelines"
        );
        discovery.remember(pipelines.clone());
        Ok(pipelines)
    }

    /// Checks the watched pipelines `events` name, each once.
    async fn on_events(
        &self,
        events: &[PipelineEvent],
        malformed: usize,
        deadline: Option<Instant>,
    ) -> Result<TickSummary, InvocationError> {
        let watched: HashSet<String> = self.watched().await?.iter().map(PipelineRef::key).collect();
        let mut named: Vec<PipelineRef> = Vec::new();
        let mut ignored = 0;
        for event in events {
            let pipeline = self
                .home
                .pipeline(&event.region, &event.account, &event.pipeline);
            if !watched.contains(&pipeline.key()) {
                ignored += 1;
            } else if !named.contains(&pipeline) {
                named.push(pipeline);
            }
        }
        if ignored > 0 {
            tracing::info!(ignored, "events for pipelines the selection does not watch");
        }
        let mut summary = if named.is_empty() {
            TickSummary::default()
        } else {
            // No rotation: an event's few pipelines are all checked.
            self.watcher.run_tick_until(&named, deadline).await
        };
        summary.events = events.len() + malformed;
        summary.events_ignored = ignored + malformed;
        log_summary(&summary);
        Self::outcome(summary, named.len())
    }

    /// Sends the selection as shards of at most `shard_size` keys.
    async fn fan_out(
        &self,
        queue: &Q,
        pipelines: &[PipelineRef],
    ) -> Result<TickSummary, InvocationError> {
        let shards: Vec<Vec<String>> = pipelines
            .chunks(self.shard_size)
            .map(|chunk| chunk.iter().map(PipelineRef::key).collect())
            .collect();
        queue
            .send(&shards)
            .await
            .map_err(|e| InvocationError::Shards {
                shards: shards.len(),
                reason: crate::error::chain(&*e),
            })?;
        let summary = TickSummary {
            shards_sent: shards.len(),
            ..TickSummary::default()
        };
        log_summary(&summary);
        Ok(summary)
    }

    /// The tick, starting where the last one in this container stopped.
    async fn tick(
        &self,
        mut pipelines: Vec<PipelineRef>,
        deadline: Option<Instant>,
    ) -> Result<TickSummary, InvocationError> {
        let total = pipelines.len();
        if total == 0 {
            return Ok(TickSummary::default());
        }
        let start = self.next_start.load(Ordering::Relaxed) % total;
        pipelines.rotate_left(start);
        let summary = self.watcher.run_tick_until(&pipelines, deadline).await;
        // The skipped are the tail of this order: the next tick begins with them.
        self.next_start
            .store((start + total - summary.skipped) % total, Ordering::Relaxed);
        log_summary(&summary);
        Self::outcome(summary, total)
    }

    /// The invocation's result for a tick over `total` pipelines.
    fn outcome(summary: TickSummary, total: usize) -> Result<TickSummary, InvocationError> {
        // A pipeline that cannot be read is the FailedPipelines metric's and its own
        // message's to tell, not the invocation's: one deleted pipeline would otherwise
        // keep the Errors alarm firing. pipewatch's own store or notifier failing is.
        let broken: Vec<_> = summary
            .failed
            .iter()
            .filter(|f| !f.unreadable)
            .cloned()
            .collect();
        if broken.is_empty() {
            Ok(summary)
        } else {
            Err(InvocationError::PipelinesFailed {
                failed: broken.len(),
                total,
                list: describe_failures(&broken),
                summary: Box::new(summary),
            })
        }
    }
}

/// The tick's one JSON log line.
pub fn log_summary(summary: &TickSummary) {
    let failed: Vec<&str> = summary.failed.iter().map(|f| f.pipeline.as_str()).collect();
    tracing::info!(
        pipelines_checked = summary.pipelines_checked,
        changes = summary.changes,
        messages_published = summary.messages_published,
        messages_pending = summary.messages_pending,
        rebaselined = summary.rebaselined,
        writes = summary.writes,
        enriched = summary.enriched,
        enrichment_failures = summary.enrichment_failures,
        recovered = summary.recovered,
        recovery_failures = summary.recovery_failures,
        dead_lettered = summary.dead_lettered,
        publish_failures = summary.publish_failures,
        oldest_pending_ms = summary.oldest_pending_ms,
        conflicts = summary.conflicts,
        skipped = summary.skipped,
        shards_sent = summary.shards_sent,
        events = summary.events,
        events_ignored = summary.events_ignored,
        errors = summary.errors,
        failed = %failed.join(","),
        duration_ms = summary.duration_ms,
        "tick summary"
    );
    for failure in &summary.failed {
        tracing::error!(pipeline = %failure.pipeline, error = %failure.error, "pipeline check failed");
    }
}

/// JSON logs, one object per line, filtered by `LOG_LEVEL`.
pub fn init_logging(filter: &str) {
    tracing_subscriber::fmt()
        .json()
        .flatten_event(true)
        .with_current_span(false)
        .with_target(false)
        .with_env_filter(tracing_subscriber::EnvFilter::new(filter))
        .with_writer(std::io::stdout)
        .init();
}

#[cfg(test)]
mod tests {
    use serde_json::json;

    use super::*;

    fn read_event(name: &str) -> Value {
        let path = format!("{}/events/{name}", env!("CARGO_MANIFEST_DIR"));
        serde_json::from_str(&std::fs::read_to_string(path).unwrap()).unwrap()
    }

    #[test]
    fn a_scheduled_event_checks_the_configured_selection() {
        let event = read_event("scheduled-event.json");
        assert_eq!(Invocation::read(&event).unwrap(), Invocation::Schedule);
        assert_eq!(Invocation::read(&json!({})).unwrap(), Invocation::Schedule);
    }

    #[test]
    fn a_custom_input_names_other_entries() {
        let event = read_event("sharded-schedule-input.json");
        let Invocation::Entries(selection) = Invocation::read(&event).unwrap() else {
            panic!()
        };
        let names: Vec<&str> = selection.entries.iter().map(|e| e.name.as_str()).collect();
        assert_eq!(names, ["web-app-release", "payments-api"]);
    }

    #[test]
    fn an_sqs_event_is_shards_of_record_keys() {
        let event = read_event("sqs-shard.json");
        let Invocation::Shards(pipelines) = Invocation::read(&event).unwrap() else {
            panic!()
        };
        let keys: Vec<String> = pipelines.iter().map(PipelineRef::key).collect();
        assert_eq!(
            keys,
            [
                "web-app-release",
                "payments-api",
                "arn:aws:codepipeline:us-west-2:222233334444:svc-orders"
            ]
        );
    }

    #[test]
    fn a_codepipeline_event_names_its_pipeline_directly_or_through_the_queue() {
        let direct = Invocation::read(&read_event("codepipeline-action-event.json")).unwrap();
        let web = PipelineEvent {
            pipeline: "web-app-release".into(),
            region: "eu-west-1".into(),
            account: "123456789012".into(),
        };
        assert_eq!(
            direct,
            Invocation::Events {
                events: vec![web.clone()],
                malformed: 0
            }
        );
        let queued = Invocation::read(&read_event("sqs-codepipeline-events.json")).unwrap();
        let Invocation::Events { events, malformed } = queued else {
            panic!("{queued:?}")
        };
        assert_eq!(malformed, 0);
        let names: Vec<&str> = events.iter().map(|e| e.pipeline.as_str()).collect();
        assert_eq!(
            names,
            ["web-app-release", "web-app-release", "payments-api"]
        );
        assert_eq!(events[0], web);
    }

    #[test]
    fn a_malformed_codepipeline_event_is_counted_not_an_error() {
        let event = json!({"source": "aws.codepipeline", "detail-type": "CodePipeline Action Execution State Change", "detail": {}});
        assert_eq!(
            Invocation::read(&event).unwrap(),
            Invocation::Events {
                events: vec![],
                malformed: 1
            }
        );
        let mut batch = read_event("sqs-codepipeline-events.json");
        batch["Records"][1]["body"] = json!("not json at all");
        let Invocation::Events { events, malformed } = Invocation::read(&batch).unwrap() else {
            panic!()
        };
        assert_eq!((events.len(), malformed), (2, 1));
    }

    #[test]
    fn a_bad_event_names_the_problem() {
        let cases = [
            (json!("tick"), "got a string"),
            (json!({"pipelines": []}), "\"pipelines\" is empty"),
            (
                json!({"pipelines": ["ok", "not ok"]}),
                "not a pipeline name",
            ),
            (json!({"pipelines": "web"}), "invalid type: string"),
            (
                json!({"pipelines": ["a"], "extra": 1}),
                "unknown field `extra`",
            ),
            (
                json!({"Records": [{"eventSource": "aws:sns"}]}),
                "not from SQS",
            ),
            (
                json!({"Records": [{"eventSource": "aws:sqs", "body": "{}"}]}),
                "a shard that is not",
            ),
            (
                json!({"Records": [{"eventSource": "aws:sqs", "body": "{\"pipelines\": [\"web-*\"]}"}]}),
                "is a pattern, not a pipeline",
            ),
        ];
        for (event, expected) in cases {
            let error = Invocation::read(&event).unwrap_err().to_string();
            assert!(error.contains(expected), "{event}: {error}");
        }
    }
}
