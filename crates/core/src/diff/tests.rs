//! One table per rule: each row is (what it shows, previous stage, current stage, expected
//! changes as `kind status previous_status` strings). Stages are written as JSON, as AWS
//! would send them, so the rows read like the responses they stand for.

#![allow(clippy::needless_pass_by_value)] // Row builders read best taking JSON by value.

use serde_json::{Value, json};

use super::*;

/// A pipeline holding the given stages (as `stageStates` JSON) at version 1.
fn pipeline(stages: Value) -> PipelineState {
    pipeline_at(1, stages)
}

fn pipeline_at(version: i64, stages: Value) -> PipelineState {
    serde_json::from_value(json!({
        "pipelineName": "web", "pipelineVersion": version, "stageStates": stages
    }))
    .unwrap()
}

/// A change as one short line: `kind stage/action status<-previous id`.
fn describe(change: &Change) -> String {
    let target = match change {
        Change::Action { stage, action, .. } => format!("{stage}/{action}"),
        Change::Condition {
            stage, condition, ..
        } => format!("{stage}:{}", condition.as_str()),
        other => other.stage().unwrap_or("-").to_owned(),
    };
    let status = |s: Option<&Status>| s.map_or("-".to_owned(), ToString::to_string);
    let id = match change {
        Change::Action { execution_id, .. } => execution_id.clone().unwrap_or_default(),
        Change::Inbound { execution_id, .. } | Change::Stage { execution_id, .. } => {
            execution_id.clone()
        }
        Change::Transition { enabled, .. } => format!("enabled={enabled}"),
        Change::PipelineVersion {
            version,
            previous_version,
        } => format!("{previous_version:?}->{version:?}"),
        Change::Condition { .. } | Change::Access { .. } => String::new(),
        Change::Execution { execution_id, .. } => execution_id.clone(),
    };
    format!(
        "{} {target} {}<-{} {id}",
        change.kind().as_str(),
        status(change.status()),
        status(change.previous_status()),
    )
    .trim_end()
    .to_owned()
}

fn check(rows: &[(&str, Value, Value, &[&str])]) {
    for (what, before, after, expected) in rows {
        let changes = diff(&pipeline(before.clone()), &pipeline(after.clone()));
        let got: Vec<String> = changes.iter().map(describe).collect();
        assert_eq!(got, *expected, "{what}");
    }
}

fn action(name: &str, id: &str, status: &str) -> Value {
    json!({"actionName": name, "latestExecution": {"actionExecutionId": id, "status": status}})
}

fn build(actions: Vec<Value>) -> Value {
    json!([{"stageName": "Build", "actionStates": actions}])
}

#[test]
fn rule_1_an_action_changes_when_its_execution_id_or_status_does() {
    check(&[
        (
            "status moves on",
            build(vec![action("Compile", "a1", "InProgress")]),
            build(vec![action("Compile", "a1", "Failed")]),
            &["action Build/Compile Failed<-InProgress a1"],
        ),
        (
            "a new run the poll never saw in progress",
            build(vec![action("Compile", "a1", "Succeeded")]),
            build(vec![action("Compile", "a2", "Succeeded")]),
            &["action Build/Compile Succeeded<-Succeeded a2"],
        ),
        (
            "first run of an action",
            build(vec![json!({"actionName": "Compile"})]),
            build(vec![action("Compile", "a1", "InProgress")]),
            &["action Build/Compile InProgress<-- a1"],
        ),
        (
            "an unseen action that never ran is not a change",
            build(vec![]),
            build(vec![json!({"actionName": "Compile"})]),
            &[],
        ),
        (
            "an action that disappeared is not a change",
            build(vec![action("Compile", "a1", "Succeeded")]),
            build(vec![]),
            &[],
        ),
        (
            "an execution that vanished is not a change",
            build(vec![action("Compile", "a1", "Succeeded")]),
            build(vec![json!({"actionName": "Compile"})]),
            &[],
        ),
        (
            "an unknown status is reported as spelled",
            build(vec![action("Compile", "a1", "InProgress")]),
            build(vec![action("Compile", "a1", "Paused")]),
            &["action Build/Compile Paused<-InProgress a1"],
        ),
        (
            "an execution record with neither id nor status says nothing happened",
            build(vec![json!({"actionName": "Compile"})]),
            build(vec![
                json!({"actionName": "Compile", "latestExecution": {"summary": "x"}}),
            ]),
            &[],
        ),
        (
            "a status without an id (older responses) is a change",
            build(vec![json!({"actionName": "Compile"})]),
            build(vec![
                json!({"actionName": "Compile", "latestExecution": {"status": "Failed"}}),
            ]),
            &["action Build/Compile Failed<--"],
        ),
        (
            "an id without a status is a change",
            build(vec![json!({"actionName": "Compile"})]),
            build(vec![
                json!({"actionName": "Compile", "latestExecution": {"actionExecutionId": "a1"}}),
            ]),
            &["action Build/Compile -<-- a1"],
        ),
    ]);
}

