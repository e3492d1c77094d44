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

use std::path::Path;
use std::time::{Duration, Instant};

use pipewatch_testkit::fake_codepipeline::FakeCodePipeline;
use pipewatch_testkit::fake_slack::{FakeSlack, form, sign};
use pipewatch_testkit::fixtures::scenario;
use pipewatch_testkit::lambda::Lambda;
use pipewatch_testkit::services::{create_secret, create_table, drain_queue, sdk_config, unique};
use serde_json::{Value, json};

const SECRET: &str = "bench-signing-secret-0123456789ab";
const RUN: &str = "5a6b7c8d-9e0f-4a1b-8c2d-3e4f5a6b7c8d";
/// Named by id in the approvers.
const MARIA: &str = "U024BE7LH";
/// Allowed as a member of a user group, read from Slack.
const MEMBER: &str = "U0RELEASE01";

#[tokio::main]
async fn main() {
    let full = std::env::args().any(|a| a == "--bench");
    let (warm, stalled, decided) = if full { (200, 20, 10) } else { (3, 1, 1) };
    let config = sdk_config().await;
    let secret = create_secret("signing", SECRET).await;
    let token_secret = create_secret("bot-token", pipewatch_testkit::fake_slack::TOKEN).await;
    let slack = FakeSlack::start();
    let sqs = aws_sdk_sqs::Client::new(&config);
    let queue = sqs
        .create_queue()
        .queue_name(unique("approvals"))
        .send()
        .await
        .unwrap()
        .queue_url
        .unwrap();
    let table = create_table(&aws_sdk_dynamodb::Client::new(&config)).await;
    slack.set_group("S0RELEASE1", &["U0RELEASE01"]);
    let fake = FakeCodePipeline::start_keep_alive();
    let waiting = scenario("release-retry-approval")[4].clone();
    fake.set_state(&waiting);
    let environment = [
        ("SLACK_SIGNING_SECRET_ARN", secret),
        ("SLACK_TEAM_ID", "T0PIPEWATCH".to_owned()),
        ("SLACK_APP_ID", "A0PIPEWATCH".to_owned()),
        (
            "APPROVERS",
            r#"[{"users": ["U024BE7LH"], "pipelines": ["web-*"]},
                {"groups": ["S0RELEASE1"], "pipelines": ["web-*"]}]"#
                .to_owned(),
        ),
        ("APPROVAL_QUEUE_URL", queue.clone()),
        ("ACCOUNT_ID", "123456789012".to_owned()),
        ("PIPELINES", "web-*".to_owned()),
        ("SLACK_APP_SECRET_ARN", token_secret.clone()),
        ("SLACK_API_URL", slack.url()),
        ("TABLE_NAME", table),
        ("AWS_ENDPOINT_URL_CODEPIPELINE", fake.url()),
        ("LOG_LEVEL", "warn".to_owned()),
    ];
    let log = Path::new(env!("CARGO_TARGET_TMPDIR")).join(format!("{}.log", unique("approver")));

    let started = Instant::now();
    let lambda = Lambda::start(env!("CARGO_BIN_EXE_pipewatch-approver"), &environment, log);
    let answer = lambda.invoke_payload(&click(&slack, RUN, MARIA));
    let cold = started.elapsed();
    assert_eq!(answer["statusCode"], 200, "{}", lambda.logs());
    println!(
        "click → answer, first click after the process starts (start included): {:.0} ms",
        ms(cold)
    );

    let mut times = time_clicks(&lambda, &slack, MARIA, warm);
    report("click → answer, warm", &mut times);
    fake.set_latency(Duration::from_secs(5));
    let mut times = time_clicks(&lambda, &slack, MARIA, stalled);
    report(
        "click → answer, warm, CodePipeline answering after 5 s",
        &mut times,
    );
    fake.set_latency(Duration::ZERO);
    // Each series starts with an empty queue (moto's SQS slows as one fills).
    drain_queue(&sqs, &queue).await;
    // A group member: the first click reads the group from Slack, the next ones do not.
    let start = Instant::now();
    let answer = lambda.invoke_payload(&click(&slack, RUN, MEMBER));
    assert_eq!(answer["statusCode"], 200);
    println!(
        "click → answer, a user group's member, the group read from Slack: {:.1} ms",
        ms(start.elapsed())
    );
    let mut times = time_clicks(&lambda, &slack, MEMBER, warm);
    report(
        "click → answer, a user group's member, the group as read",
        &mut times,
    );
    drain_queue(&sqs, &queue).await;

    // Click → recorded: each time a new approval run waits, and is approved.
    let mut times = Vec::new();
    for i in 0..decided {
        let run = format!("bench-run-{i}");
        fake.set_state(&waiting.replace(RUN, &run));
        let recorded = fake.approvals().len();
        let start = Instant::now();
        let answer = lambda.invoke_payload(&click(&slack, &run, MARIA));
        assert_eq!(answer["statusCode"], 200);
        let bodies = drain_queue(&sqs, &queue).await;
        let records: Vec<Value> = bodies
            .iter()
            .map(|body| json!({"messageId": "m", "body": body, "eventSource": "aws:sqs"}))
            .collect();
        let taken = lambda.invoke_payload(json!({"Records": records}).to_string().as_bytes());
        assert_eq!(taken, json!({"batchItemFailures": []}));
        assert_eq!(fake.approvals().len(), recorded + 1, "recorded");
        times.push(start.elapsed());
    }
    report(
        "click → approval recorded (answer, queue, decision; the queue read by the bench)",
        &mut times,
    );
}

fn time_clicks(lambda: &Lambda, slack: &FakeSlack, user: &str, count: usize) -> Vec<Duration> {
    (0..count)
        .map(|_| {
            let payload = click(slack, RUN, user);
            let start = Instant::now();
            let answer = lambda.invoke_payload(&payload);
            let elapsed = start.elapsed();
            assert_eq!(answer["statusCode"], 200);
            elapsed
        })
        .collect()
}

/// A function URL event carrying `user`'s signed click on Approve for approval run `run`.
fn click(slack: &FakeSlack, run: &str, user: &str) -> Vec<u8> {
    let mut payload = json!({
        "type": "block_actions",
        "team": {"id": "T0PIPEWATCH"},
        "api_app_id": "A0PIPEWATCH",
        "user": {"id": user, "name": "Maria Silva"},
        "response_url": slack.response_url(),
        "actions": [{"action_id": "pipewatch-approve", "value": json!({
            "pipeline": "web-app-release", "stage": "Approve", "action": "ReleaseApproval",
            "action_execution_id": run}).to_string()}]
    });
    payload["message"] =
        json!({"blocks": [{"type": "actions", "elements": [payload["actions"][0].clone()]}]});
    let body = form(&payload);
    let ts = (pipewatch_core::state::Timestamp::now().unix_millis() / 1000).to_string();
    json!({
        "headers": {
            "content-type": "application/x-www-form-urlencoded",
            "x-slack-request-timestamp": ts,
            "x-slack-signature": sign(SECRET.as_bytes(), &ts, body.as_bytes()),
        },
        "body": body,
        "isBase64Encoded": false
    })
    .to_string()
    .into_bytes()
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
