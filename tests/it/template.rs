//! `template.yaml` and the code agree: each function gets exactly the environment its code
//! reads, the table's key is the store's, and each IAM policy allows exactly the AWS calls
//! that function's adapters make, each on a named resource.

use std::collections::BTreeSet;
use std::path::Path;
use std::sync::Mutex;

use serde_norway::Value;

const MANIFEST_DIR: &str = env!("CARGO_MANIFEST_DIR");

/// The functions, each with the adapter files (in `src/aws/`) whose AWS calls it makes.
const FUNCTIONS: [(&str, &[&str]); 2] = [
    (
        "WatcherFunction",
        &[
            "codepipeline.rs",
            "dynamodb.rs",
            "sns.rs",
            "tagging.rs",
            "sqs.rs",
            "clients.rs",
        ],
    ),
    (
        "ForwarderFunction",
        &["secrets.rs", "slack_refs.rs", "operator.rs"],
    ),
];

/// What Lambda's poller does with the function's role for the event queue's mapping (SAM
/// grants the same, unseen, for the shard queue's SQS event): not calls the code makes.
const EVENT_SOURCE_MAPPING: [&str; 3] = [
    "sqs:ReceiveMessage",
    "sqs:DeleteMessage",
    "sqs:GetQueueAttributes",
];

/// Actions that have no resource-level permission, so `*` is the only resource IAM takes.
const RESOURCE_LESS: [&str; 2] = ["codepipeline:ListPipelines", "tag:GetResources"];

fn template() -> Value {
    let text = std::fs::read_to_string(format!("{MANIFEST_DIR}/template.yaml")).unwrap();
    serde_norway::from_str(&text).expect("template.yaml is YAML")
}

/// The releases users may update from (their templates are kept in `tests/deploy/`).
const RELEASES: [&str; 2] = ["0.1.0", "0.2.0"];

/// The template of `release`, as users deployed it.
fn release_template(release: &str) -> Value {
    let path = format!("{MANIFEST_DIR}/tests/deploy/template-{release}.yaml");
    serde_norway::from_str(&std::fs::read_to_string(path).unwrap()).unwrap()
}

fn resource<'a>(template: &'a Value, name: &str) -> &'a Value {
    &template["Resources"][name]["Properties"]
}

/// A statement as written, or, for `!If [Condition, statement, !Ref AWS::NoValue]`, the
/// statement it grants when the condition holds.
fn unconditional(statement: &Value) -> Value {
    match statement {
        Value::Tagged(tagged) if tagged.tag == "If" => tagged.value[1].clone(),
        other => other.clone(),
    }
}

/// The actions a policy statement names.
fn actions(statement: &Value) -> Vec<String> {
    match &statement["Action"] {
        Value::String(action) => vec![action.clone()],
        Value::Sequence(actions) => actions
            .iter()
            .map(|a| a.as_str().unwrap().to_owned())
            .collect(),
        other => panic!("unexpected Action {other:?}"),
    }
}

/// A function's policy statements, each as (actions, resources).
fn statements(template: &Value, function: &str) -> Vec<(Vec<String>, Vec<Value>)> {
    let policies = resource(template, function)["Policies"]
        .as_sequence()
        .unwrap();
    policies
        .iter()
        .flat_map(|policy| policy["Statement"].as_sequence().unwrap().clone())
        .map(|statement| unconditional(&statement))
        .map(|statement| {
            let actions = actions(&statement);
            let resources = match &statement["Resource"] {
                Value::Sequence(resources) => resources.clone(),
                single => vec![single.clone()],
            };
            (actions, resources)
        })
        .collect()
}

/// A valid value for each required variable, so the configurations go on asking for the rest.
fn valid(name: &str) -> Option<String> {
    match name {
        "PIPELINES" => Some("a".into()),
        "TABLE_NAME" => Some("table".into()),
        "TOPIC_ARN" => Some("arn:aws:sns:us-east-1:123456789012:t".into()),
        "DEAD_LETTER_QUEUE_URL" => {
            Some("https://sqs.us-east-1.amazonaws.com/123456789012/dead-letters".into())
        }
        "SLACK_WEBHOOK_SECRET_ARN" | "SLACK_APP_SECRET_ARN" => {
            Some("arn:aws:secretsmanager:us-east-1:123456789012:secret:s".into())
        }
        "SLACK_APP_ROUTES" => Some("[]".into()),
        "SLACK_SIGNING_SECRET_ARN" => {
            Some("arn:aws:secretsmanager:us-east-1:123456789012:secret:signing".into())
        }
        "SLACK_TEAM_ID" => Some("T0PIPEWATCH".into()),
        "SLACK_APP_ID" => Some("A0PIPEWATCH".into()),
        "APPROVAL_QUEUE_URL" => Some("https://sqs.us-east-1.amazonaws.com/123456789012/q".into()),
        "ACCOUNT_ID" => Some("123456789012".into()),
        _ => None,
    }
}

/// Every environment variable a function's configuration looks up, found by asking it.
fn variables_the_code_reads(function: &str) -> BTreeSet<String> {
    let asked = Mutex::new(BTreeSet::new());
    let lookup = |name: &str| {
        asked.lock().unwrap().insert(name.to_owned());
        valid(name)
    };
    match function {
        "WatcherFunction" => {
            pipewatch::config::Config::from_lookup(lookup).expect("a valid environment");
        }
        "ForwarderFunction" => {
            pipewatch::config::ForwarderConfig::from_lookup(lookup).expect("a valid environment");
        }
        "ApproverFunction" => {
            pipewatch::config::ApproverConfig::from_lookup(lookup).expect("a valid environment");
        }
        other => panic!("unknown function {other}"),
    }
    asked.into_inner().unwrap()
}

#[test]
fn each_function_gets_exactly_the_variables_its_code_reads() {
    let template = template();
    for (function, _) in FUNCTIONS {
        let variables = resource(&template, function)["Environment"]["Variables"]
            .as_mapping()
            .unwrap();
        let set: BTreeSet<String> = variables
            .keys()
            .map(|k| k.as_str().unwrap().to_owned())
            .collect();
        assert_eq!(set, variables_the_code_reads(function), "{function}");
    }
}

