//! How fast the approver answers Slack, which gives up after 3 seconds: the built
//! `pipewatch-approver` on cargo-lambda's Runtime API, clicks signed as Slack signs them,
//! its secret in moto, its queue in moto's SQS, decisions claimed in DynamoDB Local,
//! CodePipeline the wire-level fake. Prints click → answer for the first click after a
//! start (the process's start included) and for warm clicks (p50, p99), the same while
//! CodePipeline takes 5 s to answer, a user group member's clicks (the first reads the
//! group from the Slack fake), and click → approval recorded (the answer, the queue, the
//! decision).
//!
//! `./scripts/bench.sh approver` runs it; `cargo test` runs a small version as a smoke test.
//! docs/benchmarks.md holds the figures.

// Times shown as milliseconds in a printed table: f64's 52 bits are plenty.
#![allow(clippy::cast_precision_loss)]

use std::time::{Duration, Instant};

use pipewatch_testkit::approver::{RUN, SECRET, Surroundings, records};
use pipewatch_testkit::fake_codepipeline::FakeCodePipeline;
use pipewatch_testkit::fixtures::scenario;
use pipewatch_testkit::lambda::Lambda;
use serde_json::json;

/// Named by id in the approvers.
const MARIA: &str = "U024BE7LH";
/// Allowed as a member of a user group, read from Slack.
const MEMBER: &str = "U0RELEASE01";

#[tokio::main]
async fn main() {
    let full = std::env::args().any(|a| a == "--bench");
    let (warm, stalled, decided) = if full { (200, 20, 10) } else { (3, 1, 1) };
    let around = Surroundings::new(FakeCodePipeline::start_keep_alive()).await;
    around.slack.set_group("S0RELEASE1", &[MEMBER]);
    let fake = &around.fake;
    let waiting = scenario("release-retry-approval")[4].clone();

    let started = Instant::now();
    let lambda = around.start(
        env!("CARGO_BIN_EXE_pipewatch-approver"),
        env!("CARGO_TARGET_TMPDIR"),
        "warn",
    );
    let answer = lambda.invoke_payload(&around.click(MARIA, RUN, SECRET));
    let cold = started.elapsed();
    assert_eq!(answer["statusCode"], 200, "{}", lambda.logs());
    println!(
        "click → answer, first click after the process starts (start included): {:.0} ms",
        ms(cold)
    );

    let mut times = time_clicks(&lambda, &around, MARIA, warm);
    report("click → answer, warm", &mut times);
    fake.set_latency(Duration::from_secs(5));
    let mut times = time_clicks(&lambda, &around, MARIA, stalled);
    report(
        "click → answer, warm, CodePipeline answering after 5 s",
        &mut times,
    );
    fake.set_latency(Duration::ZERO);
    // Each series starts with an empty queue (moto's SQS slows as one fills).
    around.queued().await;
    // A group member: the first click reads the group from Slack, the next ones do not.
    let start = Instant::now();
    let answer = lambda.invoke_payload(&around.click(MEMBER, RUN, SECRET));
    assert_eq!(answer["statusCode"], 200);
    println!(
        "click → answer, a user group's member, the group read from Slack: {:.1} ms",
        ms(start.elapsed())
    );
    let mut times = time_clicks(&lambda, &around, MEMBER, warm);
    report(
        "click → answer, a user group's member, the group as read",
        &mut times,
    );
    around.queued().await;

    // Click → recorded: each time a new approval run waits, and is approved.
    let mut times = Vec::new();
    for i in 0..decided {
        let run = format!("bench-run-{i}");
        fake.set_state(&waiting.replace(RUN, &run));
        let recorded = fake.approvals().len();
        let start = Instant::now();
        let answer = lambda.invoke_payload(&around.click(MARIA, &run, SECRET));
        assert_eq!(answer["statusCode"], 200);
        let taken = lambda.invoke_payload(&records(&around.queued().await));
        assert_eq!(taken, json!({"batchItemFailures": []}));
        assert_eq!(fake.approvals().len(), recorded + 1, "recorded");
        times.push(start.elapsed());
    }
    report(
        "click → approval recorded (answer, queue, decision; the queue read by the bench)",
        &mut times,
    );
}

fn time_clicks(lambda: &Lambda, around: &Surroundings, user: &str, count: usize) -> Vec<Duration> {
    (0..count)
        .map(|_| {
            let payload = around.click(user, RUN, SECRET);
            let start = Instant::now();
            let answer = lambda.invoke_payload(&payload);
            let elapsed = start.elapsed();
            assert_eq!(answer["statusCode"], 200);
            elapsed
        })
        .collect()
}

fn ms(d: Duration) -> f64 {
    d.as_secs_f64() * 1000.0
}

fn report(what: &str, times: &mut [Duration]) {
    times.sort_unstable();
    println!(
        "{what}: {} clicks, p50 {:.1} ms, p99 {:.1} ms",
        times.len(),
        ms(times[times.len() / 2]),
        ms(times[times.len() * 99 / 100]),
    );
}
