//! The Lambda binary itself, end to end: cargo-lambda's local Runtime API
//! (`cargo lambda watch --only-lambda-apis`) runs the built `pipewatch-lambda`, events are
//! sent with `cargo lambda invoke --data-file events/...`, and the function reaches
//! DynamoDB Local, moto and the CodePipeline fake through `AWS_ENDPOINT_URL_*` alone.

mod support;

use std::path::{Path, PathBuf};
use std::process::{Child, Command, Output, Stdio};
use std::time::{Duration, Instant};

use support::fake_codepipeline::FakeCodePipeline;
use support::services::{Inbox, create_table, require, scenario, sdk_config};

const MANIFEST_DIR: &str = env!("CARGO_MANIFEST_DIR");

/// Kills its process when dropped, so a failing test leaves nothing running.
struct Running(Child);

impl Drop for Running {
    fn drop(&mut self) {
        let _ = self.0.kill();
        let _ = self.0.wait();
    }
}

fn cargo_lambda() -> String {
    require("PIPEWATCH_CARGO_LAMBDA")
}

fn free_port() -> u16 {
    std::net::TcpListener::bind("127.0.0.1:0")
        .unwrap()
        .local_addr()
        .unwrap()
        .port()
}

fn wait_for_port(port: u16, process: &mut Running) {
    let deadline = Instant::now() + Duration::from_mins(1);
    while std::net::TcpStream::connect(("127.0.0.1", port)).is_err() {
        assert!(
            process.0.try_wait().unwrap().is_none(),
            "the Runtime API exited early"
        );
        assert!(
            Instant::now() < deadline,
            "the Runtime API did not listen on {port}"
        );
        std::thread::sleep(Duration::from_millis(100));
    }
}

/// The local Runtime API and the function process polling it.
struct Lambda {
    port: u16,
    _runtime: Running,
    function: Running,
    log: PathBuf,
}

impl Lambda {
    fn start(environment: &[(&str, String)], log: PathBuf) -> Self {
        let port = free_port();
        let mut runtime = Running(
            Command::new(cargo_lambda())
                .args([
                    "lambda",
                    "watch",
                    "--only-lambda-apis",
                    "-A",
                    "127.0.0.1",
                    "-P",
                ])
                .arg(port.to_string())
                .current_dir(MANIFEST_DIR)
                .stdout(Stdio::null())
                .stderr(Stdio::null())
                .spawn()
                .expect("start cargo lambda watch"),
        );
        wait_for_port(port, &mut runtime);
        let log_file = std::fs::File::create(&log).unwrap();
        let function = Running(
            Command::new(env!("CARGO_BIN_EXE_pipewatch-lambda"))
                .envs(environment.iter().map(|(k, v)| (*k, v.as_str())))
                .env(
                    "AWS_LAMBDA_RUNTIME_API",
                    format!("http://127.0.0.1:{port}/.rt"),
                )
                .env("AWS_LAMBDA_FUNCTION_NAME", "_")
                .env("AWS_LAMBDA_FUNCTION_VERSION", "1")
                .env("AWS_LAMBDA_FUNCTION_MEMORY_SIZE", "128")
                .stdout(log_file.try_clone().unwrap())
                .stderr(log_file)
                .spawn()
                .expect("start the function"),
        );
        Self {
            port,
            _runtime: runtime,
            function,
            log,
        }
    }

    /// `cargo lambda invoke` with an event file from `events/`.
    fn invoke(&self, event: &str) -> Output {
        Command::new(cargo_lambda())
            .args(["lambda", "invoke", "_", "-A", "127.0.0.1", "-P"])
            .arg(self.port.to_string())
            .arg("--data-file")
            .arg(Path::new(MANIFEST_DIR).join("events").join(event))
            .output()
            .expect("run cargo lambda invoke")
    }

    fn summary(&self, event: &str) -> serde_json::Value {
        let output = self.invoke(event);
        assert!(
            output.status.success(),
            "{}",
            String::from_utf8_lossy(&output.stderr)
        );
        serde_json::from_slice(&output.stdout).expect("the response is the tick summary")
    }

    fn logs(&self) -> String {
        std::fs::read_to_string(&self.log).unwrap()
    }
}

