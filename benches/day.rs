//! What a day of pipewatch costs, measured: a simulated day, compressed in time, through
//! the built `pipewatch-lambda` on cargo-lambda's Runtime API, configured as the template
//! configures it, against the wire-level CodePipeline fake, DynamoDB Local and moto, with
//! counting proxies in front of DynamoDB and SNS.
//!
//! N pipelines each run R times a day (`DAY_RUNS`, default 4), spread over the day, a
//! step every 3 minutes; such a day repeats itself every 1440 / R minutes, so one period
//! is simulated and counted R times (when it is whole hours). One pipeline in four runs the recorded `release-failure-retry`
//! release (it starts, its build fails, is retried, deploys, and succeeds), the others
//! `manual-approval` (built, an approval waits, is approved, deployed): a failure in a
//! quarter of the runs and an approval in the rest, a busier day than most. With events, each step's CodePipeline events (six) reach the
//! function as one SQS batch, and the backstop schedule ticks every 5 minutes; without,
//! the schedule ticks every minute. Counted: invocations, their durations, DynamoDB items
//! read and written (sized as DynamoDB bills them), SNS messages, the bytes the function
//! prints, and the distinct metrics in each hour's EMF lines. What no proxy sees (SQS
//! polling, KMS, CodePipeline's latency, Lambda's own log lines) is computed from what
//! was counted; `crates/testkit/src/bill.rs` says how.
//!
//! `./scripts/cost.sh` runs it at 20, 100 and 500 pipelines with events on and off, writes
//! `benches/measured-days.json`, and regenerates the tables in docs/costs.md (a test
//! checks them against that file and `benches/prices.json`). `cargo test` runs a two-hour
//! day of two pipelines as a smoke test. For your own figures:
//! `DAY_SIZES=50 DAY_RUNS=10 ./scripts/cost.sh --print`.

use std::collections::{BTreeMap, BTreeSet};
use std::path::Path;
use std::sync::{Arc, Mutex};

use pipewatch_testkit::bill::{self, Day, Prices};
use pipewatch_testkit::fake_codepipeline::FakeCodePipeline;
use pipewatch_testkit::fault_proxy::FaultProxy;
use pipewatch_testkit::fixtures::{repository, scenario, scenario_executions};
use pipewatch_testkit::lambda::Lambda;
use pipewatch_testkit::services::{Inbox, create_table, require, sdk_config, unique};
use serde_json::{Value, json};

const MINUTES_A_DAY: usize = 24 * 60;
const STEP_MINUTES: usize = 3;
/// CodePipeline events a step of the release sends (stage and action state changes).
const EVENTS_PER_STEP: u64 = 6;
/// Lambda's long polling of a queue with an event source: 5 pollers, each a 20 s wait.
const POLLS_A_MINUTE: u64 = 5 * 3;
/// Lambda's START, END and REPORT lines, about.
const RUNTIME_LOG_BYTES: u64 = 300;
const MEMORY_MB: u64 = 128;
/// The template's concurrency, and CodePipeline's round trip the fake does not wait.
const CONCURRENCY: u64 = 8;
const CODEPIPELINE_MS: u64 = 50;

