//! Deploy rehearsal: `template.yaml`, translated by the real SAM translator, created in an
//! emulated CloudFormation (moto, `tests/deploy/`) for every parameter set that matters;
//! what each stack created is checked as the services describe it, and the built watcher
//! runs against one stack's resources with the stack's own environment. Then an update from
//! the previous release's template, with records and a pending message in the table.
//!
//! What the emulation cannot prove is said where it matters: moto does not replace a
//! resource when CloudFormation would (tests/template.rs guards the properties that would),
//! and it runs no function (the built bootstrap runs under cargo-lambda's Runtime API).

use std::collections::BTreeSet;
use std::path::Path;

use pipewatch_testkit::fake_codepipeline::FakeCodePipeline;
use pipewatch_testkit::fixtures::{scenario, scenario_executions};
use pipewatch_testkit::lambda::Lambda;
use pipewatch_testkit::services::{Inbox, create_secret, sdk_config, unique};
use pipewatch_testkit::stack::{Stack, current_template, moto_url, release_template};
use serde_json::{Value, json};

const ALARMS: [&str; 8] = [
    "ErrorsAlarm",
    "ThrottlesAlarm",
    "DurationAlarm",
    "DeadLettersAlarm",
    "PendingMessagesAlarm",
    "NoTicksAlarm",
    "FailedPipelinesAlarm",
    "MessageDeadLettersAlarm",
];

/// The watcher's actions for every stack: the store, the topic, the queues and the key.
const WATCHER_ACTIONS: [&str; 8] = [
    "dynamodb:BatchGetItem",
    "dynamodb:GetItem",
    "dynamodb:PutItem",
    "kms:Decrypt",
    "kms:GenerateDataKey",
    "sns:Publish",
    "sqs:SendMessage",
    "codepipeline:GetPipelineState",
];

/// The history calls, granted with GetPipelineState on the watched pipelines.
const HISTORY_ACTIONS: [&str; 3] = [
    "codepipeline:GetPipelineExecution",
    "codepipeline:ListActionExecutions",
    "codepipeline:ListPipelineExecutions",
];

fn deploy(set: &str, parameters: &[(&str, &str)]) -> Stack {
    let stack = Stack::deploy(&unique(set), &current_template(), parameters);
    assert_common(&stack);
    stack
}

/// The customer key encrypts the topics and the queues; the lean setting uses AWS's own
/// keys, and none for the alarms' topic (CloudWatch cannot publish to one with alias/aws/sns).
fn assert_encryption(stack: &Stack, topic: &Value, alarm_topic: &Value) {
    if stack.has("NotificationKey") {
        let key = stack.physical("NotificationKey");
        assert_eq!(topic["kms_master_key_id"], key);
        assert_eq!(alarm_topic["kms_master_key_id"], key);
        for queue in ["DeadLetterQueue", "ShardQueue"] {
            assert_eq!(
                stack.described("queues", queue)["kms_master_key_id"],
                key,
                "{queue}"
            );
        }
    } else {
        assert_eq!(topic["kms_master_key_id"], "alias/aws/sns");
        assert!(
            alarm_topic["kms_master_key_id"]
                .as_str()
                .is_none_or(str::is_empty),
            "{alarm_topic}"
        );
        for queue in ["DeadLetterQueue", "ShardQueue"] {
            let described = stack.described("queues", queue);
            assert!(
                described["kms_master_key_id"]
                    .as_str()
                    .is_none_or(str::is_empty),
                "{queue}: {described}"
            );
        }
    }
}

