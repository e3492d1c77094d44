//! No secret in the logs at any level. Each built function runs on cargo-lambda's Runtime
//! API at `trace`, and again with a filter that asks for the AWS SDK's, hyper's and the
//! runtime's own targets at `trace`, with `LOG_SENSITIVE_BODIES=true` (the SDK's switch
//! that turns its own redaction off) and credentials carrying a session token, through the
//! paths that carry secrets: approval tokens in `GetPipelineState` and `PutApprovalResult`,
//! every signed request, every secret read from Secrets Manager, webhook URLs, the bot
//! token, the signing secret, a click's `response_url`. None of them is in the output.

use std::path::Path;

use pipewatch_testkit::approver::{RUN, SECRET, Surroundings, TOKEN, records, signed};
use pipewatch_testkit::fake_codepipeline::FakeCodePipeline;
use pipewatch_testkit::fake_slack::FakeSlack;
use pipewatch_testkit::fixtures::{scenario, scenario_executions};
use pipewatch_testkit::http::{Reply, Server};
use pipewatch_testkit::lambda::Lambda;
use pipewatch_testkit::services::{Inbox, create_secret, create_table, sdk_config};
use serde_json::json;

/// `LOG_LEVEL` as a user may set it: a level, and a filter naming the crates that print
/// requests, responses and what they sign at `trace` (after one that hides our own).
const FILTERS: [&str; 2] = [
    "trace",
    "warn,aws_smithy_runtime=trace,aws_smithy_runtime_api=trace,aws_smithy_http_client=trace,\
     aws_sigv4=trace,aws_config=trace,aws_runtime=trace,aws_sdk_codepipeline=trace,\
     aws_sdk_secretsmanager=trace,aws_sdk_dynamodb=trace,hyper=trace,hyper_util=trace,h2=trace,\
     rustls=trace,lambda_runtime=trace,lambda_runtime_api_client=trace",
];

/// The function's AWS credentials' secret parts: distinctive, so that a leak is found.
/// (The access key's id stays the test's: DynamoDB Local keeps a table per key id.)
const SECRET_ACCESS_KEY: &str = "pwLogCheckSecretAccessKey/0000000000000";
const SESSION_TOKEN: &str = "pwLogCheckSessionToken//FwoGZXIvYXdzEBAaDO0000000000000000";

/// What every function is started with besides its own variables.
fn around(filter: &str) -> Vec<(&'static str, String)> {
    vec![
        ("LOG_LEVEL", filter.to_owned()),
        ("LOG_SENSITIVE_BODIES", "true".to_owned()),
        ("AWS_SECRET_ACCESS_KEY", SECRET_ACCESS_KEY.to_owned()),
        ("AWS_SESSION_TOKEN", SESSION_TOKEN.to_owned()),
    ]
}