#[test]
fn the_table_key_is_the_stores_key() {
    let template = template();
    let table = resource(&template, "SnapshotTable");
    let key = &table["KeySchema"][0];
    assert_eq!(
        key["AttributeName"].as_str(),
        Some(pipewatch::aws::dynamodb::KEY)
    );
    assert_eq!(key["KeyType"].as_str(), Some("HASH"));
    assert_eq!(
        table["KeySchema"].as_sequence().unwrap().len(),
        1,
        "no sort key"
    );
    let definition = &table["AttributeDefinitions"][0];
    assert_eq!(
        definition["AttributeName"].as_str(),
        Some(pipewatch::aws::dynamodb::KEY)
    );
    assert_eq!(definition["AttributeType"].as_str(), Some("S"));
}

/// The SDK operations the adapters call (`client.<operation>()`), read from their source.
fn operations_the_code_calls(files: &[&str]) -> BTreeSet<(String, String)> {
    let mut calls = BTreeSet::new();
    for file in files {
        let service = match *file {
            "secrets.rs" => "secretsmanager",
            "slack_refs.rs" => "dynamodb",
            "operator.rs" => "sns",
            "approvals.rs" => "codepipeline",
            "tagging.rs" => "tag",
            other => other.trim_end_matches(".rs"),
        };
        let source = std::fs::read_to_string(format!("{MANIFEST_DIR}/src/aws/{file}")).unwrap();
        let compact: String = source.split_whitespace().collect();
        // Roles are assumed through the SDK's provider, not a client call.
        if compact.contains("AssumeRoleProvider::builder(") {
            calls.insert(("sts".to_owned(), "assume_role".to_owned()));
        }
        for part in compact.split("client.").skip(1) {
            let operation: String = part
                .chars()
                .take_while(|c| c.is_ascii_lowercase() || *c == '_')
                .collect();
            // `client.clone()` copies a client; it calls nothing.
            if part[operation.len()..].starts_with("()") && operation != "clone" {
                calls.insert((service.to_owned(), operation));
            }
        }
    }
    calls
}

/// The IAM action that authorizes an SDK operation.
fn iam_action(service: &str, operation: &str) -> String {
    let action = match (service, operation) {
        // The batch calls have no action of their own: they are authorized as the single.
        ("sns", "publish_batch") => "Publish".to_owned(),
        ("sqs", "send_message_batch") => "SendMessage".to_owned(),
        _ => operation
            .split('_')
            .map(|word| {
                let mut chars = word.chars();
                chars
                    .next()
                    .map(|c| c.to_ascii_uppercase())
                    .into_iter()
                    .chain(chars)
                    .collect::<String>()
            })
            .collect(),
    };
    format!("{service}:{action}")
}

#[test]
fn each_policy_allows_exactly_the_calls_its_code_makes() {
    let template = template();
    for (function, files) in FUNCTIONS {
        let calls = operations_the_code_calls(files);
        assert!(
            calls.len() >= files.len(),
            "the scan found the adapters' calls: {calls:?}"
        );
        let needed: BTreeSet<String> = calls.iter().map(|(s, o)| iam_action(s, o)).collect();
        let granted: BTreeSet<String> = statements(&template, function)
            .into_iter()
            .flat_map(|(actions, _)| actions)
            .filter(|action| {
                !action.starts_with("kms:") && !EVENT_SOURCE_MAPPING.contains(&action.as_str())
            })
            .collect();
        assert_eq!(granted, needed, "{function}: granted vs needed by the code");
    }
}

#[test]
fn no_statement_of_a_function_grants_a_wildcard_resource_it_could_name() {
    let template = template();
    for (function, _) in FUNCTIONS {
        for (actions, resources) in statements(&template, function) {
            for resource in &resources {
                let text = format!("{resource:?}");
                if text.contains("\"*\"") {
                    assert!(
                        actions.iter().all(|a| RESOURCE_LESS.contains(&a.as_str())),
                        "{function}: {actions:?} on {text}"
                    );
                }
                assert!(!text.contains(":*\""), "{function}: {actions:?} on {text}");
            }
            if actions.iter().any(|a| a == "sts:AssumeRole") {
                let text = format!("{resources:?}");
                assert!(
                    text.contains(":role/${AssumeRoleName}"),
                    "only the reader role: {text}"
                );
            }
        }
    }
}

#[test]
fn the_lease_outlasts_the_timeout_and_the_duration_alarm_fires_before_it() {
    let template = template();
    let function = resource(&template, "WatcherFunction");
    let timeout = function["Timeout"].as_u64().unwrap();
    let lease: u64 = function["Environment"]["Variables"]["LEASE_SECONDS"]
        .as_str()
        .unwrap()
        .parse()
        .unwrap();
    assert!(
        lease > timeout,
        "a live tick's messages must not be taken over"
    );
    let threshold = resource(&template, "DurationAlarm")["Threshold"]
        .as_u64()
        .unwrap();
    assert_eq!(threshold, timeout * 1000 * 8 / 10);
}

#[test]
fn each_built_binary_is_one_of_ours() {
    let template = template();
    for (function, _) in FUNCTIONS {
        let binary = template["Resources"][function]["Metadata"]["BuildProperties"]["Binary"]
            .as_str()
            .unwrap();
        assert!(
            Path::new(&format!("{MANIFEST_DIR}/src/bin/{binary}.rs")).exists(),
            "{function}"
        );
    }
}

/// Every resource of a type, by logical id.
fn resources_of<'a>(template: &'a Value, kind: &str) -> Vec<(&'a str, &'a Value)> {
    template["Resources"]
        .as_mapping()
        .unwrap()
        .iter()
        .filter(|(_, r)| r["Type"].as_str() == Some(kind))
        .map(|(name, r)| (name.as_str().unwrap(), r))
        .collect()
}

/// `!Ref X` as `serde_norway` reads it.
fn is_ref(value: &Value, target: &str) -> bool {
    format!("{value:?}").contains(&format!("\"{target}\""))
}

