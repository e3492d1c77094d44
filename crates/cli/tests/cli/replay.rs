//! The `replay` command as its users and other tools see it: the real binary run over the
//! bundled scenarios in `events/`, its JSON contract, and its errors.

use std::path::{Path, PathBuf};
use std::process::{Command, Output};

use pipewatch_testkit::fixtures::scenario_files as scenario;
use serde_json::Value;

fn pipewatch(args: &[&str], files: &[PathBuf]) -> Output {
    Command::new(env!("CARGO_BIN_EXE_pipewatch"))
        .args(args)
        .args(files)
        .output()
        .unwrap()
}

/// Runs `replay --format json` and returns its records, checking the common contract.
fn replay_json(files: &[PathBuf]) -> Vec<Value> {
    let output = pipewatch(&["replay", "--format", "json"], files);
    assert!(output.status.success(), "{output:?}");
    let stdout = String::from_utf8(output.stdout).unwrap();
    stdout
        .lines()
        .map(|line| {
            let record: Value = serde_json::from_str(line).unwrap();
            for key in [
                "step",
                "pipeline",
                "kind",
                "stage",
                "action",
                "status",
                "previous_status",
                "execution_id",
            ] {
                assert!(record.get(key).is_some(), "{key} missing in {line}");
            }
            record
        })
        .collect()
}

/// `step kind stage[/action] status<-previous` for each record, nulls as `-`.
fn summary(records: &[Value]) -> Vec<String> {
    let text = |v: &Value| v.as_str().unwrap_or("-").to_owned();
    records
        .iter()
        .map(|r| {
            let mut target = text(&r["stage"]);
            if let Some(action) = r["action"].as_str() {
                target = format!("{target}/{action}");
            }
            format!(
                "{} {} {} {}<-{}",
                r["step"],
                text(&r["kind"]),
                target,
                text(&r["status"]),
                text(&r["previous_status"])
            )
        })
        .collect()
}

#[test]
fn a_release_with_a_failure_and_a_retry_reports_every_move_once() {
    let records = replay_json(&scenario("release-failure-retry"));
    assert_eq!(
        summary(&records),
        [
            "1 stage Source Succeeded<-Succeeded",
            "1 action Source/Checkout Succeeded<-Succeeded",
            "1 stage Build InProgress<-Succeeded",
            "1 action Build/Compile InProgress<-Succeeded",
            "1 action Build/UnitTests InProgress<-Succeeded",
            "2 stage Build Failed<-InProgress",
            "2 action Build/Compile Succeeded<-InProgress",
            "2 action Build/UnitTests Failed<-InProgress",
            "3 stage Build InProgress<-Failed",
            "3 action Build/UnitTests InProgress<-Failed",
            "4 stage Build Succeeded<-InProgress",
            "4 action Build/UnitTests Succeeded<-InProgress",
            "4 stage Deploy InProgress<-Succeeded",
            "4 action Deploy/DeployStack InProgress<-Succeeded",
            "5 stage Deploy Succeeded<-InProgress",
            "5 action Deploy/DeployStack Succeeded<-InProgress",
        ]
    );
    let failure = &records[7];
    assert_eq!(failure["error_code"], "JobFailed");
    assert!(
        failure["error_message"]
            .as_str()
            .unwrap()
            .contains("exit status 1")
    );
    // The retry is a new action execution within the same pipeline execution.
    let retry = &records[9];
    assert_ne!(retry["execution_id"], failure["execution_id"]);
    assert_eq!(retry["previous_execution_id"], failure["execution_id"]);
    assert_eq!(records[8]["execution_id"], records[5]["execution_id"]);
}

