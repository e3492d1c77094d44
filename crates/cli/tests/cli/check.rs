//! `pipewatch check` and `pipewatch watch` as a user runs them: the real binary, the real
//! CodePipeline client pointed at the wire-level fake by `AWS_ENDPOINT_URL_CODEPIPELINE`,
//! snapshots in a folder of files.

use std::io::{BufRead, BufReader, Lines};
use std::path::{Path, PathBuf};
use std::process::{Child, ChildStdout, Command, Output, Stdio};
use std::time::{Duration, Instant};

use pipewatch_testkit::fake_codepipeline::FakeCodePipeline;
use pipewatch_testkit::fixtures::scenario;
use pipewatch_testkit::services::{require, unique};

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
    let baseline = check(&fake, &dir, &["web-app-release"]);
    assert!(baseline.status.success(), "{baseline:?}");
    assert_eq!(stdout(&baseline), "", "a silent baseline");
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

/// `pipewatch check` with a bare environment: no AWS variables, no AWS files.
fn bare_check(extra: &[(&str, &str)]) -> Output {
    let home = state_dir();
    Command::new(env!("CARGO_BIN_EXE_pipewatch"))
        .env_clear()
        .env("HOME", &home)
        .env("PATH", std::env::var("PATH").unwrap())
        // Off an EC2 instance, asking instance metadata only waits for a timeout.
        .env("AWS_EC2_METADATA_DISABLED", "true")
        .envs(extra.iter().copied())
        .args(["check", "--pipeline", "web-app-release", "--state-dir"])
        .arg(&home)
        .output()
        .unwrap()
}

#[test]
fn check_without_a_region_or_credentials_says_so_in_words() {
    let no_region = bare_check(&[]);
    assert_eq!(no_region.status.code(), Some(2));
    let stderr = String::from_utf8_lossy(&no_region.stderr);
    assert!(
        stderr.contains("no AWS region configured: set AWS_REGION"),
        "{stderr}"
    );

    let no_credentials = bare_check(&[("AWS_REGION", "eu-west-1")]);
    assert_eq!(no_credentials.status.code(), Some(2));
    let stderr = String::from_utf8_lossy(&no_credentials.stderr);
    assert!(
        stderr.contains("no AWS credentials found: set AWS_PROFILE"),
        "{stderr}"
    );
    assert_eq!(stderr.lines().count(), 1, "{stderr}");
}

#[test]
fn watch_on_a_terminal_says_it_is_alive_once_a_tick() {
    let fake = FakeCodePipeline::start();
    let dir = state_dir();
    fake.set_state(&scenario("manual-approval")[0]);
    // `script` gives watch a terminal, as a person running it has.
    let command = format!(
        "{} watch --interval 200ms --pipeline infra-prod --state-dir {}",
        env!("CARGO_BIN_EXE_pipewatch"),
        dir.display()
    );
    let mut child = Command::new("script")
        .args(["-qefc", &command, "/dev/null"])
        .env("AWS_ENDPOINT_URL_CODEPIPELINE", fake.url())
        .stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .stderr(Stdio::null())
        .spawn()
        .expect("script(1), from util-linux");
    let pid = child.id().to_string();
    std::thread::spawn(move || {
        std::thread::sleep(Duration::from_mins(1));
        let _ = Command::new("kill").args(["-KILL", &pid]).status();
    });
    let mut lines = BufReader::new(child.stdout.take().unwrap()).lines();
    let mut alive = 0;
    while alive < 3 {
        let line = lines.next().expect("watch printed a line").unwrap();
        if line.contains("checked 1 pipeline: 0 changes, 0 failed; next in 200ms") {
            alive += 1;
        }
    }
    let stopped = Command::new("pkill")
        .args([
            "-INT",
            "-f",
            "--",
            &format!("--state-dir {}", dir.display()),
        ])
        .status()
        .unwrap();
    assert!(stopped.success(), "watch was running");
    // Ctrl-C ends watch (and script(1) with it) cleanly, not by the minute's SIGKILL.
    let exit = child.wait().unwrap();
    assert!(exit.success(), "{exit:?}");
}

#[test]
fn watch_without_a_terminal_prints_only_changes() {
    let fake = FakeCodePipeline::start();
    fake.set_state(&scenario("manual-approval")[0]);
    let output = three_quiet_ticks(&fake, &[]);
    assert!(
        output.stdout.is_empty() && output.stderr.is_empty(),
        "{output:?}"
    );
}

/// `pipewatch watch` (with `extra` arguments, no terminal) over infra-prod every 100 ms,
/// stopped with Ctrl-C after three ticks; it must end cleanly.
fn three_quiet_ticks(fake: &FakeCodePipeline, extra: &[&str]) -> Output {
    let child = pipewatch(fake)
        .args(["watch", "--interval", "100ms", "--pipeline", "infra-prod"])
        .args(extra)
        .arg("--state-dir")
        .arg(state_dir())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .unwrap();
    wait_until("three ticks", || fake.calls("infra-prod") >= 3);
    signal(&child, "-INT");
    let output = child.wait_with_output().unwrap();
    assert!(output.status.success(), "{output:?}");
    output
}

