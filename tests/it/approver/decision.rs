//! The decision path: the fake CodePipeline serving the recorded release with its approval
//! waiting (step 4 of `release-retry-approval`), DynamoDB Local for the decision's claim,
//! the fake Slack for `response_url`.

use std::time::{Duration, Instant};

use pipewatch::approve::{Deciders, Handoff, Outcome, take};
use pipewatch::aws::approvals::CodePipelineApprovals;
use pipewatch::aws::slack_refs::SlackRefs;
use pipewatch::forward::{App, AppRoute};
use pipewatch::ports::PipelineSource;
use pipewatch::slack::{BotToken, SlackApi};
use pipewatch::webhook::HttpsWebhook;
use pipewatch_core::diff::{diff, essentials};
use pipewatch_core::interaction::APPROVE as APPROVE_BUTTON;
use pipewatch_core::interaction::{Click, Decision, Target};
use pipewatch_core::pipeline::PipelineRef;
use pipewatch_core::render::console::Console;
use pipewatch_core::render::content::{Content, Context, Severity};
use pipewatch_core::render::slack_app;
use pipewatch_core::replay::Recording;
use pipewatch_core::state::PipelineState;
use pipewatch_testkit::approver::{RUN, TOKEN};
use pipewatch_testkit::fake_codepipeline::{FakeCodePipeline, Fault};
use pipewatch_testkit::fake_slack::FakeSlack;
use pipewatch_testkit::fake_slack::TOKEN as SLACK_TOKEN;
use pipewatch_testkit::fixtures::scenario;
use pipewatch_testkit::fixtures::scenario_files;
use pipewatch_testkit::services::{create_table, sdk_config};
use serde_json::{Value, json};

pub(super) struct World {
    pub(super) fake: FakeCodePipeline,
    pub(super) slack: FakeSlack,
    approvals: CodePipelineApprovals,
    refs: SlackRefs,
    webhook: HttpsWebhook,
}

pub(super) async fn world() -> World {
    let config = sdk_config().await;
    let fake = FakeCodePipeline::start();
    fake.set_state(&scenario("release-retry-approval")[4]);
    let approvals = CodePipelineApprovals::new(
        fake.approver_clients(&config, "pipewatch-approver"),
        super::home(),
    );
    let dynamodb = aws_sdk_dynamodb::Client::new(&config);
    let table = create_table(&dynamodb).await;
    World {
        fake,
        slack: FakeSlack::start(),
        approvals,
        refs: SlackRefs::new(dynamodb, table),
        webhook: HttpsWebhook::new().unwrap(),
    }
}

impl World {
    pub(super) fn click(&self, decision: Decision, run: &str) -> Handoff {
        Handoff::Decide(Box::new(Click {
            decision,
            target: Target {
                pipeline: "web-app-release".into(),
                arn: None,
                stage: "Approve".into(),
                action: "ReleaseApproval".into(),
                action_execution_id: run.into(),
                execution: None,
            },
            user: "U024BE7LH".into(),
            user_name: Some("Maria Silva".into()),
            response_url: self.slack.response_url(),
            trigger_id: None,
            reason: None,
        }))
    }

    pub(super) async fn take(&self, handoff: &Handoff) -> Result<Outcome, String> {
        let deciders = Deciders {
            approvals: &self.approvals,
            refs: &self.refs,
            slack: &self.webhook,
        };
        take(handoff, &deciders).await
    }

    pub(super) fn told(&self) -> Vec<String> {
        self.slack
            .responses()
            .iter()
            .map(|r| {
                assert_eq!(r["response_type"], "ephemeral");
                r["text"].as_str().unwrap().to_owned()
            })
            .collect()
    }
}