#[test]
fn rule_1_an_action_change_carries_the_failure_reason_and_approval() {
    let before = build(vec![action("Approve", "a1", "Succeeded")]);
    let after = build(vec![json!({"actionName": "Approve", "latestExecution": {
        "actionExecutionId": "a2", "status": "InProgress", "token": "secret",
        "summary": "Please check staging",
        "errorDetails": {"code": "X", "message": "y"}}})]);
    let changes = diff(&pipeline(before), &pipeline(after));
    let Change::Action {
        summary,
        error,
        approval,
        ..
    } = &changes[0]
    else {
        panic!("{changes:?}")
    };
    assert_eq!(summary.as_deref(), Some("Please check staging"));
    assert_eq!(error.as_ref().unwrap().code.as_deref(), Some("X"));
    assert_eq!(*approval, Some(Approval::Waiting));
}

/// An action's run at `at` (HH:MM:SS on one day), with an optional token.
fn run(id: &str, status: &str, at: &str, token: bool) -> Value {
    let mut execution = json!({"actionExecutionId": id, "status": status,
        "lastStatusChange": format!("2025-11-24T{at}Z"), "lastUpdatedBy": "arn:aws:iam::1:user/ana"});
    if token {
        execution["token"] = json!("secret-token");
    }
    json!({"actionName": "Review", "latestExecution": execution})
}

#[test]
fn rule_1_a_decision_on_an_approval_seen_waiting_reads_as_approved_or_rejected() {
    let waiting = pipeline(build(vec![run("a1", "InProgress", "10:00:00", true)]));
    for (status, expected) in [
        ("Succeeded", Some(Approval::Approved)),
        ("Failed", Some(Approval::Rejected)),
        ("Abandoned", None),
    ] {
        let decided = pipeline(build(vec![run("a1", status, "10:42:30", false)]));
        // From the stored essentials, as the tick diffs.
        let changes = diff(&essentials(&waiting), &decided);
        let Change::Action { approval, .. } = &changes[0] else {
            panic!("{changes:?}")
        };
        assert_eq!(*approval, expected, "{status}");
    }
    // A run never seen waiting is not known to be an approval.
    let unseen = pipeline(build(vec![run("a0", "Succeeded", "09:00:00", false)]));
    let decided = pipeline(build(vec![run("a1", "Failed", "10:42:30", false)]));
    let Change::Action { approval, .. } = &diff(&unseen, &decided)[0] else {
        panic!()
    };
    assert_eq!(*approval, None);
}

#[test]
fn rule_1_a_duration_is_known_only_when_the_run_was_seen_in_progress() {
    let running = pipeline(build(vec![run("a1", "InProgress", "10:00:00", false)]));
    let finished = pipeline(build(vec![run("a1", "Failed", "10:04:12", false)]));
    let changes = diff(&essentials(&running), &finished);
    assert_eq!(
        changes[0].duration(),
        Some(std::time::Duration::from_secs(252))
    );

    // Seen only once finished: no start, no duration (never guessed).
    let before = pipeline(build(vec![run("a0", "Succeeded", "09:00:00", false)]));
    let changes = diff(&essentials(&before), &finished);
    assert_eq!(changes[0].duration(), None);

    // Still running: started, not finished.
    let changes = diff(&essentials(&before), &running);
    let Change::Action {
        started_at,
        finished_at,
        ..
    } = &changes[0]
    else {
        panic!()
    };
    assert!(started_at.is_some() && finished_at.is_none());
}