/// What every stack has, whatever its parameters.
fn assert_common(stack: &Stack) {
    assert!(
        ["CREATE_COMPLETE", "UPDATE_COMPLETE"].contains(&stack.status()),
        "{}: {}",
        stack.status(),
        stack.report["reason"]
    );
    for (id, resource) in stack.report["resources"].as_object().unwrap() {
        let status = resource["status"].as_str().unwrap();
        assert!(
            ["CREATE_COMPLETE", "UPDATE_COMPLETE"].contains(&status),
            "{id}: {resource}"
        );
    }

    let table = stack.described("tables", "SnapshotTable");
    assert_eq!(
        table["key_schema"],
        json!([{"AttributeName": "pipeline", "KeyType": "HASH"}]),
        "the key src/aws/dynamodb.rs uses"
    );
    assert_eq!(
        table["ttl"],
        json!({"TimeToLiveStatus": "ENABLED", "AttributeName": "expires_at"})
    );
    assert_eq!(table["billing_mode"], "PAY_PER_REQUEST");

    let topic = stack.described("topics", "NotificationTopic");
    let alarm_topic = stack.described("topics", "AlarmTopic");
    assert_eq!(
        alarm_topic["policy"]["Statement"][0]["Principal"]["Service"], "cloudwatch.amazonaws.com",
        "alarms may publish to the alarm topic"
    );
    assert_encryption(stack, topic, alarm_topic);
    assert_eq!(
        stack.described("queues", "MessageDeadLetterQueue")["kms_master_key_id"],
        "alias/aws/sqs"
    );

    // The function's environment names what the stack created.
    let watcher = stack.described("functions", "WatcherFunction");
    let environment = &watcher["environment"];
    assert_eq!(environment["TABLE_NAME"], table["name"]);
    assert_eq!(environment["TOPIC_ARN"], topic["arn"]);
    assert_eq!(
        environment["SHARD_QUEUE_URL"],
        stack.described("queues", "ShardQueue")["url"]
    );
    assert_eq!(
        environment["DEAD_LETTER_QUEUE_URL"],
        stack.described("queues", "MessageDeadLetterQueue")["url"]
    );
    assert_eq!(watcher["runtime"], "provided.al2023");
    assert!(
        watcher["role"]
            .as_str()
            .unwrap()
            .ends_with(stack.physical("WatcherFunctionRole"))
    );

    assert_alarms(stack);

    // The schedule's rule invokes the watcher (with the permission SAM adds), retries a
    // tick twice within a minute, then leaves it in the dead-letter queue, which only this
    // rule may write to.
    let tick = stack.described("rules", "WatcherFunctionSchedule");
    assert_eq!(tick["targets"].as_array().unwrap().len(), 1, "{tick}");
    assert!(
        tick["targets"][0]
            .as_str()
            .unwrap()
            .ends_with(&format!(":function:{}", watcher["name"].as_str().unwrap()))
    );
    assert!(
        tick["schedule"].as_str().unwrap().starts_with("rate("),
        "{tick}"
    );
    let dead_letters = stack.described("queues", "DeadLetterQueue");
    assert_eq!(tick["dead_letters"][0], dead_letters["arn"], "{tick}");
    assert_eq!(tick["retries"][0]["MaximumRetryAttempts"], 2, "{tick}");
    assert_eq!(tick["retries"][0]["MaximumEventAgeInSeconds"], 60, "{tick}");
    assert!(stack.has("WatcherFunctionSchedulePermission"));
    let policy = &dead_letters["policy"]["Statement"];
    assert_eq!(policy.as_array().unwrap().len(), 1, "{policy}");
    assert_eq!(policy[0]["Principal"]["Service"], "events.amazonaws.com");
    assert_eq!(
        policy[0]["Condition"]["ArnEquals"]["aws:SourceArn"], tick["arn"],
        "{policy}"
    );
    let shards = stack.described("mappings", "WatcherFunctionShards");
    assert_eq!(
        shards["source"],
        stack.described("queues", "ShardQueue")["arn"]
    );
    assert_eq!(shards["batch_size"], 1);

    assert_eq!(stack.output("TableName"), table["name"].as_str());
    assert_eq!(stack.output("TopicArn"), topic["arn"].as_str());
    assert_eq!(stack.output("AlarmTopicArn"), alarm_topic["arn"].as_str());
    assert_eq!(stack.output("FunctionName"), watcher["name"].as_str());
}

/// Every alarm tells the alarm topic, about this stack's function, queues or metrics.
fn assert_alarms(stack: &Stack) {
    let alarm_topic = stack.described("topics", "AlarmTopic");
    for alarm in ALARMS {
        let described = stack.described("alarms", alarm);
        assert_eq!(described["actions"], json!([alarm_topic["arn"]]), "{alarm}");
        // Their names start with the stack's own.
        let about = described["dimensions"].as_object().unwrap();
        assert!(!about.is_empty(), "{alarm}: {described}");
        for value in about.values() {
            assert!(
                value.as_str().unwrap().starts_with(&stack.name),
                "{alarm}: {described}"
            );
        }
    }
}

fn expected_actions(extra: &[&str]) -> Vec<String> {
    let actions: BTreeSet<String> = WATCHER_ACTIONS
        .iter()
        .chain(&HISTORY_ACTIONS)
        .chain(extra)
        .map(|a| (*a).to_owned())
        .collect();
    actions.into_iter().collect()
}

