//! The built `pipewatch-approver` on cargo-lambda's Runtime API: a click signed as Slack
//! signs it, as a function URL delivers it; its decision through moto's SQS and back.

use std::ops::Deref;
use std::time::Duration;

use pipewatch_testkit::approver::{RUN, SECRET, Surroundings, TOKEN, records, signed};
use pipewatch_testkit::fake_codepipeline::FakeCodePipeline;
use pipewatch_testkit::lambda::Lambda;
use serde_json::{Value, json};

/// The running approver in its surroundings.
struct Approver {
    lambda: Lambda,
    around: Surroundings,
}

impl Deref for Approver {
    type Target = Surroundings;

    fn deref(&self) -> &Surroundings {
        &self.around
    }
}

async fn approver() -> Approver {
    let around = Surroundings::new(FakeCodePipeline::start()).await;
    let lambda = around.start(
        env!("CARGO_BIN_EXE_pipewatch-approver"),
        env!("CARGO_TARGET_TMPDIR"),
        "debug",
    );
    Approver { lambda, around }
}

impl Approver {
    /// The queue's messages, delivered to the function as SQS delivers them.
    fn deliver(&self, bodies: &[String]) -> Value {
        self.lambda.invoke_payload(&records(bodies))
    }
}

#[tokio::test(flavor = "multi_thread")]
async fn a_click_is_answered_without_codepipeline_and_its_decision_taken_from_the_queue() {
    let approver = approver().await;
    // CodePipeline stalls: the answer does not wait for it, as it never calls it.
    approver.fake.set_latency(Duration::from_secs(5));
    let answer = approver
        .lambda
        .invoke_payload(&approver.click("U024BE7LH", RUN, SECRET));
    assert_eq!(answer["statusCode"], 200, "{}", approver.lambda.logs());
    assert_eq!(approver.fake.operations("GetPipelineState"), 0);
    let queued = approver.queued().await;
    assert_eq!(queued.len(), 1, "the decision handed on");

    approver.fake.set_latency(Duration::ZERO);
    let taken = approver.deliver(&queued);
    assert_eq!(taken, json!({"batchItemFailures": []}));
    let approvals = approver.fake.approvals();
    assert_eq!(approvals.len(), 1, "exactly one PutApprovalResult");
    assert_eq!(approvals[0]["token"], TOKEN);
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
        !approver.lambda.logs().contains(TOKEN),
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
        .invoke_payload(&approver.click("U024BE7LH", RUN, SECRET));
    assert_eq!(answer["statusCode"], 200);
    assert_eq!(reads(), 0, "named by id: no group read");
    approver.queued().await;

    let answer = approver
        .lambda
        .invoke_payload(&approver.click("U0RELEASE01", RUN, SECRET));
    assert_eq!(answer["statusCode"], 200, "{}", approver.lambda.logs());
    let stranger = approver
        .lambda
        .invoke_payload(&approver.click("U0STRANGER1", RUN, SECRET));
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

#[tokio::test(flavor = "multi_thread")]
async fn reject_asks_why_first_and_the_reason_is_recorded_with_the_decision() {
    let approver = approver().await;
    let button = json!({"action_id": "pipewatch-reject", "value": json!({
        "pipeline": "web-app-release", "stage": "Approve", "action": "ReleaseApproval",
        "action_execution_id": RUN}).to_string()});
    let trigger = approver.slack.trigger_id();
    let click = json!({
        "type": "block_actions", "team": {"id": "T0PIPEWATCH"}, "api_app_id": "A0PIPEWATCH",
        "user": {"id": "U024BE7LH", "name": "Maria Silva"}, "trigger_id": trigger,
        "response_url": approver.slack.response_url(), "actions": [button.clone()],
        "message": {"blocks": [{"type": "actions", "elements": [button]}]}
    });
    let answer = approver.lambda.invoke_payload(&signed(&click, SECRET));
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
    assert_eq!(opened[0]["trigger_id"], trigger.as_str());
    let view = &opened[0]["view"];

    let submission = json!({
        "type": "view_submission", "team": {"id": "T0PIPEWATCH"}, "api_app_id": "A0PIPEWATCH",
        "user": {"id": "U024BE7LH", "name": "Maria Silva"},
        "view": {"callback_id": view["callback_id"], "private_metadata": view["private_metadata"],
            "state": {"values": {"reason": {"reason": {"type": "plain_text_input",
                "value": "the plan drops the orders table"}}}}}
    });
    let answer = approver.lambda.invoke_payload(&signed(&submission, SECRET));
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
    let answer =
        approver
            .lambda
            .invoke_payload(&approver.click("U024BE7LH", RUN, "not-the-secret"));
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