#[tokio::test]
async fn an_allowed_click_approves_that_run_once_with_its_fresh_token_and_names_the_person() {
    let world = world().await;
    let click = world.click(Decision::Approve, RUN);
    let outcome = world.take(&click).await.unwrap();
    assert_eq!(
        outcome,
        Outcome::Decided("Approved in Slack by Maria Silva (U024BE7LH)".into())
    );
    let approvals = world.fake.approvals();
    assert_eq!(approvals.len(), 1, "exactly one PutApprovalResult");
    assert_eq!(approvals[0]["token"], TOKEN);
    assert_eq!(approvals[0]["result"]["status"], "Approved");
    assert_eq!(approvals[0]["stageName"], "Approve");
    assert_eq!(
        world.told(),
        ["Approved Approve/ReleaseApproval of web-app-release: CodePipeline recorded it."]
    );
    // The same click again (Slack retried it, or a second person): decided already, and
    // by whom.
    let again = world.take(&click).await.unwrap();
    let Outcome::NotDecided(words) = again else {
        panic!("{again:?}")
    };
    assert!(
        words.starts_with(
            "Nothing was decided: Approve/ReleaseApproval is no longer waiting: it was approved \
             by Maria Silva (U024BE7LH) at "
        ),
        "{words}"
    );
    assert_eq!(world.fake.approvals().len(), 1);
    assert!(
        !format!("{:?}", world.told()).contains(TOKEN),
        "no token in Slack"
    );
}

/// The first notification of the recorded release that shows the approval waiting.
fn waiting_notification() -> Content {
    let recording = Recording::load(&scenario_files("release-retry-approval")).unwrap();
    let console = Console::new("eu-west-1", Some("123456789012"));
    recording
        .steps()
        .iter()
        .flat_map(|step| recording.messages(step, console.as_ref()))
        .map(|m| Content::from_body(&m.body).unwrap())
        .find(|c| !slack_app::buttons_for(c, BUTTONS).is_empty())
        .unwrap()
}

const BUTTONS: slack_app::Options = slack_app::Options {
    broadcast_failures: false,
    approve_in_slack: true,
};

#[tokio::test]
async fn a_decision_taken_in_slack_replaces_the_buttons_and_no_older_rendering_brings_them_back() {
    let world = world().await;
    let api = SlackApi::new(
        BotToken::parse(SLACK_TOKEN).unwrap(),
        Some(&world.slack.url()),
    )
    .unwrap();
    let app = App {
        api: &api,
        refs: &world.refs,
    };
    let route = AppRoute {
        channel: "C0RELEASES1".into(),
        pipelines: pipewatch_core::config::Audience::all(),
        severity: Severity::Info,
        broadcast_failures: false,
        approvals: true,
    };
    let soon = Instant::now() + Duration::from_mins(1);
    let waiting = waiting_notification();
    let buttons = |message: &Value| message.to_string().contains(APPROVE_BUTTON);
    app.deliver(&route, &waiting, soon).await.unwrap();
    assert!(buttons(&world.slack.top_level("C0RELEASES1")[0].1));

    world
        .take(&world.click(Decision::Approve, RUN))
        .await
        .unwrap();
    // A notification made before the click (a later revision, the approval still
    // waiting in it) arrives after the decision: the outcome shows, not the buttons.
    let late = Content {
        revision: waiting.revision.map(|r| r + 1),
        ..waiting.clone()
    };
    app.deliver(&route, &late, soon).await.unwrap();
    let shown = world.slack.top_level("C0RELEASES1");
    assert_eq!(shown.len(), 1, "one message, updated");
    let message = &shown[0].1;
    assert!(!buttons(message), "{message:#}");
    assert!(
        message
            .to_string()
            .contains("✅ Approved in Slack by Maria Silva (U024BE7LH)"),
        "{message:#}"
    );
    // The older notification again (SNS redelivers it): nothing goes back.
    let updates = world.slack.calls().len();
    app.deliver(&route, &waiting, soon).await.unwrap();
    assert!(!buttons(&world.slack.top_level("C0RELEASES1")[0].1));
    assert_eq!(world.slack.calls().len(), updates, "nothing sent");
}

