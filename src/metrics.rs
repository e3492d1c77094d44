//! The tick's figures as CloudWatch metrics, and the per-API call figures behind them.
//!
//! After each invocation the Lambda writes its metrics to standard output in CloudWatch's
//! Embedded Metric Format (EMF), through the `metrics` facade and the maintained
//! `metrics_cloudwatch_embedded` writer: CloudWatch Logs turns those lines into metrics,
//! with no `PutMetricData` call and no permission for it. The CLI's `watch --stats` prints
//! the same figures as one readable line ([`stats_line`]).
//!
//! | metric                | unit         | dimensions      | what |
//! |-----------------------|--------------|-----------------|------|
//! | `MessagesPending`     | Count        | Function        | messages left in outboxes |
//! | `OldestPendingAge`    | Seconds      | Function        | how long the oldest of those has waited |
//! | `DeadLettered`        | Count        | Function        | messages sent to the dead-letter queue |
//! | `PublishFailures`     | Count        | Function        | publishes SNS refused (retried from the outbox) |
//! | `Rebaselined`         | Count        | Function        | unreadable records replaced by a silent baseline |
//! | `FailedPipelines`     | Count        | Function        | pipelines the tick could not check |
//! | `Skipped`             | Count        | Function        | pipelines left for the next tick (deadline) |
//! | `Conflicts`           | Count        | Function        | claims lost to an overlapping tick |
//! | `EnrichmentFailures`  | Count        | Function        | `GetPipelineExecution` calls that failed |
//! | `ApiThrottles`        | Count        | Function        | AWS API attempts throttled, all APIs together |
//!
//! Each is written only when it is not zero: CloudWatch bills a metric for every hour it
//! receives data, and in a healthy hour none of these has anything to count. That a tick
//! ran, and how long it took, CloudWatch's own Lambda metrics say for free (`Invocations`,
//! `Errors`, `Duration`), what was announced SNS's (`NumberOfMessagesPublished`); the
//! tick's log line holds the rest. With `DETAILED_METRICS=yes` these are metrics too,
//! billed by the hour:
//!
//! | metric                | unit         | dimensions      | what |
//! |-----------------------|--------------|-----------------|------|
//! | `Changes`             | Count        | Function        | changes claimed |
//! | `MessagesPublished`   | Count        | Function        | messages SNS accepted |
//! | `PipelinesChecked`    | Count        | Function        | pipelines observed |
//! | `TickDuration`        | Milliseconds | Function        | the tick's wall time |
//! | `ApiCalls`            | Count        | Function, Api   | attempts per AWS API (`GetPipelineState`, `PutItem`, ...) |
//! | `ApiThrottles`        | Count        | Function, Api   | attempts the API throttled |
//! | `ApiLatency`          | Milliseconds | Function, Api   | each attempt's latency (up to 100 samples per API per tick) |
//!
//! Dimensions stay low-cardinality: never one per pipeline. Per-API figures come from an
//! SDK interceptor ([`crate::aws::interceptor::ApiMetrics`]) on every client, so they
//! count retries and throttles the code above the SDK never sees.

use std::collections::BTreeMap;
use std::fmt::Write as _;

use crate::aws::interceptor::{ApiFigures, take_api_figures};
use crate::tick::TickSummary;

/// The EMF writer, set up once per process (it installs the global `metrics` recorder).
pub struct Emf {
    collector: &'static metrics_cloudwatch_embedded::Collector,
    detailed: bool,
}

impl Emf {
    /// Metrics under `namespace`, with the dimension `Function` = `function`; the
    /// detailed ones too when `detailed`.
    pub fn init(namespace: &str, function: &str, detailed: bool) -> Result<Self, String> {
        let collector = metrics_cloudwatch_embedded::Builder::new()
            .cloudwatch_namespace(namespace.to_owned())
            .with_dimension("Function", function.to_owned())
            // A counter at zero is left out. Gauges would be written at every flush once
            // set, so what is not a count is a histogram: written only when recorded.
            .emit_zeros(false)
            .init()
            .map_err(|e| format!("setting up the metrics writer: {e}"))?;
        describe();
        Ok(Self {
            collector,
            detailed,
        })
    }

    /// Records one tick's figures (and the calls made since the last flush) and writes
    /// them to `out` as EMF lines, one per dimension set; nothing when all are zero.
    pub fn emit(&self, summary: &TickSummary, out: impl std::io::Write) -> std::io::Result<()> {
        record(summary, &take_api_figures(), self.detailed);
        self.collector.flush(out)
    }
}

