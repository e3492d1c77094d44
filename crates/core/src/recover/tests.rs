//! Which runs recovery reports, from recorded `ListActionExecutions` answers.

use serde_json::json;

use super::*;
use crate::diff::{diff, essentials};
use crate::state::{ExecutionSummary, Status, Timestamp};

/// Build/UnitTests on run `run` in pipeline execution `execution`, with `status`.
fn observed(execution: &str, run: &str, status: &str) -> PipelineState {
    serde_json::from_value(json!({"pipelineName": "web", "stageStates": [
        {"stageName": "Build",
         "latestExecution": {"pipelineExecutionId": execution, "status": "InProgress"},
         "actionStates": [{"actionName": "UnitTests",
            "latestExecution": {"actionExecutionId": run, "status": status}}]}]}))
    .unwrap()
}

fn run(execution: &str, id: &str, status: &str, started_s: i64) -> ActionRun {
    ActionRun {
        pipeline_execution_id: execution.into(),
        action_execution_id: id.into(),
        stage: "Build".into(),
        action: "UnitTests".into(),
        status: Status::new(status),
        started_at: Timestamp::from_unix_millis(1_800_000_000_000 + started_s * 1000),
        updated_at: Timestamp::from_unix_millis(1_800_000_000_000 + started_s * 1000 + 500),
        updated_by: None,
        summary: None,
        external_url: Some(format!("https://logs.example/{id}")),
        error: (status == "Failed").then(|| crate::state::ErrorDetails {
            code: Some("JobFailed".into()),
            message: Some(format!("{id}: exit status 1")),
        }),
    }
}

/// What recovery reports between `before` and `after`, given the runs listed.
fn recovered(before: &PipelineState, after: &PipelineState, runs: &[ActionRun]) -> Vec<String> {
    let previous = essentials(before);
    let changes = diff(&previous, after);
    let asked: Vec<String> = executions_to_ask(&changes, &previous)
        .into_iter()
        .map(str::to_owned)
        .collect();
    let listed: Vec<(String, Vec<ActionRun>)> = asked
        .into_iter()
        .map(|id| {
            let runs = runs
                .iter()
                .filter(|r| r.pipeline_execution_id == id)
                .cloned()
                .collect();
            (id, runs)
        })
        .collect();
    with_missed_runs(changes, &previous, &listed)
        .iter()
        .map(|c| {
            let Change::Action {
                execution_id,
                status,
                recovered,
                error,
                ..
            } = c
            else {
                return format!("{:?}", c.kind());
            };
            format!(
                "{}{} {}{}",
                if *recovered { "recovered " } else { "" },
                execution_id.as_deref().unwrap_or("-"),
                status.as_ref().map_or("-", Status::as_str),
                error
                    .as_ref()
                    .and_then(|e| e.message.as_deref())
                    .map_or(String::new(), |m| format!(": {m}"))
            )
        })
        .filter(|line| !line.starts_with("Stage"))
        .collect()
}

#[test]
fn a_failure_retried_between_checks_is_reported_before_the_retry() {
    // Seen running; then it failed and was retried before the next check.
    let before = observed("e1", "a1", "InProgress");
    let after = observed("e1", "a2", "InProgress");
    let runs = vec![
        run("e1", "a1", "Failed", 0),
        run("e1", "a2", "InProgress", 40),
    ];
    assert_eq!(
        recovered(&before, &after, &runs),
        ["recovered a1 Failed: a1: exit status 1", "a2 InProgress"]
    );
}

#[test]
fn several_runs_between_checks_are_reported_in_order() {
    let before = observed("e1", "a1", "Failed");
    let after = observed("e1", "a4", "Succeeded");
    let runs = vec![
        run("e1", "a1", "Failed", 0),
        run("e1", "a3", "Failed", 20),
        run("e1", "a2", "Failed", 10),
        run("e1", "a4", "Succeeded", 30),
    ];
    assert_eq!(
        recovered(&before, &after, &runs),
        [
            "recovered a2 Failed: a2: exit status 1",
            "recovered a3 Failed: a3: exit status 1",
            "a4 Succeeded"
        ],
        "a1 was seen failed already: not again"
    );
}