#[tokio::test]
async fn a_button_from_an_earlier_run_or_a_decision_made_elsewhere_changes_nothing() {
    let world = world().await;
    let earlier = world.click(Decision::Approve, "an-earlier-run-of-the-approval");
    let outcome = world.take(&earlier).await.unwrap();
    assert!(
        matches!(&outcome, Outcome::NotDecided(words) if words.contains("no longer waiting")),
        "{outcome:?}"
    );
    // Decided in the console meanwhile.
    world.fake.set_state(&scenario("release-retry-approval")[5]);
    let late = world.click(Decision::Reject, RUN);
    let outcome = world.take(&late).await.unwrap();
    assert!(
        matches!(&outcome, Outcome::NotDecided(words) if words.contains("no longer waiting")),
        "{outcome:?}"
    );
    assert!(
        world.fake.approvals().is_empty(),
        "PutApprovalResult never called"
    );
}

/// V2's PARALLEL execution mode: the state shows another execution's approval run;
/// the run the button names waits in its execution's history, whose
/// `externalExecutionId` is its token.
#[tokio::test]
async fn in_parallel_mode_the_run_is_found_in_its_executions_history_and_decided_there() {
    let world = world().await;
    let run = json!({"pipelineExecutionId": "exec-2", "actionExecutionId": "parallel-run",
        "stageName": "Approve", "actionName": "ReleaseApproval", "status": "InProgress",
        "output": {"executionResult": {"externalExecutionId": "parallel-token"}}});
    world.fake.add_action_run("web-app-release", run);
    let Handoff::Decide(mut click) = world.click(Decision::Approve, "parallel-run") else {
        unreachable!()
    };
    // Without its execution the run cannot be looked up: no longer waiting, in words.
    let outcome = world.take(&Handoff::Decide(click.clone())).await.unwrap();
    assert!(
        matches!(&outcome, Outcome::NotDecided(words) if words.contains("no longer waiting")),
        "{outcome:?}"
    );
    assert!(world.fake.approvals().is_empty());

    click.target.execution = Some("exec-2".into());
    let outcome = world.take(&Handoff::Decide(click.clone())).await.unwrap();
    assert_eq!(
        outcome,
        Outcome::Decided("Approved in Slack by Maria Silva (U024BE7LH)".into())
    );
    let approvals = world.fake.approvals();
    assert_eq!(approvals.len(), 1);
    assert_eq!(
        approvals[0]["token"], "parallel-token",
        "the history's token"
    );
    // The other execution's approval, which the state shows, still waits.
    let again = Handoff::Decide(click);
    assert!(matches!(
        world.take(&again).await.unwrap(),
        Outcome::NotDecided(_)
    ));
    assert_eq!(world.fake.approvals().len(), 1, "decided once");
}

/// A pipeline in another account is decided through the approver role there: the
/// call is signed with the role's credentials from STS (moto), in the pipeline's region.
#[tokio::test]
async fn another_accounts_approval_is_decided_through_the_approver_role_in_its_region() {
    pipewatch_testkit::services::require("AWS_ENDPOINT_URL_STS");
    let world = world().await;
    world.fake.remove("web-app-release");
    world
        .fake
        .set_state_in("us-west-2", &scenario("release-retry-approval")[4]);
    let Handoff::Decide(mut click) = world.click(Decision::Approve, RUN) else {
        unreachable!()
    };
    click.target.arn = Some("arn:aws:codepipeline:us-west-2:222233334444:web-app-release".into());
    let outcome = world.take(&Handoff::Decide(click)).await.unwrap();
    assert!(matches!(outcome, Outcome::Decided(_)), "{outcome:?}");
    assert_eq!(world.fake.approvals().len(), 1);
    assert_eq!(world.fake.approvals()[0]["token"], TOKEN);
    let keys = world.fake.access_keys("us-west-2");
    assert!(
        !keys.is_empty() && !keys.contains("test"),
        "the role's credentials, not the approver's own: {keys:?}"
    );
    assert!(
        world.fake.access_keys("us-east-1").is_empty(),
        "nothing asked at home"
    );
}

