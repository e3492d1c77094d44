//! The Lambda binary itself, end to end: cargo-lambda's local Runtime API
//! (`cargo lambda watch --only-lambda-apis`) runs the built `pipewatch-lambda`, events are
//! sent with `cargo lambda invoke --data-file events/...`, and the function reaches
//! DynamoDB Local, moto and the CodePipeline fake through `AWS_ENDPOINT_URL_*` alone.

use std::path::Path;
use std::process::Command;

use pipewatch_testkit::fake_codepipeline::FakeCodePipeline;
use pipewatch_testkit::fixtures::{scenario, scenario_executions};
use pipewatch_testkit::lambda::Lambda;
use pipewatch_testkit::services::{Inbox, create_table, sdk_config};

#[tokio::test(flavor = "multi_thread")]
async fn the_lambda_binary_ticks_on_scheduled_and_sharded_events() {
    let config = sdk_config().await;
    let table = create_table(&aws_sdk_dynamodb::Client::new(&config)).await;
    let inbox = Inbox::create(&config).await;
    let fake = FakeCodePipeline::start();
    let release = scenario("release-failure-retry");
    let approval = scenario("manual-approval");
    fake.set_state(&release[0]);
    fake.set_state(&approval[0]);
    for execution in scenario_executions("release-failure-retry")
        .iter()
        .chain(&scenario_executions("manual-approval"))
    {
        fake.set_execution(execution);
    }

    let environment = [
        ("PIPELINES", "web-app-release,infra-prod".to_owned()),
        ("TABLE_NAME", table),
        ("TOPIC_ARN", inbox.topic_arn.clone()),
        ("DEAD_LETTER_QUEUE_URL", inbox.dead_letter_url.clone()),
        ("LOG_LEVEL", "debug".to_owned()),
        ("AWS_ENDPOINT_URL_CODEPIPELINE", fake.url()),
    ];
    let log = Path::new(env!("CARGO_TARGET_TMPDIR"))
        .join(format!("lambda-e2e-{}.log", std::process::id()));
    let lambda = Lambda::start(env!("CARGO_BIN_EXE_pipewatch-lambda"), &environment, log);

    let baseline = lambda.summary("scheduled-event.json");
    assert_eq!(baseline["pipelines_checked"], 2);
    assert_eq!(baseline["changes"], 0);

    fake.set_state(&release[2]);
    fake.set_state(&approval[1]);
    let changed = lambda.summary("scheduled-event.json");
    assert_eq!(changed["messages_published"], 2, "{changed}");
    let delivered = inbox.drain().await;
    assert_eq!(delivered.len(), 2);

    // The sharded schedule names its own pipelines; payments-api does not exist here. A
    // pipeline that cannot be read is the FailedPipelines metric's to tell (and, after
    // REPORT_FAILURES_AFTER ticks, its own message's), not an invocation error.
    let output = lambda.invoke("sharded-schedule-input.json");
    let stderr = String::from_utf8_lossy(&output.stderr);
    assert!(output.status.success(), "{stderr}");
    assert!(fake.calls("payments-api") > 0);

    // One JSON summary line per tick, and never the approval token.
    let logs = lambda.logs();
    let summaries: Vec<serde_json::Value> = logs
        .lines()
        .filter_map(|line| serde_json::from_str::<serde_json::Value>(line).ok())
        .filter(|line| line["message"] == "tick summary")
        .collect();
    assert_eq!(summaries.len(), 3, "{logs}");
    assert_eq!(summaries[1]["messages_published"], 2);
    assert!(
        summaries[2]["failed"]
            .as_str()
            .unwrap()
            .contains("payments-api")
    );
    assert!(!logs.contains("6f1a2b3c-4d5e-4f60-8a7b-9c0d1e2f3a4b"));

    // Each tick's metrics, in Embedded Metric Format, valid against the specification.
    let documents: Vec<serde_json::Value> = logs
        .lines()
        .filter_map(|line| serde_json::from_str::<serde_json::Value>(line).ok())
        .filter(|line| line.get("_aws").is_some())
        .collect();
    for document in &documents {
        assert_valid_emf(document);
    }
    // Only what is not zero, and only what tells a fault: the quiet baseline tick and the
    // changed one write no metric at all (that messages went out is SNS's free metric),
    // the sharded one its failed pipeline. What every tick has (that it ran, its duration,
    // its calls, its changes) is left to the logs and to Lambda's own metrics unless
    // DETAILED_METRICS=yes.
    assert_eq!(documents.len(), 1, "{documents:#?}");
    assert_eq!(documents[0]["FailedPipelines"], 1);
    assert_eq!(documents[0]["Function"], "_");
    for name in [
        "Changes",
        "MessagesPublished",
        "PipelinesChecked",
        "TickDuration",
        "ApiCalls",
        "Api",
    ] {
        assert!(documents[0].get(name).is_none(), "{name}: {}", documents[0]);
    }
    assert!(approval[1].contains("6f1a2b3c-4d5e-4f60-8a7b-9c0d1e2f3a4b"));
    drop(lambda.function);
}

