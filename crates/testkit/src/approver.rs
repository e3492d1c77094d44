//! The built `pipewatch-approver` with everything around it, for its tests and its
//! benchmark: its signing secret and bot token in moto's Secrets Manager, its queue in
//! moto's SQS, its table in DynamoDB Local, the Slack fake, and the CodePipeline fake
//! serving the recorded release with its approval waiting (step 4 of
//! `release-retry-approval`). Clicks are signed as Slack signs them and delivered as a
//! function URL delivers them; the queue's messages as SQS delivers them.

use std::path::PathBuf;

use serde_json::{Value, json};

use crate::fake_codepipeline::FakeCodePipeline;
use crate::fake_slack::{FakeSlack, form, sign};
use crate::fixtures::scenario;
use crate::lambda::Lambda;
use crate::services::{create_secret, create_table, drain_queue, require, sdk_config, unique};

/// The Slack app's signing secret the approver is given.
pub const SECRET: &str = "test-signing-secret-0123456789ab";

/// The waiting approval's run in the recording, and its token.
pub const RUN: &str = "5a6b7c8d-9e0f-4a1b-8c2d-3e4f5a6b7c8d";
pub const TOKEN: &str = "7e8f9a0b-1c2d-4e3f-8a4b-5c6d7e8f9a0b";

/// Who may decide: U024BE7LH by id, the members of S0RELEASE1 as Slack tells them.
const APPROVERS: &str = r#"[{"users": ["U024BE7LH"], "pipelines": ["web-*"]},
    {"groups": ["S0RELEASE1"], "pipelines": ["web-*"]}]"#;

/// The approver's surroundings, before and while it runs.
pub struct Surroundings {
    pub fake: FakeCodePipeline,
    pub slack: FakeSlack,
    pub sqs: aws_sdk_sqs::Client,
    pub queue: String,
    environment: Vec<(&'static str, String)>,
}

impl Surroundings {
    /// Creates them around `fake`, which is set to serve the waiting approval.
    pub async fn new(fake: FakeCodePipeline) -> Self {
        require("AWS_ENDPOINT_URL_SECRETS_MANAGER");
        let config = sdk_config().await;
        let secret = create_secret("signing", SECRET).await;
        let token_secret = create_secret("bot-token", crate::fake_slack::TOKEN).await;
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
        fake.set_state(&scenario("release-retry-approval")[4]);
        let environment = vec![
            ("SLACK_SIGNING_SECRET_ARN", secret),
            ("SLACK_TEAM_ID", "T0PIPEWATCH".to_owned()),
            ("SLACK_APP_ID", "A0PIPEWATCH".to_owned()),
            ("APPROVERS", APPROVERS.to_owned()),
            ("APPROVAL_QUEUE_URL", queue.clone()),
            ("ACCOUNT_ID", "123456789012".to_owned()),
            ("PIPELINES", "web-*".to_owned()),
            ("SLACK_APP_SECRET_ARN", token_secret),
            ("SLACK_API_URL", slack.url()),
            ("TABLE_NAME", table),
            ("AWS_ENDPOINT_URL_CODEPIPELINE", fake.url()),
        ];
        Self {
            fake,
            slack,
            sqs,
            queue,
            environment,
        }
    }

    /// Starts the approver `binary` (`env!("CARGO_BIN_EXE_pipewatch-approver")`), logging
    /// at `log_level` into a file under `dir` (`env!("CARGO_TARGET_TMPDIR")`).
    pub fn start(&self, binary: &str, dir: &str, log_level: &str) -> Lambda {
        self.start_with(binary, dir, &[("LOG_LEVEL", log_level.to_owned())])
    }

    /// [`Surroundings::start`] with `extra` variables (`LOG_LEVEL` among them), which win
    /// over the surroundings' own and the test's.
    pub fn start_with(&self, binary: &str, dir: &str, extra: &[(&'static str, String)]) -> Lambda {
        let mut environment = self.environment.clone();
        environment.extend_from_slice(extra);
        let log = PathBuf::from(dir).join(format!("{}.log", unique("approver")));
        Lambda::start(binary, &environment, log)
    }

    /// A function URL event carrying `user`'s click on Approve for approval run `run`,
    /// signed with `secret`.
    pub fn click(&self, user: &str, run: &str, secret: &str) -> Vec<u8> {
        let mut payload = json!({
            "type": "block_actions",
            "team": {"id": "T0PIPEWATCH"},
            "api_app_id": "A0PIPEWATCH",
            "user": {"id": user, "name": "Maria Silva"},
            "response_url": self.slack.response_url(),
            "actions": [{"action_id": "pipewatch-approve", "value": json!({
                "pipeline": "web-app-release", "stage": "Approve", "action": "ReleaseApproval",
                "action_execution_id": run}).to_string()}]
        });
        payload["message"] =
            json!({"blocks": [{"type": "actions", "elements": [payload["actions"][0].clone()]}]});
        signed(&payload, secret)
    }

    /// The queue's messages, taken off it.
    pub async fn queued(&self) -> Vec<String> {
        drain_queue(&self.sqs, &self.queue).await
    }
}

/// A function URL event carrying `payload` as Slack posts it, signed with `secret`.
pub fn signed(payload: &Value, secret: &str) -> Vec<u8> {
    let body = form(payload);
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

/// `bodies`, the queue's messages, as SQS delivers them to the function.
pub fn records(bodies: &[String]) -> Vec<u8> {
    let records: Vec<Value> = bodies
        .iter()
        .enumerate()
        .map(|(i, body)| json!({"messageId": format!("m-{i}"), "body": body, "eventSource": "aws:sqs"}))
        .collect();
    json!({"Records": records}).to_string().into_bytes()
}