/// None of `secrets` (nor the credentials) is in `logs`, and the filter did let other
/// crates' `debug` through: the check is not passed by a quiet log.
fn assert_no_secret(logs: &str, secrets: &[&str], filter: &str) {
    for secret in secrets.iter().chain(&[SECRET_ACCESS_KEY, SESSION_TOKEN]) {
        assert!(!logs.contains(secret), "{filter}: {secret} in the logs");
    }
    assert!(
        logs.contains(r#""level":"DEBUG""#),
        "{filter}: the SDK's debug lines are written: {logs}"
    );
}

fn log_file(name: &str) -> std::path::PathBuf {
    Path::new(env!("CARGO_TARGET_TMPDIR")).join(format!("{name}-{}.log", std::process::id()))
}

#[tokio::test(flavor = "multi_thread")]
async fn the_watcher_logs_no_approval_token_or_credential_at_trace() {
    let config = sdk_config().await;
    let inbox = Inbox::create(&config).await;
    let fake = FakeCodePipeline::start();
    let states = scenario("manual-approval");
    let token = "6f1a2b3c-4d5e-4f60-8a7b-9c0d1e2f3a4b";
    assert!(states[1].contains(token), "the waiting approval's token");
    for execution in scenario_executions("manual-approval") {
        fake.set_execution(&execution);
    }
    for filter in FILTERS {
        let table = create_table(&aws_sdk_dynamodb::Client::new(&config)).await;
        fake.set_state(&states[0]);
        let mut environment = around(filter);
        environment.extend([
            ("PIPELINES", "infra-prod".to_owned()),
            ("TABLE_NAME", table),
            ("TOPIC_ARN", inbox.topic_arn.clone()),
            ("DEAD_LETTER_QUEUE_URL", inbox.dead_letter_url.clone()),
            ("AWS_ENDPOINT_URL_CODEPIPELINE", fake.url()),
        ]);
        let lambda = Lambda::start(
            env!("CARGO_BIN_EXE_pipewatch-lambda"),
            &environment,
            log_file("logs-watcher"),
        );
        lambda.summary("scheduled-event.json");
        fake.set_state(&states[1]);
        let changed = lambda.summary("scheduled-event.json");
        assert_eq!(changed["messages_published"], 1, "{changed}");
        assert_no_secret(&lambda.logs(), &[token], filter);
    }
    assert_eq!(inbox.drain().await.len(), FILTERS.len());
}

#[tokio::test(flavor = "multi_thread")]
async fn the_forwarder_logs_no_webhook_url_or_bot_token_at_trace() {
    let config = sdk_config().await;
    let hooks = Server::start(|_| Reply::Respond {
        status: 200,
        content_type: "text/plain",
        body: b"ok".to_vec(),
    });
    let secret_part = "B0LOGCHECKs3cr3tPart";
    let webhook = format!("{}/services/T0000/{secret_part}", hooks.url());
    let slack = FakeSlack::start();
    for filter in FILTERS {
        let table = create_table(&aws_sdk_dynamodb::Client::new(&config)).await;
        let mut environment = around(filter);
        environment.extend([
            (
                "SLACK_WEBHOOK_SECRET_ARN",
                create_secret("webhooks", &json!({"webhook_url": webhook}).to_string()).await,
            ),
            (
                "SLACK_APP_SECRET_ARN",
                create_secret("bot-token", pipewatch_testkit::fake_slack::TOKEN).await,
            ),
            (
                "SLACK_APP_ROUTES",
                r#"[{"channel": "C0LOGCHECK1"}]"#.to_owned(),
            ),
            ("SLACK_API_URL", slack.url()),
            ("TABLE_NAME", table),
        ]);
        let forwarder = Lambda::start(
            env!("CARGO_BIN_EXE_pipewatch-forwarder"),
            &environment,
            log_file("logs-forwarder"),
        );
        let output = forwarder.invoke("sns-notification.json");
        assert!(output.status.success(), "{}", forwarder.logs());
        assert_no_secret(
            &forwarder.logs(),
            &[secret_part, pipewatch_testkit::fake_slack::TOKEN],
            filter,
        );
    }
    assert_eq!(slack.top_level("C0LOGCHECK1").len(), FILTERS.len());
}

#[tokio::test(flavor = "multi_thread")]
async fn the_approver_logs_no_token_secret_or_response_url_at_trace() {
    for filter in FILTERS {
        let around_it = Surroundings::new(FakeCodePipeline::start()).await;
        let lambda = around_it.start_with(
            env!("CARGO_BIN_EXE_pipewatch-approver"),
            env!("CARGO_TARGET_TMPDIR"),
            &around(filter),
        );
        // A reject asks why first (views.open with the bot token), then an approve is
        // decided from the queue (GetPipelineState with the token, PutApprovalResult).
        let button = json!({"action_id": "pipewatch-reject", "value": json!({
            "pipeline": "web-app-release", "stage": "Approve", "action": "ReleaseApproval",
            "action_execution_id": RUN}).to_string()});
        let reject = json!({
            "type": "block_actions", "team": {"id": "T0PIPEWATCH"}, "api_app_id": "A0PIPEWATCH",
            "user": {"id": "U024BE7LH", "name": "Maria Silva"}, "trigger_id": around_it.slack.trigger_id(),
            "response_url": around_it.slack.response_url(), "actions": [button.clone()],
            "message": {"blocks": [{"type": "actions", "elements": [button]}]}
        });
        let answer = lambda.invoke_payload(&signed(&reject, SECRET));
        assert_eq!(answer["statusCode"], 200, "{}", lambda.logs());
        let answer = lambda.invoke_payload(&around_it.click("U024BE7LH", RUN, SECRET));
        assert_eq!(answer["statusCode"], 200, "{}", lambda.logs());
        let queued = around_it.queued().await;
        assert_eq!(
            lambda.invoke_payload(&records(&queued)),
            json!({"batchItemFailures": []})
        );
        assert_eq!(around_it.fake.approvals().len(), 1, "decided");
        let forged = lambda.invoke_payload(&around_it.click("U024BE7LH", RUN, "not-it"));
        assert_eq!(forged["statusCode"], 401);
        assert_no_secret(
            &lambda.logs(),
            &[
                TOKEN,
                SECRET,
                pipewatch_testkit::fake_slack::TOKEN,
                &around_it.slack.response_url(),
            ],
            filter,
        );
    }
}
