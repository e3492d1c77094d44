//! The built `pipewatch-approver` on cargo-lambda's Runtime API: a click signed as Slack
//! signs it, as a function URL delivers it; its decision through moto's SQS and back.

use std::path::Path;
use std::time::Duration;

use pipewatch_testkit::fake_codepipeline::FakeCodePipeline;
use pipewatch_testkit::fake_slack::{FakeSlack, form, sign};
use pipewatch_testkit::fixtures::scenario;
use pipewatch_testkit::lambda::Lambda;
use pipewatch_testkit::services::{
    create_secret, create_table, drain_queue, require, sdk_config, unique,
};
use serde_json::{Value, json};

const SECRET: &str = "test-signing-secret-0123456789ab";

struct Approver {
    lambda: Lambda,
    fake: FakeCodePipeline,
    slack: FakeSlack,
    sqs: aws_sdk_sqs::Client,
    queue: String,
}

async fn approver() -> Approver {
    require("AWS_ENDPOINT_URL_SECRETS_MANAGER");
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
    let fake = FakeCodePipeline::start();
    fake.set_state(&scenario("release-retry-approval")[4]);
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
        ("LOG_LEVEL", "debug".to_owned()),
    ];
    let log = Path::new(env!("CARGO_TARGET_TMPDIR")).join(format!("{}.log", unique("approver")));
    let lambda = Lambda::start(env!("CARGO_BIN_EXE_pipewatch-approver"), &environment, log);
    Approver {
        lambda,
        fake,
        slack,
        sqs,
        queue,
    }
}

impl Approver {
    /// A function URL event carrying `user`'s click on Approve, signed with `secret`.
    fn click(&self, user: &str, secret: &str) -> Vec<u8> {
        let mut payload = json!({
            "type": "block_actions",
            "team": {"id": "T0PIPEWATCH"},
            "api_app_id": "A0PIPEWATCH",
            "user": {"id": user, "name": "Maria Silva"},
            "response_url": self.slack.response_url(),
            "actions": [{"action_id": "pipewatch-approve", "value": json!({
                "pipeline": "web-app-release", "stage": "Approve", "action": "ReleaseApproval",
                "action_execution_id": "5a6b7c8d-9e0f-4a1b-8c2d-3e4f5a6b7c8d"}).to_string()}]
        });
        payload["message"] =
            json!({"blocks": [{"type": "actions", "elements": [payload["actions"][0].clone()]}]});
        let body = form(&payload);
        let ts = (pipewatch_core::state::Timestamp::now().unix_millis() / 1000).to_string();
        json!({
            "version": "2.0",
            "rawPath": "/",
            "headers": {
                "content-type": "application/x-www-form-urlencoded",
                "x-slack-request-timestamp": ts,
                "x-slack-signature": sign(secret.as_bytes(), &ts, body.as_bytes()),
            },
            "requestContext": {"http": {"method": "POST", "path": "/"}},
            "body": body,
            "isBase64Encoded": false
        })
        .to_string()
        .into_bytes()
    }

    async fn queued(&self) -> Vec<String> {
        drain_queue(&self.sqs, &self.queue).await
    }

    /// The queue's messages, delivered to the function as SQS delivers them.
    fn deliver(&self, bodies: &[String]) -> Value {
        let records: Vec<Value> = bodies
            .iter()
            .enumerate()
            .map(|(i, body)| json!({"messageId": format!("m-{i}"), "body": body, "eventSource": "aws:sqs"}))
            .collect();
        self.lambda
            .invoke_payload(json!({"Records": records}).to_string().as_bytes())
    }
}

#[tokio::test(flavor = "multi_thread")]
async fn a_click_is_answered_without_codepipeline_and_its_decision_taken_from_the_queue() {
    let approver = approver().await;
    // CodePipeline stalls: the answer does not wait for it, as it never calls it.
    approver.fake.set_latency(Duration::from_secs(5));
    let answer = approver
        .lambda
        .invoke_payload(&approver.click("U024BE7LH", SECRET));
    assert_eq!(answer["statusCode"], 200, "{}", approver.lambda.logs());
    assert_eq!(approver.fake.operations("GetPipelineState"), 0);
    let queued = approver.queued().await;
    assert_eq!(queued.len(), 1, "the decision handed on");

    approver.fake.set_latency(Duration::ZERO);
    let taken = approver.deliver(&queued);
    assert_eq!(taken, json!({"batchItemFailures": []}));
    let approvals = approver.fake.approvals();
    assert_eq!(approvals.len(), 1, "exactly one PutApprovalResult");
    assert_eq!(
        approvals[0]["token"],
        "7e8f9a0b-1c2d-4e3f-8a4b-5c6d7e8f9a0b"
    );
    assert_eq!(
        approvals[0]["result"]["summary"],
        "Approved in Slack by Maria Silva (U024BE7LH)"
    );
    let told = approver.slack.responses();
    assert_eq!(told.len(), 1);
    assert!(
        told[0]["text"]
            .as_str()
            .unwrap()
            .starts_with("Approved Approve/ReleaseApproval")
    );
    // Delivered again by SQS: decided once.
    assert_eq!(approver.deliver(&queued), json!({"batchItemFailures": []}));
    assert_eq!(approver.fake.approvals().len(), 1);
    assert!(!approver.lambda.logs().contains(SECRET));
    assert!(
        !approver
            .lambda
            .logs()
            .contains("7e8f9a0b-1c2d-4e3f-8a4b-5c6d7e8f9a0b"),
        "no token in the logs"
    );
}