#[tokio::test(flavor = "multi_thread")]
async fn the_lambda_binary_ticks_on_scheduled_and_sharded_events() {
    let config = sdk_config().await;
    let table = create_table(&aws_sdk_dynamodb::Client::new(&config)).await;
    let inbox = Inbox::create(&config).await;
    let fake = FakeCodePipeline::start();
    let release = scenario("release-failure-retry");
    let approval = scenario("manual-approval");
    fake.set_state(&release[0]);
    fake.set_state(&approval[0]);

    let environment = [
        ("PIPELINES", "web-app-release,infra-prod".to_owned()),
        ("TABLE_NAME", table),
        ("TOPIC_ARN", inbox.topic_arn.clone()),
        ("LOG_LEVEL", "debug".to_owned()),
        ("AWS_ENDPOINT_URL_CODEPIPELINE", fake.url()),
    ];
    let log = Path::new(env!("CARGO_TARGET_TMPDIR"))
        .join(format!("lambda-e2e-{}.log", std::process::id()));
    let lambda = Lambda::start(&environment, log);

    let baseline = lambda.summary("scheduled-event.json");
    assert_eq!(baseline["pipelines_checked"], 2);
    assert_eq!(baseline["changes"], 0);

    fake.set_state(&release[2]);
    fake.set_state(&approval[1]);
    let changed = lambda.summary("scheduled-event.json");
    assert_eq!(changed["messages_published"], 2, "{changed}");
    let delivered = inbox.drain().await;
    assert_eq!(delivered.len(), 2);

    // The sharded schedule names its own pipelines; payments-api does not exist here.
    let output = lambda.invoke("sharded-schedule-input.json");
    assert!(!output.status.success());
    let stderr = String::from_utf8_lossy(&output.stderr);
    assert!(stderr.contains("pipewatch.PipelinesFailed"), "{stderr}");
    assert!(stderr.contains("payments-api"), "{stderr}");
    assert!(fake.calls("payments-api") > 0);

    // One JSON summary line per tick, and never the approval token.
    let logs = lambda.logs();
    let summaries: Vec<serde_json::Value> = logs
        .lines()
        .filter_map(|line| serde_json::from_str::<serde_json::Value>(line).ok())
        .filter(|line| line["message"] == "tick summary")
        .collect();
    assert_eq!(summaries.len(), 3, "{logs}");
    assert_eq!(summaries[1]["messages_published"], 2);
    assert!(
        summaries[2]["failed"]
            .as_str()
            .unwrap()
            .contains("payments-api")
    );
    assert!(!logs.contains("6f1a2b3c-4d5e-4f60-8a7b-9c0d1e2f3a4b"));
    assert!(approval[1].contains("6f1a2b3c-4d5e-4f60-8a7b-9c0d1e2f3a4b"));
    drop(lambda.function);
}

#[test]
fn a_bad_configuration_stops_the_cold_start_naming_the_variable() {
    let cases = [
        (
            vec![
                ("TABLE_NAME", "t-able"),
                ("TOPIC_ARN", "arn:aws:sns:us-east-1:1:t"),
            ],
            "PIPELINES is not set",
        ),
        (
            vec![
                ("PIPELINES", "a"),
                ("TABLE_NAME", "t-able"),
                ("TOPIC_ARN", "not-an-arn"),
            ],
            "TOPIC_ARN must be an SNS topic ARN",
        ),
        (
            vec![
                ("PIPELINES", "a"),
                ("TABLE_NAME", "t-able"),
                ("TOPIC_ARN", "arn:aws:sns:us-east-1:1:t"),
                ("MAX_CONCURRENCY", "lots"),
            ],
            "MAX_CONCURRENCY must be a whole number",
        ),
    ];
    for (environment, expected) in cases {
        let output = Command::new(env!("CARGO_BIN_EXE_pipewatch-lambda"))
            .env_clear()
            .envs(environment)
            .output()
            .unwrap();
        assert!(!output.status.success());
        let stderr = String::from_utf8_lossy(&output.stderr);
        assert!(stderr.contains(expected), "{stderr}");
        assert!(!stderr.contains("panicked"), "{stderr}");
    }
}
