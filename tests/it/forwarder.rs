//! The forwarder, as users run it and as it fails.
//!
//! End to end: the built `pipewatch-forwarder` on cargo-lambda's Runtime API reads its
//! destinations from moto's Secrets Manager and posts the sample SNS events
//! (`events/sns-notification.json`, `events/sns-alarm.json`) to a local webhook server.
//! The retry rules (429 with `Retry-After`, 5xx, refusals) are driven through the real
//! HTTPS client against the same kind of server, answering as Slack and Teams do.

use std::collections::VecDeque;
use std::path::Path;
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use pipewatch::forward::{Format, deliver, destination};
use pipewatch::ports::PostError;
use pipewatch::webhook::HttpsWebhook;
use pipewatch_testkit::http::{Reply, Request, Server};
use pipewatch_testkit::lambda::Lambda;
use pipewatch_testkit::services::create_secret;
use serde_json::Value;

/// The part of every webhook URL that makes it a secret.
pub(crate) const SECRET_PART: &str = "B0SECRETb1a2c3d4";

/// A webhook stand-in: records each post (path, JSON body) and answers from a script,
/// then with 200 once the script is spent.
pub(crate) struct Webhooks {
    server: Server,
    posts: Arc<Mutex<Vec<(String, Value)>>>,
}

impl Webhooks {
    pub(crate) fn start(script: Vec<Reply>) -> Self {
        let posts = Arc::new(Mutex::new(Vec::new()));
        let script = Arc::new(Mutex::new(VecDeque::from(script)));
        let log = Arc::clone(&posts);
        let server = Server::start(move |request: &Request| {
            log.lock().unwrap().push((
                request.path.clone(),
                serde_json::from_slice(&request.body).unwrap_or(Value::Null),
            ));
            script
                .lock()
                .unwrap()
                .pop_front()
                .unwrap_or(Reply::Respond {
                    status: 200,
                    content_type: "text/plain",
                    body: b"ok".to_vec(),
                })
        });
        Self { server, posts }
    }

    /// A secret-bearing URL on this server, under `/{name}/`.
    pub(crate) fn url(&self, name: &str) -> String {
        format!("{}/{name}/services/T0000/{SECRET_PART}", self.server.url())
    }

    /// The bodies posted under `/{name}/`.
    pub(crate) fn posted(&self, name: &str) -> Vec<Value> {
        self.posts
            .lock()
            .unwrap()
            .iter()
            .filter(|(path, _)| path.starts_with(&format!("/{name}/")))
            .map(|(_, body)| body.clone())
            .collect()
    }
}

/// A raw HTTP answer, with headers.
fn answer(status: u16, headers: &str, body: &str) -> Reply {
    Reply::Raw(
        format!(
            "HTTP/1.1 {status} Status\r\n{headers}Content-Type: text/plain\r\nContent-Length: {}\r\n\r\n{body}",
            body.len()
        )
        .into_bytes(),
    )
}

pub(crate) async fn secret(value: &str) -> String {
    create_secret("webhooks", value).await
}

pub(crate) fn start_forwarder(environment: &[(&str, String)], test: &str) -> Lambda {
    let log =
        Path::new(env!("CARGO_TARGET_TMPDIR")).join(format!("{test}-{}.log", std::process::id()));
    let mut environment = environment.to_vec();
    environment.push(("LOG_LEVEL", "debug".to_owned()));
    Lambda::start(env!("CARGO_BIN_EXE_pipewatch-forwarder"), &environment, log)
}

pub(crate) fn assert_no_secret(text: &str) {
    assert!(!text.contains(SECRET_PART), "a webhook URL leaked: {text}");
}

