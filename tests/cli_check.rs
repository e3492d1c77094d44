//! `pipewatch check` and `pipewatch watch` as a user runs them: the real binary, the real
//! CodePipeline client pointed at the wire-level fake by `AWS_ENDPOINT_URL_CODEPIPELINE`,
//! snapshots in a folder of files.

mod support;

use std::io::{BufRead, BufReader, Lines};
use std::path::{Path, PathBuf};
use std::process::{Child, ChildStdout, Command, Output, Stdio};
use std::time::{Duration, Instant};

use support::fake_codepipeline::FakeCodePipeline;
use support::fixtures::scenario;
use support::services::{require, unique};

fn state_dir() -> PathBuf {
    let dir = std::path::Path::new(env!("CARGO_TARGET_TMPDIR")).join(unique("state"));
    std::fs::create_dir_all(&dir).unwrap();
    dir
}

fn pipewatch(fake: &FakeCodePipeline) -> Command {
    // The test script sets the region and (dummy) credentials.
    require("AWS_REGION");
    let mut command = Command::new(env!("CARGO_BIN_EXE_pipewatch"));
    command.env("AWS_ENDPOINT_URL_CODEPIPELINE", fake.url());
    command
}

fn check(fake: &FakeCodePipeline, dir: &std::path::Path, pipelines: &[&str]) -> Output {
    let mut command = pipewatch(fake);
    command.arg("check").arg("--state-dir").arg(dir);
    for pipeline in pipelines {
        command.args(["--pipeline", pipeline]);
    }
    command.output().unwrap()
}

fn stdout(output: &Output) -> String {
    String::from_utf8(output.stdout.clone()).unwrap()
}

#[test]
fn check_records_a_baseline_then_prints_each_change_once() {
    let fake = FakeCodePipeline::start();
    let dir = state_dir();
    let states = scenario("v2-queued-disabled-transition");

    fake.set_state(&states[0]);
    let first = check(&fake, &dir, &["payments-api"]);
    assert!(first.status.success(), "{first:?}");
    assert_eq!(stdout(&first), "", "the first check is a silent baseline");
    assert!(dir.join("payments-api.snapshot.json").exists());

    fake.set_state(&states[1]);
    let second = check(&fake, &dir, &["payments-api"]);
    assert!(second.status.success(), "{second:?}");
    let lines = stdout(&second);
    assert!(
        lines.contains("payments-api: transition into Deploy disabled by arn:aws:sts::123456789012:assumed-role/ReleaseManager/maria.silva: \"Change freeze for the quarter-end close\""),
        "{lines}"
    );
    assert_eq!(lines.lines().count(), 5, "{lines}");

    let again = check(&fake, &dir, &["payments-api"]);
    assert_eq!(stdout(&again), "", "nothing changed since");
}

#[test]
fn check_names_a_pipeline_that_does_not_exist_and_still_checks_the_others() {
    let fake = FakeCodePipeline::start();
    let dir = state_dir();
    let states = scenario("release-failure-retry");
    fake.set_state(&states[0]);
    check(&fake, &dir, &["web-app-release"]);
    fake.set_state(&states[1]);

    let output = check(&fake, &dir, &["web-app-release", "ghost"]);
    assert_eq!(output.status.code(), Some(2));
    assert!(stdout(&output).contains("web-app-release: Build/Compile InProgress"));
    let stderr = String::from_utf8_lossy(&output.stderr);
    assert_eq!(stderr.lines().count(), 1, "{stderr}");
    assert!(
        stderr.contains("ghost (observing it: the pipeline does not exist"),
        "{stderr}"
    );
}

#[test]
fn check_refuses_a_name_codepipeline_would_refuse() {
    let fake = FakeCodePipeline::start();
    let output = check(&fake, &state_dir(), &["not a name"]);
    assert_eq!(output.status.code(), Some(2));
    assert!(String::from_utf8_lossy(&output.stderr).contains("not a pipeline name"));
    assert_eq!(fake.calls("not a name"), 0);
}