#[test]
fn every_alarm_notifies_the_alarm_topic_which_the_email_subscriber_gets_unfiltered() {
    let template = template();
    let alarms = resources_of(&template, "AWS::CloudWatch::Alarm");
    assert!(alarms.len() >= 5, "{alarms:?}");
    for (name, alarm) in &alarms {
        let actions = alarm["Properties"]["AlarmActions"].as_sequence().unwrap();
        assert_eq!(actions.len(), 1, "{name}");
        assert!(is_ref(&actions[0], "AlarmTopic"), "{name}: {actions:?}");
        assert!(
            !alarm["Properties"]["AlarmDescription"]
                .as_str()
                .unwrap()
                .is_empty(),
            "{name} says what it means"
        );
    }
    let email = resource(&template, "EmailAlarmSubscription");
    assert!(is_ref(&email["TopicArn"], "AlarmTopic"));
    assert_eq!(email["Protocol"].as_str(), Some("email"));
    assert!(is_ref(&email["Endpoint"], "NotificationEmail"));
    assert!(
        email.get("FilterPolicy").is_none(),
        "no filter: alarms carry no attributes to match"
    );
    assert_eq!(
        template["Resources"]["EmailAlarmSubscription"]["Condition"].as_str(),
        Some("HasEmail")
    );
    // Chatbot and the forwarder hear both topics.
    let chatbot = resource(&template, "SlackChannel")["SnsTopicArns"].clone();
    assert!(is_ref(&chatbot, "NotificationTopic") && is_ref(&chatbot, "AlarmTopic"));
    let events = &resource(&template, "ForwarderFunction")["Events"];
    assert!(is_ref(
        &events["Notification"]["Properties"]["Topic"],
        "NotificationTopic"
    ));
    assert!(is_ref(
        &events["Alarm"]["Properties"]["Topic"],
        "AlarmTopic"
    ));
    // The forwarder's own failures are watched too.
    let forwarder_errors = resource(&template, "ForwarderErrorsAlarm");
    assert!(is_ref(&forwarder_errors["Dimensions"], "ForwarderFunction"));
}

/// The email subscription's filter policy as the template writes it, as JSON: the first
/// branch of its `!If [FilterEmail, {...}, !Ref AWS::NoValue]`, serialised as it stands.
fn email_filter_policy(template: &Value) -> String {
    let policy = &resource(template, "EmailSubscription")["FilterPolicy"];
    let Value::Tagged(tagged) = policy else {
        panic!("the filter policy is an !If: {policy:?}")
    };
    assert_eq!(tagged.tag, "If", "{policy:?}");
    assert_eq!(tagged.value[0].as_str(), Some("FilterEmail"));
    serde_json::to_string(&tagged.value[1]).expect("the policy is plain data")
}

