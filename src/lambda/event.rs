//! What an event asks for ([`Invocation::read`]): a schedule, a schedule's custom input,
//! shards from the shard queue, or CodePipeline events (straight from a rule, or batched
//! through the event queue). Pure: the function ([`super::Function`]) acts on the answer.

use aws_lambda_events::cloudwatch_events::CloudWatchEvent;
use pipewatch_core::pipeline::PipelineRef;
use serde::Deserialize;
use serde_json::Value;

use super::InvocationError;
use crate::select::Selection;

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
