//! A wire-level CodePipeline: speaks the `awsJson1_1` protocol for `GetPipelineState` and
//! `GetPipelineExecution` (`X-Amz-Target: CodePipeline_20150709.<Operation>`), so the real
//! SDK client, with its retries and JSON parser, talks to it as to AWS.
//!
//! Each pipeline serves a scripted state and each execution a scripted description (set
//! by the test, usually from `events/`); faults (throttling, 500s, access denied) and
//! latency are injected on demand. An unknown pipeline answers
//! `PipelineNotFoundException`, an unknown execution `PipelineExecutionNotFoundException`,
//! as AWS does.

use std::collections::{HashMap, VecDeque};
use std::sync::{Arc, Mutex};
use std::time::Duration;

use super::http::{Reply, Request, Server};

const GET_STATE: &str = "CodePipeline_20150709.GetPipelineState";
const GET_EXECUTION: &str = "CodePipeline_20150709.GetPipelineExecution";
const JSON: &str = "application/x-amz-json-1.1";

/// The account the tests' own credentials are in: moto's default account.
pub const HOME_ACCOUNT: &str = "123456789012";

/// An injected failure.
#[derive(Debug, Clone, Copy)]
pub enum Fault {
    /// `ThrottlingException` (HTTP 400), which the SDK retries with backoff.
    Throttle,
    /// HTTP 500, which the SDK retries as transient.
    ServerError,
    /// `AccessDeniedException` (HTTP 400), which the SDK does not retry.
    Denied,
}

#[derive(Default)]
struct Script {
    states: HashMap<String, String>,
    /// `GetPipelineExecution` responses by execution id.
    executions: HashMap<String, String>,
    faults: VecDeque<Fault>,
    /// Faults for `GetPipelineExecution` alone, consumed before `faults`.
    execution_faults: VecDeque<Fault>,
    latency: Duration,
    calls: HashMap<String, usize>,
    execution_calls: HashMap<String, usize>,
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

    /// The real CodePipeline source, talking to this fake, for an account that is the
    /// home one (`123456789012`, moto's).
    pub fn source(&self, config: &aws_config::SdkConfig) -> pipewatch::aws::CodePipelineSource {
        let config = config.to_builder().endpoint_url(self.url()).build();
        pipewatch::aws::CodePipelineSource::new(std::sync::Arc::new(
            pipewatch::aws::clients::Clients::new(
                config,
                Some(HOME_ACCOUNT.to_owned()),
                pipewatch::aws::clients::RoleSettings::default(),
            ),
        ))
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

    /// Serves `execution` (a `GetPipelineExecution` response, JSON) for its execution id.
    pub fn set_execution(&self, execution: &str) {
        let id = serde_json::from_str::<serde_json::Value>(execution).unwrap()["pipelineExecution"]
            ["pipelineExecutionId"]
            .as_str()
            .expect("an execution names its id")
            .to_owned();
        self.script
            .lock()
            .unwrap()
            .executions
            .insert(id, execution.to_owned());
    }

    /// The next `count` `GetPipelineExecution` requests fail with `fault`.
    pub fn fail_next_executions(&self, count: usize, fault: Fault) {
        let mut script = self.script.lock().unwrap();
        script
            .execution_faults
            .extend(std::iter::repeat_n(fault, count));
    }

    /// `GetPipelineExecution` requests received for `execution` (faulted ones included).
    pub fn execution_calls(&self, execution: &str) -> usize {
        self.script
            .lock()
            .unwrap()
            .execution_calls
            .get(execution)
            .copied()
            .unwrap_or(0)
    }

    /// `GetPipelineExecution` requests received in all.
    pub fn all_execution_calls(&self) -> usize {
        self.script.lock().unwrap().execution_calls.values().sum()
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
    let body = serde_json::from_slice::<serde_json::Value>(&request.body).unwrap_or_default();
    match request.header("x-amz-target") {
        Some(GET_STATE) => get_state(script, &body),
        Some(GET_EXECUTION) => get_execution(script, &body),
        _ => error(
            400,
            "UnknownOperationException",
            "only GetPipelineState and GetPipelineExecution are faked",
        ),
    }
}

fn get_state(script: &Mutex<Script>, body: &serde_json::Value) -> Reply {
    let Some(name) = body["name"].as_str().map(str::to_owned) else {
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
        (Some(fault), _) => faulted(fault),
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

fn get_execution(script: &Mutex<Script>, body: &serde_json::Value) -> Reply {
    let (Some(_), Some(id)) = (
        body["pipelineName"].as_str(),
        body["pipelineExecutionId"].as_str().map(str::to_owned),
    ) else {
        return error(
            400,
            "ValidationException",
            "pipelineName and pipelineExecutionId are required",
        );
    };
    let (fault, latency, execution) = {
        let mut script = script.lock().unwrap();
        *script.execution_calls.entry(id.clone()).or_default() += 1;
        let fault = script
            .execution_faults
            .pop_front()
            .or_else(|| script.faults.pop_front());
        (fault, script.latency, script.executions.get(&id).cloned())
    };
    std::thread::sleep(latency);
    match (fault, execution) {
        (Some(fault), _) => faulted(fault),
        (None, None) => error(
            400,
            "PipelineExecutionNotFoundException",
            &format!("Pipeline execution with id '{id}' not found"),
        ),
        (None, Some(execution)) => Reply::Respond {
            status: 200,
            content_type: JSON,
            body: execution.into_bytes(),
        },
    }
}

fn faulted(fault: Fault) -> Reply {
    match fault {
        Fault::Throttle => error(400, "ThrottlingException", "Rate exceeded"),
        Fault::ServerError => error(500, "InternalFailure", "We encountered an internal error."),
        Fault::Denied => error(
            400,
            "AccessDeniedException",
            "User is not authorized to perform: codepipeline:GetPipelineExecution",
        ),
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