#[test]
fn a_v2_pipeline_reports_queued_executions_behind_a_disabled_transition() {
    let records = replay_json(&scenario("v2-queued-disabled-transition"));
    assert_eq!(
        summary(&records),
        [
            "1 stage Source Succeeded<-Succeeded",
            "1 action Source/Checkout Succeeded<-Succeeded",
            "1 stage Build InProgress<-Succeeded",
            "1 action Build/Package InProgress<-Succeeded",
            "1 transition Deploy -<--",
            "2 stage Build Succeeded<-InProgress",
            "2 action Build/Package Succeeded<-InProgress",
            "2 inbound Deploy InProgress<--",
            "3 stage Source Succeeded<-Succeeded",
            "3 action Source/Checkout Succeeded<-Succeeded",
            "3 stage Build Succeeded<-Succeeded",
            "3 action Build/Package Succeeded<-Succeeded",
            "3 inbound Deploy InProgress<--",
            "4 transition Deploy -<--",
            "4 inbound Deploy -<-InProgress",
            "4 stage Deploy InProgress<-Succeeded",
            "4 condition Deploy InProgress<-Succeeded",
            "5 condition Deploy Succeeded<-InProgress",
            "5 action Deploy/DeployService InProgress<-Succeeded",
            "6 stage Deploy Succeeded<-InProgress",
            "6 action Deploy/DeployService Succeeded<-InProgress",
        ]
    );
    let disabled = &records[4];
    assert_eq!(disabled["enabled"], false);
    assert_eq!(
        disabled["reason"],
        "Change freeze for the quarter-end close"
    );
    assert!(
        disabled["changed_by"]
            .as_str()
            .unwrap()
            .ends_with("/maria.silva")
    );
    assert_eq!(records[13]["enabled"], true);
    // Two different executions queued, one after the other.
    assert_ne!(records[7]["execution_id"], records[12]["execution_id"]);
    // The one that left the queue is the one that entered the stage.
    assert_eq!(records[14]["execution_id"], records[15]["execution_id"]);
    assert_eq!(records[16]["condition"], "before_entry");
}

#[test]
fn a_manual_approval_is_reported_waiting_then_decided_and_an_edit_is_one_change() {
    let records = replay_json(&scenario("manual-approval"));
    let summary = summary(&records);
    assert!(summary.contains(&"1 action Approve/ChangeReview InProgress<-Succeeded".into()));
    assert!(summary.contains(&"2 action Approve/ChangeReview Succeeded<-InProgress".into()));
    assert_eq!(summary.last().unwrap(), "4 pipeline_version - -<--");
    assert_eq!(summary.iter().filter(|s| s.starts_with("4 ")).count(), 1);

    let waiting = records
        .iter()
        .find(|r| r["step"] == 1 && r["action"] == "ChangeReview")
        .unwrap();
    assert_eq!(waiting["approval_pending"], true);
    let decided = records
        .iter()
        .find(|r| r["step"] == 2 && r["action"] == "ChangeReview")
        .unwrap();
    assert_eq!(decided["approval_pending"], false);
    assert_eq!(
        decided["last_updated_by"],
        "arn:aws:iam::123456789012:user/jdoe"
    );
    let edit = records.last().unwrap();
    assert_eq!(
        (edit["previous_version"].as_i64(), edit["version"].as_i64()),
        (Some(7), Some(8))
    );
}

#[test]
fn a_rejected_approval_reads_as_rejected_with_who_and_the_comment() {
    let records = replay_json(&scenario("approval-rejected"));
    let rejected = records
        .iter()
        .find(|r| r["step"] == 2 && r["action"] == "QASignOff")
        .unwrap();
    assert_eq!(rejected["status"], "Failed");
    assert_eq!(rejected["approval"], "rejected");
    assert_eq!(
        rejected["summary"],
        "Crash on launch on Android 12, see MOB-881"
    );
    assert_eq!(
        rejected["last_updated_by"],
        "arn:aws:sts::123456789012:assumed-role/QA/ana.costa"
    );
    assert_eq!(
        (
            rejected["started_at"].as_str(),
            rejected["finished_at"].as_str()
        ),
        (Some("2025-11-25T10:10:00Z"), Some("2025-11-25T10:52:30Z")),
        "waited 42m30s"
    );
    let text =
        String::from_utf8(pipewatch(&["replay"], &scenario("approval-rejected")).stdout).unwrap();
    assert!(
        text.contains("SignOff/QASignOff rejected by arn:aws:sts::123456789012:assumed-role/QA/ana.costa: Crash on launch on Android 12, see MOB-881"),
        "{text}"
    );
}

