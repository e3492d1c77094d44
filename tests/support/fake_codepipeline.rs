//! A wire-level CodePipeline: speaks the `awsJson1_1` protocol for `GetPipelineState`
//! (`X-Amz-Target: CodePipeline_20150709.GetPipelineState`), so the real SDK client,
//! with its retries and JSON parser, talks to it as to AWS.
//!
//! Each pipeline serves a scripted state (set by the test, usually from `events/`);
//! faults (throttling, 500s) and latency are injected on demand. An unknown pipeline
//! answers `PipelineNotFoundException`, as AWS does.

use std::collections::{HashMap, VecDeque};
use std::sync::{Arc, Mutex};
use std::time::Duration;

use super::http::{Reply, Request, Server};

const TARGET: &str = "CodePipeline_20150709.GetPipelineState";
const JSON: &str = "application/x-amz-json-1.1";

/// An injected failure.
#[derive(Debug, Clone, Copy)]
pub enum Fault {
    /// `ThrottlingException` (HTTP 400), which the SDK retries with backoff.
    Throttle,
    /// HTTP 500, which the SDK retries as transient.
    ServerError,
}

#[derive(Default)]
struct Script {
    states: HashMap<String, String>,
    faults: VecDeque<Fault>,
    latency: Duration,
    calls: HashMap<String, usize>,
}

pub struct FakeCodePipeline {
    script: Arc<Mutex<Script>>,
    server: Server,
}

impl FakeCodePipeline {
    pub fn start() -> Self {
        let script = Arc::new(Mutex::new(Script::default()));
        let shared = Arc::clone(&script);
        let server = Server::start(move |request| answer(&shared, request));
        Self { script, server }
    }

    /// The endpoint to give the SDK (`AWS_ENDPOINT_URL_CODEPIPELINE`).
    pub fn url(&self) -> String {
        self.server.url()
    }

    /// Serves `state` (a GetPipelineState response, JSON) for its pipeline from now on.
    pub fn set_state(&self, state: &str) {
        let name = serde_json::from_str::<serde_json::Value>(state).unwrap()["pipelineName"]
            .as_str()
            .expect("a state names its pipeline")
            .to_owned();
        self.script
            .lock()
            .unwrap()
            .states
            .insert(name, state.to_owned());
    }

    /// The next `count` requests (of any pipeline) fail with `fault`.
    pub fn fail_next(&self, count: usize, fault: Fault) {
        let mut script = self.script.lock().unwrap();
        script.faults.extend(std::iter::repeat_n(fault, count));
    }

    pub fn set_latency(&self, latency: Duration) {
        self.script.lock().unwrap().latency = latency;
    }

    /// GetPipelineState requests received for `pipeline` (faulted ones included).
    pub fn calls(&self, pipeline: &str) -> usize {
        self.script
            .lock()
            .unwrap()
            .calls
            .get(pipeline)
            .copied()
            .unwrap_or(0)
    }
}

fn answer(script: &Mutex<Script>, request: &Request) -> Reply {
    if request.header("x-amz-target") != Some(TARGET) {
        return error(
            400,
            "UnknownOperationException",
            "only GetPipelineState is faked",
        );
    }
    let name = serde_json::from_slice::<serde_json::Value>(&request.body)
        .ok()
        .and_then(|body| body["name"].as_str().map(str::to_owned));
    let Some(name) = name else {
        return error(400, "ValidationException", "name is required");
    };
    let (fault, latency, state) = {
        let mut script = script.lock().unwrap();
        *script.calls.entry(name.clone()).or_default() += 1;
        (
            script.faults.pop_front(),
            script.latency,
            script.states.get(&name).cloned(),
        )
    };
    std::thread::sleep(latency);
    match (fault, state) {
        (Some(Fault::Throttle), _) => error(400, "ThrottlingException", "Rate exceeded"),
        (Some(Fault::ServerError), _) => {
            error(500, "InternalFailure", "We encountered an internal error.")
        }
        (None, None) => error(
            400,
            "PipelineNotFoundException",
            &format!("Account '123456789012' does not have a pipeline with name '{name}'"),
        ),
        (None, Some(state)) => Reply::Respond {
            status: 200,
            content_type: JSON,
            body: state.into_bytes(),
        },
    }
}

fn error(status: u16, code: &str, message: &str) -> Reply {
    Reply::Respond {
        status,
        content_type: JSON,
        body: serde_json::json!({"__type": code, "message": message})
            .to_string()
            .into_bytes(),
    }
}