/// The loop closed: a rejection with its reason, CodePipeline moving on (the fake records
/// the summary and the approver role as `lastUpdatedBy`, as CodePipeline does), and the
/// next notification of the pipeline telling the Slack person and the reason, not the role,
/// in a message without buttons.
#[tokio::test]
async fn after_a_decision_in_slack_the_message_says_who_decided_and_why() {
    let world = world().await;
    let Handoff::Decide(mut click) = world.click(Decision::Reject, RUN) else {
        unreachable!()
    };
    click.reason = Some("the plan drops the orders table".into());
    let outcome = world.take(&Handoff::Decide(click)).await.unwrap();
    assert!(matches!(outcome, Outcome::Decided(_)), "{outcome:?}");

    let before: PipelineState =
        serde_json::from_str(&scenario("release-retry-approval")[4]).unwrap();
    let after = world
        .fake
        .source(&sdk_config().await)
        .get_state(&PipelineRef::home("web-app-release"))
        .await
        .unwrap();
    let changes = diff(&essentials(&before), &after);
    let context = Context {
        state: Some(&after),
        revision: Some(9),
        ..Context::default()
    };
    let notification = Content::build(
        "web-app-release",
        &changes,
        &context,
        "web-app-release/9/1",
        (1, 1),
    );
    let rendered = slack_app::render(&notification, BUTTONS);
    let replies: Vec<String> = rendered
        .replies
        .iter()
        .map(|r| r.message.to_string())
        .collect();
    assert!(
        replies.iter().any(|r| r.contains("rejected")
            && r.contains("by Maria Silva (U024BE7LH)")
            && r.contains("the plan drops the orders table")),
        "{replies:#?}"
    );
    assert!(
        !replies.iter().any(|r| r.contains("pipewatch-approver")),
        "not the approver role: {replies:#?}"
    );
    let message = rendered.living[0].message.to_string();
    assert!(!message.contains(APPROVE_BUTTON), "{message}");
}

#[tokio::test]
async fn a_click_that_failed_on_throttling_is_taken_when_tried_again() {
    let world = world().await;
    let click = world.click(Decision::Reject, RUN);
    // More throttles than the SDK's own retries absorb.
    world.fake.fail_next_approvals(3, Fault::Throttle);
    let failed = world.take(&click).await;
    assert!(failed.is_err(), "tried again later: {failed:?}");
    assert!(world.fake.approvals().is_empty());
    let outcome = world.take(&click).await.unwrap();
    assert_eq!(
        outcome,
        Outcome::Decided("Rejected in Slack by Maria Silva (U024BE7LH)".into())
    );
    assert_eq!(world.fake.approvals().len(), 1);
    assert_eq!(world.fake.approvals()[0]["result"]["status"], "Rejected");
}

#[tokio::test]
async fn someone_not_allowed_is_told_so_and_nothing_is_called() {
    let world = world().await;
    let refuse = Handoff::Refuse {
        response_url: world.slack.response_url(),
        text: "You may not approve or reject Approve/ReleaseApproval of web-app-release".into(),
    };
    world.take(&refuse).await.unwrap();
    assert_eq!(world.told().len(), 1);
    assert_eq!(world.fake.operations("GetPipelineState"), 0);
    assert!(world.fake.approvals().is_empty());
}

/// The decision is claimed before CodePipeline is called: two deliveries of one click at
/// once, while CodePipeline still shows the approval waiting (real CodePipeline may, for a
/// moment; the fake holds the first decision at a gate), call `PutApprovalResult` once,
/// and the other is told it is being decided already.
#[tokio::test]
async fn two_deliveries_of_one_click_at_once_call_codepipeline_once() {
    let world = world().await;
    let gate = world.fake.gate_approvals();
    let click = world.click(Decision::Approve, RUN);
    let second = async {
        gate.until_arrived(1).await;
        let outcome = world.take(&click).await;
        gate.open();
        outcome
    };
    let (first, second) = tokio::join!(world.take(&click), second);
    assert_eq!(
        first.unwrap(),
        Outcome::Decided("Approved in Slack by Maria Silva (U024BE7LH)".into())
    );
    assert_eq!(
        second.unwrap(),
        Outcome::NotDecided(
            "Nothing was decided: Approve/ReleaseApproval is being decided already.".into()
        )
    );
    assert_eq!(world.fake.operations("PutApprovalResult"), 1);
}