/// `pipewatch watch` every 200 ms, its standard output read line by line.
fn spawn_watch(fake: &FakeCodePipeline, dir: &Path) -> (Child, Lines<BufReader<ChildStdout>>) {
    let mut child = pipewatch(fake)
        .args(["watch", "--interval", "200ms", "--pipeline", "infra-prod"])
        .arg("--state-dir")
        .arg(dir)
        .stdout(Stdio::piped())
        .spawn()
        .unwrap();
    let lines = BufReader::new(child.stdout.take().unwrap()).lines();
    // A watchdog: if watch never prints or never stops, the test must fail, not hang.
    let pid = child.id().to_string();
    std::thread::spawn(move || {
        std::thread::sleep(Duration::from_mins(1));
        let _ = Command::new("kill").args(["-KILL", &pid]).status();
    });
    (child, lines)
}

fn wait_until(what: &str, done: impl Fn() -> bool) {
    let deadline = Instant::now() + Duration::from_secs(30);
    while !done() {
        assert!(Instant::now() < deadline, "timed out waiting until {what}");
        std::thread::sleep(Duration::from_millis(20));
    }
}

fn signal(child: &Child, signal: &str) {
    let sent = Command::new("kill")
        .args([signal, &child.id().to_string()])
        .status()
        .unwrap();
    assert!(sent.success());
}

#[test]
fn watch_reports_changes_as_they_happen_until_interrupted() {
    let fake = FakeCodePipeline::start();
    let dir = state_dir();
    let states = scenario("manual-approval");
    fake.set_state(&states[0]);
    let (mut child, mut lines) = spawn_watch(&fake, &dir);

    // Wait for the baseline, then change the pipeline under the running watch.
    wait_until("the baseline is written", || {
        dir.join("infra-prod.snapshot.json").exists()
    });
    fake.set_state(&states[1]);
    let mut seen = Vec::new();
    while !seen
        .iter()
        .any(|l: &String| l.contains("waiting for approval"))
    {
        seen.push(lines.next().expect("watch printed a line").unwrap());
    }
    assert!(
        seen.iter()
            .all(|l| !l.contains("6f1a2b3c-4d5e-4f60-8a7b-9c0d1e2f3a4b"))
    );

    signal(&child, "-INT");
    let exit = child.wait().unwrap();
    assert!(exit.success(), "Ctrl-C ends watch cleanly: {exit:?}");
}

/// A signal that arrives while a tick is in flight must neither kill the tick (a claim
/// would wait out its lease) nor be forgotten once the tick ends (watch would run on).
#[test]
fn a_stop_asked_for_mid_tick_lets_that_tick_finish_then_ends_watch() {
    let states = scenario("manual-approval");
    let slow = Duration::from_secs(1);

    // Ctrl-C during the first tick, before any sleep between ticks.
    let fake = FakeCodePipeline::start();
    let dir = state_dir();
    fake.set_state(&states[0]);
    fake.set_latency(slow);
    let (mut child, _) = spawn_watch(&fake, &dir);
    wait_until("the first tick asks CodePipeline", || {
        fake.calls("infra-prod") == 1
    });
    signal(&child, "-INT");
    let exit = child.wait().unwrap();
    assert!(exit.success(), "{exit:?}");
    assert!(
        dir.join("infra-prod.snapshot.json").exists(),
        "the interrupted tick still recorded its baseline"
    );
    assert_eq!(fake.calls("infra-prod"), 1, "no tick after the stop");

    // SIGTERM (a service manager's stop) during a later tick that finds a change.
    let fake = FakeCodePipeline::start();
    let dir = state_dir();
    fake.set_state(&states[0]);
    let (mut child, lines) = spawn_watch(&fake, &dir);
    wait_until("the baseline is written", || {
        dir.join("infra-prod.snapshot.json").exists()
    });
    fake.set_latency(slow);
    fake.set_state(&states[1]);
    let calls = fake.calls("infra-prod");
    wait_until("a later tick asks CodePipeline", || {
        fake.calls("infra-prod") > calls
    });
    signal(&child, "-TERM");
    let exit = child.wait().unwrap();
    assert!(exit.success(), "{exit:?}");
    let printed: Vec<String> = lines.map(Result::unwrap).collect();
    assert!(
        printed.iter().any(|l| l.contains("waiting for approval")),
        "the interrupted tick still reported its change: {printed:?}"
    );
}