#[test]
fn rule_1_a_start_time_survives_the_snapshots_that_follow() {
    // Seen running, then finished (a change), then a later change elsewhere: the run's
    // start stays in the snapshot as long as it is the action's latest run.
    let running = pipeline(build(vec![run("a1", "InProgress", "10:00:00", false)]));
    let finished = pipeline(build(vec![run("a1", "Succeeded", "10:01:00", false)]));
    let first = essentials(&running);
    let second = next_snapshot(&first, &finished, &diff(&first, &finished));
    let start = |s: &PipelineState| {
        s.stage_states[0].action_states[0]
            .latest_execution
            .as_ref()
            .unwrap()
            .start_time
    };
    assert_eq!(start(&second), start(&first));
    assert!(start(&second).is_some());
    // A new run forgets the old start.
    let next = pipeline(build(vec![run("a2", "Succeeded", "11:00:00", false)]));
    let third = next_snapshot(&second, &next, &diff(&second, &next));
    assert_eq!(start(&third), None);
}

fn deploy_inbound(single: Option<Value>, list: &[Value]) -> Value {
    let mut stage = json!({"stageName": "Deploy", "inboundExecutions": list});
    if let Some(single) = single {
        stage["inboundExecution"] = single;
    }
    json!([stage])
}

fn execution(id: &str, status: &str) -> Value {
    json!({"pipelineExecutionId": id, "status": status})
}

#[test]
fn rule_2_each_inbound_execution_that_arrives_changes_or_leaves_is_one_change() {
    check(&[
        (
            "one arrives in the list",
            deploy_inbound(None, &[]),
            deploy_inbound(None, &[execution("e1", "InProgress")]),
            &["inbound Deploy InProgress<-- e1"],
        ),
        (
            "one arrives in the singular field only",
            deploy_inbound(None, &[]),
            deploy_inbound(Some(execution("e1", "InProgress")), &[]),
            &["inbound Deploy InProgress<-- e1"],
        ),
        (
            "the same execution in both fields counts once",
            deploy_inbound(None, &[]),
            deploy_inbound(
                Some(execution("e1", "InProgress")),
                &[execution("e1", "InProgress")],
            ),
            &["inbound Deploy InProgress<-- e1"],
        ),
        (
            "moving from the list to the singular field is not a change",
            deploy_inbound(None, &[execution("e1", "InProgress")]),
            deploy_inbound(Some(execution("e1", "InProgress")), &[]),
            &[],
        ),
        (
            "a second arrives, one leaves, one changes status",
            deploy_inbound(
                None,
                &[execution("e1", "InProgress"), execution("e2", "InProgress")],
            ),
            deploy_inbound(
                None,
                &[execution("e2", "Stopped"), execution("e3", "InProgress")],
            ),
            &[
                "inbound Deploy Stopped<-InProgress e2",
                "inbound Deploy InProgress<-- e3",
                "inbound Deploy -<-InProgress e1",
            ],
        ),
    ]);
}