/// The EMF specification's rules for one log line: `_aws` with an integer `Timestamp` and
/// `CloudWatchMetrics` directives, each with a `Namespace`, `Dimensions` (sets of at most
/// 30 keys, each a string member of the line) and `Metrics` (each `Name` a member of the
/// line holding a number or an array of at most 100 numbers, `Unit` a CloudWatch unit).
fn assert_valid_emf(document: &serde_json::Value) {
    const UNITS: [&str; 4] = ["Count", "Seconds", "Milliseconds", "None"];
    let aws = &document["_aws"];
    assert!(aws["Timestamp"].is_u64(), "{document}");
    let directives = aws["CloudWatchMetrics"].as_array().expect("directives");
    assert!(!directives.is_empty());
    for directive in directives {
        let namespace = directive["Namespace"].as_str().unwrap();
        assert!(!namespace.is_empty() && namespace.len() <= 255);
        for set in directive["Dimensions"].as_array().unwrap() {
            let set = set.as_array().unwrap();
            assert!(set.len() <= 30);
            for key in set {
                let key = key.as_str().unwrap();
                assert!(document[key].is_string(), "dimension {key}: {document}");
            }
        }
        let metrics = directive["Metrics"].as_array().unwrap();
        assert!(!metrics.is_empty() && metrics.len() <= 100);
        for metric in metrics {
            let name = metric["Name"].as_str().unwrap();
            let value = &document[name];
            let numbers = value.is_number()
                || value
                    .as_array()
                    .is_some_and(|a| a.len() <= 100 && a.iter().all(serde_json::Value::is_number));
            assert!(numbers, "metric {name}: {document}");
            if let Some(unit) = metric.get("Unit") {
                assert!(UNITS.contains(&unit.as_str().unwrap()), "{metric}");
            }
        }
    }
}

#[test]
fn a_bad_configuration_stops_the_cold_start_naming_the_variable() {
    let cases = [
        (
            vec![
                ("TABLE_NAME", "t-able"),
                ("TOPIC_ARN", "arn:aws:sns:us-east-1:1:t"),
            ],
            "PIPELINES is not set",
        ),
        (
            vec![
                ("PIPELINES", "a"),
                ("TABLE_NAME", "t-able"),
                ("TOPIC_ARN", "not-an-arn"),
            ],
            "TOPIC_ARN must be an SNS topic ARN",
        ),
        (
            vec![
                ("PIPELINES", "a"),
                ("TABLE_NAME", "t-able"),
                ("TOPIC_ARN", "arn:aws:sns:us-east-1:1:t"),
                ("MAX_CONCURRENCY", "lots"),
            ],
            "MAX_CONCURRENCY must be a whole number",
        ),
    ];
    for (environment, expected) in cases {
        let output = Command::new(env!("CARGO_BIN_EXE_pipewatch-lambda"))
            .env_clear()
            .envs(environment)
            .output()
            .unwrap();
        assert!(!output.status.success());
        let stderr = String::from_utf8_lossy(&output.stderr);
        assert!(stderr.contains(expected), "{stderr}");
        assert!(!stderr.contains("panicked"), "{stderr}");
    }
}