fn absent(stack: &Stack, ids: &[&str]) {
    for id in ids {
        assert!(!stack.has(id), "{}: {id} should not exist", stack.name);
    }
}

#[test]
fn the_minimal_stack_has_no_optional_resource() {
    let stack = deploy(
        "minimal",
        &[
            ("PipelineNames", "web-app-release"),
            ("EventTrigger", "no"),
            ("CreateDashboard", "no"),
        ],
    );
    absent(
        &stack,
        &[
            "EmailSubscription",
            "EmailAlarmSubscription",
            "ChatbotRole",
            "SlackChannel",
            "ForwarderFunction",
            "ForwarderErrorsAlarm",
            "EventRule",
            "EventQueue",
            "EventQueueMapping",
            "Dashboard",
        ],
    );
    assert_eq!(stack.output("DashboardUrl"), None);
    assert_eq!(stack.output("EmailConfirmation"), None);
    assert_eq!(
        stack.allowed_actions("WatcherFunctionRole"),
        expected_actions(&[])
    );
    let topic = stack.described("topics", "NotificationTopic");
    assert_eq!(topic["subscriptions"], json!([]));
    let environment = &stack.described("functions", "WatcherFunction")["environment"];
    assert_eq!(environment["PIPELINE_TAGS"], "");
}

#[test]
fn email_with_the_failures_and_approvals_filter_hears_alarms_unfiltered() {
    let stack = deploy(
        "email",
        &[
            ("PipelineNames", "web-app-release"),
            ("NotificationEmail", "ops@example.com"),
            ("EmailNotifications", "failures-and-approvals"),
        ],
    );
    let notifications = &stack.described("topics", "NotificationTopic")["subscriptions"];
    assert_eq!(
        notifications,
        &json!([{
            "protocol": "email",
            "endpoint": "ops@example.com",
            "filter_policy": {"severity": ["failure", "approval"]},
        }])
    );
    let alarms = &stack.described("topics", "AlarmTopic")["subscriptions"];
    assert_eq!(
        alarms,
        &json!([{"protocol": "email", "endpoint": "ops@example.com", "filter_policy": null}])
    );
    assert!(
        stack
            .output("EmailConfirmation")
            .unwrap()
            .contains("ops@example.com")
    );
    // The dashboard is on by default, and shows this stack's alarms.
    let dashboard = stack.described("dashboards", "Dashboard")["body"].to_string();
    assert!(
        dashboard.contains(stack.physical("NoTicksAlarm")),
        "{dashboard}"
    );
    assert!(
        stack
            .output("DashboardUrl")
            .unwrap()
            .ends_with(stack.physical("Dashboard"))
    );
}

#[test]
fn chatbot_slack_reads_both_topics_and_may_run_nothing() {
    let stack = deploy(
        "chatbot",
        &[
            ("PipelineNames", "web-app-release"),
            ("SlackWorkspaceId", "T0123ABCD"),
            ("SlackChannelId", "C0123ABCD"),
        ],
    );
    assert!(stack.has("SlackChannel"), "recorded by the emulator");
    let role = stack.described("roles", "ChatbotRole");
    assert_eq!(
        role["trust"]["Statement"][0]["Principal"]["Service"],
        "chatbot.amazonaws.com"
    );
    assert_eq!(stack.allowed_actions("ChatbotRole"), ["kms:Decrypt"]);
    absent(&stack, &["ForwarderFunction", "EmailSubscription"]);
}

