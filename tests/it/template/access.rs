//! Who may do what: the reader and approver roles deployed in other accounts, and the
//! approver, whose public URL takes exactly the two permissions Slack's requests need.

use std::collections::BTreeSet;

use serde_norway::Value;

use super::{
    MANIFEST_DIR, actions, iam_action, is_ref, operations_the_code_calls, resource, statements,
    template, variables_the_code_reads,
};

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
            // With DocumentWriters alone: the document's approvers narrow the stack's.
            "s3:GetObject",
            "s3:GetObjectVersion",
            "s3:ListBucketVersions",
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