#[test]
fn runs_of_other_actions_are_not_this_actions_runs() {
    // Between checks: Build/Lint and Test/UnitTests ran too (listed in the same pipeline
    // execution); only Build/UnitTests's own missed run is reported.
    let before = observed("e1", "a1", "InProgress");
    let after = observed("e1", "a3", "InProgress");
    let elsewhere = |id: &str, stage: &str, action: &str| ActionRun {
        stage: stage.into(),
        action: action.into(),
        ..run("e1", id, "Failed", 10)
    };
    let runs = vec![
        run("e1", "a1", "Failed", 0),
        elsewhere("l1", "Build", "Lint"),
        elsewhere("t1", "Test", "UnitTests"),
        run("e1", "a3", "InProgress", 40),
    ];
    assert_eq!(
        recovered(&before, &after, &runs),
        ["recovered a1 Failed: a1: exit status 1", "a3 InProgress"]
    );
}

#[test]
fn a_run_that_started_after_the_observed_one_is_left_to_the_next_check() {
    // History answered after the observation: a3 started after a2, the run observed.
    let before = observed("e1", "a1", "InProgress");
    let after = observed("e1", "a2", "InProgress");
    let runs = vec![
        run("e1", "a1", "Failed", 0),
        run("e1", "a2", "Failed", 30),
        run("e1", "a3", "InProgress", 40),
    ];
    assert_eq!(
        recovered(&before, &after, &runs),
        ["recovered a1 Failed: a1: exit status 1", "a2 InProgress"]
    );
}

#[test]
fn only_a_stage_on_a_new_pipeline_execution_needs_the_execution_history() {
    let changes = |before: &PipelineState, after: &PipelineState| diff(&essentials(before), after);
    let new_execution = changes(
        &observed("e1", "a1", "Succeeded"),
        &observed("e2", "a2", "InProgress"),
    );
    assert!(needs_executions(&new_execution));
    // A new action run in the same pipeline execution: the stage's execution is the same.
    let same_execution = changes(
        &observed("e1", "a1", "Failed"),
        &observed("e1", "a2", "InProgress"),
    );
    assert!(!same_execution.is_empty());
    assert!(!needs_executions(&same_execution));
    assert!(!needs_executions(&[]));
}

#[test]
fn a_whole_failed_run_of_a_new_pipeline_execution_is_reported() {
    // The last run seen belongs to yesterday's execution; today's failed and was retried.
    let before = observed("e0", "a0", "Succeeded");
    let after = observed("e1", "a2", "InProgress");
    let runs = vec![
        run("e1", "a1", "Failed", 0),
        run("e1", "a2", "InProgress", 30),
    ];
    assert_eq!(
        recovered(&before, &after, &runs),
        ["recovered a1 Failed: a1: exit status 1", "a2 InProgress"]
    );
}

#[test]
fn nothing_is_recovered_when_nothing_was_missed_or_history_cannot_tell() {
    // The next run, seen as it started: nothing in between.
    let before = observed("e1", "a1", "Succeeded");
    let after = observed("e2", "a2", "InProgress");
    assert_eq!(
        recovered(&before, &after, &[run("e2", "a2", "InProgress", 5)]),
        ["a2 InProgress"]
    );
    // History gone: no runs listed at all.
    let before = observed("e1", "a1", "InProgress");
    let after = observed("e1", "a3", "InProgress");
    assert_eq!(recovered(&before, &after, &[]), ["a3 InProgress"]);
    // The last seen run of this very execution is missing from the answer (an older
    // page): the runs listed cannot be told from ones already reported.
    assert_eq!(
        recovered(
            &before,
            &after,
            &[
                run("e1", "a2", "Failed", 10),
                run("e1", "a3", "InProgress", 20)
            ]
        ),
        ["a3 InProgress"]
    );
    // The same run with a new status: no call needed.
    let before = observed("e1", "a1", "InProgress");
    let after = observed("e1", "a1", "Failed");
    let previous = essentials(&before);
    assert!(executions_to_ask(&diff(&previous, &after), &previous).is_empty());
}