#[test]
fn the_webhook_forwarder_hears_both_topics_and_reads_only_its_secret() {
    let secret = "arn:aws:secretsmanager:us-east-1:123456789012:secret:pipewatch-slack-AbCdEf";
    let stack = deploy(
        "forwarder",
        &[
            ("PipelineNames", "web-app-release"),
            ("SlackWebhookSecretArn", secret),
        ],
    );
    let forwarder = stack.described("functions", "ForwarderFunction");
    assert_eq!(
        forwarder["environment"],
        json!({"SLACK_WEBHOOK_SECRET_ARN": secret, "TEAMS_WEBHOOK_SECRET_ARN": "",
            "SLACK_APP_SECRET_ARN": "", "SLACK_APP_ROUTES": "[{\"channel\": \"C0123456789\"}]",
            "TABLE_NAME": "", "ALARM_TOPIC_ARN": "", "SLACK_API_URL": "", "LOG_LEVEL": "info"})
    );
    let arn = |topic: &str| stack.described("topics", topic)["subscriptions"].clone();
    for topic in ["NotificationTopic", "AlarmTopic"] {
        let subscriptions = arn(topic);
        assert_eq!(subscriptions.as_array().unwrap().len(), 1, "{topic}");
        assert_eq!(subscriptions[0]["protocol"], "lambda");
        assert!(
            subscriptions[0]["endpoint"]
                .as_str()
                .unwrap()
                .ends_with(&format!(
                    ":function:{}",
                    forwarder["name"].as_str().unwrap()
                )),
            "{subscriptions}"
        );
    }
    // SAM names a function's role after it, as it does the watcher's.
    let role = "ForwarderFunctionRole";
    assert!(
        forwarder["role"]
            .as_str()
            .unwrap()
            .ends_with(stack.physical(role))
    );
    assert_eq!(
        stack.allowed_actions(role),
        [
            "kms:Decrypt",
            "kms:GenerateDataKey",
            "secretsmanager:GetSecretValue",
            "sqs:SendMessage"
        ]
    );
    let statements = stack.described("roles", role)["statements"].to_string();
    assert!(statements.contains(secret));
    let alarm = stack.described("alarms", "ForwarderErrorsAlarm");
    assert_eq!(alarm["dimensions"]["FunctionName"], forwarder["name"]);
    assert_eq!(
        stack.output("ForwarderFunctionName"),
        forwarder["name"].as_str()
    );
}

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
        assert!(output.status.success(), "{}", forwarder.logs());
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

#[test]
fn patterns_tags_and_other_accounts_get_their_permissions_and_no_more() {
    let elsewhere = "arn:aws:codepipeline:eu-west-1:210987654321:payments-*";
    let stack = deploy(
        "reach",
        &[
            ("PipelineNames", "web-*,infra-prod"),
            ("OtherPipelineArns", elsewhere),
            ("PipelineTags", "team=payments"),
            ("AssumeRoleExternalId", "pipewatch-test"),
        ],
    );
    assert_eq!(
        stack.allowed_actions("WatcherFunctionRole"),
        expected_actions(&[
            "codepipeline:ListPipelines",
            "tag:GetResources",
            "sts:AssumeRole",
            "sqs:ReceiveMessage",
            "sqs:DeleteMessage",
            "sqs:GetQueueAttributes",
        ])
    );
    let environment = &stack.described("functions", "WatcherFunction")["environment"];
    assert_eq!(
        environment["PIPELINES"],
        format!("web-*,infra-prod,{elsewhere}")
    );
    assert_eq!(environment["PIPELINE_TAGS"], "team=payments");
    assert_eq!(environment["ASSUME_ROLE_EXTERNAL_ID"], "pipewatch-test");
    let statements = stack.described("roles", "WatcherFunctionRole")["statements"].clone();
    let by_sid = |sid: &str| {
        statements
            .as_array()
            .unwrap()
            .iter()
            .find(|s| s["Sid"] == sid)
            .unwrap_or_else(|| panic!("no {sid} in {statements}"))
            .clone()
    };
    assert_eq!(
        by_sid("ReadWatchedPipelines")["Resource"],
        json!([
            "arn:*:codepipeline:*:*:web-*",
            "arn:*:codepipeline:*:*:infra-prod"
        ])
    );
    assert_eq!(
        by_sid("ReadPipelinesElsewhere")["Resource"],
        json!([elsewhere])
    );
    assert_eq!(
        by_sid("AssumeTheReaderRoles")["Resource"],
        "arn:aws:iam::*:role/pipewatch-reader"
    );
}

#[test]
fn the_event_trigger_routes_the_watched_pipelines_events_to_the_watcher() {
    let stack = deploy("events", &[("PipelineNames", "web-app-release,infra-?")]);
    let rule = stack.described("rules", "EventRule");
    let queue = stack.described("queues", "EventQueue");
    assert_eq!(rule["targets"], json!([queue["arn"]]));
    assert_eq!(rule["pattern"]["source"], json!(["aws.codepipeline"]));
    assert_eq!(
        rule["pattern"]["detail"]["pipeline"],
        json!([{"wildcard": "web-app-release"}, {"wildcard": "infra-*"}])
    );
    assert_eq!(
        queue["kms_master_key_id"],
        stack.physical("NotificationKey")
    );
    assert_eq!(
        queue["policy"]["Statement"][0]["Principal"]["Service"],
        "events.amazonaws.com"
    );
    let mapping = stack.described("mappings", "EventQueueMapping");
    assert_eq!(mapping["source"], queue["arn"]);
    assert_eq!(mapping["batch_size"], 100);
    assert!(
        mapping["function"]
            .as_str()
            .unwrap()
            .ends_with(stack.output("FunctionName").unwrap())
    );
}

