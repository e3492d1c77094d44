//! cargo-lambda's local Lambda Runtime API (`cargo lambda watch --only-lambda-apis`) with
//! one of our built function binaries polling it, and `cargo lambda invoke` to call it.

use std::path::{Path, PathBuf};
use std::process::{Child, Command, Output, Stdio};
use std::time::{Duration, Instant};

use crate::services::require;

const MANIFEST_DIR: &str = crate::fixtures::REPOSITORY;

/// Kills its process when dropped, so a failing test leaves nothing running.
pub struct Running(Child);

impl Drop for Running {
    fn drop(&mut self) {
        let _ = self.0.kill();
        let _ = self.0.wait();
    }
}

pub fn cargo_lambda() -> String {
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
pub struct Lambda {
    port: u16,
    _runtime: Running,
    pub function: Running,
    log: PathBuf,
}

impl Lambda {
    /// Starts the Runtime API, then `binary` polling it with `environment`; the function's
    /// output goes to `log`.
    pub fn start(binary: &str, environment: &[(&str, String)], log: PathBuf) -> Self {
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
            Command::new(binary)
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
    pub fn invoke(&self, event: &str) -> Output {
        Command::new(cargo_lambda())
            .args(["lambda", "invoke", "_", "-A", "127.0.0.1", "-P"])
            .arg(self.port.to_string())
            .arg("--data-file")
            .arg(Path::new(MANIFEST_DIR).join("events").join(event))
            .output()
            .expect("run cargo lambda invoke")
    }

    pub fn summary(&self, event: &str) -> serde_json::Value {
        let output = self.invoke(event);
        assert!(
            output.status.success(),
            "{}",
            String::from_utf8_lossy(&output.stderr)
        );
        serde_json::from_slice(&output.stdout).expect("the response is the tick summary")
    }

    pub fn logs(&self) -> String {
        std::fs::read_to_string(&self.log).unwrap()
    }

    /// The function process's id, to read its CPU time and memory from `/proc`.
    pub fn pid(&self) -> u32 {
        self.function.0.id()
    }
}