fn summary(id: &str, status: &str) -> ExecutionSummary {
    ExecutionSummary {
        pipeline_execution_id: id.into(),
        status: Status::new(status),
        started_at: None,
        updated_at: None,
    }
}

/// The execution changes recovery puts before the diff's, given `recent` (newest first).
fn unseen(
    before: &PipelineState,
    after: &PipelineState,
    recent: &[ExecutionSummary],
) -> Vec<String> {
    let previous = essentials(before);
    let changes = diff(&previous, after);
    assert!(needs_executions(&changes));
    with_unseen_executions(changes, &previous, after, recent)
        .iter()
        .filter_map(|c| match c {
            Change::Execution {
                execution_id,
                status,
                ..
            } => Some(format!("{execution_id} {status}")),
            _ => None,
        })
        .collect()
}

#[test]
fn executions_that_came_and_went_between_checks_are_reported_oldest_first() {
    let before = observed("e1", "a1", "Succeeded");
    let after = observed("e4", "a4", "InProgress");
    let recent = [
        summary("e4", "InProgress"),
        summary("e3", "Superseded"),
        summary("e2", "Failed"),
        summary("e1", "Succeeded"),
        summary("e0", "Failed"),
    ];
    assert_eq!(
        unseen(&before, &after, &recent),
        ["e2 Failed", "e3 Superseded"],
        "back to e1, which was seen; not e0 before it"
    );
}

#[test]
fn no_execution_is_reported_when_the_page_does_not_reach_the_last_seen_one() {
    let before = observed("e1", "a1", "Succeeded");
    let after = observed("e4", "a4", "InProgress");
    let recent = [summary("e4", "InProgress"), summary("e3", "Failed")];
    assert!(unseen(&before, &after, &recent).is_empty());
    // A still running execution no stage shows yet is left for a later check.
    let recent = [
        summary("e4", "InProgress"),
        summary("e3", "InProgress"),
        summary("e1", "Succeeded"),
    ];
    assert!(unseen(&before, &after, &recent).is_empty());
}

#[test]
fn a_run_seen_unfinished_in_an_earlier_execution_has_its_outcome_reported() {
    // a1 was running in e1; e1 failed on it, and e2 now runs a2.
    let before = observed("e1", "a1", "InProgress");
    let after = observed("e2", "a2", "InProgress");
    let runs = [
        run("e1", "a1", "Failed", 0),
        run("e2", "a2", "InProgress", 60),
    ];
    assert_eq!(
        recovered(&before, &after, &runs),
        ["recovered a1 Failed: a1: exit status 1", "a2 InProgress"]
    );
}

#[test]
fn the_execution_last_seen_running_is_reported_when_it_ended_unseen() {
    let before = observed("e1", "a1", "InProgress");
    let after = observed("e2", "a2", "InProgress");
    let recent = [summary("e2", "InProgress"), summary("e1", "Failed")];
    assert_eq!(unseen(&before, &after, &recent), ["e1 Failed"]);
    // Seen finished already: not again.
    let before = observed("e1", "a1", "Succeeded");
    let mut finished = essentials(&before);
    finished.stage_states[0]
        .latest_execution
        .as_mut()
        .unwrap()
        .status = Status::new("Succeeded");
    let changes = diff(&finished, &after);
    let changes = with_unseen_executions(
        changes,
        &finished,
        &after,
        &[summary("e2", "InProgress"), summary("e1", "Succeeded")],
    );
    assert!(
        !changes
            .iter()
            .any(|c| matches!(c, Change::Execution { .. }))
    );
}
