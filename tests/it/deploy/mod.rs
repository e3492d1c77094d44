//! Deploy rehearsal: `template.yaml`, translated by the real SAM translator, created in an
//! emulated CloudFormation (moto, `tests/deploy/`) for every parameter set that matters;
//! what each stack created is checked as the services describe it, and the built watcher
//! runs against one stack's resources with the stack's own environment. Then an update from
//! the previous release's template, with records and a pending message in the table.
//!
//! What the emulation cannot prove is said where it matters: moto does not replace a
//! resource when CloudFormation would (tests/it/template/releases.rs guards the properties that would),
//! and it runs no function (the built bootstrap runs under cargo-lambda's Runtime API).

use std::collections::BTreeSet;
use std::path::Path;

use pipewatch_testkit::fake_codepipeline::FakeCodePipeline;
use pipewatch_testkit::fixtures::{scenario, scenario_executions};
use pipewatch_testkit::lambda::Lambda;
use pipewatch_testkit::services::unique;
use pipewatch_testkit::stack::{Stack, current_template, moto_url};
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

mod running;
mod stacks;
mod updates;
