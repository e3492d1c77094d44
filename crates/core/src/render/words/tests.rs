//! The table of words: every kind of change in every register, and the short forms.

use super::*;
use crate::change::StageRetry;
use crate::state::{ErrorDetails, Timestamp};

fn action(status: &str, previous: Option<&str>) -> Change {
    Change::Action {
        stage: "Build".into(),
        action: "Compile".into(),
        execution_id: Some("a1".into()),
        status: Some(Status::new(status)),
        previous_status: previous.map(Status::new),
        previous_execution_id: previous.map(|_| "a1".into()),
        summary: Some("Build terminated with state: FAILED".into()),
        error: Some(ErrorDetails {
            code: Some("JobFailed".into()),
            message: Some("exit status 2".into()),
        }),
        external_url: None,
        entity_url: None,
        last_updated_by: Some("arn:aws:iam::123456789012:user/jdoe".into()),
        approval: None,
        started_at: None,
        finished_at: None,
        pipeline_execution_id: Some("1e2f3041-5263-4748".into()),
        recovered: false,
    }
}

fn approval(step: Approval, status: &str) -> Change {
    let mut change = action(status, Some("InProgress"));
    if let Change::Action {
        approval,
        error,
        summary,
        ..
    } = &mut change
    {
        *approval = Some(step);
        *error = None;
        *summary = Some("looks good".into());
    }
    change
}

fn recovered(status: &str) -> Change {
    let mut change = action(status, None);
    if let Change::Action { recovered, .. } = &mut change {
        *recovered = true;
    }
    change
}

