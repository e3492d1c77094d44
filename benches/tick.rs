//! What one tick costs: wall time and calls per AWS service, for a stack's worth of
//! pipelines (20, the template's maximum), on quiet ticks and on ticks where every
//! pipeline changed; and the process's peak memory. Run with `./scripts/bench.sh`, which
//! starts DynamoDB Local and moto. Calls are counted by proxies in front of the emulators.
//!
//! The figures feed the template's memory and timeout and the README's cost estimate.

#[path = "../tests/support/mod.rs"]
mod support;

use std::time::{Duration, Instant};

use pipewatch::aws::{CodePipelineSource, DynamoStore, SnsNotifier};
use pipewatch::select::PipelineRef;
use pipewatch::tick::{Settings, TickSummary, Watcher};
use support::fake_codepipeline::FakeCodePipeline;
use support::fault_proxy::FaultProxy;
use support::fixtures::{scenario, scenario_executions};
use support::services::{Inbox, create_table, require, sdk_config};

const PIPELINES: usize = 20;
const QUIET_TICKS: usize = 30;

#[tokio::main]
async fn main() {
    let config = sdk_config().await;
    let table = create_table(&aws_sdk_dynamodb::Client::new(&config)).await;
    let inbox = Inbox::create(&config).await;
    let fake = FakeCodePipeline::start();
    let dynamodb = FaultProxy::start(&require("AWS_ENDPOINT_URL_DYNAMODB"));
    let sns = FaultProxy::start(&require("AWS_ENDPOINT_URL_SNS"));

    let watcher = Watcher {
        source: fake.source(&config),
        store: DynamoStore::new(
            aws_sdk_dynamodb::Client::from_conf(
                aws_sdk_dynamodb::config::Builder::from(&config)
                    .endpoint_url(dynamodb.url())
                    .build(),
            ),
            &table,
        ),
        notifier: SnsNotifier::new(
            aws_sdk_sns::Client::from_conf(
                aws_sdk_sns::config::Builder::from(&config)
                    .endpoint_url(sns.url())
                    .build(),
            ),
            &inbox.topic_arn,
        ),
        settings: Settings {
            lease: Duration::from_mins(2),
            max_concurrency: 8,
            console: None,
            retention: None,
        },
    };

    // Each pipeline is the recorded release, renamed: 3 stages, 4 actions.
    let states = scenario("release-failure-retry");
    let names: Vec<String> = (0..PIPELINES).map(|i| format!("release-{i:02}")).collect();
    let set_step = |step: usize| {
        for name in &names {
            fake.set_state(&states[step].replace("web-app-release", name));
        }
    };

    // The pipelines share the release's execution id; each pipeline's record caches it.
    for execution in scenario_executions("release-failure-retry") {
        fake.set_execution(&execution);
    }

    println!("one tick over {PIPELINES} pipelines (local emulators; AWS adds its latency)");
    println!(
        "{:<28} {:>9} {:>16} {:>20} {:>9} {:>5}",
        "tick", "ms", "GetPipelineState", "GetPipelineExecution", "DynamoDB", "SNS"
    );
    set_step(0);
    measure(
        "first (baselines)",
        &watcher,
        &names,
        &fake,
        &dynamodb,
        &sns,
    )
    .await;
    let mut quiet = Vec::new();
    for _ in 0..QUIET_TICKS {
        quiet.push(tick_costs(&watcher, &names, &fake, &dynamodb, &sns).await);
    }
    quiet.sort_by_key(|costs| costs.ms);
    let median = &quiet[QUIET_TICKS / 2];
    print_row(&format!("quiet (median of {QUIET_TICKS})"), median);
    for step in 1..states.len() {
        set_step(step);
        measure(
            &format!("all changed (step {step})"),
            &watcher,
            &names,
            &fake,
            &dynamodb,
            &sns,
        )
        .await;
    }
    println!(
        "peak resident memory of this process: {} MB",
        peak_rss_kb() / 1024
    );
}

/// One tick's wall time and calls per API.
struct Costs {
    ms: u128,
    get_state: usize,
    get_execution: usize,
    dynamodb: usize,
    sns: usize,
}

async fn tick_costs(
    watcher: &Watcher<CodePipelineSource, DynamoStore, SnsNotifier>,
    names: &[String],
    fake: &FakeCodePipeline,
    dynamodb: &FaultProxy,
    sns: &FaultProxy,
) -> Costs {
    let before = (
        calls(fake, names),
        fake.all_execution_calls(),
        dynamodb.forwarded(),
        sns.forwarded(),
    );
    let started = Instant::now();
    let pipelines: Vec<PipelineRef> = names.iter().map(PipelineRef::home).collect();
    let summary: TickSummary = watcher.run_tick(&pipelines).await;
    let ms = started.elapsed().as_millis();
    assert!(summary.failed.is_empty(), "{summary:?}");
    Costs {
        ms,
        get_state: calls(fake, names) - before.0,
        get_execution: fake.all_execution_calls() - before.1,
        dynamodb: dynamodb.forwarded() - before.2,
        sns: sns.forwarded() - before.3,
    }
}

fn print_row(label: &str, costs: &Costs) {
    println!(
        "{label:<28} {:>9} {:>16} {:>20} {:>9} {:>5}",
        costs.ms, costs.get_state, costs.get_execution, costs.dynamodb, costs.sns
    );
}

/// Runs one tick and prints its costs as a table row.
async fn measure(
    label: &str,
    watcher: &Watcher<CodePipelineSource, DynamoStore, SnsNotifier>,
    names: &[String],
    fake: &FakeCodePipeline,
    dynamodb: &FaultProxy,
    sns: &FaultProxy,
) {
    print_row(
        label,
        &tick_costs(watcher, names, fake, dynamodb, sns).await,
    );
}

fn calls(fake: &FakeCodePipeline, names: &[String]) -> usize {
    names.iter().map(|n| fake.calls(n)).sum()
}

/// `VmHWM`: the most resident memory this process has had.
fn peak_rss_kb() -> u64 {
    std::fs::read_to_string("/proc/self/status")
        .unwrap_or_default()
        .lines()
        .find_map(|line| line.strip_prefix("VmHWM:"))
        .and_then(|value| value.trim().trim_end_matches("kB").trim().parse().ok())
        .unwrap_or(0)
}