/// The real filter-policy semantics (moto's SNS): with the default parameters the filtered
/// email subscription gets failures and approvals and never an alarm (CloudWatch publishes
/// alarms without attributes), and the alarm topic's unfiltered subscription gets alarms.
#[tokio::test]
async fn with_the_default_parameters_alarms_reach_the_email_subscriber_through_their_own_topic() {
    use aws_sdk_sns::types::MessageAttributeValue;

    let template = template();
    assert_eq!(
        template["Parameters"]["EmailNotifications"]["Default"].as_str(),
        Some("failures-and-approvals")
    );
    let policy = email_filter_policy(&template);
    assert_eq!(policy, r#"{"severity":["failure","approval"]}"#);

    let config = pipewatch_testkit::services::sdk_config().await;
    let sns = aws_sdk_sns::Client::new(&config);
    // The notification topic with the email's filter, and the alarm topic without.
    let notifications = pipewatch_testkit::services::Inbox::create(&config).await;
    notifications.filter(&policy).await;
    let alarms = pipewatch_testkit::services::Inbox::create(&config).await;

    let publish = |topic: String, severity: Option<&'static str>, body: &'static str| {
        let sns = sns.clone();
        async move {
            let mut request = sns.publish().topic_arn(topic).message(body);
            if let Some(severity) = severity {
                request = request.message_attributes(
                    "severity",
                    MessageAttributeValue::builder()
                        .data_type("String")
                        .string_value(severity)
                        .build()
                        .unwrap(),
                );
            }
            request.send().await.unwrap();
        }
    };
    let alarm = r#"{"AlarmName":"pipewatch-watcher-errors","NewStateValue":"ALARM"}"#;
    publish(notifications.topic_arn.clone(), None, alarm).await;
    publish(
        notifications.topic_arn.clone(),
        Some("failure"),
        "{\"n\":1}",
    )
    .await;
    publish(
        notifications.topic_arn.clone(),
        Some("approval"),
        "{\"n\":2}",
    )
    .await;
    publish(notifications.topic_arn.clone(), Some("info"), "{\"n\":3}").await;
    publish(alarms.topic_arn.clone(), None, alarm).await;

    let filtered = notifications.drain_raw().await;
    assert_eq!(
        filtered,
        ["{\"n\":1}", "{\"n\":2}"],
        "an alarm published to the notification topic would never reach the email"
    );
    assert_eq!(
        alarms.drain_raw().await,
        [alarm],
        "the alarm topic's subscriber gets it"
    );
}

/// A role template of `templates/` and the actions its `role`'s first policy allows.
fn role_template(file: &str, role: &str) -> (Value, BTreeSet<String>) {
    let text = std::fs::read_to_string(format!("{MANIFEST_DIR}/templates/{file}")).unwrap();
    let template: Value = serde_norway::from_str(&text).unwrap();
    let granted =
        template["Resources"][role]["Properties"]["Policies"][0]["PolicyDocument"]["Statement"]
            .as_sequence()
            .unwrap()
            .iter()
            .flat_map(actions)
            .collect();
    (template, granted)
}

/// The reader role deployed in other accounts (`templates/reader-role.yaml`) allows
/// exactly the calls the watcher makes there: reading and finding pipelines.
#[test]
fn the_reader_role_allows_exactly_the_calls_the_watcher_makes_in_other_accounts() {
    let (template, granted) = role_template("reader-role.yaml", "ReaderRole");
    let role = &template["Resources"]["ReaderRole"]["Properties"];
    let needed: BTreeSet<String> = operations_the_code_calls(&["codepipeline.rs", "tagging.rs"])
        .iter()
        .map(|(s, o)| iam_action(s, o))
        .collect();
    assert_eq!(granted, needed);
    // Trusted by the watcher's role only.
    let trust = &role["AssumeRolePolicyDocument"]["Statement"][0];
    assert!(is_ref(&trust["Principal"]["AWS"], "WatcherRoleArn"));
    let default_name = template["Parameters"]["RoleName"]["Default"].as_str();
    assert_eq!(default_name, Some("pipewatch-reader"));
}

/// The approver role deployed in other accounts (`templates/approver-role.yaml`) allows
/// exactly the calls the approver makes there, is trusted by the approver's role alone,
/// and the approver may assume it only when its name is given.
#[test]
fn the_approver_role_allows_exactly_the_calls_the_approver_makes_in_other_accounts() {
    let (other, granted) = role_template("approver-role.yaml", "ApproverRole");
    let role = &other["Resources"]["ApproverRole"]["Properties"];
    let needed: BTreeSet<String> = operations_the_code_calls(&["approvals.rs"])
        .iter()
        .map(|(s, o)| iam_action(s, o))
        .collect();
    assert_eq!(granted, needed);
    assert!(
        needed.contains("codepipeline:PutApprovalResult"),
        "{needed:?}"
    );
    let trust = &role["AssumeRolePolicyDocument"]["Statement"][0];
    assert!(is_ref(
        &trust["Principal"]["AWS"],
        "ApproverFunctionRoleArn"
    ));
    assert_eq!(
        other["Parameters"]["RoleName"]["Default"].as_str(),
        Some("pipewatch-approver")
    );

    // The stack: the approver assumes that role only when ApproverRoleName is given, and
    // only then decides OtherPipelineArns.
    let template = template();
    let policy = format!("{:?}", resource(&template, "ApproverFunction")["Policies"]);
    assert!(policy.contains("HasApproverRole") && policy.contains("sts:AssumeRole"));
    let pipelines = format!(
        "{:?}",
        resource(&template, "ApproverFunction")["Environment"]["Variables"]["PIPELINES"]
    );
    assert!(
        pipelines.contains("HasApproverRole") && pipelines.contains("OtherPipelineArns"),
        "{pipelines}"
    );
    assert!(
        template["Outputs"]["ApproverRoleArn"].is_mapping(),
        "the role to trust there"
    );
}

/// The metric names the watcher emits, read from the table in `src/metrics.rs`'s docs and
/// checked against the code that records them.
fn metrics_the_code_emits() -> BTreeSet<String> {
    let source = std::fs::read_to_string(format!("{MANIFEST_DIR}/src/metrics.rs")).unwrap();
    let documented: BTreeSet<String> = source
        .lines()
        .filter_map(|line| line.strip_prefix("//! | `"))
        .filter_map(|rest| rest.split('`').next())
        .map(str::to_owned)
        .collect();
    for name in &documented {
        assert!(
            source.contains(&format!("!(\"{name}\"")),
            "{name} is documented and recorded"
        );
    }
    assert!(documented.len() >= 15, "{documented:?}");
    documented
}

#[test]
fn the_operators_alarms_and_dead_letter_queue_match_what_the_code_emits() {
    let template = template();
    let emitted = metrics_the_code_emits();
    let environment = &resource(&template, "WatcherFunction")["Environment"]["Variables"];
    let namespace = environment["METRICS_NAMESPACE"].as_str().unwrap();
    assert_eq!(namespace, "pipewatch");

    // The message dead-letter queue: encrypted, kept the longest SQS allows, named to the
    // function, and the only queue besides the shards' it may send to.
    let queue = resource(&template, "MessageDeadLetterQueue");
    assert_eq!(
        queue["KmsMasterKeyId"].as_str(),
        Some("alias/aws/sqs"),
        "encrypted, and not with the key whose failure brings messages here"
    );
    assert_eq!(queue["MessageRetentionPeriod"].as_u64(), Some(1_209_600));
    assert!(is_ref(
        &environment["DEAD_LETTER_QUEUE_URL"],
        "MessageDeadLetterQueue"
    ));
    let senders: Vec<Vec<Value>> = statements(&template, "WatcherFunction")
        .into_iter()
        .filter(|(actions, _)| actions.iter().any(|a| a == "sqs:SendMessage"))
        .map(|(_, resources)| resources)
        .collect();
    assert_eq!(senders.len(), 2, "{senders:?}");
    assert!(
        senders
            .iter()
            .any(|r| format!("{r:?}").contains("MessageDeadLetterQueue.Arn")),
        "{senders:?}"
    );

    // Each alarm on pipewatch's own metrics watches a metric the code emits, in its
    // namespace, for this function.
    let alarms = resources_of(&template, "AWS::CloudWatch::Alarm");
    let ours: Vec<&(&str, &Value)> = alarms
        .iter()
        .filter(|(_, a)| a["Properties"]["Namespace"].as_str() == Some(namespace))
        .collect();
    let watched: BTreeSet<&str> = ours
        .iter()
        .map(|(_, a)| a["Properties"]["MetricName"].as_str().unwrap())
        .collect();
    assert_eq!(
        watched,
        BTreeSet::from(["FailedPipelines", "OldestPendingAge"])
    );
    for (name, alarm) in &ours {
        let metric = alarm["Properties"]["MetricName"].as_str().unwrap();
        assert!(emitted.contains(metric), "{name}: {metric}");
        assert!(
            is_ref(&alarm["Properties"]["Dimensions"], "WatcherFunction"),
            "{name}"
        );
        let words = format!("{:?}", alarm["Properties"]["AlarmDescription"]);
        assert!(words.len() > 150, "{name} says what to do: {words}");
    }
    // They watch a metric a tick writes only when it is not zero: at the default 5-minute
    // schedule a shorter period would be empty most of the time, and no data is all is
    // well (an alarm that ignored it would never return to OK).
    for (name, alarm) in &ours {
        let properties = &alarm["Properties"];
        assert!(properties["Period"].as_u64().unwrap() >= 300, "{name}");
        assert_eq!(
            properties["TreatMissingData"].as_str(),
            Some("notBreaching"),
            "{name}"
        );
    }
    // That ticks run at all, Lambda's own (free) count of the watcher's invocations says.
    let no_ticks = resource(&template, "NoTicksAlarm");
    assert_eq!(
        (
            no_ticks["Namespace"].as_str(),
            no_ticks["MetricName"].as_str()
        ),
        (Some("AWS/Lambda"), Some("Invocations"))
    );
    assert!(is_ref(&no_ticks["Dimensions"], "WatcherFunction"));
    assert_eq!(
        no_ticks["TreatMissingData"].as_str(),
        Some("breaching"),
        "no tick means no data"
    );
    let dead_letters = resource(&template, "MessageDeadLettersAlarm");
    assert!(is_ref(
        &dead_letters["Dimensions"],
        "MessageDeadLetterQueue.QueueName"
    ));
    assert!(
        format!("{:?}", dead_letters["AlarmDescription"]).contains("pipewatch redrive"),
        "it says how to recover"
    );
}

#[test]
fn the_dashboard_shows_every_metric_the_code_emits_and_every_alarm() {
    let template = template();
    let emitted = metrics_the_code_emits();
    let namespace = "pipewatch";
    // Valid JSON once substituted, every pipewatch metric on it emitted, every alarm on
    // it defined.
    let body = &resource(&template, "Dashboard")["DashboardBody"];
    let Value::Tagged(sub) = body else {
        panic!("DashboardBody is a !Sub: {body:?}")
    };
    let text = sub.value[0].as_str().unwrap();
    assert_eq!(
        sub.value[1]["Topic"],
        serde_norway::from_str::<Value>("!GetAtt NotificationTopic.TopicName").unwrap(),
        "what is announced is the notification topic's free SNS metric"
    );
    let substituted = text
        .replace("${AWS::Region}", "eu-west-1")
        .replace("${Function}", "stack-watcher")
        .replace("${Topic}", "stack-notifications");
    assert!(
        substituted.contains(
            r#"["AWS/SNS", "NumberOfMessagesPublished", "TopicName", "stack-notifications""#
        ),
        "{substituted}"
    );
    let mut json = String::new();
    let mut rest = substituted.as_str();
    let mut alarm_refs = Vec::new();
    while let Some(at) = rest.find("${") {
        json.push_str(&rest[..at]);
        let end = rest[at..].find('}').unwrap();
        let reference = &rest[at + 2..at + end];
        alarm_refs.push(reference.trim_end_matches(".Arn").to_owned());
        json.push_str("arn:aws:cloudwatch:eu-west-1:123456789012:alarm:x");
        rest = &rest[at + end + 1..];
    }
    json.push_str(rest);
    let dashboard: serde_json::Value =
        serde_json::from_str(&json).expect("the dashboard body is JSON");
    for alarm in &alarm_refs {
        assert_eq!(
            template["Resources"][alarm.as_str()]["Type"].as_str(),
            Some("AWS::CloudWatch::Alarm"),
            "{alarm}"
        );
    }
    for alarm in [
        "NoTicksAlarm",
        "PendingMessagesAlarm",
        "FailedPipelinesAlarm",
        "MessageDeadLettersAlarm",
    ] {
        assert!(
            alarm_refs.iter().any(|a| a == alarm),
            "{alarm} on the dashboard"
        );
    }
    let mut shown = BTreeSet::new();
    for widget in dashboard["widgets"].as_array().unwrap() {
        let mut namespace_now = String::new();
        for metric in widget["properties"]["metrics"]
            .as_array()
            .into_iter()
            .flatten()
        {
            let parts = metric.as_array().unwrap();
            match parts.first().and_then(serde_json::Value::as_str) {
                Some(".") => {}
                Some(ns) => ns.clone_into(&mut namespace_now),
                None => {
                    // A SEARCH expression names its metric.
                    let expression = parts[0]["expression"].as_str().unwrap();
                    let name = expression.split("MetricName=\"").nth(1).unwrap();
                    shown.insert(name.split('"').next().unwrap().to_owned());
                    continue;
                }
            }
            if namespace_now == namespace {
                shown.insert(parts[1].as_str().unwrap().to_owned());
            }
        }
    }
    let missing: Vec<&String> = emitted.difference(&shown).collect();
    let unknown: Vec<&String> = shown.difference(&emitted).collect();
    assert!(unknown.is_empty(), "shown but never emitted: {unknown:?}");
    assert!(
        missing.is_empty(),
        "emitted but not on the dashboard: {missing:?}"
    );
}

/// `!Join [delimiter, [parts]]`, `!Split [delimiter, text]` and `!Ref PipelineNames`, as
/// `CloudFormation` evaluates them, for `names`.
fn evaluate(value: &Value, names: &[&str]) -> Value {
    match value {
        Value::Tagged(tagged) => match tagged.tag.to_string().as_str() {
            "!Join" => {
                let delimiter = tagged.value[0].as_str().unwrap();
                let parts = evaluate(&tagged.value[1], names);
                Value::String(
                    parts
                        .as_sequence()
                        .unwrap()
                        .iter()
                        .map(|p| evaluate(p, names).as_str().unwrap().to_owned())
                        .collect::<Vec<_>>()
                        .join(delimiter),
                )
            }
            "!Split" => {
                let delimiter = tagged.value[0].as_str().unwrap();
                let text = evaluate(&tagged.value[1], names);
                Value::Sequence(
                    text.as_str()
                        .unwrap()
                        .split(delimiter)
                        .map(|p| Value::String(p.to_owned()))
                        .collect(),
                )
            }
            "!Ref" if tagged.value.as_str() == Some("PipelineNames") => Value::Sequence(
                names
                    .iter()
                    .map(|n| Value::String((*n).to_owned()))
                    .collect(),
            ),
            other => panic!("cannot evaluate {other}"),
        },
        Value::Sequence(items) => {
            Value::Sequence(items.iter().map(|i| evaluate(i, names)).collect())
        }
        other => other.clone(),
    }
}

#[test]
fn codepipeline_events_reach_the_function_through_a_queue_only_the_rule_writes_to() {
    let template = template();
    let resources = &template["Resources"];
    for name in [
        "EventRule",
        "EventQueue",
        "EventQueuePolicy",
        "EventQueueMapping",
    ] {
        assert_eq!(
            resources[name]["Condition"].as_str(),
            Some("HasEvents"),
            "{name}"
        );
    }
    // The rule's pattern, for the names and patterns a user gives.
    let pattern = evaluate(
        &resource(&template, "EventRule")["EventPattern"],
        &["web-app-release", "payments-?", "release-*"],
    );
    let pattern: serde_json::Value =
        serde_json::from_str(pattern.as_str().unwrap()).expect("the pattern is JSON");
    assert_eq!(pattern["source"], serde_json::json!(["aws.codepipeline"]));
    assert_eq!(pattern["detail-type"].as_array().unwrap().len(), 3);
    assert_eq!(
        pattern["detail"]["pipeline"],
        serde_json::json!([{"wildcard": "web-app-release"}, {"wildcard": "payments-*"}, {"wildcard": "release-*"}]),
        "EventBridge's wildcard knows only *: ? widens to it"
    );
    assert!(is_ref(
        &resource(&template, "EventRule")["Targets"],
        "EventQueue.Arn"
    ));
    // Only the rule may send to the queue; only the function's mapping reads it.
    let statement = &resource(&template, "EventQueuePolicy")["PolicyDocument"]["Statement"][0];
    assert_eq!(
        statement["Principal"]["Service"].as_str(),
        Some("events.amazonaws.com")
    );
    assert!(is_ref(
        &statement["Condition"]["ArnEquals"]["aws:SourceArn"],
        "EventRule.Arn"
    ));
    let queue = resource(&template, "EventQueue");
    assert!(
        is_ref(&queue["KmsMasterKeyId"], "NotificationKey"),
        "encrypted"
    );
    let key_policy = format!("{:?}", resource(&template, "NotificationKey")["KeyPolicy"]);
    assert!(
        key_policy.contains("events.amazonaws.com"),
        "EventBridge may use the key"
    );
    let mapping = resource(&template, "EventQueueMapping");
    assert!(is_ref(&mapping["FunctionName"], "WatcherFunction"));
    assert_eq!(mapping["BatchSize"].as_u64(), Some(100));
    assert_eq!(mapping["MaximumBatchingWindowInSeconds"].as_u64(), Some(2));
    let consumed: Vec<Vec<Value>> = statements(&template, "WatcherFunction")
        .into_iter()
        .filter(|(actions, _)| {
            actions
                .iter()
                .any(|a| EVENT_SOURCE_MAPPING.contains(&a.as_str()))
        })
        .map(|(_, resources)| resources)
        .collect();
    assert_eq!(consumed.len(), 1);
    assert!(
        format!("{consumed:?}").contains("EventQueue.Arn"),
        "{consumed:?}"
    );
    // With events the schedule is the backstop, and its alarm waits three of its periods.
    let parameters = &template["Parameters"];
    assert_eq!(
        parameters["ScheduleExpression"]["Default"].as_str(),
        Some("rate(5 minutes)")
    );
    assert_eq!(
        parameters["NoTickAlarmMinutes"]["Default"].as_u64(),
        Some(15)
    );
}

/// What users would lose if an update replaced it, with the properties whose change makes
/// CloudFormation replace the resource (or, for a KMS key, refuse the update), as its
/// resource reference lists them: the table (records and outboxes), the key that encrypts
/// it, and the notification topic (subscribers who confirmed by email). Renaming one of
/// them (its logical id) deletes it and creates an empty one.
const KEPT_ACROSS_UPDATES: [(&str, &[&str]); 3] = [
    (
        "SnapshotTable",
        &[
            "TableName",
            "KeySchema",
            "LocalSecondaryIndexes",
            "ImportSourceSpecification",
        ],
    ),
    (
        "NotificationKey",
        &["KeySpec", "KeyUsage", "Origin", "MultiRegion"],
    ),
    ("NotificationTopic", &["TopicName", "FifoTopic"]),
];

#[test]
fn an_update_from_an_earlier_release_replaces_nothing_that_holds_state() {
    for release in RELEASES {
        replaces_nothing_that_holds_state(&release_template(release));
    }
}

fn replaces_nothing_that_holds_state(previous: &Value) {
    let current = template();
    for (id, replacing) in KEPT_ACROSS_UPDATES {
        let (before, after) = (&previous["Resources"][id], &current["Resources"][id]);
        assert!(!after.is_null(), "{id} is gone: an update would delete it");
        assert_eq!(before["Type"], after["Type"], "{id}");
        for property in replacing {
            assert_eq!(
                before["Properties"][property], after["Properties"][property],
                "{id}.{property} changed: CloudFormation would replace {id}"
            );
        }
    }
    // The key's attribute keeps its type (the key schema names it).
    assert_eq!(
        resource(previous, "SnapshotTable")["AttributeDefinitions"],
        resource(&current, "SnapshotTable")["AttributeDefinitions"]
    );
    // And if a replacement ever happens anyway, the old table and its key stay.
    for id in ["SnapshotTable", "NotificationKey"] {
        for policy in ["DeletionPolicy", "UpdateReplacePolicy"] {
            assert_eq!(current["Resources"][id][policy], "Retain", "{id}.{policy}");
        }
    }
}

#[test]
fn parameters_of_every_earlier_release_are_still_taken() {
    for release in RELEASES {
        parameters_still_taken(&release_template(release));
    }
}

fn parameters_still_taken(previous: &Value) {
    let current = template();
    let Value::Mapping(parameters) = &previous["Parameters"] else {
        panic!("the previous template has parameters")
    };
    for (name, before) in parameters {
        let after = &current["Parameters"][name];
        assert!(
            !after.is_null(),
            "{name:?} was removed: updating stacks would fail"
        );
        // Every value the previous release allowed is still allowed.
        if let Value::Sequence(allowed) = &after["AllowedValues"] {
            if let Value::Sequence(earlier) = &before["AllowedValues"] {
                for value in earlier {
                    assert!(
                        allowed.contains(value),
                        "{name:?} no longer allows {value:?}"
                    );
                }
            }
            assert!(allowed.contains(&before["Default"]) || before["Default"].is_null());
        }
    }
}

/// The Serverless Application Repository's listing, against the limits its API documents
/// (`CreateApplication`), and one version everywhere: `Cargo.toml`, the listing and
/// `CHANGELOG.md`'s latest entry.
/// CloudFormation refuses an update that gives a logical id another resource type, and the
/// emulated stacks do not: every release users may update from keeps each of its ids' types
/// (a replaced resource takes a new id, as 0.2.0's Scheduler schedule did).
#[test]
fn no_update_from_a_release_changes_a_resources_type() {
    let current = pipewatch_testkit::stack::translated_resources(
        &pipewatch_testkit::stack::current_template(),
    );
    for release in RELEASES {
        let previous = pipewatch_testkit::stack::translated_resources(
            &Path::new(MANIFEST_DIR).join(format!("tests/deploy/template-{release}.yaml")),
        );
        assert!(previous.len() > 20, "{release}: {}", previous.len());
        for (id, kind) in &previous {
            if let Some(now) = current.get(id) {
                assert_eq!(now, kind, "{release}'s {id} changes type");
            }
        }
    }
}

/// The one-click path: every type the listing's template creates, once translated, is one
/// the Serverless Application Repository accepts (its dated list in tests/deploy/); what
/// `template.yaml` has besides is exactly the documented limitations: the Chatbot channel,
/// and the approver's function URL.
#[test]
fn the_listing_creates_only_types_the_repository_accepts() {
    let accepted: BTreeSet<String> = std::fs::read_to_string(format!(
        "{MANIFEST_DIR}/tests/deploy/sar-supported-resources.txt"
    ))
    .unwrap()
    .lines()
    .filter(|l| !l.is_empty() && !l.starts_with('#'))
    .map(str::to_owned)
    .collect();
    assert!(accepted.len() > 100, "{}", accepted.len());
    let listing =
        pipewatch_testkit::stack::listing_template("https://github.com/example/pipewatch");
    let listed: BTreeSet<String> = pipewatch_testkit::stack::translated_types(&listing)
        .into_iter()
        .collect();
    let refused: Vec<&String> = listed.difference(&accepted).collect();
    assert!(refused.is_empty(), "not accepted: {refused:?}");
    assert!(listed.contains("AWS::Events::Rule") && listed.contains("AWS::Lambda::Function"));
    let full: BTreeSet<String> =
        pipewatch_testkit::stack::translated_types(&pipewatch_testkit::stack::current_template())
            .into_iter()
            .collect();
    let left_out: Vec<&String> = full.difference(&listed).collect();
    assert_eq!(
        left_out,
        [
            "AWS::Chatbot::SlackChannelConfiguration",
            "AWS::Lambda::Url"
        ]
    );
    let install = std::fs::read_to_string(format!("{MANIFEST_DIR}/docs/install.md")).unwrap();
    assert!(install.contains("The one-click install has no AWS Chatbot channel"));
    let app = std::fs::read_to_string(format!("{MANIFEST_DIR}/docs/slack-app.md")).unwrap();
    assert!(app.contains("The one-click install has no approver"));
    let listing: Value =
        serde_norway::from_str(&std::fs::read_to_string(listing).unwrap()).unwrap();
    let application = &listing["Metadata"]["AWS::ServerlessRepo::Application"];
    assert_eq!(
        application["SourceCodeUrl"].as_str(),
        Some("https://github.com/example/pipewatch")
    );
    assert!(listing["Parameters"].get("SlackWorkspaceId").is_none());
}

#[test]
fn the_release_metadata_is_complete_and_names_one_version() {
    let template = template();
    let app = &template["Metadata"]["AWS::ServerlessRepo::Application"];
    let text = |key: &str| {
        app[key]
            .as_str()
            .unwrap_or_else(|| panic!("the listing has no {key}"))
            .to_owned()
    };
    let version = env!("CARGO_PKG_VERSION");
    assert_eq!(text("SemanticVersion"), version);
    let changelog = std::fs::read_to_string(format!("{MANIFEST_DIR}/CHANGELOG.md")).unwrap();
    let latest = changelog
        .lines()
        .find_map(|line| line.strip_prefix("## "))
        .expect("CHANGELOG.md has an entry");
    assert_eq!(
        latest.split_whitespace().next(),
        Some(version),
        "CHANGELOG.md's latest entry is {latest:?}"
    );
    // The repository's address is Cargo.toml's, written in by scripts/listing.py.
    assert_eq!(text("SourceCodeUrl"), "REPOSITORY_URL");
    assert_eq!(text("HomePageUrl"), "REPOSITORY_URL");

    // The licence listed is one the crate is offered under, and its file holds its text.
    let licence = text("SpdxLicenseId");
    assert!(
        env!("CARGO_PKG_LICENSE")
            .split(" OR ")
            .any(|l| l == licence),
        "{licence} is not in {}",
        env!("CARGO_PKG_LICENSE")
    );
    let licence_text =
        std::fs::read_to_string(format!("{MANIFEST_DIR}/{}", text("LicenseUrl"))).unwrap();
    assert!(licence_text.contains("Apache License") && licence_text.contains("Version 2.0"));
    assert!(Path::new(MANIFEST_DIR).join(text("ReadmeUrl")).is_file());

    let name = text("Name");
    assert!((1..=140).contains(&name.len()));
    assert!(name.chars().all(|c| c.is_ascii_alphanumeric() || c == '-'));
    let author = text("Author");
    assert!((1..=127).contains(&author.len()));
    assert!(
        author
            .chars()
            .all(|c| c.is_ascii_lowercase() || c.is_ascii_digit() || c == '-')
            && !author.starts_with('-')
            && !author.ends_with('-')
            && !author.contains("--"),
        "{author}"
    );
    assert!((1..=256).contains(&text("Description").len()));
    let Value::Sequence(labels) = &app["Labels"] else {
        panic!("the listing has labels")
    };
    assert!(labels.len() <= 10);
    for label in labels {
        let label = label.as_str().unwrap();
        assert!((1..=127).contains(&label.len()));
        assert!(
            label
                .chars()
                .all(|c| c.is_ascii_alphanumeric() || "+-_:/@".contains(c)),
            "{label}"
        );
    }
}

/// The lean setting (`Encryption=aws-managed`): no customer managed key, so every use of
/// it sits in the true branch of an `!If [HasCustomerKey, ...]`; the queues then use
/// SQS-managed encryption and the notification topic the AWS managed SNS key.
#[test]
fn without_the_customer_key_nothing_refers_to_it_and_the_queues_stay_encrypted() {
    fn uses_outside_the_condition(value: &Value, within: bool, found: &mut Vec<String>) {
        match value {
            Value::Tagged(tagged) if tagged.tag == "If" => {
                let branches = tagged.value.as_sequence().unwrap();
                let keyed = branches[0].as_str() == Some("HasCustomerKey");
                uses_outside_the_condition(&branches[1], within || keyed, found);
                uses_outside_the_condition(&branches[2], within, found);
            }
            Value::Tagged(tagged) => {
                let target = format!("{:?}", tagged.value);
                if target.contains("\"NotificationKey") && !within {
                    found.push(format!("{}{target}", tagged.tag));
                }
                uses_outside_the_condition(&tagged.value, within, found);
            }
            Value::Mapping(map) => map
                .values()
                .for_each(|v| uses_outside_the_condition(v, within, found)),
            Value::Sequence(items) => items
                .iter()
                .for_each(|v| uses_outside_the_condition(v, within, found)),
            _ => {}
        }
    }
    let template = template();
    let parameter = &template["Parameters"]["Encryption"];
    assert_eq!(parameter["Default"].as_str(), Some("customer-key"));
    let Value::Mapping(resources) = &template["Resources"] else {
        panic!("resources")
    };
    for (name, definition) in resources {
        let name = name.as_str().unwrap();
        if name.starts_with("NotificationKey") {
            assert_eq!(
                definition["Condition"].as_str(),
                Some("HasCustomerKey"),
                "{name}"
            );
            continue;
        }
        let mut found = Vec::new();
        uses_outside_the_condition(definition, false, &mut found);
        assert!(
            found.is_empty(),
            "{name} needs the key unconditionally: {found:?}"
        );
    }
    for queue in ["DeadLetterQueue", "ShardQueue", "EventQueue"] {
        let properties = resource(&template, queue);
        let Value::Tagged(managed) = &properties["SqsManagedSseEnabled"] else {
            panic!("{queue}: {properties:?}")
        };
        assert_eq!(
            managed.value[2].as_bool(),
            Some(true),
            "{queue} is encrypted without the key"
        );
    }
    let Value::Tagged(topic_key) = &resource(&template, "NotificationTopic")["KmsMasterKeyId"]
    else {
        panic!("the topic's key is conditional")
    };
    assert_eq!(topic_key.value[2].as_str(), Some("alias/aws/sns"));
}

/// The approver: its environment is what its configuration reads; its role may decide the
/// watched pipelines' approvals and nothing else; its URL is public, as Slack cannot sign
/// AWS requests, which takes both permissions (emulators do not check them: this does).
#[test]
fn the_approver_may_decide_approvals_and_nothing_else_and_its_url_is_public() {
    let template = template();
    let variables: BTreeSet<String> =
        resource(&template, "ApproverFunction")["Environment"]["Variables"]
            .as_mapping()
            .unwrap()
            .keys()
            .map(|k| k.as_str().unwrap().to_owned())
            .collect();
    assert_eq!(variables, variables_the_code_reads("ApproverFunction"));
    let granted: BTreeSet<String> = statements(&template, "ApproverFunction")
        .into_iter()
        .flat_map(|(actions, _)| actions)
        .filter(|action| !action.starts_with("kms:"))
        .collect();
    assert_eq!(
        granted,
        [
            "codepipeline:GetPipelineState",
            "codepipeline:ListActionExecutions",
            "codepipeline:PutApprovalResult",
            "dynamodb:GetItem",
            "dynamodb:PutItem",
            "dynamodb:UpdateItem",
            "secretsmanager:GetSecretValue",
            "sqs:SendMessage",
            // With ApproverRoleName alone (below).
            "sts:AssumeRole",
        ]
        .map(str::to_owned)
        .into()
    );
    let policy = format!("{:?}", resource(&template, "ApproverFunction")["Policies"]);
    assert!(
        policy.contains("slack/decisions/*"),
        "only the decisions' items"
    );

    let translated = pipewatch_testkit::stack::translated_template(
        &pipewatch_testkit::stack::current_template(),
        &serde_json::json!({
            "PipelineNames": "web-*",
            "SlackAppTokenSecretArn": "arn:aws:secretsmanager:us-east-1:123456789012:secret:t",
            "SlackAppSigningSecretArn": "arn:aws:secretsmanager:us-east-1:123456789012:secret:s",
            "SlackAppTeamId": "T0PIPEWATCH",
            "SlackAppId": "A0PIPEWATCH",
        }),
    );
    let resources = translated["Resources"].as_object().unwrap();
    let url = &resources["ApproverFunctionUrl"];
    assert_eq!(url["Type"], "AWS::Lambda::Url");
    assert_eq!(url["Properties"]["AuthType"], "NONE");
    let public: Vec<&serde_json::Value> = resources
        .values()
        .filter(|r| r["Type"] == "AWS::Lambda::Permission" && r["Properties"]["Principal"] == "*")
        .map(|r| &r["Properties"])
        .collect();
    let grants = |action: &str| public.iter().filter(|p| p["Action"] == action).count();
    assert_eq!(grants("lambda:InvokeFunctionUrl"), 1, "{public:#?}");
    assert_eq!(grants("lambda:InvokeFunction"), 1, "{public:#?}");
    assert!(
        public
            .iter()
            .filter(|p| p["Action"] == "lambda:InvokeFunction")
            .all(|p| p["InvokedViaFunctionUrl"] == true),
        "invoking the function is public through its URL only"
    );
}
