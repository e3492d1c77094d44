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
        &[
            "secrets.rs",
            "slack_refs.rs",
            "operator.rs",
            "document.rs",
            "once.rs",
            "topic.rs",
        ],
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
        "DOCUMENT_BUCKET" => Some("documents".into()),
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
            "slack_refs.rs" | "once.rs" => "dynamodb",
            "operator.rs" | "topic.rs" => "sns",
            "document.rs" => "s3",
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

/// The IAM actions that authorize an SDK operation.
fn iam_actions(service: &str, operation: &str) -> Vec<String> {
    match (service, operation) {
        // An object's version is read by `GetObject` with a version id, which IAM
        // authorizes as an action of its own; S3's list of versions is a bucket's.
        ("s3", "get_object") => vec!["s3:GetObject".into(), "s3:GetObjectVersion".into()],
        ("s3", "list_object_versions") => vec!["s3:ListBucketVersions".into()],
        _ => vec![iam_action(service, operation)],
    }
}

/// The IAM action named after an SDK operation.
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
        let needed: BTreeSet<String> = calls.iter().flat_map(|(s, o)| iam_actions(s, o)).collect();
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

mod access;
mod alarms;
mod releases;
mod resources;