/// Every arm of the table, in its three registers: (line, what, subject).
#[test]
#[allow(clippy::too_many_lines)] // one table of cases
fn every_kind_is_worded_in_every_register() {
    let id = "1e2f3041-5263-4748-995a-6b7c8d9e0f10";
    let stage = |status: &str, previous: Option<&str>, kind: &str| Change::Stage {
        stage: "Deploy".into(),
        execution_id: id.into(),
        status: Status::new(status),
        previous_status: previous.map(Status::new),
        previous_execution_id: previous.map(|_| id.into()),
        execution_type: Some(kind.into()),
        retry: None,
    };
    let retried = |status: &str, previous: &str, automatic: bool, attempt: i64| Change::Stage {
        stage: "Build".into(),
        execution_id: id.into(),
        status: Status::new(status),
        previous_status: Some(Status::new(previous)),
        previous_execution_id: Some(id.into()),
        execution_type: Some("STANDARD".into()),
        retry: Some(StageRetry { automatic, attempt }),
    };
    let inbound = |status: Option<&str>, previous: Option<&str>| Change::Inbound {
        stage: "Deploy".into(),
        execution_id: id.into(),
        status: status.map(Status::new),
        previous_status: previous.map(Status::new),
    };
    let since = Timestamp::from_unix_millis(1_764_000_000_000);
    let cases = [
        (
            action("Failed", Some("InProgress")),
            "Build/Compile Failed (was InProgress) by arn:aws:iam::123456789012:user/jdoe: exit status 2",
            "Build/Compile Failed",
            "Build/Compile Failed",
        ),
        (
            action("InProgress", None),
            "Build/Compile InProgress by arn:aws:iam::123456789012:user/jdoe: exit status 2",
            "Build/Compile InProgress",
            "Build/Compile InProgress",
        ),
        (
            recovered("Failed"),
            "Build/Compile Failed (between checks) by arn:aws:iam::123456789012:user/jdoe: exit status 2",
            "Build/Compile Failed (between checks)",
            "Build/Compile Failed",
        ),
        (
            approval(Approval::Waiting, "InProgress"),
            "Build/Compile InProgress (was InProgress), waiting for approval: looks good",
            "Build/Compile is waiting for approval",
            "approval waiting at Build/Compile",
        ),
        (
            approval(Approval::Approved, "Succeeded"),
            "Build/Compile approved by arn:aws:iam::123456789012:user/jdoe: looks good",
            "Build/Compile approved",
            "Build/Compile Succeeded",
        ),
        (
            approval(Approval::Rejected, "Failed"),
            "Build/Compile rejected by arn:aws:iam::123456789012:user/jdoe: looks good",
            "Build/Compile rejected",
            "Build/Compile Failed",
        ),
        (
            stage("Failed", Some("InProgress"), "STANDARD"),
            "stage Deploy Failed (was InProgress) (execution 1e2f3041-5263-4748-995a-6b7c8d9e0f10)",
            "stage Deploy Failed",
            "stage Deploy Failed",
        ),
        (
            retried("InProgress", "Failed", false, 1),
            "stage Build InProgress (was Failed), manual retry 1 (execution 1e2f3041-5263-4748-995a-6b7c8d9e0f10)",
            "stage Build InProgress (manual retry 1)",
            "stage Build InProgress (manual retry 1)",
        ),
        (
            retried("Succeeded", "InProgress", true, 2),
            "stage Build Succeeded (was InProgress), automatic retry 2 (execution 1e2f3041-5263-4748-995a-6b7c8d9e0f10)",
            "stage Build Succeeded (automatic retry 2)",
            "stage Build Succeeded (automatic retry 2)",
        ),
        (
            stage("InProgress", None, "ROLLBACK"),
            "stage Deploy InProgress, rollback (execution 1e2f3041-5263-4748-995a-6b7c8d9e0f10)",
            "stage Deploy rolling back",
            "stage Deploy InProgress",
        ),
        (
            stage("Succeeded", Some("InProgress"), "ROLLBACK"),
            "stage Deploy Succeeded (was InProgress), rollback (execution 1e2f3041-5263-4748-995a-6b7c8d9e0f10)",
            "stage Deploy rolled back",
            "stage Deploy Succeeded",
        ),
        (
            stage("Failed", None, "ROLLBACK"),
            "stage Deploy Failed, rollback (execution 1e2f3041-5263-4748-995a-6b7c8d9e0f10)",
            "stage Deploy rollback Failed",
            "stage Deploy Failed",
        ),
        (
            inbound(Some("InProgress"), None),
            "execution 1e2f3041-5263-4748-995a-6b7c8d9e0f10 queued before Deploy (InProgress)",
            "execution 1e2f3041 queued before Deploy",
            "execution queued before Deploy",
        ),
        (
            inbound(Some("Stopped"), Some("InProgress")),
            "execution 1e2f3041-5263-4748-995a-6b7c8d9e0f10 queued before Deploy is Stopped (was InProgress)",
            "queued execution 1e2f3041 before Deploy Stopped",
            "queued execution before Deploy Stopped",
        ),
        (
            inbound(None, Some("InProgress")),
            "execution 1e2f3041-5263-4748-995a-6b7c8d9e0f10 left the queue before Deploy",
            "execution 1e2f3041 left the queue before Deploy",
            "execution left the queue before Deploy",
        ),
        (
            Change::Transition {
                stage: "Deploy".into(),
                enabled: false,
                changed_by: Some("ana".into()),
                reason: Some("freeze".into()),
                changed_at: None,
            },
            "transition into Deploy disabled by ana: \"freeze\"",
            "transition into Deploy disabled",
            "transition into Deploy disabled",
        ),
        (
            Change::Transition {
                stage: "Deploy".into(),
                enabled: true,
                changed_by: Some("ana".into()),
                reason: Some("freeze".into()),
                changed_at: None,
            },
            "transition into Deploy enabled by ana",
            "transition into Deploy enabled",
            "transition into Deploy enabled",
        ),
        (
            Change::PipelineVersion {
                version: Some(8),
                previous_version: None,
            },
            "pipeline definition edited (version ? -> 8)",
            "pipeline definition edited (version ? → 8)",
            "definition edited (version 8)",
        ),
        (
            Change::PipelineVersion {
                version: None,
                previous_version: Some(7),
            },
            "pipeline definition edited (version 7 -> ?)",
            "pipeline definition edited (version 7 → ?)",
            "definition edited",
        ),
        (
            Change::Condition {
                stage: "Deploy".into(),
                condition: ConditionKind::BeforeEntry,
                status: Status::new("Failed"),
                previous_status: Some(Status::new("InProgress")),
                summary: Some("an alarm is in ALARM".into()),
                pipeline_execution_id: None,
            },
            "entry conditions of Deploy Failed (was InProgress): an alarm is in ALARM",
            "entry conditions of Deploy Failed",
            "before_entry conditions of Deploy Failed",
        ),
        (
            Change::Condition {
                stage: "Deploy".into(),
                condition: ConditionKind::OnSuccess,
                status: Status::new("Succeeded"),
                previous_status: None,
                summary: None,
                pipeline_execution_id: None,
            },
            "on-success conditions of Deploy Succeeded",
            "on-success conditions of Deploy Succeeded",
            "on_success conditions of Deploy Succeeded",
        ),
        (
            Change::Condition {
                stage: "Deploy".into(),
                condition: ConditionKind::OnFailure,
                status: Status::new("InProgress"),
                previous_status: None,
                summary: None,
                pipeline_execution_id: None,
            },
            "on-failure conditions of Deploy InProgress",
            "on-failure conditions of Deploy InProgress",
            "on_failure conditions of Deploy InProgress",
        ),
        (
            Change::Access {
                readable: false,
                failed_checks: 5,
                since,
                error: Some("AccessDeniedException: no".into()),
            },
            "pipewatch cannot read the pipeline (5 checks in a row): AccessDeniedException: no",
            "pipewatch cannot read the pipeline: 5 checks in a row failed since 2025-11-24T16:00:00Z",
            "pipewatch cannot read it",
        ),
        (
            Change::Access {
                readable: true,
                failed_checks: 6,
                since,
                error: None,
            },
            "pipewatch reads the pipeline again",
            "pipewatch reads the pipeline again, after 6 failed checks",
            "pipewatch reads it again",
        ),
        (
            Change::Execution {
                execution_id: id.into(),
                status: Status::new("Superseded"),
                started_at: None,
                finished_at: None,
            },
            "execution 1e2f3041-5263-4748-995a-6b7c8d9e0f10 Superseded (between checks)",
            "execution 1e2f3041 Superseded between checks",
            "execution 1e2f3041 Superseded between checks",
        ),
    ];
    for (change, line, what, subject) in cases {
        let said = words(&change);
        assert_eq!(said.line, line, "{change:?}");
        assert_eq!(said.what, what, "{change:?}");
        assert_eq!(said.subject, subject, "{change:?}");
    }
}