#[test]
fn rule_3_a_retried_stage_says_how_and_which_attempt() {
    let retried = |metadata: Value| {
        let mut stages = stage_run("e1", "InProgress");
        stages[0]["retryStageMetadata"] = metadata;
        diff(&pipeline(stage_run("e1", "Failed")), &pipeline(stages))
    };
    let rows = [
        (
            json!({"manualStageRetryAttempt": 1, "latestRetryTrigger": "ManualStageRetry"}),
            Some((false, 1)),
        ),
        (
            json!({"autoStageRetryAttempt": 2, "latestRetryTrigger": "AutomatedStageRetry"}),
            Some((true, 2)),
        ),
        // The trigger names the count that is meant; the other is an earlier retry's.
        (
            json!({"autoStageRetryAttempt": 1, "manualStageRetryAttempt": 3,
                "latestRetryTrigger": "AutomatedStageRetry"}),
            Some((true, 1)),
        ),
        (json!({"manualStageRetryAttempt": 2}), Some((false, 2))),
        (json!({"autoStageRetryAttempt": 4}), Some((true, 4))),
        (json!({"latestRetryTrigger": "ManualStageRetry"}), None),
        // A person's retry with only an automatic count: which attempt is not known.
        (
            json!({"autoStageRetryAttempt": 2, "latestRetryTrigger": "ManualStageRetry"}),
            None,
        ),
        (json!({"manualStageRetryAttempt": 0}), None),
        (json!({"autoStageRetryAttempt": 0}), None),
        (json!({}), None),
    ];
    for (metadata, expected) in rows {
        let changes = retried(metadata.clone());
        let [Change::Stage { retry, .. }] = changes.as_slice() else {
            panic!("{metadata}: {changes:?}")
        };
        let got = retry.map(|r| (r.automatic, r.attempt));
        assert_eq!(got, expected, "{metadata}");
    }
}

fn stage_run(id: &str, status: &str) -> Value {
    json!([{"stageName": "Build", "latestExecution": execution(id, status)}])
}

#[test]
fn rule_3_a_stage_changes_when_its_latest_execution_does() {
    check(&[
        (
            "finishes",
            stage_run("e1", "InProgress"),
            stage_run("e1", "Succeeded"),
            &["stage Build Succeeded<-InProgress e1"],
        ),
        (
            "a new execution with the same status",
            stage_run("e1", "Succeeded"),
            stage_run("e2", "Succeeded"),
            &["stage Build Succeeded<-Succeeded e2"],
        ),
        (
            "first run",
            json!([{"stageName": "Build"}]),
            stage_run("e1", "InProgress"),
            &["stage Build InProgress<-- e1"],
        ),
        (
            "unchanged",
            stage_run("e1", "Failed"),
            stage_run("e1", "Failed"),
            &[],
        ),
    ]);
}

fn transition(state: Value) -> Value {
    json!([{"stageName": "Deploy", "inboundTransitionState": state}])
}

#[test]
fn rule_4_a_transition_changes_when_enabled_flips_and_absent_means_enabled() {
    check(&[
        (
            "disabled",
            transition(json!({"enabled": true})),
            transition(
                json!({"enabled": false, "lastChangedBy": "arn:aws:iam::1:user/ana",
                              "disabledReason": "freeze"}),
            ),
            &["transition Deploy -<-- enabled=false"],
        ),
        (
            "enabled again",
            transition(json!({"enabled": false})),
            transition(json!({"enabled": true})),
            &["transition Deploy -<-- enabled=true"],
        ),
        (
            "absent then explicitly enabled is no change",
            json!([{"stageName": "Deploy"}]),
            transition(json!({"enabled": true})),
            &[],
        ),
        (
            "absent enabled field then disabled",
            transition(json!({})),
            transition(json!({"enabled": false})),
            &["transition Deploy -<-- enabled=false"],
        ),
        (
            "only the reason changed",
            transition(json!({"enabled": false, "disabledReason": "a"})),
            transition(json!({"enabled": false, "disabledReason": "b"})),
            &[],
        ),
    ]);
    let changes = diff(
        &pipeline(transition(json!({"enabled": true}))),
        &pipeline(transition(json!({"enabled": false, "lastChangedBy": "ana",
                                    "disabledReason": "freeze"}))),
    );
    assert_eq!(
        changes[0],
        Change::Transition {
            stage: "Deploy".into(),
            enabled: false,
            changed_by: Some("ana".into()),
            reason: Some("freeze".into()),
            changed_at: None,
        }
    );
}

