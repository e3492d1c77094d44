//! `pipewatch config default` as a user runs it against a stack: the webhook secrets read
//! from moto's Secrets Manager for their lists, the document printed naming each secret by
//! ARN (never a URL), sound for `config check`, the same from the stack's parameters as
//! from its functions' variables.

use std::path::PathBuf;
use std::process::{Command, Output};

use pipewatch_core::config::{Destination, Document};
use pipewatch_testkit::services::{create_secret, unique};

const SECRET_PART: &str = "B0DEFAULTSECRET";

fn run(args: &[&str]) -> Output {
    Command::new(env!("CARGO_BIN_EXE_pipewatch"))
        .args(args)
        .output()
        .unwrap()
}

fn file(name: &str, json: &serde_json::Value) -> String {
    let path = PathBuf::from(env!("CARGO_TARGET_TMPDIR")).join(unique(name));
    std::fs::write(&path, json.to_string()).unwrap();
    path.display().to_string()
}

#[tokio::test(flavor = "multi_thread")]
async fn default_prints_the_stacks_routes_as_a_document_naming_secrets_by_arn() {
    let slack = create_secret(
        "slack",
        &serde_json::json!([
            {"url": format!("https://hooks.example/{SECRET_PART}/a")},
            {"url": format!("https://hooks.example/{SECRET_PART}/b"), "pipelines": ["svc-*"], "severity": "failure"},
        ])
        .to_string(),
    )
    .await;
    let teams = create_secret("teams", &format!("https://teams.example/{SECRET_PART}")).await;
    let app = "arn:aws:secretsmanager:us-east-1:123456789012:secret:app-AbCdEf";
    let routes = r#"[{"channel": "C0RELEASES1", "approvals": true}]"#;
    let other = "arn:aws:codepipeline:us-west-2:210987654321:svc-*";
    let parameters = file(
        "parameters",
        &serde_json::json!({"Stacks": [{"Parameters": [
            {"ParameterKey": "PipelineNames", "ParameterValue": "svc-*"},
            {"ParameterKey": "OtherPipelineArns", "ParameterValue": other},
            {"ParameterKey": "SlackWebhookSecretArn", "ParameterValue": slack},
            {"ParameterKey": "TeamsWebhookSecretArn", "ParameterValue": teams},
            {"ParameterKey": "SlackAppTokenSecretArn", "ParameterValue": app},
            {"ParameterKey": "SlackAppRoutes", "ParameterValue": routes},
        ]}]}),
    );
    let printed = run(&["config", "default", "--parameters", &parameters]);
    assert_eq!(printed.status.code(), Some(0), "{printed:?}");
    let text = String::from_utf8(printed.stdout).unwrap();
    assert!(!text.contains(SECRET_PART), "never a URL: {text}");
    let document = Document::load(text.as_bytes()).unwrap();
    let names: Vec<&str> = document.destinations.keys().map(String::as_str).collect();
    assert_eq!(
        names,
        ["slack-1", "slack-2", "slack-app-c0releases1", "teams-1"]
    );
    let Destination::SlackWebhook(second) = &document.destinations["slack-2"] else {
        panic!("{text}")
    };
    assert_eq!(
        (second.secret.as_str(), second.entry),
        (slack.as_str(), Some(2))
    );
    let hears = |pipeline: &str| -> Vec<&str> {
        document
            .destinations_of(pipeline)
            .into_iter()
            .map(|(n, _)| n)
            .collect()
    };
    assert_eq!(
        hears("arn:aws:codepipeline:us-west-2:210987654321:svc-orders"),
        ["slack-1", "teams-1", "slack-app-c0releases1", "slack-2"],
        "{text}"
    );

    let saved = PathBuf::from(env!("CARGO_TARGET_TMPDIR")).join(unique("default.yaml"));
    std::fs::write(&saved, &text).unwrap();
    let checked = run(&["config", "check", &saved.display().to_string()]);
    assert_eq!(checked.status.code(), Some(0), "{checked:?}");

    // The same from the functions' variables, as get-function-configuration prints them.
    let forwarder = file(
        "forwarder",
        &serde_json::json!({"FunctionName": "x", "Environment": {"Variables": {
            "SLACK_WEBHOOK_SECRET_ARN": slack, "TEAMS_WEBHOOK_SECRET_ARN": teams,
            "SLACK_APP_SECRET_ARN": app, "SLACK_APP_ROUTES": routes, "TABLE_NAME": "t",
            "ALARM_TOPIC_ARN": "", "LOG_LEVEL": "info"}}}),
    );
    let watcher = file(
        "watcher",
        &serde_json::json!({"Variables": {"PIPELINES": format!("svc-*,{other}")}}),
    );
    let from_environment = run(&[
        "config",
        "default",
        "--environment",
        &forwarder,
        "--environment",
        &watcher,
    ]);
    assert_eq!(String::from_utf8(from_environment.stdout).unwrap(), text);

    let nothing = file("nothing", &serde_json::json!([]));
    let refused = run(&["config", "default", "--parameters", &nothing]);
    assert_eq!(refused.status.code(), Some(2));
    let said = String::from_utf8(refused.stderr).unwrap();
    assert!(said.contains("these settings route nothing"), "{said}");
    let missing = file(
        "missing",
        &serde_json::json!([{"ParameterKey": "SlackWebhookSecretArn",
            "ParameterValue": "arn:aws:secretsmanager:us-east-1:123456789012:secret:gone-AbCdEf"}]),
    );
    let unread = run(&["config", "default", "--parameters", &missing]);
    let said = String::from_utf8(unread.stderr).unwrap();
    assert!(
        unread.status.code() == Some(2)
            && said.contains("reading the secret arn:aws:secretsmanager"),
        "{said}"
    );
}
