//! A click on an approval run that no longer waits, in each of V2's execution modes and for
//! each way the run ended, through the decision path against the CodePipeline fake: the
//! person is told how the very run they clicked ended (by whom, when), or that its stage
//! was run again in the same execution; never to use another message's buttons, which in
//! PARALLEL (or QUEUED) mode belong to another execution. Nothing is decided.
//!
//! What CodePipeline shows per mode: in SUPERSEDED mode the stage still shows the clicked
//! run once it ended (no later execution reached the stage); in QUEUED and PARALLEL modes a
//! later execution's run shows while the clicked one ended, its ending in its execution's
//! `ListActionExecutions`. A retry shows a newer run of the same execution.

use pipewatch::approve::{Handoff, Outcome};
use pipewatch_core::interaction::Decision;
use pipewatch_testkit::fixtures::scenario;
use serde_json::{Value, json};

use super::decision::{World, world};

const PERSON: &str = "arn:aws:sts::123456789012:assumed-role/ReleaseManager/maria.silva";
/// When the clicked run ended: epoch seconds on the wire, 2025-11-24T10:00:00Z.
const ENDED_AT: u64 = 1_763_978_400;
const ENDED_WORDS: &str = "at 2025-11-24 10:00 UTC";

#[derive(Clone, Copy, Debug)]
enum Mode {
    Superseded,
    Queued,
    Parallel,
}

#[derive(Clone, Copy, Debug)]
enum Ended {
    Approved,
    Rejected,
    Expired,
    Retried,
}

/// The clicked run: `run-1` of `exec-1`, ended as `ended` says.
fn clicked(ended: Ended) -> Value {
    let (status, by, summary) = match ended {
        Ended::Approved => ("Succeeded", Some(PERSON), Some("ship it")),
        Ended::Rejected | Ended::Retried => ("Failed", Some(PERSON), Some("not today")),
        Ended::Expired => ("Failed", None, None),
    };
    let mut run = json!({"pipelineExecutionId": "exec-1", "actionExecutionId": "run-1",
        "stageName": "Approve", "actionName": "ReleaseApproval", "status": status,
        "startTime": ENDED_AT - 3_600, "lastUpdateTime": ENDED_AT,
        "output": {"executionResult": {"externalExecutionId": "token-1"}}});
    if let Some(by) = by {
        run["updatedBy"] = json!(by);
    }
    if let Some(summary) = summary {
        run["output"]["executionResult"]["externalExecutionSummary"] = json!(summary);
    }
    run
}

/// The recorded release with the approval stage showing `execution`'s run `run`.
fn showing(execution: &str, run: &Value) -> String {
    let mut pipeline: Value = serde_json::from_str(&scenario("release-retry-approval")[4]).unwrap();
    let stage = pipeline["stageStates"]
        .as_array_mut()
        .unwrap()
        .iter_mut()
        .find(|s| s["stageName"] == "Approve")
        .unwrap();
    stage["latestExecution"]["pipelineExecutionId"] = json!(execution);
    stage["actionStates"][0]["latestExecution"] = run.clone();
    pipeline.to_string()
}

/// The clicked run as `GetPipelineState` shows it (its own ending).
fn as_state(run: &Value) -> Value {
    let mut shown = json!({"actionExecutionId": run["actionExecutionId"],
        "status": run["status"], "lastStatusChange": run["lastUpdateTime"]});
    if let Some(by) = run.get("updatedBy") {
        shown["lastUpdatedBy"] = by.clone();
    }
    if let Some(summary) = run["output"]["executionResult"].get("externalExecutionSummary") {
        shown["summary"] = summary.clone();
    }
    shown
}

/// Another run, waiting with its token: `id` of `execution`.
fn waiting(execution: &str, id: &str) -> (Value, Value) {
    let history = json!({"pipelineExecutionId": execution, "actionExecutionId": id,
        "stageName": "Approve", "actionName": "ReleaseApproval", "status": "InProgress",
        "startTime": ENDED_AT + 60,
        "output": {"executionResult": {"externalExecutionId": format!("token-of-{id}")}}});
    let state = json!({"actionExecutionId": id, "status": "InProgress",
        "lastStatusChange": ENDED_AT + 60, "token": format!("token-of-{id}")});
    (history, state)
}