#[tokio::main]
async fn main() {
    let full = std::env::args().any(|a| a == "--bench");
    let print_only = std::env::var("DAY_PRINT_ONLY").is_ok_and(|v| v == "1");
    let sizes =
        list_from_env("DAY_SIZES").unwrap_or(if full { vec![20, 100, 500] } else { vec![2] });
    let runs = list_from_env("DAY_RUNS").map_or(4, |r| r[0]);
    let minutes =
        list_from_env("DAY_MINUTES").map_or(if full { MINUTES_A_DAY } else { 120 }, |m| m[0]);
    let prices: Prices = serde_json::from_str(
        &std::fs::read_to_string(repository().join("benches/prices.json")).unwrap(),
    )
    .unwrap();
    let measured = repository().join("benches/measured-days.json");
    if std::env::var("DAY_TABLES_ONLY").is_ok_and(|v| v == "1") {
        // New prices, the same measured days.
        let days: Vec<Day> =
            serde_json::from_str(&std::fs::read_to_string(&measured).unwrap()).unwrap();
        write_tables(&days, &prices);
        return;
    }

    // A day of R runs a pipeline repeats itself every 1440 / R minutes: the full day
    // simulates one such period, with one run of each pipeline, and counts it R times
    // (when the period is whole hours, so that the hours' metrics repeat too).
    let period = MINUTES_A_DAY / runs;
    let (simulated_runs, minutes, repeats) =
        if full && MINUTES_A_DAY.is_multiple_of(runs) && period.is_multiple_of(60) {
            (1, period, runs)
        } else {
            (runs, minutes, 1)
        };
    let mut days = Vec::new();
    for &pipelines in &sizes {
        for events in [true, false] {
            let started = std::time::Instant::now();
            let mut day = simulate(pipelines, simulated_runs, period, events, minutes)
                .await
                .repeated(repeats);
            day.runs_per_day = runs;
            println!(
                "{pipelines} pipelines, events {}: simulated in {:.0} s",
                if events { "on" } else { "off" },
                started.elapsed().as_secs_f64()
            );
            days.push(day);
        }
    }
    println!("\n{}\n{}", bill::units(&days), bill::table(&days, &prices));
    if !full {
        // The smoke test: two hours of two pipelines, each running its first release.
        for day in &days {
            assert!(day.published >= 2, "{day:?}");
            assert!(day.write_units > 0 && day.read_units > 0.0, "{day:?}");
            assert_eq!(
                day.metric_hours, 0,
                "a healthy day writes no metric: {day:?}"
            );
        }
        return;
    }
    if !print_only {
        std::fs::write(
            &measured,
            serde_json::to_string_pretty(&days).unwrap() + "\n",
        )
        .unwrap();
        println!("wrote {}", measured.display());
        write_tables(&days, &prices);
    }
}

/// docs/costs.md with the tables of `days` at `prices`.
fn write_tables(days: &[Day], prices: &Prices) {
    let doc = repository().join("docs/costs.md");
    let text = std::fs::read_to_string(&doc).unwrap();
    std::fs::write(
        &doc,
        bill::with_section(&text, &bill::section(days, prices)),
    )
    .unwrap();
    println!("wrote the tables of {}", doc.display());
}