#[test]
fn watch_with_stats_prints_each_ticks_figures_and_its_aws_calls() {
    let fake = FakeCodePipeline::start();
    fake.set_state(&scenario("manual-approval")[0]);
    let output = three_quiet_ticks(&fake, &["--stats"]);
    let stderr = String::from_utf8(output.stderr).unwrap();
    let lines: Vec<&str> = stderr.lines().collect();
    assert!(lines.len() >= 3, "{stderr}");
    for line in &lines {
        assert!(line.starts_with("stats: 1 checked, 0 changes"), "{line}");
        // One GetPipelineState per tick, timed by the SDK interceptor.
        assert!(line.contains("; GetPipelineState 1 calls (avg "), "{line}");
    }
}

/// `pipewatch check` with nothing but a profile in an AWS config file, `files` (relative
/// to its home) and `env`, and the fake's endpoint: the credentials must come from the
/// profile.
fn check_with_profile(
    fake: &FakeCodePipeline,
    config: &str,
    files: &[(&str, &str)],
    env: &[(&str, String)],
) -> Output {
    let home = state_dir();
    for (name, contents) in [(".aws/config", config)].iter().chain(files) {
        let path = home.join(name);
        std::fs::create_dir_all(path.parent().unwrap()).unwrap();
        std::fs::write(path, contents).unwrap();
    }
    Command::new(env!("CARGO_BIN_EXE_pipewatch"))
        .env_clear()
        .env("HOME", &home)
        .env("PATH", std::env::var("PATH").unwrap())
        .env("AWS_EC2_METADATA_DISABLED", "true")
        .env("AWS_PROFILE", "team")
        .env("AWS_ENDPOINT_URL_CODEPIPELINE", fake.url())
        .envs(env.iter().map(|(k, v)| (k, v)))
        .args(["check", "--pipeline", "payments-api", "--state-dir"])
        .arg(&home)
        .output()
        .unwrap()
}

/// A profile whose credentials come from `credential_process`, as many teams' tooling
/// provides them: the CLI runs the process, signs with what it printed, and checks.
#[test]
fn check_takes_credentials_from_a_credential_process_profile() {
    let fake = FakeCodePipeline::start();
    fake.set_state(&scenario("v2-queued-disabled-transition")[0]);
    let config = r#"[profile team]
region = eu-west-1
credential_process = echo '{"Version": 1, "AccessKeyId": "AKIDPROCESS", "SecretAccessKey": "secret", "SessionToken": "token"}'
"#;
    let output = check_with_profile(&fake, config, &[], &[]);
    assert!(output.status.success(), "{output:?}");
    assert_eq!(fake.operations("GetPipelineState"), 1);
    assert!(
        fake.access_keys("eu-west-1").contains("AKIDPROCESS"),
        "{:?}",
        fake.access_keys("eu-west-1")
    );
}

/// An IAM Identity Center (SSO) profile after `aws sso login`: the CLI reads the cached
/// token, asks the SSO portal (a fake here, found through `AWS_ENDPOINT_URL_SSO` as any
/// service is) for the role's credentials, and signs with them.
#[test]
fn check_takes_credentials_from_an_sso_profile() {
    use std::sync::{Arc, Mutex};

    use pipewatch_testkit::http::{Reply, Server};

    let fake = FakeCodePipeline::start();
    fake.set_state(&scenario("v2-queued-disabled-transition")[0]);
    let asked = Arc::new(Mutex::new(Vec::new()));
    let seen = Arc::clone(&asked);
    let portal = Server::start(move |request| {
        seen.lock().unwrap().push(format!(
            "{} {} {}",
            request.method,
            request.path,
            request.header("x-amz-sso_bearer_token").unwrap_or_default()
        ));
        let expiration = (std::time::SystemTime::now() + Duration::from_hours(1))
            .duration_since(std::time::UNIX_EPOCH)
            .unwrap()
            .as_millis();
        Reply::Respond {
            status: 200,
            content_type: "application/json",
            body: format!(
                r#"{{"roleCredentials": {{"accessKeyId": "AKIDSSO", "secretAccessKey": "secret", "sessionToken": "token", "expiration": {expiration}}}}}"#
            )
            .into_bytes(),
        }
    });
    let config = "[profile team]\nregion = eu-west-1\nsso_session = corp\nsso_account_id = 123456789012\nsso_role_name = ReleaseManager\n\n[sso-session corp]\nsso_region = eu-west-1\nsso_start_url = https://corp.awsapps.com/start\n";
    // `aws sso login` caches the session's token under the SHA-1 of its name ("corp").
    let token = r#"{"accessToken": "cached-token", "expiresAt": "2999-01-01T00:00:00Z", "region": "eu-west-1", "startUrl": "https://corp.awsapps.com/start"}"#;
    let cache = ".aws/sso/cache/ee0bfd2552fbd840c02cc48b6e823320543c450f.json";
    let output = check_with_profile(
        &fake,
        config,
        &[(cache, token)],
        &[("AWS_ENDPOINT_URL_SSO", portal.url())],
    );
    assert!(output.status.success(), "{output:?}");
    // Asked up front (to say "no credentials" in words before any call), then by the
    // client's identity cache.
    let asked = asked.lock().unwrap();
    assert!((1..=2).contains(&asked.len()), "{asked:?}");
    for request in asked.iter() {
        assert!(
            request.starts_with("GET /federation/credentials?")
                && request.contains("role_name=ReleaseManager")
                && request.contains("account_id=123456789012")
                && request.ends_with(" cached-token"),
            "{asked:?}"
        );
    }
    assert!(
        fake.access_keys("eu-west-1").contains("AKIDSSO"),
        "{:?}",
        fake.access_keys("eu-west-1")
    );
}
