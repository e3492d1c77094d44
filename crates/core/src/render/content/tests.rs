//! The content model's words and links, without any service.

use serde_json::json;

use super::execution::commit_message;
use super::*;
use crate::diff::diff;
use crate::state::PipelineState;

fn state(stages: &serde_json::Value) -> PipelineState {
    serde_json::from_value(json!({"pipelineName": "web-app", "stageStates": stages})).unwrap()
}

/// A build failing after 4m12s in execution `e-1`, seen running before.
fn failure() -> Vec<Change> {
    let run = |status: &str, at: &str| {
        json!([{"stageName": "Build",
            "latestExecution": {"pipelineExecutionId": "e-1", "status": status},
            "actionStates": [{"actionName": "UnitTests", "latestExecution": {
                "actionExecutionId": "a-1", "status": status,
                "lastStatusChange": format!("2025-11-24T{at}Z"),
                "externalExecutionUrl": "https://console.aws.amazon.com/codebuild/home#/builds/x",
                "errorDetails": {"code": "JobFailed", "message": "exit status 1"}}}]}])
    };
    let before = crate::diff::essentials(&state(&run("InProgress", "10:00:00")));
    diff(&before, &state(&run("Failed", "10:04:12")))
}

fn execution() -> PipelineExecution {
    PipelineExecution::from_json(
        json!({"pipelineExecution": {"pipelineExecutionId": "e-1",
            "artifactRevisions": [{"name": "Src", "revisionId": "4e1243bd22c66e76c2ba9eddc1f91394e57f9f83",
                "revisionSummary": "{\"ProviderType\":\"GitHub\",\"CommitMessage\":\"Fix the flaky test\\n\\nLong body\"}",
                "revisionUrl": "https://github.com/acme/web/commit/4e1243b"}],
            "trigger": {"triggerType": "StartPipelineExecution",
                "triggerDetail": "arn:aws:sts::123456789012:assumed-role/ReleaseManager/maria.silva"}}})
        .to_string()
        .as_bytes(),
    )
    .unwrap()
}

#[test]
fn console_links_follow_the_partition_and_encode_names() {
    let cases = [
        (
            "eu-west-1",
            "https://eu-west-1.console.aws.amazon.com",
            "aws",
        ),
        (
            "cn-north-1",
            "https://cn-north-1.console.amazonaws.cn",
            "aws-cn",
        ),
        (
            "us-gov-west-1",
            "https://us-gov-west-1.console.amazonaws-us-gov.com",
            "aws-us-gov",
        ),
    ];
    for (region, base, partition) in cases {
        let console = Console::new(region, Some("123456789012")).unwrap();
        assert_eq!(console.partition(), partition);
        assert_eq!(
            console.pipeline_url("web@app"),
            format!("{base}/codesuite/codepipeline/pipelines/web%40app/view?region={region}")
        );
        assert_eq!(
            console.execution_url("web", "e-1"),
            format!(
                "{base}/codesuite/codepipeline/pipelines/web/executions/e-1/timeline?region={region}"
            )
        );
        assert_eq!(
            console.pipeline_arn("web").unwrap(),
            format!("arn:{partition}:codepipeline:{region}:123456789012:web")
        );
        assert_eq!(
            console.alarm_url("pipewatch no ticks"),
            format!("{base}/cloudwatch/home?region={region}#alarmsV2:alarm/pipewatch%20no%20ticks")
        );
    }
    assert!(
        Console::new("eu west 1", None).is_none(),
        "junk never makes a link"
    );
    assert_eq!(
        Console::new("eu-west-1", Some("not-an-account"))
            .unwrap()
            .pipeline_arn("w"),
        None
    );
}