/// The billable units of `minutes` of a day of `pipelines` pipelines, each running `runs`
/// times, one run every `period` minutes.
#[allow(clippy::too_many_lines)] // one simulation, read top to bottom
async fn simulate(
    pipelines: usize,
    runs: usize,
    period: usize,
    events: bool,
    minutes: usize,
) -> Day {
    let config = sdk_config().await;
    let table = create_table(&aws_sdk_dynamodb::Client::new(&config)).await;
    let inbox = Inbox::create(&config).await;
    let fake = FakeCodePipeline::start_keep_alive();
    let dynamodb = FaultProxy::start(&require("AWS_ENDPOINT_URL_DYNAMODB"));
    let sns = FaultProxy::start(&require("AWS_ENDPOINT_URL_SNS"));
    let counts = Arc::new(Mutex::new(Counts::default()));
    let shared = Arc::clone(&counts);
    dynamodb.observe(move |operation, body| shared.lock().unwrap().dynamodb(operation, body));
    let shared = Arc::clone(&counts);
    sns.observe(move |operation, body| shared.lock().unwrap().sns(operation, body));

    // The pipelines, each at rest after an earlier run, and each run's commit. One in
    // four runs its release with a failure and a retry, the others theirs through an
    // approval: every kind of message, in the proportions of a busy team.
    let prefix = unique("day");
    let names: Vec<String> = (0..pipelines).map(|i| format!("{prefix}-{i:03}")).collect();
    let shapes = [
        Shape::load("release-failure-retry"),
        Shape::load("manual-approval"),
    ];
    let shape_of = |i: usize| &shapes[usize::from(!i.is_multiple_of(4))];
    for (i, name) in names.iter().enumerate() {
        let shape = shape_of(i);
        fake.set_state(&variant(&shape.states[0], name, i, 0));
        for r in 0..runs {
            for execution in &shape.executions {
                fake.set_execution(&variant(execution, name, i, r));
            }
        }
    }
    // When each step of each run happens: runs spread over the day, pipelines apart, each
    // run within its period.
    let span = shapes.iter().map(|s| s.states.len() - 1).max().unwrap() * STEP_MINUTES;
    let mut steps: BTreeMap<usize, Vec<(usize, usize, usize)>> = BTreeMap::new();
    for i in 0..pipelines {
        let offset = (i * 37) % (period - span);
        for r in 0..runs {
            for step in 1..shape_of(i).states.len() {
                let at = r * period + offset + (step - 1) * STEP_MINUTES;
                steps.entry(at).or_default().push((i, r, step));
            }
        }
    }

    let log = Path::new(env!("CARGO_TARGET_TMPDIR")).join(format!("{prefix}.log"));
    let lambda = Lambda::start(
        env!("CARGO_BIN_EXE_pipewatch-lambda"),
        &[
            ("PIPELINES", format!("{prefix}-*")),
            ("TABLE_NAME", table),
            ("TOPIC_ARN", inbox.topic_arn.clone()),
            ("DEAD_LETTER_QUEUE_URL", inbox.dead_letter_url.clone()),
            ("LOG_LEVEL", "info".to_owned()),
            ("AWS_ENDPOINT_URL_CODEPIPELINE", fake.url()),
            ("AWS_ENDPOINT_URL_DYNAMODB", dynamodb.url()),
            ("AWS_ENDPOINT_URL_SNS", sns.url()),
        ],
        log,
    );
    let scheduled = std::fs::read(repository().join("events/scheduled-event.json")).unwrap();
    // The first sight of every pipeline, once in a stack's life: not part of the day.
    invoke(&lambda, &scheduled);
    *counts.lock().unwrap() = Counts::default();
    let mut printed = lambda.logs().len();

    let schedule = if events { 5 } else { 1 };
    let mut day = Day {
        pipelines,
        runs_per_day: runs,
        events,
        managed_key: true,
        ticks: 0,
        event_invocations: 0,
        billed_ms: 0,
        memory_mb: MEMORY_MB,
        read_units: 0.0,
        write_units: 0,
        largest_item_bytes: 0,
        published: 0,
        emailed: 0,
        events_sent: 0,
        sqs_requests: 0,
        publish_periods: 0,
        kms_requests: 0,
        log_bytes: 0,
        metric_hours: 0,
        alarms: alarms(),
    };
    // The 5-minute periods with publishes, with events, with table requests (KMS).
    let (mut published, mut with_events, mut with_table) =
        (BTreeSet::new(), BTreeSet::new(), BTreeSet::new());
    for minute in 0..minutes {
        let before = counts.lock().unwrap().clone();
        let moved = steps.remove(&minute).unwrap_or_default();
        for &(i, r, step) in &moved {
            fake.set_state(&variant(&shape_of(i).states[step], &names[i], i, r));
        }
        if events {
            for &(i, ..) in &moved {
                day.billed_ms += invoke(&lambda, &event_batch(&names[i], &inbox.topic_arn));
                day.event_invocations += 1;
                day.events_sent += EVENTS_PER_STEP;
            }
        }
        if minute % schedule == 0 {
            day.billed_ms += invoke(&lambda, &scheduled);
            day.ticks += 1;
        }
        let after = counts.lock().unwrap().clone();
        if after.published > before.published {
            published.insert(minute / 5);
        }
        if events && !moved.is_empty() {
            with_events.insert(minute / 5);
        }
        if after.requests > before.requests {
            with_table.insert(minute / 5);
        }
        if (minute + 1) % 60 == 0 || minute + 1 == minutes {
            let logs = lambda.logs();
            let hour = &logs[printed..];
            printed = logs.len();
            day.log_bytes += hour.len() as u64;
            day.metric_hours += distinct_metrics(hour);
        }
    }
    drop(lambda);

    let counts = counts.lock().unwrap();
    day.read_units = counts.read_units;
    day.write_units = counts.write_units;
    day.largest_item_bytes = counts.largest_item;
    day.published = counts.published;
    day.emailed = counts.emailed;
    day.log_bytes += RUNTIME_LOG_BYTES * (day.ticks + day.event_invocations);
    // The shard queue always has an event source; the event queue with events.
    let polled_queues = if events { 2 } else { 1 };
    day.sqs_requests =
        day.events_sent + day.event_invocations + polled_queues * POLLS_A_MINUTE * minutes as u64;
    // AWS's formulas for a data key reused 5 minutes: SNS 2 a period per publisher, SQS 2
    // per sender and 1 per receiver, DynamoDB about 1 per caller.
    day.publish_periods = published.len() as u64;
    day.kms_requests =
        2 * day.publish_periods + 3 * with_events.len() as u64 + with_table.len() as u64;
    day
}