/// More parameter sets, each only checked for what every stack has: a condition that
/// leaves a dangling reference for one combination fails here. Deployed side by side.
#[test]
fn every_other_combination_deploys_cleanly() {
    let secret = "arn:aws:secretsmanager:us-east-1:123456789012:secret:pipewatch-teams-AbCdEf";
    let elsewhere = "arn:aws:codepipeline:us-west-2:123456789012:billing-*";
    let sets: [(&str, &[(&str, &str)]); 6] = [
        // Teams alone: the forwarder's secret list keeps only its own ARN.
        (
            "teams",
            &[
                ("PipelineNames", "web-app-release"),
                ("TeamsWebhookSecretArn", secret),
            ],
        ),
        // Email with everything: no filter policy.
        (
            "email-all",
            &[
                ("PipelineNames", "web-app-release"),
                ("NotificationEmail", "ops@example.com"),
                ("EmailNotifications", "all"),
            ],
        ),
        // Only other regions' pipelines: no home pipelines, so no events and no rule.
        ("elsewhere", &[("OtherPipelineArns", elsewhere)]),
        // Only tags.
        ("tags", &[("PipelineTags", "team=payments")]),
        // Everything at once.
        (
            "everything",
            &[
                ("PipelineNames", "web-*"),
                ("OtherPipelineArns", elsewhere),
                ("PipelineTags", "team=payments"),
                ("NotificationEmail", "ops@example.com"),
                ("SlackWorkspaceId", "T0123ABCD"),
                ("SlackChannelId", "C0123ABCD"),
                ("SlackWebhookSecretArn", secret),
                ("TeamsWebhookSecretArn", secret),
            ],
        ),
        // A slower schedule, no events, no dashboard.
        (
            "quiet",
            &[
                ("PipelineNames", "web-app-release"),
                ("ScheduleExpression", "rate(15 minutes)"),
                ("EventTrigger", "no"),
                ("CreateDashboard", "no"),
            ],
        ),
    ];
    let stacks: Vec<Stack> = std::thread::scope(|scope| {
        let running: Vec<_> = sets
            .iter()
            .map(|(set, parameters)| scope.spawn(move || deploy(set, parameters)))
            .collect();
        running.into_iter().map(|r| r.join().unwrap()).collect()
    });
    let [teams, email_all, elsewhere_only, tags, everything, quiet] = &stacks[..] else {
        unreachable!()
    };
    let forwarder_statements = |stack: &Stack| {
        stack.report["roles"]
            .to_string()
            .contains("secretsmanager:GetSecretValue")
    };
    assert!(forwarder_statements(teams) && forwarder_statements(everything));
    assert_eq!(
        email_all.described("topics", "NotificationTopic")["subscriptions"][0]["filter_policy"],
        Value::Null
    );
    for stack in [elsewhere_only, tags, quiet] {
        absent(stack, &["EventRule", "EventQueue", "EventQueueMapping"]);
    }
    assert!(
        !elsewhere_only.report["roles"]["WatcherFunctionRole"]["statements"]
            .to_string()
            .contains("ReadWatchedPipelines")
    );
    assert!(everything.has("SlackChannel") && everything.has("EventRule"));
    assert_eq!(
        quiet.described("rules", "WatcherFunctionSchedule")["schedule"],
        "rate(15 minutes)"
    );
}

/// The built watcher, started with `stack`'s environment and pointed at the emulators: the
/// stack's table and topic are in moto; CodePipeline is the fake.
fn watcher_of(stack: &Stack, fake: &FakeCodePipeline, log: &str) -> Lambda {
    let variables = stack.environment("WatcherFunction");
    let mut environment: Vec<(&str, String)> = variables
        .iter()
        .map(|(name, value)| (name.as_str(), value.clone()))
        .collect();
    environment.push(("AWS_ENDPOINT_URL_CODEPIPELINE", fake.url()));
    environment.push(("AWS_ENDPOINT_URL_DYNAMODB", moto_url()));
    environment.push(("LOG_LEVEL", "debug".to_owned()));
    let log =
        Path::new(env!("CARGO_TARGET_TMPDIR")).join(format!("{log}-{}.log", std::process::id()));
    Lambda::start(env!("CARGO_BIN_EXE_pipewatch-lambda"), &environment, log)
}

