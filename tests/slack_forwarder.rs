//! The optional Slack forwarder end to end: the built `pipewatch-slack` binary on
//! cargo-lambda's Runtime API reads its webhook URL from moto's Secrets Manager and posts
//! the sample SNS event (`events/sns-notification.json`) to a local webhook server.

mod support;

use std::path::Path;
use std::sync::{Arc, Mutex};

use support::http::{Reply, Server};
use support::lambda::Lambda;
use support::services::{require, sdk_config, unique};

/// The part of the webhook URL that makes it a secret.
const SECRET_PART: &str = "B0SECRETb1a2c3d4";

/// A Slack webhook stand-in that records bodies and answers with a chosen status.
fn webhook(status: u16) -> (Server, Arc<Mutex<Vec<serde_json::Value>>>) {
    let received = Arc::new(Mutex::new(Vec::new()));
    let log = Arc::clone(&received);
    let server = Server::start(move |request| {
        log.lock()
            .unwrap()
            .push(serde_json::from_slice(&request.body).unwrap());
        Reply::Respond {
            status,
            content_type: "text/plain",
            body: if status == 200 {
                b"ok".to_vec()
            } else {
                b"invalid_token".to_vec()
            },
        }
    });
    (server, received)
}

async fn secret_for(url: &str) -> String {
    require("AWS_ENDPOINT_URL_SECRETS_MANAGER");
    let client = aws_sdk_secretsmanager::Client::new(&sdk_config().await);
    client
        .create_secret()
        .name(unique("slack-webhook"))
        .secret_string(serde_json::json!({"webhook_url": url}).to_string())
        .send()
        .await
        .expect("create a secret in moto")
        .arn
        .unwrap()
}

fn start_forwarder(secret_arn: String, test: &str) -> Lambda {
    let log =
        Path::new(env!("CARGO_TARGET_TMPDIR")).join(format!("{test}-{}.log", std::process::id()));
    Lambda::start(
        env!("CARGO_BIN_EXE_pipewatch-slack"),
        &[
            ("SLACK_WEBHOOK_SECRET_ARN", secret_arn),
            ("LOG_LEVEL", "debug".to_owned()),
        ],
        log,
    )
}

#[tokio::test(flavor = "multi_thread")]
async fn a_notification_is_posted_to_the_webhook_as_slack_blocks() {
    let (server, received) = webhook(200);
    let secret = secret_for(&format!("{}/services/T0000/{SECRET_PART}", server.url())).await;
    let forwarder = start_forwarder(secret, "slack-ok");

    let output = forwarder.invoke("sns-notification.json");
    assert!(
        output.status.success(),
        "{}",
        String::from_utf8_lossy(&output.stderr)
    );
    let posts = received.lock().unwrap().clone();
    assert_eq!(posts.len(), 1);
    let post = &posts[0];
    assert_eq!(
        post["text"],
        "web-app-release: Build/UnitTests Failed (+2 more)"
    );
    assert_eq!(post["blocks"][0]["type"], "header");
    let section = post["blocks"][1]["text"]["text"].as_str().unwrap();
    assert_eq!(
        section.lines().count(),
        4,
        "three changes and the notification id: {section}"
    );
    assert!(
        section.contains("Build/UnitTests Failed (was InProgress): Error while executing command")
    );
    assert!(!forwarder.logs().contains(SECRET_PART));
}

#[tokio::test(flavor = "multi_thread")]
async fn a_refused_post_fails_the_invocation_without_revealing_the_url() {
    let (server, received) = webhook(403);
    let secret = secret_for(&format!("{}/services/T0000/{SECRET_PART}", server.url())).await;
    let forwarder = start_forwarder(secret, "slack-refused");

    let output = forwarder.invoke("sns-notification.json");
    assert!(
        !output.status.success(),
        "Lambda must retry a post Slack refused"
    );
    let stderr = String::from_utf8_lossy(&output.stderr);
    assert!(stderr.contains("pipewatch.ForwardFailed"), "{stderr}");
    assert!(stderr.contains("403"), "{stderr}");
    assert!(!stderr.contains(SECRET_PART), "{stderr}");
    assert!(!forwarder.logs().contains(SECRET_PART));
    assert_eq!(received.lock().unwrap().len(), 1);
}

#[test]
fn a_missing_secret_stops_the_cold_start_naming_it() {
    let output = std::process::Command::new(env!("CARGO_BIN_EXE_pipewatch-slack"))
        .env_clear()
        .output()
        .unwrap();
    assert!(!output.status.success());
    let stderr = String::from_utf8_lossy(&output.stderr);
    assert!(
        stderr.contains("SLACK_WEBHOOK_SECRET_ARN is not set"),
        "{stderr}"
    );
}
