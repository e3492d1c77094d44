//! The built functions run with a deployed stack's own environment: the Slack app's
//! forwarder and approver, the watcher publishing to the created topic, and the lean
//! setting without a key.

use std::path::Path;

use pipewatch_testkit::lambda::Lambda;
use pipewatch_testkit::services::{Inbox, create_secret, sdk_config};
use pipewatch_testkit::stack::moto_url;
use serde_json::json;

use super::{calls_made, deploy, release_fake, watcher_of};

/// The rehearsal of a stack with the Slack app: the forwarder's role reads the token and
/// writes only `slack/` keys of the table, and the deployed forwarder, run with the stack's
/// environment, posts a run's living message and its failure reply to (a fake of) Slack.
#[tokio::test(flavor = "multi_thread")]
async fn the_deployed_slack_app_posts_a_living_message_with_the_stacks_table() {
    let secret = create_secret("slack-app", pipewatch_testkit::fake_slack::TOKEN).await;
    let stack = deploy(
        "slack-app",
        &[
            ("PipelineNames", "web-app-release"),
            ("SlackAppTokenSecretArn", &secret),
            (
                "SlackAppRoutes",
                r#"[{"channel": "C0RELEASES1", "pipelines": ["web-*"]}]"#,
            ),
            ("SlackAppSigningSecretArn", &secret),
            ("SlackAppTeamId", "T0PIPEWATCH"),
            ("SlackAppId", "A0PIPEWATCH"),
            (
                "SlackApprovers",
                r#"[{"users": ["U024BE7LH"], "groups": ["S0RELEASE1"], "pipelines": ["web-*", "svc-*"]}]"#,
            ),
            (
                "OtherPipelineArns",
                "arn:aws:codepipeline:us-west-2:222233334444:svc-*",
            ),
            ("ApproverRoleName", "pipewatch-approver"),
        ],
    );
    // The approver: a public URL, a role that may decide approvals and nothing else.
    assert!(
        stack
            .output("ApproverUrl")
            .is_some_and(|url| url.starts_with("https://") && url.contains(".lambda-url.")),
        "the interactivity URL is an output"
    );
    let approver = stack.described("functions", "ApproverFunction");
    assert_eq!(
        approver["environment"]["SLACK_TEAM_ID"], "T0PIPEWATCH",
        "{approver}"
    );
    assert_eq!(
        approver["environment"]["PIPELINES"],
        "web-app-release,arn:aws:codepipeline:us-west-2:222233334444:svc-*",
        "the other account's pipelines, with the approver role"
    );
    assert_eq!(
        approver["environment"]["APPROVER_ROLE_NAME"],
        "pipewatch-approver"
    );
    assert_eq!(
        stack.allowed_actions("ApproverFunctionRole"),
        [
            "codepipeline:GetPipelineState",
            "codepipeline:ListActionExecutions",
            "codepipeline:PutApprovalResult",
            "dynamodb:GetItem",
            "dynamodb:PutItem",
            "dynamodb:UpdateItem",
            "kms:Decrypt",
            "kms:GenerateDataKey",
            "secretsmanager:GetSecretValue",
            "sqs:SendMessage",
            "sts:AssumeRole",
        ]
    );
    assert!(
        stack
            .output("ApproverRoleArn")
            .is_some_and(|arn| arn.starts_with("arn:aws:iam::")),
        "the role to trust in the other accounts"
    );
    let role = "ForwarderFunctionRole";
    assert_eq!(
        stack.allowed_actions(role),
        [
            "dynamodb:DeleteItem",
            "dynamodb:GetItem",
            "dynamodb:PutItem",
            "dynamodb:UpdateItem",
            "kms:Decrypt",
            "kms:GenerateDataKey",
            "secretsmanager:GetSecretValue",
            "sns:Publish",
            "sqs:SendMessage"
        ]
    );
    let statements = stack.described("roles", role)["statements"].to_string();
    assert!(
        statements.contains(r#""dynamodb:LeadingKeys":["slack/*"]"#),
        "{statements}"
    );

    let fake_slack = pipewatch_testkit::fake_slack::FakeSlack::start();
    let mut environment: Vec<(&str, String)> = Vec::new();
    let variables = stack.environment("ForwarderFunction");
    for (name, value) in &variables {
        if name != "SLACK_API_URL" {
            environment.push((name.as_str(), value.clone()));
        }
    }
    environment.push(("SLACK_API_URL", fake_slack.url()));
    environment.push(("AWS_ENDPOINT_URL_DYNAMODB", moto_url()));
    environment.push(("LOG_LEVEL", "debug".to_owned()));
    let log = Path::new(env!("CARGO_TARGET_TMPDIR"))
        .join(format!("deploy-slack-app-{}.log", std::process::id()));
    let forwarder = Lambda::start(env!("CARGO_BIN_EXE_pipewatch-forwarder"), &environment, log);
    for _ in 0..2 {
        let output = forwarder.invoke("sns-notification.json");
        assert!(
            output.status.success(),
            "{}\n{}",
            String::from_utf8_lossy(&output.stderr),
            forwarder.logs()
        );
    }
    let top = fake_slack.top_level("C0RELEASES1");
    assert_eq!(top.len(), 1, "one message, delivered twice: {top:#?}");
    assert!(
        top[0].1["text"]
            .as_str()
            .unwrap()
            .contains("failed at Build/UnitTests")
    );
    let replies = fake_slack.messages("C0RELEASES1").len() - top.len();
    assert_eq!(replies, 1, "the failure, once, in the thread");
    assert!(
        !forwarder
            .logs()
            .contains(pipewatch_testkit::fake_slack::TOKEN)
    );
    // The operator's redrive reaches the same function: nothing was kept here.
    let redriven = forwarder.invoke_payload(br#"{"redrive_slack_channel": "C0RELEASES1"}"#);
    assert_eq!(
        redriven,
        json!({"channel": "C0RELEASES1", "delivered": 0, "kept": 0, "reason": null})
    );
}

#[tokio::test(flavor = "multi_thread")]
async fn the_deployed_watcher_publishes_a_change_to_the_created_topic() {
    // With the detailed metrics, whose `Api` dimension names every call made.
    let stack = deploy(
        "live",
        &[
            ("PipelineNames", "web-app-release"),
            ("DetailedMetrics", "yes"),
        ],
    );
    let config = sdk_config().await;
    let inbox = Inbox::on_topic(&config, stack.output("TopicArn").unwrap()).await;
    let (fake, states) = release_fake();
    fake.set_state(&states[0]);
    let lambda = watcher_of(&stack, &fake, "deploy-live");

    let baseline = lambda.summary("scheduled-event.json");
    assert_eq!(baseline["pipelines_checked"], 1, "{baseline}");
    fake.set_state(&states[2]);
    let changed = lambda.summary("scheduled-event.json");
    assert_eq!(changed["messages_published"], 1, "{changed}");

    let delivered = inbox.drain().await;
    assert_eq!(delivered.len(), 1);
    assert!(
        delivered[0].subject.starts_with("web-app-release: "),
        "{}",
        delivered[0].subject
    );
    assert_eq!(delivered[0].body["pipeline"], "web-app-release");

    // Every call the code made is one the stack's role allows.
    let allowed = stack.allowed_actions("WatcherFunctionRole");
    let made = calls_made(&lambda.logs());
    assert!(made.contains("codepipeline:GetPipelineState"), "{made:?}");
    assert!(made.contains("sns:Publish"), "{made:?}");
    for call in &made {
        assert!(allowed.contains(call), "{call} is not allowed: {allowed:?}");
    }
}

/// The lean setting: a stack without a customer managed key, whose queues and topic are
/// encrypted by AWS's own keys, still watches and publishes.
#[tokio::test(flavor = "multi_thread")]
async fn the_lean_setting_deploys_without_a_key_and_still_publishes() {
    let stack = deploy(
        "lean",
        &[
            ("PipelineNames", "web-app-release"),
            ("Encryption", "aws-managed"),
        ],
    );
    assert!(!stack.has("NotificationKey") && !stack.has("NotificationKeyAlias"));
    for queue in ["DeadLetterQueue", "ShardQueue", "EventQueue"] {
        assert!(stack.has(queue), "{queue}");
    }
    let config = sdk_config().await;
    let inbox = Inbox::on_topic(&config, stack.output("TopicArn").unwrap()).await;
    let (fake, states) = release_fake();
    fake.set_state(&states[0]);
    let lambda = watcher_of(&stack, &fake, "deploy-lean");
    let baseline = lambda.summary("scheduled-event.json");
    assert_eq!(baseline["pipelines_checked"], 1, "{baseline}");
    fake.set_state(&states[2]);
    let changed = lambda.summary("scheduled-event.json");
    assert_eq!(changed["messages_published"], 1, "{changed}");
    assert_eq!(inbox.drain().await.len(), 1);
}
