//! The built `pipewatch-approver` on cargo-lambda's Runtime API: a click signed as Slack
//! signs it, as a function URL delivers it; its decision through moto's SQS and back.

use std::ops::Deref;
use std::time::{Duration, Instant};

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

/// Slack shows the person an error when the app has not answered within this.
const SLACK_WAITS: Duration = Duration::from_secs(3);

/// The approver at `trace`, its SDK's redaction off: every test then finds none of the
/// secrets in its logs ([`Approver::assert_no_secret_logged`]).
async fn approver() -> Approver {
    let around = Surroundings::new(FakeCodePipeline::start()).await;
    let lambda = around.start_with(
        env!("CARGO_BIN_EXE_pipewatch-approver"),
        env!("CARGO_TARGET_TMPDIR"),
        &[
            ("LOG_LEVEL", "trace".to_owned()),
            ("LOG_SENSITIVE_BODIES", "true".to_owned()),
        ],
    );
    Approver { lambda, around }
}

impl Approver {
    /// The queue's messages, delivered to the function as SQS delivers them.
    fn deliver(&self, bodies: &[String]) -> Value {
        self.lambda.invoke_payload(&records(bodies))
    }

    /// Slack's request, answered within Slack's 3 seconds (the Runtime API's round trip
    /// included).
    fn answer(&self, request: &[u8]) -> Value {
        let started = Instant::now();
        let answer = self.lambda.invoke_payload(request);
        let took = started.elapsed();
        assert!(
            took < SLACK_WAITS,
            "answered in {took:?}: {}",
            self.lambda.logs()
        );
        answer
    }

    /// The signing secret, the bot token, the approval's token and a click's
    /// `response_url` are in no line the approver wrote, whatever happened.
    fn assert_no_secret_logged(&self) {
        let logs = self.lambda.logs();
        for secret in [
            SECRET,
            TOKEN,
            pipewatch_testkit::fake_slack::TOKEN,
            &self.slack.response_url(),
            "response-secret",
        ] {
            assert!(!logs.contains(secret), "{secret} in the logs");
        }
        assert!(logs.contains(r#""level":"TRACE""#) || logs.contains(r#""level":"DEBUG""#));
    }
}

#[tokio::test(flavor = "multi_thread")]
async fn a_click_is_answered_without_codepipeline_and_its_decision_taken_from_the_queue() {
    let approver = approver().await;
    // CodePipeline stalls: the answer does not wait for it, as it never calls it.
    approver.fake.set_latency(Duration::from_secs(5));
    let answer = approver.answer(&approver.click("U024BE7LH", RUN, SECRET));
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
    approver.assert_no_secret_logged();
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
    let answer = approver.answer(&approver.click("U024BE7LH", RUN, SECRET));
    assert_eq!(answer["statusCode"], 200);
    assert_eq!(reads(), 0, "named by id: no group read");
    approver.queued().await;

    let answer = approver.answer(&approver.click("U0RELEASE01", RUN, SECRET));
    assert_eq!(answer["statusCode"], 200, "{}", approver.lambda.logs());
    let stranger = approver.answer(&approver.click("U0STRANGER1", RUN, SECRET));
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
    approver.assert_no_secret_logged();
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
    let answer = approver.answer(&signed(&click, SECRET));
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
    let answer = approver.answer(&signed(&submission, SECRET));
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
    approver.assert_no_secret_logged();
}

#[tokio::test(flavor = "multi_thread")]
async fn a_forged_click_is_refused_and_hands_nothing_on() {
    let approver = approver().await;
    let answer = approver.answer(&approver.click("U024BE7LH", RUN, "not-the-secret"));
    assert_eq!(answer["statusCode"], 401);
    assert!(approver.queued().await.is_empty());
    assert!(approver.fake.approvals().is_empty());
    assert!(
        approver
            .lambda
            .logs()
            .contains("the signature does not match the body")
    );
    approver.assert_no_secret_logged();
}

/// CodePipeline throttles the decision past the SDK's own retries: the record is handed
/// back to SQS to try again (a partial batch failure), then decided once.
#[tokio::test(flavor = "multi_thread")]
async fn a_throttled_decision_is_tried_again_from_the_queue() {
    let approver = approver().await;
    let answer = approver.answer(&approver.click("U024BE7LH", RUN, SECRET));
    assert_eq!(answer["statusCode"], 200);
    let queued = approver.queued().await;
    // As many throttles as the SDK's own attempts.
    approver
        .fake
        .fail_next_approvals(3, pipewatch_testkit::fake_codepipeline::Fault::Throttle);
    let failed = approver.deliver(&queued);
    assert_eq!(
        failed,
        json!({"batchItemFailures": [{"itemIdentifier": "m-0"}]})
    );
    assert!(approver.fake.approvals().is_empty());
    assert_eq!(approver.deliver(&queued), json!({"batchItemFailures": []}));
    assert_eq!(approver.fake.approvals().len(), 1);
    approver.assert_no_secret_logged();
}

/// The binary's 500 answers: when Slack will not open the reason's dialog, or the queue
/// will not take the click, Slack shows the person an error and nothing is decided.
#[tokio::test(flavor = "multi_thread")]
async fn a_dialog_slack_will_not_open_or_a_queue_that_refuses_answers_500() {
    let approver = approver().await;
    approver
        .slack
        .fail_next("views.open", "expired_trigger_id", 1);
    let button = json!({"action_id": "pipewatch-reject", "value": json!({
        "pipeline": "web-app-release", "stage": "Approve", "action": "ReleaseApproval",
        "action_execution_id": RUN}).to_string()});
    let click = json!({
        "type": "block_actions", "team": {"id": "T0PIPEWATCH"}, "api_app_id": "A0PIPEWATCH",
        "user": {"id": "U024BE7LH", "name": "Maria Silva"},
        "trigger_id": approver.slack.trigger_id(),
        "response_url": approver.slack.response_url(), "actions": [button.clone()],
        "message": {"blocks": [{"type": "actions", "elements": [button]}]}
    });
    let answer = approver.answer(&signed(&click, SECRET));
    assert_eq!(answer["statusCode"], 500);
    assert!(
        approver
            .lambda
            .logs()
            .contains("could not open the rejection's reason dialog")
    );

    approver
        .sqs
        .delete_queue()
        .queue_url(&approver.queue)
        .send()
        .await
        .unwrap();
    let answer = approver.answer(&approver.click("U024BE7LH", RUN, SECRET));
    assert_eq!(answer["statusCode"], 500);
    assert!(approver.lambda.logs().contains("could not hand a click on"));
    assert!(approver.fake.approvals().is_empty());
    approver.assert_no_secret_logged();
}