#[test]
fn a_stop_and_a_cancel_read_as_what_they_are() {
    let records = replay_json(&scenario("stopped-and-cancelled"));
    assert!(
        summary(&records).contains(&"2 stage Deploy Stopped<-InProgress".into()),
        "{:?}",
        summary(&records)
    );
    assert!(summary(&records).contains(&"2 inbound Deploy Cancelled<-InProgress".into()));
    assert!(summary(&records).contains(&"3 stage Build Cancelled<-Succeeded".into()));
    let bodies = replay_lines("stopped-and-cancelled", "body");
    let stopped: serde_json::Value = serde_json::from_str(&bodies[1]).unwrap();
    assert_eq!(
        stopped["severity"], "warning",
        "a deliberate stop is no failure"
    );
}

#[test]
fn a_rollback_reads_as_one_and_names_what_it_goes_back_to() {
    let records = replay_json(&scenario("rollback"));
    let rollbacks: Vec<&Value> = records
        .iter()
        .filter(|r| r["kind"] == "stage" && r["execution_type"] == "ROLLBACK")
        .collect();
    assert_eq!(rollbacks.len(), 2);
    let text = String::from_utf8(pipewatch(&["replay"], &scenario("rollback")).stdout).unwrap();
    assert!(text.contains("stage Deploy InProgress, rollback"), "{text}");
    let bodies = replay_lines("rollback", "body");
    let rolling: Value = serde_json::from_str(&bodies[2]).unwrap();
    assert_eq!(
        rolling["headline"],
        "orders-api: stage Deploy rolling back (+1 more)"
    );
    assert_eq!(rolling["severity"], "warning");
    assert_eq!(
        rolling["executions"][0]["rollback_of"],
        "a0e1f2a3-b4c5-4da0-8e1f-2a3b4c5d6e70"
    );
    assert_eq!(
        rolling["executions"][0]["trigger"]["summary"],
        "automatic rollback"
    );
}

/// `replay --format FORMAT` over a scenario: its lines.
fn replay_lines(name: &str, format: &str) -> Vec<String> {
    let output = pipewatch(&["replay", "--format", format], &scenario(name));
    assert!(output.status.success(), "{output:?}");
    String::from_utf8(output.stdout)
        .unwrap()
        .lines()
        .map(str::to_owned)
        .collect()
}

#[test]
fn previews_without_a_region_have_no_console_links_and_a_bad_region_is_refused() {
    let output = Command::new(env!("CARGO_BIN_EXE_pipewatch"))
        .args(["replay", "--format", "body"])
        .args(scenario("release-failure-retry"))
        .env_remove("AWS_REGION")
        .env_remove("AWS_DEFAULT_REGION")
        .output()
        .unwrap();
    assert!(output.status.success(), "{output:?}");
    let stdout = String::from_utf8(output.stdout).unwrap();
    // One body per step of the release (its five later files), each read below.
    assert_eq!(stdout.lines().count(), 5, "{stdout}");
    for line in stdout.lines() {
        let body: Value = serde_json::from_str(line).unwrap();
        assert_eq!(body["links"]["pipeline"], Value::Null);
        assert_eq!(body["executions"][0]["url"], Value::Null);
        assert_eq!(
            body["executions"][0]["revisions"][0]["short_id"], "4e1243b",
            "commits still show"
        );
    }

    let output = pipewatch(
        &["replay", "--format", "slack", "--region", "Mars 1"],
        &scenario("release-failure-retry"),
    );
    assert_eq!(output.status.code(), Some(2));
    let stderr = String::from_utf8(output.stderr).unwrap();
    assert!(
        stderr.contains("\"Mars 1\" is not an AWS region code"),
        "{stderr}"
    );
}

#[test]
fn a_recorded_execution_that_is_not_one_is_named() {
    let dir = tempdir();
    let files: Vec<PathBuf> = scenario("manual-approval")
        .iter()
        .map(|f| {
            let copy = dir.join(f.file_name().unwrap());
            std::fs::copy(f, &copy).unwrap();
            copy
        })
        .collect();
    std::fs::create_dir_all(dir.join("executions")).unwrap();
    std::fs::write(
        dir.join("executions/broken.json"),
        b"{\"pipelineExecution\": 3}",
    )
    .unwrap();
    let stderr = replay_error(&files);
    assert!(stderr.contains("executions/broken.json"), "{stderr}");
    assert!(
        stderr.contains("not a GetPipelineExecution response"),
        "{stderr}"
    );
}