#[test]
fn rule_5_an_edit_is_one_change_and_added_or_removed_parts_add_no_noise() {
    let before = pipeline_at(
        3,
        json!([
            {"stageName": "Build", "actionStates": [action("Compile", "a1", "Succeeded")],
             "latestExecution": execution("e1", "Succeeded")},
            {"stageName": "Old", "actionStates": [action("Gone", "g1", "Failed")],
             "latestExecution": execution("e1", "Failed")}
        ]),
    );
    let after = pipeline_at(
        4,
        json!([
            {"stageName": "Build", "actionStates": [action("Compile", "a1", "Succeeded"),
                                                  {"actionName": "Lint"}],
             "latestExecution": execution("e1", "Succeeded")},
            {"stageName": "New", "actionStates": [{"actionName": "Fresh"}]}
        ]),
    );
    let got: Vec<String> = diff(&before, &after).iter().map(describe).collect();
    assert_eq!(got, ["pipeline_version - -<-- Some(3)->Some(4)"]);
}

fn gate(kind: &str, status: &str) -> Value {
    json!([{"stageName": "Deploy", kind: {"latestExecution": {"status": status, "summary": "s"},
            "conditionStates": [{"ruleStates": [{"ruleName": "NoAlarms"}]}]}}])
}

#[test]
fn rule_6_a_condition_changes_when_its_latest_status_does() {
    check(&[
        (
            "before-entry gate starts",
            json!([{"stageName": "Deploy"}]),
            gate("beforeEntryConditionState", "InProgress"),
            &["condition Deploy:before_entry InProgress<--"],
        ),
        (
            "before-entry gate passes",
            gate("beforeEntryConditionState", "InProgress"),
            gate("beforeEntryConditionState", "Succeeded"),
            &["condition Deploy:before_entry Succeeded<-InProgress"],
        ),
        (
            "on-success gate fails",
            gate("onSuccessConditionState", "InProgress"),
            gate("onSuccessConditionState", "Failed"),
            &["condition Deploy:on_success Failed<-InProgress"],
        ),
        (
            "on-failure gate, unchanged",
            gate("onFailureConditionState", "Succeeded"),
            gate("onFailureConditionState", "Succeeded"),
            &[],
        ),
    ]);
}

#[test]
fn rule_7_fields_that_move_while_nothing_happens_are_not_changes() {
    let before = pipeline(json!([{"stageName": "Build",
        "latestExecution": execution("e1", "InProgress"),
        "actionStates": [{"actionName": "Compile", "latestExecution": {
            "actionExecutionId": "a1", "status": "InProgress", "percentComplete": 10,
            "lastStatusChange": "2026-11-20T09:00:00Z", "summary": "starting"}}]}]));
    let mut after: PipelineState = serde_json::from_value(json!({
        "pipelineName": "web", "pipelineVersion": 1, "updated": "2026-11-20T09:05:00Z",
        "stageStates": [{"stageName": "Build",
            "latestExecution": execution("e1", "InProgress"),
            "actionStates": [{"actionName": "Compile", "latestExecution": {
                "actionExecutionId": "a1", "status": "InProgress", "percentComplete": 80,
                "lastStatusChange": "2026-11-20T09:04:00Z", "summary": "linking"}}]}]
    }))
    .unwrap();
    assert_eq!(diff(&before, &after), []);
    after = before.clone();
    assert_eq!(diff(&before, &after), [], "identical observations");
}

#[test]
fn changes_come_in_pipeline_order_with_the_edit_first() {
    let before = pipeline_at(1, json!([{"stageName": "Build"}, {"stageName": "Deploy"}]));
    let after = pipeline_at(
        2,
        json!([
            {"stageName": "Build", "latestExecution": execution("e1", "Succeeded"),
             "actionStates": [action("Compile", "a1", "Succeeded")]},
            {"stageName": "Deploy", "inboundTransitionState": {"enabled": false},
             "inboundExecution": execution("e1", "InProgress")}
        ]),
    );
    let kinds: Vec<&str> = diff(&before, &after)
        .iter()
        .map(|c| c.kind().as_str())
        .collect();
    assert_eq!(
        kinds,
        [
            "pipeline_version",
            "stage",
            "action",
            "transition",
            "inbound"
        ]
    );
}