/// A recorded run: its states, step by step, and the executions CodePipeline knows.
struct Shape {
    states: Vec<Value>,
    executions: Vec<Value>,
}

impl Shape {
    fn load(scenario_name: &str) -> Self {
        let parse = |s: &String| serde_json::from_str::<Value>(s).unwrap();
        let states: Vec<Value> = scenario(scenario_name).iter().map(parse).collect();
        let mut executions: Vec<Value> = scenario_executions(scenario_name)
            .iter()
            .map(parse)
            .collect();
        // The earlier run the pipeline rests after has no recorded execution: as
        // CodePipeline would, the fake knows it too (with the recorded one's commit).
        let mut earlier = executions[0].clone();
        earlier["pipelineExecution"]["pipelineExecutionId"] =
            states[0]["stageStates"][0]["latestExecution"]["pipelineExecutionId"].clone();
        assert_ne!(
            earlier, executions[0],
            "{scenario_name} starts after another run"
        );
        executions.push(earlier);
        Self { states, executions }
    }
}

/// Invokes the function; the billed milliseconds of the invocation.
fn invoke(lambda: &Lambda, payload: &[u8]) -> u64 {
    let answer = lambda.invoke_payload(payload);
    assert_eq!(answer["errors"], 0, "{answer}");
    let checked = answer["pipelines_checked"].as_u64().unwrap_or(0);
    answer["duration_ms"].as_u64().unwrap() + checked.div_ceil(CONCURRENCY) * CODEPIPELINE_MS
}

/// `state` (or an execution) as pipeline `i` shows it on run `r`: its name, and ids of
/// its own for the run.
fn variant(state: &Value, name: &str, i: usize, r: usize) -> String {
    fn walk(value: &mut Value, suffix: &str) {
        match value {
            Value::Object(map) => {
                for (key, value) in map.iter_mut() {
                    if key.ends_with("xecutionId")
                        && let Value::String(id) = value
                        && id.len() > suffix.len()
                    {
                        id.replace_range(id.len() - suffix.len().., suffix);
                    } else {
                        walk(value, suffix);
                    }
                }
            }
            Value::Array(items) => items.iter_mut().for_each(|v| walk(v, suffix)),
            _ => {}
        }
    }
    let mut state = state.clone();
    walk(&mut state, &format!("{i:04}{r:04}"));
    if state.get("pipelineName").is_some() {
        state["pipelineName"] = json!(name);
    }
    if let Some(execution) = state.get_mut("pipelineExecution") {
        execution["pipelineName"] = json!(name);
    }
    state.to_string()
}

/// One SQS batch of a step's CodePipeline events, as the event queue hands it over, from
/// the account and region of `topic` (the stack's).
fn event_batch(pipeline: &str, topic: &str) -> Vec<u8> {
    let parts: Vec<&str> = topic.split(':').collect();
    let (region, account) = (parts[3], parts[4]);
    let records: Vec<Value> = (0..EVENTS_PER_STEP)
        .map(|n| {
            let event = json!({"version": "0", "id": format!("e-{n}"),
                "detail-type": "CodePipeline Action Execution State Change",
                "source": "aws.codepipeline", "account": account,
                "time": "2026-12-03T09:00:00Z", "region": region,
                "resources": [format!("arn:aws:codepipeline:{region}:{account}:{pipeline}")],
                "detail": {"pipeline": pipeline, "version": 1.0, "state": "STARTED"}});
            json!({"messageId": format!("m-{n}"), "receiptHandle": "r", "body": event.to_string(),
                "attributes": {}, "messageAttributes": {}, "md5OfBody": "",
                "eventSource": "aws:sqs",
                "eventSourceARN": "arn:aws:sqs:eu-west-1:123456789012:pipewatch-events",
                "awsRegion": "eu-west-1"})
        })
        .collect();
    json!({ "Records": records }).to_string().into_bytes()
}