#[test]
fn the_approval_token_never_appears_in_any_output() {
    let files = scenario("manual-approval");
    let token = "6f1a2b3c-4d5e-4f60-8a7b-9c0d1e2f3a4b";
    let recorded = std::fs::read_to_string(&files[1]).unwrap();
    assert!(recorded.contains(token), "the fixture must carry a token");
    for format in ["text", "json", "body", "email", "chatbot", "slack", "teams"] {
        let output = pipewatch(&["replay", "--format", format], &files);
        assert!(output.status.success());
        for stream in [&output.stdout, &output.stderr] {
            assert!(!String::from_utf8_lossy(stream).contains(token), "{format}");
        }
    }
}

#[test]
fn the_first_file_is_a_silent_baseline() {
    let files = scenario("release-failure-retry");
    let output = pipewatch(&["replay", "--format", "json"], &files[..1]);
    assert!(output.status.success());
    assert!(output.stdout.is_empty());
}

#[test]
fn text_output_is_one_readable_line_per_change() {
    let files = scenario("release-failure-retry");
    let text = pipewatch(&["replay"], &files);
    let json = replay_json(&files);
    let stdout = String::from_utf8(text.stdout).unwrap();
    assert_eq!(stdout.lines().count(), json.len());
    assert!(stdout.contains(
        "step 2: web-app-release: Build/UnitTests Failed (was InProgress): Error while executing command: npm test -- --ci. Reason: exit status 1"
    ));
}

/// Runs replay expecting failure: exit status 2, one line on stderr, no panic.
fn replay_error(files: &[PathBuf]) -> String {
    let output = pipewatch(&["replay", "--format", "json"], files);
    assert_eq!(output.status.code(), Some(2), "{output:?}");
    assert!(output.stdout.is_empty(), "no partial output on error");
    let stderr = String::from_utf8(output.stderr).unwrap();
    assert_eq!(stderr.lines().count(), 1, "{stderr}");
    assert!(!stderr.contains("panicked"), "{stderr}");
    stderr
}

#[test]
fn a_bad_file_is_named_with_what_is_wrong() {
    let dir = tempdir();
    let bad = dir.join("02.json");
    std::fs::write(
        &bad,
        r#"{"pipelineName": "web-app-release", "stageStates": [{"#,
    )
    .unwrap();
    let mut files = scenario("release-failure-retry");
    files.insert(1, bad.clone());
    let stderr = replay_error(&files);
    assert!(stderr.contains(&*bad.to_string_lossy()), "{stderr}");
    assert!(
        stderr.contains("not a GetPipelineState response"),
        "{stderr}"
    );
    assert!(stderr.contains("line 1"), "{stderr}");
}

#[test]
fn a_missing_file_is_named() {
    let stderr = replay_error(&[PathBuf::from("does/not/exist.json")]);
    assert!(stderr.contains("does/not/exist.json"), "{stderr}");
    assert!(stderr.contains("No such file"), "{stderr}");
}

#[test]
fn observations_of_two_pipelines_are_refused() {
    let mut files = scenario("release-failure-retry");
    files.extend(scenario("manual-approval"));
    let stderr = replay_error(&files);
    assert!(stderr.contains("manual-approval/01.json"), "{stderr}");
    assert!(stderr.contains("`infra-prod`"), "{stderr}");
    assert!(stderr.contains("`web-app-release`"), "{stderr}");
}

/// A fresh directory under the target dir, so tests leave nothing in the source tree.
fn tempdir() -> PathBuf {
    let dir = Path::new(env!("CARGO_TARGET_TMPDIR")).join(format!(
        "replay-{}-{:?}",
        std::process::id(),
        std::thread::current().id()
    ));
    std::fs::create_dir_all(&dir).unwrap();
    dir
}