/// A rule naming a user group: its members (read from Slack, once for several clicks)
/// decide; a person named by id reads no group; anyone else is told they may not.
#[tokio::test(flavor = "multi_thread")]
async fn a_user_groups_member_decides_and_the_groups_are_read_once_for_many_clicks() {
    let approver = approver().await;
    approver.slack.set_group("S0RELEASE1", &["U0RELEASE01"]);
    let reads = || {
        approver
            .slack
            .calls()
            .iter()
            .filter(|c| c.method == "usergroups.users.list")
            .count()
    };
    let answer = approver
        .lambda
        .invoke_payload(&approver.click("U024BE7LH", SECRET));
    assert_eq!(answer["statusCode"], 200);
    assert_eq!(reads(), 0, "named by id: no group read");
    approver.queued().await;

    let answer = approver
        .lambda
        .invoke_payload(&approver.click("U0RELEASE01", SECRET));
    assert_eq!(answer["statusCode"], 200, "{}", approver.lambda.logs());
    let stranger = approver
        .lambda
        .invoke_payload(&approver.click("U0STRANGER1", SECRET));
    assert_eq!(stranger["statusCode"], 200);
    assert_eq!(reads(), 1, "read once, kept for the next click");
    let queued = approver.queued().await;
    assert_eq!(queued.len(), 2);
    assert_eq!(approver.deliver(&queued), json!({"batchItemFailures": []}));
    let approvals = approver.fake.approvals();
    assert_eq!(approvals.len(), 1, "the member's decision alone");
    assert_eq!(
        approvals[0]["result"]["summary"],
        "Approved in Slack by Maria Silva (U0RELEASE01)"
    );
    let told: Vec<String> = approver
        .slack
        .responses()
        .iter()
        .map(|r| r["text"].as_str().unwrap().to_owned())
        .collect();
    assert!(
        told.iter()
            .any(|t| t.starts_with("You may not approve or reject")),
        "{told:?}"
    );
}

/// A function URL event carrying `payload`, signed as Slack signs it.
fn signed(payload: &Value) -> Vec<u8> {
    let body = form(payload);
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

#[tokio::test(flavor = "multi_thread")]
async fn reject_asks_why_first_and_the_reason_is_recorded_with_the_decision() {
    let approver = approver().await;
    let button = json!({"action_id": "pipewatch-reject", "value": json!({
        "pipeline": "web-app-release", "stage": "Approve", "action": "ReleaseApproval",
        "action_execution_id": "5a6b7c8d-9e0f-4a1b-8c2d-3e4f5a6b7c8d"}).to_string()});
    let click = json!({
        "type": "block_actions", "team": {"id": "T0PIPEWATCH"}, "api_app_id": "A0PIPEWATCH",
        "user": {"id": "U024BE7LH", "name": "Maria Silva"}, "trigger_id": "12345.67890.abcdef",
        "response_url": approver.slack.response_url(), "actions": [button.clone()],
        "message": {"blocks": [{"type": "actions", "elements": [button]}]}
    });
    let answer = approver.lambda.invoke_payload(&signed(&click));
    assert_eq!(answer["statusCode"], 200, "{}", approver.lambda.logs());
    assert!(
        approver.queued().await.is_empty(),
        "nothing decided before the reason"
    );
    let opened: Vec<Value> = approver
        .slack
        .calls()
        .into_iter()
        .filter(|c| c.method == "views.open" && c.ok)
        .map(|c| c.body)
        .collect();
    assert_eq!(opened.len(), 1, "the reason dialog, at once");
    assert_eq!(opened[0]["trigger_id"], "12345.67890.abcdef");
    let view = &opened[0]["view"];

    let submission = json!({
        "type": "view_submission", "team": {"id": "T0PIPEWATCH"}, "api_app_id": "A0PIPEWATCH",
        "user": {"id": "U024BE7LH", "name": "Maria Silva"},
        "view": {"callback_id": view["callback_id"], "private_metadata": view["private_metadata"],
            "state": {"values": {"reason": {"reason": {"type": "plain_text_input",
                "value": "the plan drops the orders table"}}}}}
    });
    let answer = approver.lambda.invoke_payload(&signed(&submission));
    assert_eq!(answer["statusCode"], 200);
    let queued = approver.queued().await;
    assert_eq!(queued.len(), 1);
    assert_eq!(approver.deliver(&queued), json!({"batchItemFailures": []}));
    let approvals = approver.fake.approvals();
    assert_eq!(approvals.len(), 1);
    assert_eq!(approvals[0]["result"]["status"], "Rejected");
    assert_eq!(
        approvals[0]["result"]["summary"],
        "Rejected in Slack by Maria Silva (U024BE7LH): the plan drops the orders table"
    );
}

#[tokio::test(flavor = "multi_thread")]
async fn a_forged_click_is_refused_and_hands_nothing_on() {
    let approver = approver().await;
    let answer = approver
        .lambda
        .invoke_payload(&approver.click("U024BE7LH", "not-the-secret"));
    assert_eq!(answer["statusCode"], 401);
    assert!(approver.queued().await.is_empty());
    assert!(approver.fake.approvals().is_empty());
    assert!(
        approver
            .lambda
            .logs()
            .contains("the signature does not match the body")
    );
}
