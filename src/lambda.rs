//! The Lambda's logic, between the runtime and the tick: which pipelines an event asks
//! for, the tick, the summary log line, and the invocation's error when pipelines failed.

use aws_lambda_events::cloudwatch_events::CloudWatchEvent;
use serde::Deserialize;
use serde_json::Value;

use crate::config::check_pipeline_name;
use crate::ports::{Notifier, PipelineSource, SnapshotStore};
use crate::tick::{TickSummary, Watcher, describe_failures};

/// Why an invocation failed. Both are reported to Lambda as an invocation error, so the
/// `Errors` metric (and an alarm on it) sees them.
#[derive(Debug, thiserror::Error)]
pub enum InvocationError {
    #[error(
        "the event is neither an EventBridge scheduled event nor {{\"pipelines\": [\"name\", ...]}}: {0}"
    )]
    BadEvent(String),
    #[error("{failed} of {total} pipelines failed: {list}")]
    PipelinesFailed {
        failed: usize,
        total: usize,
        list: String,
    },
}

/// How Lambda reports the error: a stable type to alarm or search on, the whole message.
impl From<InvocationError> for lambda_runtime::Diagnostic {
    fn from(error: InvocationError) -> Self {
        let error_type = match error {
            InvocationError::BadEvent(_) => "pipewatch.BadEvent",
            InvocationError::PipelinesFailed { .. } => "pipewatch.PipelinesFailed",
        };
        Self {
            error_type: error_type.to_owned(),
            error_message: error.to_string(),
        }
    }
}

/// A schedule's custom input, which replaces the configured pipelines for that schedule
/// (so one deployment can be sharded across several schedules).
#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct PipelinesInput {
    pipelines: Vec<String>,
}

/// The pipelines an invocation should check.
pub fn pipelines_for(event: &Value, configured: &[String]) -> Result<Vec<String>, InvocationError> {
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
        for name in &input.pipelines {
            check_pipeline_name(name).map_err(|problem| bad(format!("\"pipelines\" {problem}")))?;
        }
        return Ok(input.pipelines);
    }
    // A scheduled event (or an empty object, as EventBridge Scheduler sends by default).
    if !object.is_empty() {
        let _: CloudWatchEvent =
            serde_json::from_value(event.clone()).map_err(|e| bad(e.to_string()))?;
    }
    Ok(configured.to_vec())
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

/// One invocation: the tick over the event's pipelines, a summary log line, and an error
/// naming the pipelines that failed (after all the others were checked).
pub async fn handle<P, S, N>(
    watcher: &Watcher<P, S, N>,
    configured: &[String],
    event: &Value,
) -> Result<TickSummary, InvocationError>
where
    P: PipelineSource,
    S: SnapshotStore,
    N: Notifier,
{
    let pipelines = pipelines_for(event, configured)?;
    let summary = watcher.run_tick(&pipelines).await;
    log_summary(&summary);
    if summary.failed.is_empty() {
        Ok(summary)
    } else {
        Err(InvocationError::PipelinesFailed {
            failed: summary.failed.len(),
            total: pipelines.len(),
            list: describe_failures(&summary.failed),
        })
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
    fn a_scheduled_event_checks_the_configured_pipelines() {
        let configured = vec!["a".to_owned(), "b".to_owned()];
        let event = read_event("scheduled-event.json");
        assert_eq!(pipelines_for(&event, &configured).unwrap(), configured);
        assert_eq!(pipelines_for(&json!({}), &configured).unwrap(), configured);
    }

    #[test]
    fn a_custom_input_overrides_the_configured_pipelines() {
        let event = read_event("sharded-schedule-input.json");
        let pipelines = pipelines_for(&event, &["other".to_owned()]).unwrap();
        assert_eq!(pipelines, ["web-app-release", "payments-api"]);
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
        ];
        for (event, expected) in cases {
            let error = pipelines_for(&event, &[]).unwrap_err().to_string();
            assert!(error.contains(expected), "{event}: {error}");
        }
    }
}
