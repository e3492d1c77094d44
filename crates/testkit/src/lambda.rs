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

    /// `cargo lambda invoke` with an event file from `events/`. An invoke the emulator
    /// refused before the function answered it (seen once under CI's load, while the
    /// function was starting: no `pipewatch.` error from the function in its answer) is
    /// sent again, at most twice more; what the function itself answers is never retried.
    pub fn invoke(&self, event: &str) -> Output {
        let once = || {
            Command::new(cargo_lambda())
                .args(["lambda", "invoke", "_", "-A", "127.0.0.1", "-P"])
                .arg(self.port.to_string())
                .arg("--data-file")
                .arg(Path::new(MANIFEST_DIR).join("events").join(event))
                .output()
                .expect("run cargo lambda invoke")
        };
        let mut output = once();
        for _ in 0..2 {
            let stderr = String::from_utf8_lossy(&output.stderr);
            if output.status.success() || stderr.contains("pipewatch.") {
                break;
            }
            eprintln!("cargo lambda invoke failed before the function answered; again: {stderr}");
            std::thread::sleep(Duration::from_millis(500));
            output = once();
        }
        output
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

    /// Invokes the function with `payload` straight through the Runtime API's invoke
    /// endpoint (what `cargo lambda invoke` calls, without starting a process each time),
    /// and returns its answer.
    pub fn invoke_payload(&self, payload: &[u8]) -> serde_json::Value {
        use std::io::{Read, Write};
        let mut stream = std::net::TcpStream::connect(("127.0.0.1", self.port)).unwrap();
        let head = format!(
            "POST /2015-03-31/functions/_/invocations HTTP/1.1\r\nHost: 127.0.0.1\r\nContent-Type: application/json\r\nContent-Length: {}\r\nConnection: close\r\n\r\n",
            payload.len()
        );
        stream.write_all(head.as_bytes()).unwrap();
        stream.write_all(payload).unwrap();
        let mut response = Vec::new();
        stream.read_to_end(&mut response).unwrap();
        let end = response
            .windows(4)
            .position(|w| w == b"\r\n\r\n")
            .expect("an HTTP answer");
        let head = String::from_utf8_lossy(&response[..end]).to_ascii_lowercase();
        assert!(head.starts_with("http/1.1 200"), "{head}");
        let body = &response[end + 4..];
        let body = if head.contains("transfer-encoding: chunked") {
            dechunk(body)
        } else {
            body.to_vec()
        };
        serde_json::from_slice(&body).unwrap_or_else(|e| {
            panic!("{e}: {}", String::from_utf8_lossy(&body));
        })
    }

    pub fn logs(&self) -> String {
        std::fs::read_to_string(&self.log).unwrap()
    }

    /// The function process's id, to read its CPU time and memory from `/proc`.
    pub fn pid(&self) -> u32 {
        self.function.0.id()
    }
}

/// A chunked HTTP body's content.
fn dechunk(mut body: &[u8]) -> Vec<u8> {
    let mut out = Vec::new();
    loop {
        let line_end = body.windows(2).position(|w| w == b"\r\n").unwrap();
        let size = usize::from_str_radix(
            String::from_utf8_lossy(&body[..line_end])
                .split(';')
                .next()
                .unwrap()
                .trim(),
            16,
        )
        .unwrap();
        if size == 0 {
            return out;
        }
        out.extend_from_slice(&body[line_end + 2..line_end + 2 + size]);
        body = &body[line_end + 2 + size + 2..];
    }
}