#[test]
fn a_failure_carries_what_why_how_long_commit_who_started_it_and_links() {
    let console = Console::new("eu-west-1", Some("123456789012")).unwrap();
    let executions = [execution()];
    let known = Context {
        console: Some(&console),
        executions: &executions,
        ..Context::default()
    };
    let content = Content::build("web-app", &failure(), &known, "web-app/7/1", (1, 1));

    assert_eq!(content.schema_version, SCHEMA_VERSION);
    assert_eq!(content.subject, "web-app: Build/UnitTests Failed (+1 more)");
    assert_eq!(
        content.headline,
        "web-app: Build/UnitTests Failed after 4m12s (+1 more)"
    );
    assert_eq!(content.severity, Severity::Failure);
    let lead = content.lead_change().unwrap();
    assert_eq!(lead.what, "Build/UnitTests Failed");
    assert_eq!(lead.why.as_deref(), Some("exit status 1"));
    assert_eq!(lead.duration_seconds, Some(252));
    assert_eq!(lead.pipeline_execution_id.as_deref(), Some("e-1"));
    assert_eq!(
        lead.links.logs.as_deref(),
        Some("https://console.aws.amazon.com/codebuild/home#/builds/x")
    );
    let execution = content.lead_execution().unwrap();
    assert!(execution.enriched);
    assert_eq!(execution.commit_lines(), ["4e1243b Fix the flaky test"]);
    assert_eq!(execution.revisions[0].provider.as_deref(), Some("GitHub"));
    assert_eq!(
        execution.revisions[0].id.as_deref(),
        Some("4e1243bd22c66e76c2ba9eddc1f91394e57f9f83"),
        "kept whole in JSON"
    );
    assert_eq!(
        execution.trigger.as_ref().unwrap().summary,
        "started by maria.silva (ReleaseManager)"
    );
    assert_eq!(
        execution.url.as_deref(),
        Some(
            "https://eu-west-1.console.aws.amazon.com/codesuite/codepipeline/pipelines/web-app/executions/e-1/timeline?region=eu-west-1"
        )
    );
    assert_eq!(
        content.pipeline_arn.as_deref(),
        Some("arn:aws:codepipeline:eu-west-1:123456789012:web-app")
    );
    assert_eq!(content.main_link().unwrap().0, "View execution");
}

#[test]
fn without_enrichment_or_a_region_a_message_says_less_but_nothing_false() {
    let content = Content::build("web-app", &failure(), &Context::default(), "id", (1, 1));
    let execution = content.lead_execution().unwrap();
    assert!(!execution.enriched);
    assert!(execution.revisions.is_empty() && execution.trigger.is_none());
    assert_eq!(execution.url, None);
    assert_eq!(content.links.pipeline, None);
    assert_eq!(content.pipeline_arn, None);
    // The logs link comes from AWS's own answer, so it is still there.
    assert_eq!(content.main_link(), None);
    assert!(content.logs_link().is_some());
}

#[test]
fn a_body_reads_back_exactly() {
    let executions = [execution()];
    let console = Console::new("us-east-1", Some("123456789012")).unwrap();
    let known = Context {
        console: Some(&console),
        executions: &executions,
        ..Context::default()
    };
    let content = Content::build("web-app", &failure(), &known, "web-app/7/1", (1, 1));
    let body = serde_json::to_string(&content).unwrap();
    assert_eq!(Content::from_body(&body).unwrap(), content);
}

#[test]
fn a_body_written_before_schema_version_2_still_reads() {
    // As the previous release wrote it to the outbox: no schema_version, headline,
    // severity, links or executions.
    let old = r#"{"id":"web/9/1","pipeline":"web","subject":"web: stage Build Failed","text":"web: stage Build Failed (execution e1)","part":1,"parts":1,"changes":[{"pipeline":"web","kind":"stage","stage":"Build","action":null,"status":"Failed","previous_status":"InProgress","execution_id":"e1","previous_execution_id":"e1","execution_type":"STANDARD"}]}"#;
    let content = Content::from_body(old).unwrap();
    assert_eq!(content.schema_version, 1);
    assert_eq!(content.title(), "web: stage Build Failed");
    assert_eq!(
        content.severity,
        Severity::Failure,
        "from the records' statuses"
    );
    assert!(
        content.changes.is_empty(),
        "no words for them: shown as text lines"
    );
    assert_eq!(content.text, "web: stage Build Failed (execution e1)");
    // Every channel still tells it.
    assert!(
        crate::render::email::render(&content).contains("web: stage Build Failed (execution e1)")
    );
    let slack = crate::render::slack::render(&content).to_string();
    assert!(
        slack.contains("web: stage Build Failed (execution e1)"),
        "{slack}"
    );
    let teams = crate::render::teams::render(&content).to_string();
    assert!(
        teams.contains("web: stage Build Failed (execution e1)"),
        "{teams}"
    );
}