/// Distinct metrics (namespace, name, dimension values) in `logs`' EMF lines.
fn distinct_metrics(logs: &str) -> u64 {
    let mut seen = BTreeSet::new();
    for line in logs.lines() {
        let Ok(document) = serde_json::from_str::<Value>(line) else {
            continue;
        };
        let Some(directives) = document["_aws"]["CloudWatchMetrics"].as_array() else {
            continue;
        };
        for directive in directives {
            let dimensions: Vec<String> = directive["Dimensions"][0]
                .as_array()
                .into_iter()
                .flatten()
                .map(|d| format!("{d}={}", document[d.as_str().unwrap()]))
                .collect();
            for metric in directive["Metrics"].as_array().into_iter().flatten() {
                seen.insert(format!(
                    "{}/{}/{dimensions:?}",
                    directive["Namespace"], metric["Name"]
                ));
            }
        }
    }
    seen.len() as u64
}

/// The template's alarms without the forwarder.
fn alarms() -> u64 {
    let template = std::fs::read_to_string(repository().join("template.yaml")).unwrap();
    let lines: Vec<&str> = template.lines().collect();
    lines
        .windows(2)
        .filter(|w| {
            w[0].trim() == "Type: AWS::CloudWatch::Alarm"
                && w[1].trim() != "Condition: HasForwarder"
        })
        .count() as u64
}

/// What the proxies saw, in billable units.
#[derive(Default, Clone)]
struct Counts {
    /// DynamoDB requests of any kind.
    requests: u64,
    read_units: f64,
    write_units: u64,
    largest_item: u64,
    published: u64,
    emailed: u64,
}

impl Counts {
    fn dynamodb(&mut self, operation: &str, body: &[u8]) {
        let request: Value = serde_json::from_slice(body).unwrap_or_default();
        self.requests += 1;
        match operation {
            "PutItem" => {
                let size = bill::item_size(request["Item"].as_object().unwrap());
                self.largest_item = self.largest_item.max(size);
                self.write_units += size.div_ceil(1024).max(1);
            }
            // Eventually consistent reads of records under 4 KB: half a unit an item.
            "BatchGetItem" => {
                for table in request["RequestItems"].as_object().into_iter().flatten() {
                    #[allow(clippy::cast_precision_loss)]
                    let keys = table.1["Keys"].as_array().map_or(0, Vec::len) as f64;
                    self.read_units += keys * 0.5;
                }
            }
            "GetItem" => {
                self.read_units += if request["ConsistentRead"] == true {
                    1.0
                } else {
                    0.5
                };
            }
            other => panic!("pipewatch called DynamoDB's {other}: count its units"),
        }
    }

    fn sns(&mut self, operation: &str, body: &[u8]) {
        let form: BTreeMap<String, String> = String::from_utf8_lossy(body)
            .split('&')
            .filter_map(|pair| pair.split_once('='))
            .map(|(k, v)| (k.to_owned(), v.to_owned()))
            .collect();
        let messages = match operation {
            "PublishBatch" => form
                .keys()
                .filter(|k| {
                    k.starts_with("PublishBatchRequestEntries.member.") && k.ends_with(".Id")
                })
                .count() as u64,
            "Publish" => 1,
            _ => 0,
        };
        self.published += messages;
        self.emailed += form
            .iter()
            .filter(|(k, v)| k.ends_with(".Name") && *v == "severity")
            .filter(|(k, _)| {
                let value = k.replace(".Name", ".Value.StringValue");
                matches!(
                    form.get(&value).map(String::as_str),
                    Some("failure" | "approval")
                )
            })
            .count() as u64;
    }
}

fn list_from_env(name: &str) -> Option<Vec<usize>> {
    let value = std::env::var(name).ok()?;
    Some(
        value
            .split(',')
            .map(|n| {
                n.trim()
                    .parse()
                    .unwrap_or_else(|_| panic!("{name}: {value:?}"))
            })
            .collect(),
    )
}