fn describe() {
    use metrics::Unit;
    for name in [
        "PipelinesChecked",
        "Changes",
        "MessagesPublished",
        "MessagesPending",
        "DeadLettered",
        "PublishFailures",
        "Rebaselined",
        "FailedPipelines",
        "Skipped",
        "Conflicts",
        "EnrichmentFailures",
        "ApiCalls",
        "ApiThrottles",
    ] {
        metrics::describe_counter!(name, Unit::Count, "");
    }
    metrics::describe_histogram!("OldestPendingAge", Unit::Seconds, "");
    metrics::describe_histogram!("TickDuration", Unit::Milliseconds, "");
    metrics::describe_histogram!("ApiLatency", Unit::Milliseconds, "");
}

fn record(summary: &TickSummary, api: &BTreeMap<String, ApiFigures>, detailed: bool) {
    let count = |n: usize| u64::try_from(n).unwrap_or(u64::MAX);
    metrics::counter!("MessagesPending").increment(count(summary.messages_pending));
    metrics::counter!("DeadLettered").increment(count(summary.dead_lettered));
    metrics::counter!("PublishFailures").increment(count(summary.publish_failures));
    metrics::counter!("Rebaselined").increment(count(summary.rebaselined));
    metrics::counter!("FailedPipelines").increment(count(summary.failed.len()));
    metrics::counter!("Skipped").increment(count(summary.skipped));
    metrics::counter!("Conflicts").increment(count(summary.conflicts));
    metrics::counter!("EnrichmentFailures").increment(count(summary.enrichment_failures));
    metrics::counter!("ApiThrottles").increment(api.values().map(|f| f.throttles).sum());
    #[allow(clippy::cast_precision_loss)] // milliseconds: exact far past any real age
    if summary.messages_pending > 0 {
        metrics::histogram!("OldestPendingAge").record(summary.oldest_pending_ms as f64 / 1000.0);
    }
    if !detailed {
        return;
    }
    metrics::counter!("Changes").increment(count(summary.changes));
    metrics::counter!("MessagesPublished").increment(count(summary.messages_published));
    metrics::counter!("PipelinesChecked").increment(count(summary.pipelines_checked));
    #[allow(clippy::cast_precision_loss)]
    metrics::histogram!("TickDuration").record(summary.duration_ms as f64);
    for (name, figures) in api {
        let label = [("Api", name.clone())];
        metrics::counter!("ApiCalls", &label).increment(figures.calls);
        metrics::counter!("ApiThrottles", &label).increment(figures.throttles);
        let latency = metrics::histogram!("ApiLatency", &label);
        for sample in &figures.samples {
            latency.record(*sample);
        }
    }
}

/// The tick's figures in one readable line, for `watch --stats`, e.g.
/// `stats: 3 checked, 1 changes, 1 published, 0 pending, 0 dead-lettered, 0 failed, 412 ms; GetPipelineState 3 calls (avg 120 ms, max 140 ms), 0 throttled`.
pub fn stats_line(summary: &TickSummary, api: &BTreeMap<String, ApiFigures>) -> String {
    let mut line = format!(
        "stats: {} checked, {} changes, {} published, {} pending",
        summary.pipelines_checked,
        summary.changes,
        summary.messages_published,
        summary.messages_pending
    );
    if summary.oldest_pending_ms > 0 {
        let _ = write!(line, " (oldest {} s)", summary.oldest_pending_ms / 1000);
    }
    let _ = write!(
        line,
        ", {} dead-lettered, {} failed, {} ms",
        summary.dead_lettered,
        summary.failed.len(),
        summary.duration_ms
    );
    let calls: Vec<String> = api
        .iter()
        .map(|(name, f)| {
            #[allow(clippy::cast_precision_loss)]
            let average = f.total_ms / f.calls.max(1) as f64;
            format!(
                "{name} {} calls (avg {average:.0} ms, max {:.0} ms), {} throttled",
                f.calls, f.max_ms, f.throttles
            )
        })
        .collect();
    if !calls.is_empty() {
        line.push_str("; ");
        line.push_str(&calls.join("; "));
    }
    line
}

#[cfg(test)]
mod tests {
    use super::*;

