//! What the Slack app costs the forwarder per notification: the real route
//! (`pipewatch::forward::App`: the Web API client, message references in DynamoDB Local)
//! delivering a release told in 20 notifications ([`pipewatch_testkit::release`]) to a
//! wire-level fake of Slack's Web API, one forwarder in order, then four at once over the
//! run shuffled and delivered twice. Prints the time per notification (p50, p99, mean) and
//! the Slack calls per run; checks first that the fake answers faster than the forwarder
//! calls it.
//!
//! `./scripts/bench.sh slack` runs it (it starts DynamoDB Local); `cargo test` runs a small
//! version as a smoke test. docs/benchmarks.md holds the figures.

// Times shown as milliseconds in a printed table: f64's 52 bits are plenty.
#![allow(clippy::cast_precision_loss)]

use std::time::{Duration, Instant};

use pipewatch::aws::slack_refs::SlackRefs;
use pipewatch::forward::{App, AppRoute};
use pipewatch::slack::{BotToken, SlackApi};
use pipewatch_core::render::content::{Content, Severity};
use pipewatch_testkit::fake_slack::{FakeSlack, TOKEN};
use pipewatch_testkit::release::{release, shuffled};
use pipewatch_testkit::services::{create_table, sdk_config};
use serde_json::json;

#[tokio::main]
async fn main() {
    // `cargo bench` passes --bench; `cargo test` runs this as a quick smoke test.
    let full = std::env::args().any(|a| a == "--bench");
    let runs = if full { 30 } else { 2 };
    let config = sdk_config().await;
    let dynamodb = aws_sdk_dynamodb::Client::new(&config);
    let table = create_table(&dynamodb).await;
    let slack = FakeSlack::start();
    let api = SlackApi::new(BotToken::parse(TOKEN).unwrap(), Some(&slack.url())).unwrap();
    let refs = SlackRefs::new(dynamodb, &table);
    let app = App {
        api: &api,
        refs: &refs,
    };
    let run = release();

    let fake_rate = fake_calls_per_second(&api, if full { 2_000 } else { 50 }).await;
    println!("the fake Slack answers {fake_rate:.0} chat.postMessage calls a second (8 at once)");

    // One forwarder, each run in order, a channel per run.
    let mut times = Vec::new();
    let calls_before = slack.calls().len();
    let started = Instant::now();
    for r in 0..runs {
        let route = route(&format!("C0SEQ{r:04}"));
        for content in &run {
            let start = Instant::now();
            app.deliver(&route, content, deadline()).await.unwrap();
            times.push(start.elapsed());
        }
    }
    let elapsed = started.elapsed();
    let calls = slack.calls().len() - calls_before;
    let rate = calls as f64 / elapsed.as_secs_f64();
    assert!(
        rate * 2.0 < fake_rate,
        "the fake must not be the bottleneck: the forwarder called {rate:.0}/s, the fake takes {fake_rate:.0}/s"
    );
    report("1 forwarder, in order", &mut times, calls, runs, run.len());

    // Four forwarders at once over the run shuffled and delivered twice.
    let mut times = Vec::new();
    let calls_before = slack.calls().len();
    for r in 0..runs {
        let route = route(&format!("C0PAR{r:04}"));
        let deliveries = shuffled(run.iter().chain(&run).collect(), r as u64 + 1);
        let shares: Vec<Vec<&Content>> = (0..4)
            .map(|f| deliveries.iter().skip(f).step_by(4).copied().collect())
            .collect();
        let forwarders = shares.iter().map(|share| {
            let (app, route) = (&app, &route);
            async move {
                let mut times = Vec::new();
                for content in share {
                    let start = Instant::now();
                    app.deliver(route, content, deadline()).await.unwrap();
                    times.push(start.elapsed());
                }
                times
            }
        });
        for share in futures_util::future::join_all(forwarders).await {
            times.extend(share);
        }
        assert_eq!(
            slack.top_level(&route.channel).len(),
            1,
            "one message per run"
        );
    }
    let calls = slack.calls().len() - calls_before;
    report(
        "4 forwarders, shuffled, each delivered twice",
        &mut times,
        calls,
        runs,
        run.len() * 2,
    );
}

fn route(channel: &str) -> AppRoute {
    AppRoute {
        channel: channel.to_owned(),
        pipelines: pipewatch_core::config::Audience::all(),
        severity: Severity::Info,
        broadcast_failures: true,
        approvals: false,
    }
}

fn deadline() -> Instant {
    Instant::now() + Duration::from_mins(1)
}

fn report(what: &str, times: &mut [Duration], calls: usize, runs: usize, per_run: usize) {
    times.sort_unstable();
    let ms = |d: Duration| d.as_secs_f64() * 1000.0;
    let mean = times.iter().map(|d| ms(*d)).sum::<f64>() / times.len() as f64;
    println!(
        "{what}: {} deliveries; per notification p50 {:.1} ms, p99 {:.1} ms, mean {mean:.1} ms; Slack calls per run {:.1} ({} runs of {per_run} deliveries)",
        times.len(),
        ms(times[times.len() / 2]),
        ms(times[times.len() * 99 / 100]),
        calls as f64 / runs as f64,
        runs,
    );
}

/// The fake's own pace: `calls` posts, 8 at once, through the same client.
async fn fake_calls_per_second(api: &SlackApi, calls: usize) -> f64 {
    use futures_util::StreamExt;
    let started = Instant::now();
    futures_util::stream::iter(0..calls)
        .map(|i| async move {
            let body = json!({"channel": format!("C0FAKE{}", i % 8), "text": "pace"});
            api.post_message(&body).await.unwrap();
        })
        .buffer_unordered(8)
        .collect::<Vec<()>>()
        .await;
    calls as f64 / started.elapsed().as_secs_f64()
}