#[tokio::test(flavor = "multi_thread")]
async fn a_failure_reaches_slack_and_teams_each_in_its_own_format_and_routes() {
    let hooks = Webhooks::start(Vec::new());
    let slack = secret(&serde_json::json!({"webhook_url": hooks.url("slack")}).to_string()).await;
    let teams = secret(
        &serde_json::json!([
            {"url": hooks.url("teams"), "severity": "approval"},
            {"url": hooks.url("payments"), "pipelines": ["payments-*"]},
            {"url": hooks.url("quiet"), "severity": "failure", "pipelines": ["web-*"], "format": "slack"},
        ])
        .to_string(),
    )
    .await;
    let forwarder = start_forwarder(
        &[
            ("SLACK_WEBHOOK_SECRET_ARN", slack),
            ("TEAMS_WEBHOOK_SECRET_ARN", teams),
        ],
        "forward-ok",
    );

    let output = forwarder.invoke("sns-notification.json");
    assert!(
        output.status.success(),
        "{}",
        String::from_utf8_lossy(&output.stderr)
    );

    let slack = hooks.posted("slack");
    assert_eq!(slack.len(), 1);
    let post = &slack[0];
    assert_eq!(
        post["blocks"][0]["text"]["text"],
        "❌ web-app-release: Build/UnitTests Failed after 1m35s (+2 more)"
    );
    let attachment = &post["attachments"][0];
    assert_eq!(attachment["color"], "#D1242F");
    let blocks = attachment["blocks"].as_array().unwrap();
    let text = serde_json::to_string(blocks).unwrap();
    assert!(
        text.contains("Error while executing command: npm test"),
        "{text}"
    );
    assert!(text.contains("4e1243b"), "the commit: {text}");
    let buttons: Vec<&str> = blocks
        .iter()
        .filter(|b| b["type"] == "actions")
        .flat_map(|b| b["elements"].as_array().unwrap())
        .map(|e| e["text"]["text"].as_str().unwrap())
        .collect();
    assert_eq!(buttons, ["View execution", "Logs", "Pipeline"]);

    let teams = hooks.posted("teams");
    assert_eq!(
        teams.len(),
        1,
        "a failure reaches the approval-or-worse destination"
    );
    assert_eq!(
        teams[0]["attachments"][0]["contentType"],
        "application/vnd.microsoft.card.adaptive"
    );
    assert_eq!(teams[0]["attachments"][0]["content"]["version"], "1.5");
    assert!(
        hooks.posted("payments").is_empty(),
        "another team's pipelines only"
    );
    assert_eq!(
        hooks.posted("quiet").len(),
        1,
        "a format set per destination"
    );
    assert!(hooks.posted("quiet")[0]["blocks"].is_array());

    assert_no_secret(&forwarder.logs());
    assert_no_secret(&String::from_utf8_lossy(&output.stdout));
}

#[tokio::test(flavor = "multi_thread")]
async fn an_alarm_of_the_stack_is_posted_in_words_with_a_link() {
    let hooks = Webhooks::start(Vec::new());
    let slack = secret(&hooks.url("slack")).await;
    let forwarder = start_forwarder(&[("SLACK_WEBHOOK_SECRET_ARN", slack)], "forward-alarm");

    let output = forwarder.invoke("sns-alarm.json");
    assert!(output.status.success(), "{output:?}");
    let posts = hooks.posted("slack");
    assert_eq!(posts.len(), 1);
    let text = posts[0].to_string();
    assert_eq!(
        posts[0]["blocks"][0]["text"]["text"],
        "🚨 ALARM: pipewatch-watcher-errors"
    );
    assert!(text.contains("pipewatch ticks are failing"), "{text}");
    assert!(text.contains("Why: Threshold Crossed"), "{text}");
    assert!(text.contains("View alarm"), "{text}");
    assert!(
        text.contains("#alarmsV2:alarm/pipewatch-watcher-errors"),
        "{text}"
    );
}

