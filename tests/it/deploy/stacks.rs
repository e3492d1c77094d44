//! What each parameter set creates, as the emulated services describe it: the minimal
//! stack, email, Chatbot, the webhook forwarder, patterns, tags and other accounts, the
//! event trigger, and every other combination side by side.

use pipewatch_testkit::stack::Stack;
use serde_json::{Value, json};

use super::{absent, deploy, expected_actions};

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
            "DOCUMENT_BUCKET": "", "DOCUMENT_KEY": "notifications.yaml",
            "DOCUMENT_CACHE_SECONDS": "60", "DOCUMENT_TOPICS": "",
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

#[test]
fn the_document_gets_a_private_versioned_bucket_only_its_writers_write() {
    let writer = "arn:aws:iam::123456789012:role/platform-admins";
    let stack = deploy(
        "document",
        &[
            ("PipelineNames", "web-app-release"),
            ("DocumentWriters", writer),
        ],
    );
    let bucket = stack.described("buckets", "DocumentBucket");
    assert_eq!(stack.output("DocumentBucket"), bucket["name"].as_str());
    assert_eq!(bucket["versioning"], "Enabled");
    assert_eq!(
        bucket["public_access_block"],
        json!({"BlockPublicAcls": true, "IgnorePublicAcls": true,
            "BlockPublicPolicy": true, "RestrictPublicBuckets": true})
    );
    let encryption = &bucket["encryption"][0];
    assert_eq!(encryption["SSEAlgorithm"], "aws:kms");
    assert!(
        encryption["KMSMasterKeyID"]
            .as_str()
            .unwrap()
            .ends_with(&format!(":key/{}", stack.physical("NotificationKey"))),
        "the stack's key, as for the topics and the table: {encryption}"
    );
    let statements = &bucket["policy"]["Statement"];
    let denied = |sid: &str| {
        statements
            .as_array()
            .unwrap()
            .iter()
            .find(|s| s["Sid"] == sid && s["Effect"] == "Deny")
            .unwrap_or_else(|| panic!("{sid}: {statements}"))
            .clone()
    };
    assert_eq!(
        denied("WrittenByTheWritersOnly")["Condition"],
        json!({"ArnNotLike": {"aws:PrincipalArn": [writer]}})
    );
    assert_eq!(
        denied("ReadByTheFunctionsAndTheWritersOnly")["Condition"],
        json!({"StringNotEquals": {"aws:PrincipalTag/pipewatch:document-reader": stack.name},
            "ArnNotLike": {"aws:PrincipalArn": [writer]}})
    );
    assert_eq!(
        denied("TlsOnly")["Condition"],
        json!({"Bool": {"aws:SecureTransport": "false"}})
    );
    let forwarder = stack.described("functions", "ForwarderFunction");
    let environment = &forwarder["environment"];
    assert_eq!(environment["DOCUMENT_BUCKET"], bucket["name"]);
    assert_eq!(environment["DOCUMENT_KEY"], "notifications.yaml");
    assert_eq!(
        environment["TABLE_NAME"],
        stack.described("tables", "SnapshotTable")["name"]
    );
    assert_eq!(
        environment["ALARM_TOPIC_ARN"],
        stack.described("topics", "AlarmTopic")["arn"]
    );
    assert_eq!(
        stack.allowed_actions("ForwarderFunctionRole"),
        [
            "dynamodb:DeleteItem",
            "dynamodb:GetItem",
            "dynamodb:PutItem",
            "dynamodb:UpdateItem",
            "kms:Decrypt",
            "kms:GenerateDataKey",
            "s3:GetObject",
            "s3:GetObjectVersion",
            "s3:ListBucketVersions",
            "secretsmanager:GetSecretValue",
            "sns:Publish",
            "sqs:SendMessage"
        ]
    );
    let statements = stack.described("roles", "ForwarderFunctionRole")["statements"].to_string();
    assert!(
        statements.contains(":secret:pipewatch/*"),
        "the document's secrets, under the prefix only: {statements}"
    );
    assert!(
        statements.contains(r#""dynamodb:LeadingKeys":["slack/*","document/*"]"#),
        "{statements}"
    );
    // Email and Chatbot destinations: the topics under the prefix, the same pattern in the
    // forwarder's environment (which refuses a document naming another) and its policy.
    let alarms = stack.described("topics", "AlarmTopic")["arn"]
        .as_str()
        .unwrap()
        .to_owned();
    let topics = format!("{}:pipewatch-*", alarms.rsplit_once(':').unwrap().0);
    assert_eq!(environment["DOCUMENT_TOPICS"], topics.as_str());
    assert!(
        statements.contains(&format!(r#""Resource":"{topics}""#)),
        "{statements}"
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