/// Sets the fake up as `mode` shows the clicked run ended as `ended`.
fn arrange(world: &World, mode: Mode, ended: Ended) {
    let run = clicked(ended);
    world.fake.add_action_run("web-app-release", run.clone());
    let state = match (mode, ended) {
        // The stage was run again in exec-1: its newer run shows, waiting.
        (Mode::Superseded | Mode::Queued, Ended::Retried) => {
            let (history, state) = waiting("exec-1", "run-2");
            world.fake.add_action_run("web-app-release", history);
            showing("exec-1", &state)
        }
        (Mode::Superseded, _) => showing("exec-1", &as_state(&run)),
        // Another execution's run shows; in PARALLEL mode exec-1 retried meanwhile.
        (Mode::Queued | Mode::Parallel, _) => {
            if matches!(ended, Ended::Retried) {
                let (history, _) = waiting("exec-1", "run-2");
                world.fake.add_action_run("web-app-release", history);
            }
            let (history, state) = waiting("exec-2", "run-5");
            world.fake.add_action_run("web-app-release", history);
            showing("exec-2", &state)
        }
    };
    world.fake.set_state(&state);
}

fn expected(ended: Ended) -> String {
    match ended {
        Ended::Approved => format!(
            "Approve/ReleaseApproval is no longer waiting: it was approved by maria.silva \
             (ReleaseManager) {ENDED_WORDS}"
        ),
        Ended::Rejected => format!(
            "Approve/ReleaseApproval is no longer waiting: it was rejected by maria.silva \
             (ReleaseManager) {ENDED_WORDS}"
        ),
        Ended::Expired => format!(
            "Approve/ReleaseApproval is no longer waiting: it failed {ENDED_WORDS} with no \
             decision (an approval expires after 7 days)"
        ),
        Ended::Retried => format!(
            "this button is from an earlier run of Approve/ReleaseApproval, which was rejected \
             by maria.silva (ReleaseManager) {ENDED_WORDS}; the stage has run it again in the \
             same execution, whose message shows the new run's buttons"
        ),
    }
}

#[tokio::test]
async fn a_click_on_a_run_that_ended_is_told_its_outcome_in_every_mode() {
    for mode in [Mode::Superseded, Mode::Queued, Mode::Parallel] {
        for ended in [
            Ended::Approved,
            Ended::Rejected,
            Ended::Expired,
            Ended::Retried,
        ] {
            let world = world().await;
            arrange(&world, mode, ended);
            let Handoff::Decide(mut click) = world.click(Decision::Approve, "run-1") else {
                unreachable!()
            };
            click.target.execution = Some("exec-1".into());
            let outcome = world.take(&Handoff::Decide(click)).await.unwrap();
            let words = format!("Nothing was decided: {}.", expected(ended));
            assert_eq!(
                outcome,
                Outcome::NotDecided(words.clone()),
                "{mode:?} {ended:?}"
            );
            assert_eq!(world.told(), [words], "{mode:?} {ended:?}: told in Slack");
            assert!(
                world.fake.approvals().is_empty(),
                "{mode:?} {ended:?}: no other run decided"
            );
        }
    }
}

/// A button made before buttons named their execution: its run cannot be looked up, so
/// the person is told only that it no longer waits, never to use another message's.
#[tokio::test]
async fn a_button_without_its_execution_is_told_the_run_no_longer_waits() {
    let world = world().await;
    arrange(&world, Mode::Parallel, Ended::Approved);
    let outcome = world
        .take(&world.click(Decision::Approve, "run-1"))
        .await
        .unwrap();
    assert_eq!(
        outcome,
        Outcome::NotDecided(
            "Nothing was decided: the run of Approve/ReleaseApproval this button names is no \
             longer waiting."
                .into()
        )
    );
    assert!(world.fake.approvals().is_empty());
}

/// What the person is told is Slack mrkdwn: a name someone chose (their Slack display
/// name, kept in the summary of an earlier decision) is shown, never read as a mention.
#[tokio::test]
async fn a_name_in_the_answer_is_text_in_slack() {
    let world = world().await;
    let mut run = clicked(Ended::Approved);
    run["output"]["executionResult"]["externalExecutionSummary"] =
        json!("Approved in Slack by Maria <!channel> (U024BE7LH)");
    world.fake.add_action_run("web-app-release", run.clone());
    world.fake.set_state(&showing("exec-1", &as_state(&run)));
    let Handoff::Decide(mut click) = world.click(Decision::Approve, "run-1") else {
        unreachable!()
    };
    click.target.execution = Some("exec-1".into());
    world.take(&Handoff::Decide(click)).await.unwrap();
    let told = world.told();
    assert!(
        told[0].contains("approved by Maria &lt;!channel&gt; (U024BE7LH)"),
        "{told:?}"
    );
    assert!(!told[0].contains("<!channel>"), "{told:?}");
}