#[test]
fn an_action_without_a_status_says_so() {
    let mut change = action("Failed", None);
    if let Change::Action { status, .. } = &mut change {
        *status = None;
    }
    let said = words(&change);
    assert!(
        said.line.starts_with("Build/Compile (no status)"),
        "{}",
        said.line
    );
    assert_eq!(said.what, "Build/Compile (no status)");
    assert_eq!(said.subject, "Build/Compile ");
}

#[test]
fn who_and_why_come_from_the_change_not_the_words() {
    assert_eq!(
        who(&approval(Approval::Rejected, "Failed")).as_deref(),
        Some("rejected by jdoe")
    );
    assert_eq!(who(&approval(Approval::Waiting, "InProgress")), None);
    assert_eq!(
        who(&action("Failed", None)).as_deref(),
        Some("updated by jdoe")
    );
    assert_eq!(
        why(&action("Failed", None)).as_deref(),
        Some("exit status 2")
    );
    assert_eq!(
        why(&approval(Approval::Approved, "Succeeded")).as_deref(),
        Some("looks good")
    );
}

#[test]
fn principals_revisions_and_durations_read_short() {
    let principals = [
        (
            "arn:aws:sts::123456789012:assumed-role/ReleaseManager/maria.silva",
            "maria.silva (ReleaseManager)",
        ),
        ("arn:aws:iam::123456789012:user/ops/jdoe", "jdoe"),
        ("arn:aws:iam::123456789012:role/Deployer", "role Deployer"),
        ("arn:aws:iam::123456789012:root", "the account root user"),
        ("ana@example.com", "ana@example.com"),
        // Other resources, and ARNs too short to be what they name, read whole.
        (
            "arn:aws:iam::123456789012:group/admins",
            "arn:aws:iam::123456789012:group/admins",
        ),
        (
            "arn:aws:iam::123456789012:role",
            "arn:aws:iam::123456789012:role",
        ),
    ];
    for (principal, short) in principals {
        assert_eq!(short_principal(principal), short);
    }
    assert_eq!(
        short_revision("4e1243bd22c66e76c2ba9eddc1f91394e57f9f83"),
        "4e1243b"
    );
    assert_eq!(
        short_revision(&"4e1243bd".repeat(8)),
        "4e1243b",
        "SHA-256 Git"
    );
    assert_eq!(short_revision("v1.2.3"), "v1.2.3");
    assert_eq!(short_revision("abc123"), "abc123", "hex, but no commit");
    assert_eq!(
        short_revision("0123456789abcdef0123"),
        "0123456789ab…",
        "hex, but no commit"
    );
    assert_eq!(
        short_revision("3h1xCkR2.mXq9LwYv8TzK0aBdE5fGhJ"),
        "3h1xCkR2.mXq…"
    );
    let durations = [
        (45, "45s"),
        (252, "4m12s"),
        (3_720, "1h02m"),
        (97_200, "1d3h"),
    ];
    for (seconds, text) in durations {
        assert_eq!(duration_text(Duration::from_secs(seconds)), text);
    }
}

/// A decision taken in Slack is written by the approver role; the person is in the summary.
#[test]
fn a_decision_taken_in_slack_names_the_person_not_the_role() {
    for (step, verb) in [
        (Approval::Approved, "approved"),
        (Approval::Rejected, "rejected"),
    ] {
        let mut change = approval(
            step,
            if verb == "approved" {
                "Succeeded"
            } else {
                "Failed"
            },
        );
        if let Change::Action {
            summary,
            last_updated_by,
            ..
        } = &mut change
        {
            *summary = Some(crate::interaction::summary(
                if verb == "approved" {
                    crate::interaction::Decision::Approve
                } else {
                    crate::interaction::Decision::Reject
                },
                Some("Maria Silva"),
                "U024BE7LH",
                Some("looks good"),
            ));
            *last_updated_by =
                Some("arn:aws:sts::123456789012:assumed-role/pipewatch-approver/session".into());
        }
        assert_eq!(
            who(&change).as_deref(),
            Some(format!("{verb} in Slack by Maria Silva (U024BE7LH)").as_str())
        );
        assert_eq!(why(&change).as_deref(), Some("looks good"));
    }
    // Decided in the console: the principal and the comment, as before.
    let console = approval(Approval::Approved, "Succeeded");
    assert_eq!(why(&console).as_deref(), Some("looks good"));
}