/// The CodePipeline fake serving the release scenario's executions; its states, to serve.
fn release_fake() -> (FakeCodePipeline, Vec<String>) {
    let fake = FakeCodePipeline::start();
    for execution in scenario_executions("release-failure-retry") {
        fake.set_execution(&execution);
    }
    (fake, scenario("release-failure-retry"))
}

/// Every AWS call the watcher made (its detailed metrics' `Api` dimension), as
/// `service:Action`.
fn calls_made(logs: &str) -> BTreeSet<String> {
    logs.lines()
        .filter_map(|line| serde_json::from_str::<Value>(line).ok())
        .filter_map(|line| line["Api"].as_str().map(str::to_owned))
        .map(|api| {
            let service = match api.as_str() {
                "GetItem" | "BatchGetItem" | "PutItem" => "dynamodb",
                "Publish" | "PublishBatch" => "sns",
                "SendMessage" | "SendMessageBatch" => "sqs",
                _ => "codepipeline",
            };
            // PublishBatch and SendMessageBatch are authorized as their single forms.
            format!("{service}:{}", api.trim_end_matches("Batch"))
        })
        .collect()
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

/// 0.1.0 named every stack's schedule `WatcherFunctionTick`, so two 0.1.0 stacks cannot
/// exist in one account and region (the update replaces it with a rule): one upgrade test
/// at a time.
static PREVIOUS_RELEASE: tokio::sync::Mutex<()> = tokio::sync::Mutex::const_new(());

/// A stack of an earlier `release`, as a user has it before updating.
fn deploy_release(release: &str, name: &str, parameters: &[(&str, &str)]) -> Stack {
    let stack = Stack::deploy(name, &release_template(release), parameters);
    assert_eq!(
        stack.status(),
        "CREATE_COMPLETE",
        "{}",
        stack.report["reason"]
    );
    stack
}

/// The same stack updated to the current template: everything a stack has, updated.
fn update(name: &str, parameters: &[(&str, &str)]) -> Stack {
    let stack = Stack::deploy(name, &current_template(), parameters);
    assert_eq!(
        stack.status(),
        "UPDATE_COMPLETE",
        "{}",
        stack.report["reason"]
    );
    assert_common(&stack);
    stack
}

#[tokio::test(flavor = "multi_thread")]
async fn an_update_of_a_0_1_0_stack_keeps_the_table_and_delivers_the_pending_message() {
    let only_one = PREVIOUS_RELEASE.lock().await;
    let name = unique("upgrade");
    let parameters = [("PipelineNames", "web-app-release")];
    let before = deploy_release("0.1.0", &name, &parameters);
    let table = before.physical("SnapshotTable").to_owned();

    // The stored record of 0.1.0, with a claimed message not yet published.
    let moto = aws_sdk_dynamodb::config::Builder::from(&sdk_config().await)
        .endpoint_url(moto_url())
        .build();
    let dynamodb = aws_sdk_dynamodb::Client::from_conf(moto);
    let record = pipewatch_testkit::records::item("v0.1.0-release-failure");
    dynamodb
        .put_item()
        .table_name(&table)
        .set_item(Some(record.clone()))
        .send()
        .await
        .unwrap();

    let after = update(&name, &parameters);
    // A smoke check: whether an update replaces a resource is decided here by the project's
    // own emulation of CloudFormation (tests/deploy/emulator/), not by CloudFormation. The
    // guard is template.rs (no replacing property of what holds state changes, Retain kept,
    // no logical id changes type); this shows the path runs end to end.
    assert_eq!(
        after.physical("SnapshotTable"),
        table,
        "updated, not replaced"
    );
    let kept = dynamodb
        .get_item()
        .table_name(&table)
        .key("pipeline", record["pipeline"].clone())
        .send()
        .await
        .unwrap()
        .item
        .expect("the record survives the update");
    assert_eq!(kept, record);
    for added in [
        "MessageDeadLetterQueue",
        "ShardQueue",
        "AlarmTopic",
        "NoTicksAlarm",
    ] {
        assert!(after.has(added), "{added} added by the update");
    }
    assert_eq!(
        after.described("tables", "SnapshotTable")["ttl"]["TimeToLiveStatus"],
        "ENABLED",
        "the update turns on expiry for the kept table"
    );
    drop(only_one);

    // The updated watcher delivers the message 0.1.0 claimed, then the news.
    let config = sdk_config().await;
    let inbox = Inbox::on_topic(&config, after.output("TopicArn").unwrap()).await;
    let (fake, states) = release_fake();
    fake.set_state(&states[3]);
    let lambda = watcher_of(&after, &fake, "deploy-upgrade");
    let summary = lambda.summary("scheduled-event.json");
    assert_eq!(summary["rebaselined"], 0, "{summary}");
    assert_eq!(summary["messages_published"], 2, "{summary}");
    let delivered = inbox.drain().await;
    assert_eq!(
        delivered[0].id(),
        "web-app-release/41/1",
        "the pending one first"
    );
    assert_eq!(delivered.len(), 2);
}

#[tokio::test]
async fn an_update_of_a_0_1_0_stack_with_email_and_the_forwarder_keeps_its_subscribers() {
    let only_one = PREVIOUS_RELEASE.lock().await;
    let name = unique("upgrade-full");
    let secret = "arn:aws:secretsmanager:us-east-1:123456789012:secret:pipewatch-slack-AbCdEf";
    let parameters = [
        ("PipelineNames", "web-app-release"),
        ("NotificationEmail", "ops@example.com"),
        ("EmailNotifications", "failures-and-approvals"),
        ("SlackWebhookSecretArn", secret),
    ];
    let before = deploy_release("0.1.0", &name, &parameters);
    let topic = before.physical("NotificationTopic").to_owned();

    let after = update(&name, &parameters);
    drop(only_one);
    // The topic is the same, so the confirmed email subscription is too (a smoke check of
    // the emulation, as above; template.rs is the guard).
    assert_eq!(
        after.physical("NotificationTopic"),
        topic,
        "updated, not replaced"
    );
    let subscriptions = &after.described("topics", "NotificationTopic")["subscriptions"];
    let email: Vec<&Value> = subscriptions
        .as_array()
        .unwrap()
        .iter()
        .filter(|s| s["protocol"] == "email")
        .collect();
    assert_eq!(email.len(), 1, "{subscriptions}");
    assert_eq!(
        email[0]["filter_policy"],
        json!({"severity": ["failure", "approval"]})
    );
    // The forwarder still hears the topic, and now the alarms too; the address gets them.
    assert!(
        subscriptions
            .to_string()
            .contains("\"protocol\":\"lambda\""),
        "{subscriptions}"
    );
    let alarms = after.described("topics", "AlarmTopic")["subscriptions"].to_string();
    assert!(
        alarms.contains("ops@example.com") && alarms.contains("lambda"),
        "{alarms}"
    );
    assert_eq!(
        after.described("functions", "ForwarderFunction")["environment"]["SLACK_WEBHOOK_SECRET_ARN"],
        secret
    );
}

/// A stack of the last release (0.2.0), with events and email, updated: its Scheduler
/// schedule gives way to the EventBridge rule under a new id (which `update` checks
/// invokes the watcher), and what holds state or subscribers (the table, its key, the
/// topics) is the same resource after. Smoke checks of the emulation (whether
/// CloudFormation would replace is template.rs's to guard).
#[tokio::test(flavor = "multi_thread")]
async fn an_update_of_a_0_2_0_stack_keeps_what_holds_state_and_schedules_with_a_rule() {
    let name = unique("upgrade-020");
    let parameters = [
        ("PipelineNames", "web-*"),
        ("NotificationEmail", "ops@example.com"),
    ];
    let before = deploy_release("0.2.0", &name, &parameters);
    assert!(before.has("WatcherFunctionTick"));
    let after = update(&name, &parameters);
    for id in [
        "SnapshotTable",
        "NotificationKey",
        "NotificationTopic",
        "AlarmTopic",
    ] {
        assert_eq!(before.physical(id), after.physical(id), "{id} was replaced");
    }
    assert!(!after.has("WatcherFunctionTick") && !after.has("WatcherFunctionTickRole"));
    assert!(after.has("WatcherFunctionSchedule"));
}