#[test]
fn commit_messages_are_read_from_json_or_plain_summaries() {
    assert_eq!(
        commit_message(r#"{"ProviderType":"GitHub","CommitMessage":"initial commit"}"#),
        (Some("initial commit".into()), Some("GitHub".into()))
    );
    assert_eq!(
        commit_message("Updating the application for feature 12-4820"),
        (
            Some("Updating the application for feature 12-4820".into()),
            None
        )
    );
    assert_eq!(commit_message("   "), (None, None));
}

#[test]
fn each_kind_reads_as_what_it_is() {
    let stage = |status: &str, kind: &str| Change::Stage {
        stage: "Deploy".into(),
        execution_id: "e2".into(),
        status: Status::new(status),
        previous_status: Some(Status::new("InProgress")),
        previous_execution_id: Some("e2".into()),
        execution_type: Some(kind.into()),
        retry: None,
    };
    let cases = [
        (
            stage("InProgress", "ROLLBACK"),
            "stage Deploy rolling back",
            Severity::Warning,
        ),
        (
            stage("Succeeded", "ROLLBACK"),
            "stage Deploy rolled back",
            Severity::Warning,
        ),
        (
            stage("Failed", "ROLLBACK"),
            "stage Deploy rollback Failed",
            Severity::Failure,
        ),
        (
            stage("Stopped", "STANDARD"),
            "stage Deploy Stopped",
            Severity::Warning,
        ),
        (
            stage("Cancelled", "STANDARD"),
            "stage Deploy Cancelled",
            Severity::Warning,
        ),
        (
            stage("Succeeded", "STANDARD"),
            "stage Deploy Succeeded",
            Severity::Info,
        ),
    ];
    for (change, expected, severity) in cases {
        assert_eq!(words(&change).what, expected);
        assert_eq!(Severity::of(&change), severity, "{expected}");
    }
}

#[test]
fn a_severity_reads_back_from_its_name_and_nothing_else() {
    for severity in [
        Severity::Info,
        Severity::Warning,
        Severity::Approval,
        Severity::Failure,
    ] {
        assert_eq!(Severity::parse(severity.as_str()), Some(severity));
    }
    assert_eq!(Severity::parse("failures"), None);
    assert_eq!(Severity::parse(""), None);
}

/// An action that first ran and ended with `status`, as one change.
fn action_ran(status: &str) -> Change {
    let stages = json!([{"stageName": "Build", "actionStates": [{"actionName": "UnitTests",
        "latestExecution": {"actionExecutionId": "a-1", "status": status}}]}]);
    diff(&state(&json!([])), &state(&stages)).remove(0)
}

#[test]
fn every_status_has_its_own_symbol() {
    let cases = [
        ("Succeeded", "✅"),
        ("Failed", "❌"),
        ("Errored", "❌"),
        ("Abandoned", "❌"),
        ("InProgress", "🔄"),
        ("Stopped", "⏹️"),
        ("Stopping", "⏹️"),
        ("Cancelled", "⏹️"),
        ("Skipped", "⏭️"),
        ("Superseded", "⏭️"),
        ("Paused", "🔹"),
    ];
    for (status, icon) in cases {
        let change = ChangeContent::new("web-app", &action_ran(status), &Context::default());
        assert_eq!(change.icon(), icon, "{status}");
    }
}

#[test]
fn a_body_written_before_schema_version_2_takes_its_severity_from_its_records() {
    let old = |status: &str, approval_pending: bool| {
        json!({"id": "web/9/1", "pipeline": "web", "subject": "s", "text": "t", "part": 1,
            "parts": 1, "changes": [{"pipeline": "web", "kind": "action", "stage": "Approve",
            "action": "Review", "status": status, "execution_id": "a-1",
            "approval_pending": approval_pending}]})
        .to_string()
    };
    let cases = [
        ("Failed", false, Severity::Failure),
        ("Errored", true, Severity::Failure),
        ("InProgress", true, Severity::Approval),
        ("Stopped", false, Severity::Warning),
        ("Stopping", false, Severity::Warning),
        ("Cancelled", false, Severity::Warning),
        ("Abandoned", false, Severity::Warning),
        ("InProgress", false, Severity::Info),
        ("Succeeded", false, Severity::Info),
    ];
    for (status, pending, severity) in cases {
        let content = Content::from_body(&old(status, pending)).unwrap();
        assert_eq!(content.severity, severity, "{status} pending={pending}");
    }
}

#[test]
fn only_web_links_become_links() {
    let cases = [
        ("https://console.aws.amazon.com/codebuild/x", true),
        ("http://jenkins.internal/job/7", true),
        ("javascript:alert(1)", false),
        ("ftp://example.com/x", false),
        ("https://example.com/a b", false),
        ("https://example.com/\u{7}", false),
        (&*format!("https://example.com/{}", "x".repeat(1_980)), true),
        (
            &*format!("https://example.com/{}", "x".repeat(1_990)),
            false,
        ),
    ];
    for (url, web) in cases {
        assert_eq!(is_web_link(url), web, "{url}");
    }
}

#[test]
fn the_lead_change_is_the_one_most_worth_a_subject_line() {
    let stage = |status: &str| {
        json!({"stageName": "Build", "latestExecution": {"pipelineExecutionId": "e-1", "status": status},
            "actionStates": [{"actionName": "UnitTests",
                "latestExecution": {"actionExecutionId": "a-1", "status": status}}]})
    };
    // A stage and its action failing: the action names what broke.
    let failed = diff(
        &state(&json!([stage("InProgress")])),
        &state(&json!([stage("Failed")])),
    );
    assert_eq!(failed.len(), 2, "{failed:?}");
    assert!(matches!(failed[lead(&failed)], Change::Action { .. }));
    let reversed = [failed[1].clone(), failed[0].clone()];
    assert!(
        matches!(reversed[lead(&reversed)], Change::Action { .. }),
        "whichever comes first"
    );
    // An edit of the pipeline outranks a stage that merely moved on.
    let edited = |version: i64, status: &str| {
        serde_json::from_value::<PipelineState>(json!({"pipelineName": "web-app",
            "pipelineVersion": version, "stageStates": [{"stageName": "Build",
            "latestExecution": {"pipelineExecutionId": "e-1", "status": status}}]}))
        .unwrap()
    };
    let changes = diff(&edited(1, "InProgress"), &edited(2, "Succeeded"));
    assert_eq!(changes.len(), 2, "{changes:?}");
    assert!(matches!(
        changes[lead(&changes)],
        Change::PipelineVersion { .. }
    ));
    // ...but not a stage that failed.
    let changes = diff(&edited(1, "InProgress"), &edited(2, "Failed"));
    assert!(matches!(changes[lead(&changes)], Change::Stage { .. }));
    // Losing access to the pipeline outranks even a failure.
    let lost = Change::Access {
        readable: false,
        failed_checks: 5,
        since: crate::state::Timestamp::from_unix_millis(1_764_000_000_000),
        error: None,
    };
    let with_failure = [failed[1].clone(), lost];
    assert_eq!(lead(&with_failure), 1);
}

/// An approval `a-1` of stage Approve waiting in execution `e-1`, seen before it started;
/// CodePipeline gives the action the pipeline's console page to review it on.
fn approval_waiting() -> Vec<Change> {
    let review = "https://console.aws.amazon.com/codesuite/codepipeline/pipelines/web-app/view?region=eu-west-1";
    let run = |latest: serde_json::Value| {
        json!([{"stageName": "Approve",
            "latestExecution": {"pipelineExecutionId": "e-1", "status": "InProgress"},
            "actionStates": [{"actionName": "ChangeReview", "latestExecution": latest}]}])
    };
    let before = crate::diff::essentials(&state(&run(json!(null))));
    diff(
        &before,
        &state(&run(
            json!({"actionExecutionId": "a-1", "status": "InProgress",
            "token": "t-1", "externalExecutionUrl": review}),
        )),
    )
}

#[test]
fn a_waiting_approval_offers_to_review_it_under_that_name() {
    let review = "https://console.aws.amazon.com/codesuite/codepipeline/pipelines/web-app/view?region=eu-west-1";
    // Without a region (a replay): the page CodePipeline gave the approval, once, under
    // its name, not as "Logs".
    let content = Content::build(
        "web-app",
        &approval_waiting(),
        &Context::default(),
        "id",
        (1, 1),
    );
    assert_eq!(content.actions(), [("Review approval", review)]);
    // With a region: the pipeline's console page, where approvals are reviewed.
    let console = Console::new("eu-west-1", Some("123456789012")).unwrap();
    let with_console = Context {
        console: Some(&console),
        ..Context::default()
    };
    let content = Content::build("web-app", &approval_waiting(), &with_console, "id", (1, 1));
    let actions = content.actions();
    assert_eq!(actions[0].0, "Review approval");
    assert_eq!(Some(actions[0].1), content.links.pipeline.as_deref());
    assert!(
        actions.iter().all(|(label, _)| *label != "Pipeline"),
        "{actions:?}"
    );
}

#[test]
fn a_message_about_no_change_is_marked_by_its_severity_and_a_relayed_one_neutrally() {
    let note = |severity| Content::note("m-1", "ALARM: x", "why", severity);
    assert_eq!(note(Severity::Failure).icon(), "🚨");
    assert_eq!(note(Severity::Warning).icon(), "⚠️");
    assert_eq!(note(Severity::Approval).icon(), "⚠️");
    assert_eq!(note(Severity::Info).icon(), "✅");
    let relayed = Content::relayed("m-2", "hello", "{\"status\": \"Failed\"}");
    assert!(relayed.relayed && !note(Severity::Info).relayed);
    assert_eq!(relayed.icon(), "📨", "never a status's mark");
    assert_eq!(relayed.severity, Severity::Info);
    assert_eq!(
        (relayed.title(), relayed.text.as_str()),
        ("hello", "{\"status\": \"Failed\"}")
    );
    assert_eq!(
        crate::render::slack::render(&relayed)["attachments"][0]["color"],
        "#8C959F"
    );
    assert_eq!(
        crate::render::slack::render(&note(Severity::Info))["attachments"][0]["color"],
        "#1A7F37"
    );
    let card = crate::render::teams::render(&relayed).to_string();
    assert!(card.contains(r#""color":"Default""#), "{card}");
}

#[test]
fn a_pipeline_is_keyed_by_its_arn_in_another_account_and_its_name_at_home() {
    let key_of = |id: &str, pipeline: &str| {
        let mut content = Content::note(id, "h", "t", Severity::Info);
        content.pipeline = pipeline.to_owned();
        content.pipeline_key()
    };
    let arn = "arn:aws:codepipeline:us-west-2:210987654321:payments-eu";
    assert_eq!(key_of(&format!("{arn}/7/1"), "payments-eu"), arn);
    assert_eq!(key_of("web-app/7/1", "web-app"), "web-app");
    // An id that does not start with the pipeline's own key names only the pipeline.
    assert_eq!(key_of(&format!("{arn}/7/1"), "other"), "other");
    assert_eq!(key_of("web-app", "web-app"), "web-app");
    assert_eq!(key_of("web-*/7/1", "web-*"), "web-*");
}