#[tokio::test(flavor = "multi_thread")]
async fn a_refused_post_fails_the_invocation_naming_the_reason_not_the_url() {
    let hooks = Webhooks::start(vec![answer(404, "", "no_service")]);
    let slack = secret(&hooks.url("slack")).await;
    let forwarder = start_forwarder(&[("SLACK_WEBHOOK_SECRET_ARN", slack)], "forward-refused");

    let output = forwarder.invoke("sns-notification.json");
    assert!(!output.status.success(), "Lambda must see the failure");
    // cargo-lambda wraps the error over lines behind a `│` gutter: read it as one line.
    let stderr = String::from_utf8_lossy(&output.stderr)
        .split_whitespace()
        .filter(|word| *word != "│")
        .collect::<Vec<_>>()
        .join(" ");
    assert!(stderr.contains("pipewatch.ForwardRefused"), "{stderr}");
    assert!(stderr.contains("404"), "{stderr}");
    assert!(stderr.contains("the webhook does not exist"), "{stderr}");
    assert!(stderr.contains("no_service"), "{stderr}");
    assert_no_secret(&stderr);
    assert_no_secret(&forwarder.logs());
    assert_eq!(hooks.posted("slack").len(), 1, "a refusal is not retried");
}

/// A notification from a newer pipewatch (`events/sns-newer-notification.json`) reaches
/// the Slack and Teams webhooks and the Slack app's living message and thread in words:
/// never as its raw JSON, never under a success's colour or mark.
#[tokio::test(flavor = "multi_thread")]
async fn a_newer_pipewatchs_notification_is_told_in_words_everywhere() {
    let hooks = Webhooks::start(Vec::new());
    let slack = secret(&hooks.url("slack")).await;
    let teams = secret(&hooks.url("teams")).await;
    let app = pipewatch_testkit::fake_slack::FakeSlack::start();
    let config = pipewatch_testkit::services::sdk_config().await;
    let table =
        pipewatch_testkit::services::create_table(&aws_sdk_dynamodb::Client::new(&config)).await;
    let token = secret(pipewatch_testkit::fake_slack::TOKEN).await;
    let forwarder = start_forwarder(
        &[
            ("SLACK_WEBHOOK_SECRET_ARN", slack),
            ("TEAMS_WEBHOOK_SECRET_ARN", teams),
            ("SLACK_APP_SECRET_ARN", token),
            (
                "SLACK_APP_ROUTES",
                r#"[{"channel": "C0NEWER0001"}]"#.to_owned(),
            ),
            ("SLACK_API_URL", app.url()),
            ("TABLE_NAME", table),
        ],
        "forward-newer",
    );
    let output = forwarder.invoke("sns-newer-notification.json");
    assert!(output.status.success(), "{}", forwarder.logs());

    let headline = "⚠️ web-app-release: rollout wave 2 of 5 halted (+3 more)";
    let slack = hooks.posted("slack");
    assert_eq!(slack.len(), 1);
    assert_eq!(slack[0]["blocks"][0]["text"]["text"], headline);
    assert_eq!(slack[0]["attachments"][0]["color"], "#D1242F");
    let teams = hooks.posted("teams").remove(0).to_string();
    assert!(teams.contains(headline), "{teams}");
    assert!(teams.contains(r#""color":"Attention""#), "{teams}");
    let top = app.top_level("C0NEWER0001");
    assert_eq!(top.len(), 1, "the run's living message");
    let thread: Vec<String> = app
        .messages("C0NEWER0001")
        .iter()
        .map(|(_, message)| message.to_string())
        .collect();
    assert!(
        thread
            .iter()
            .any(|m| m.contains("rollout wave 2 of 5 halted")),
        "{thread:#?}"
    );
    for post in [slack[0].to_string(), teams].iter().chain(&thread) {
        assert!(!post.contains("schema_version"), "raw JSON: {post}");
        assert!(
            !post.contains("#1A7F37") && !post.contains(r#""Good""#),
            "{post}"
        );
    }
}

/// Delivers a message to one destination on `hooks` with the real HTTPS client, the
/// invocation having `time_left`: the result and how long it took.
async fn deliver_within(
    hooks: &Webhooks,
    time_left: Duration,
) -> (Result<(), PostError>, Duration) {
    let destination = destination::parse(&hooks.url("slack"), "slack", Format::Slack)
        .unwrap()
        .remove(0);
    let client = HttpsWebhook::new().unwrap();
    let started = Instant::now();
    let body = serde_json::json!({"text": "hello"});
    let result = deliver(&client, &destination, &body, started + time_left).await;
    (result, started.elapsed())
}

#[tokio::test]
async fn a_rate_limited_post_waits_as_asked_when_the_invocation_has_time() {
    let hooks = Webhooks::start(vec![answer(429, "Retry-After: 1\r\n", "rate_limited")]);
    let (result, took) = deliver_within(&hooks, Duration::from_mins(1)).await;
    assert_eq!(result, Ok(()));
    assert!(took >= Duration::from_secs(1), "Retry-After honoured");
    assert_eq!(hooks.posted("slack").len(), 2);
}

#[tokio::test]
async fn a_rate_limited_post_fails_at_once_when_the_invocation_is_out_of_time() {
    let hooks = Webhooks::start(vec![answer(429, "Retry-After: 30\r\n", "")]);
    let (result, took) = deliver_within(&hooks, Duration::from_secs(20)).await;
    let Err(error @ PostError::RateLimited { .. }) = result else {
        panic!("{result:?}")
    };
    assert_eq!(
        error.to_string(),
        "127.0.0.1 is rate limiting (429), retry after 30 s"
    );
    assert!(
        took < Duration::from_secs(5),
        "no waiting past the deadline"
    );
    assert_eq!(hooks.posted("slack").len(), 1);
}

#[tokio::test]
async fn server_errors_are_retried_with_backoff_until_one_succeeds() {
    let hooks = Webhooks::start(vec![answer(503, "", "busy"), answer(502, "", "")]);
    let (result, took) = deliver_within(&hooks, Duration::from_mins(1)).await;
    assert_eq!(result, Ok(()));
    assert_eq!(hooks.posted("slack").len(), 3);
    assert!(
        took >= Duration::from_millis(1_500),
        "backed off 0.5 s, then 1 s"
    );
}

#[tokio::test]
async fn server_errors_that_last_fail_after_the_attempts() {
    let hooks = Webhooks::start((0..5).map(|_| answer(500, "", "")).collect());
    let (result, _) = deliver_within(&hooks, Duration::from_mins(1)).await;
    assert!(
        matches!(result, Err(PostError::Unavailable { .. })),
        "{result:?}"
    );
    // Four attempts in all, then the invocation fails for Lambda to deliver it again.
    assert_eq!(hooks.posted("slack").len(), 4);
}

#[tokio::test]
async fn a_malformed_message_is_refused_for_good_with_slacks_reason() {
    let hooks = Webhooks::start(vec![answer(400, "", "invalid_blocks")]);
    let (result, _) = deliver_within(&hooks, Duration::from_mins(1)).await;
    let error = result.unwrap_err();
    assert!(error.is_permanent());
    assert!(error.to_string().contains("400"), "{error}");
    assert!(error.to_string().contains("invalid_blocks"), "{error}");
    assert_eq!(hooks.posted("slack").len(), 1);
}

#[test]
fn a_forwarder_without_secrets_stops_the_cold_start_naming_them() {
    let output = std::process::Command::new(env!("CARGO_BIN_EXE_pipewatch-forwarder"))
        .env_clear()
        .output()
        .unwrap();
    assert!(!output.status.success());
    let stderr = String::from_utf8_lossy(&output.stderr);
    assert!(
        stderr.contains("SLACK_WEBHOOK_SECRET_ARN is not set, nor is TEAMS_WEBHOOK_SECRET_ARN"),
        "{stderr}"
    );
}