    /// The EMF documents one tick writes, as JSON.
    fn written(
        emf: &Emf,
        summary: &TickSummary,
        api: &BTreeMap<String, ApiFigures>,
    ) -> Vec<serde_json::Value> {
        record(summary, api, emf.detailed);
        let mut out = Vec::new();
        emf.collector.flush(&mut out).unwrap();
        String::from_utf8(out)
            .unwrap()
            .lines()
            .map(|line| serde_json::from_str(line).unwrap())
            .collect()
    }

    /// The metric names a document carries.
    fn names(document: &serde_json::Value) -> Vec<&str> {
        document["_aws"]["CloudWatchMetrics"][0]["Metrics"]
            .as_array()
            .unwrap()
            .iter()
            .map(|m| m["Name"].as_str().unwrap())
            .collect()
    }

    // One test: the `metrics` recorder is global to the process.
    #[test]
    fn only_what_is_not_zero_is_written_and_the_detail_only_when_asked() {
        let mut emf = Emf::init("pipewatch", "watcher", false).unwrap();
        let calls = BTreeMap::from([(
            "GetPipelineState".to_owned(),
            ApiFigures {
                calls: 20,
                throttles: 0,
                total_ms: 2000.0,
                max_ms: 140.0,
                samples: vec![100.0; 20],
            },
        )]);
        let quiet = TickSummary {
            pipelines_checked: 20,
            duration_ms: 412,
            ..TickSummary::default()
        };
        assert!(
            written(&emf, &quiet, &calls).is_empty(),
            "a quiet tick costs nothing"
        );

        let busy = TickSummary {
            changes: 3,
            messages_published: 1,
            messages_pending: 1,
            oldest_pending_ms: 61_000,
            ..quiet.clone()
        };
        let mut throttled = calls.clone();
        throttled.get_mut("GetPipelineState").unwrap().throttles = 2;
        let documents = written(&emf, &busy, &throttled);
        assert_eq!(documents.len(), 1, "{documents:#?}");
        let mut got = names(&documents[0]);
        got.sort_unstable();
        assert_eq!(
            got,
            ["ApiThrottles", "MessagesPending", "OldestPendingAge"],
            "what is announced is SNS's free metric, not a billed one"
        );
        assert_eq!(documents[0]["OldestPendingAge"], serde_json::json!([61.0]));
        assert_eq!(documents[0]["ApiThrottles"], 2);
        assert!(
            written(&emf, &quiet, &calls).is_empty(),
            "the age is not repeated once nothing waits"
        );

        emf.detailed = true;
        let documents = written(&emf, &quiet, &calls);
        assert_eq!(documents.len(), 2, "{documents:#?}");
        let by_function = documents.iter().find(|d| d.get("Api").is_none()).unwrap();
        let mut got = names(by_function);
        got.sort_unstable();
        assert_eq!(got, ["PipelinesChecked", "TickDuration"]);
        assert_eq!(by_function["PipelinesChecked"], 20);
        let documents = written(&emf, &busy, &calls);
        let by_function = documents.iter().find(|d| d.get("Api").is_none()).unwrap();
        assert_eq!(by_function["Changes"], 3);
        assert_eq!(by_function["MessagesPublished"], 1);
        let by_api = documents
            .iter()
            .find(|d| d["Api"] == "GetPipelineState")
            .unwrap();
        assert_eq!(by_api["ApiCalls"], 20);
        assert_eq!(by_api["ApiLatency"].as_array().unwrap().len(), 20);
    }

    #[test]
    fn the_stats_line_names_every_figure() {
        let summary = TickSummary {
            pipelines_checked: 3,
            changes: 1,
            messages_published: 1,
            messages_pending: 2,
            oldest_pending_ms: 61_000,
            dead_lettered: 1,
            duration_ms: 412,
            ..TickSummary::default()
        };
        let api = BTreeMap::from([(
            "GetPipelineState".to_owned(),
            ApiFigures {
                calls: 3,
                throttles: 1,
                total_ms: 360.0,
                max_ms: 140.0,
                samples: vec![100.0, 120.0, 140.0],
            },
        )]);
        assert_eq!(
            stats_line(&summary, &api),
            "stats: 3 checked, 1 changes, 1 published, 2 pending (oldest 61 s), 1 dead-lettered, 0 failed, 412 ms; GetPipelineState 3 calls (avg 120 ms, max 140 ms), 1 throttled"
        );
    }
}
