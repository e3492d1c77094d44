//! A wire-level CodePipeline: speaks the `awsJson1_1` protocol for `GetPipelineState`,
//! `GetPipelineExecution`, `ListPipelines`, `ListActionExecutions` (paginated, newest
//! first, filtered by pipeline execution) and `ListPipelineExecutions` (paginated, newest
//! first) (`X-Amz-Target: CodePipeline_20150709.<Op>`),
//! and the Resource Groups Tagging API's `GetResources`, so the real SDK clients, with
//! their retries, paginators and JSON parsers, talk to it as to AWS.
//!
//! Each pipeline serves a scripted state, in every region or in one (the region is read
//! from the request's `SigV4` credential scope, as AWS routes it); each execution a
//! scripted description; each pipeline its tags. Faults (throttling, 500s, access denied),
//! latency and a request-rate limit are injected on demand. An unknown pipeline answers
//! `PipelineNotFoundException`, an unknown execution `PipelineExecutionNotFoundException`,
//! as AWS does. The access keys each region saw are kept, so a test can tell a role's
//! credentials from the home ones.

use std::collections::{BTreeMap, HashMap, HashSet, VecDeque};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use crate::http::{Request, Server};

mod answers;

use answers::answer;

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

/// A pipeline's place: a region, or `None` for every region.
type Key = (Option<String>, String);

#[derive(Default)]
struct Script {
    states: HashMap<Key, String>,
    /// `GetPipelineExecution` responses by execution id.
    executions: HashMap<String, String>,
    /// `actionExecutionDetails` entries by pipeline, in the order they happened.
    action_runs: HashMap<String, Vec<serde_json::Value>>,
    /// `pipelineExecutionSummaries` entries by pipeline, in the order they started.
    execution_summaries: HashMap<String, Vec<serde_json::Value>>,
    /// Tags by pipeline; a pipeline with `None` was tagged once and no longer is (the
    /// Tagging API still returns it, with no tags).
    tags: HashMap<Key, Option<Vec<(String, String)>>>,
    faults: VecDeque<Fault>,
    /// Faults for `GetPipelineExecution` alone, consumed before `faults`.
    execution_faults: VecDeque<Fault>,
    /// Faults for `PutApprovalResult` alone.
    approval_faults: VecDeque<Fault>,
    latency: Duration,
    /// Run as each `GetPipelineState` is answered: a test's way to let time pass per call.
    on_state: Option<Arc<dyn Fn() + Send + Sync>>,
    /// `PutApprovalResult` requests wait here before they are applied, while a test holds
    /// them (real CodePipeline may show an approval waiting for a moment after it).
    approval_gate: Option<crate::gate::Gate>,
    /// Requests per second above which the fake throttles, and when each was answered.
    rate_limit: Option<(usize, VecDeque<Instant>)>,
    throttled: usize,
    page_size: usize,
    calls: HashMap<String, usize>,
    execution_calls: HashMap<String, usize>,
    operations: BTreeMap<&'static str, usize>,
    access_keys: HashMap<String, HashSet<String>>,
    /// Every `PutApprovalResult` request that decided an approval, as received.
    approvals: Vec<serde_json::Value>,
}

pub struct FakeCodePipeline {
    script: Arc<Mutex<Script>>,
    server: Server,
}

impl FakeCodePipeline {
    pub fn start() -> Self {
        Self::start_with(false)
    }

    /// A fake that keeps connections alive, as AWS does: for benchmarks, so the client
    /// measured does not pay a connection per request the real service would not cost.
    pub fn start_keep_alive() -> Self {
        Self::start_with(true)
    }

    fn start_with(keep_alive: bool) -> Self {
        let script = Arc::new(Mutex::new(Script {
            page_size: 1_000,
            ..Script::default()
        }));
        let shared = Arc::clone(&script);
        let handler = move |request: &Request| answer(&shared, request);
        let server = if keep_alive {
            Server::start_keep_alive(handler)
        } else {
            Server::start(handler)
        };
        Self { script, server }
    }

    /// The endpoint to give the SDK (`AWS_ENDPOINT_URL_CODEPIPELINE`).
    pub fn url(&self) -> String {
        self.server.url()
    }

    /// The real CodePipeline source, talking to this fake (CodePipeline and the Tagging
    /// API alike), for credentials in the home account (`123456789012`, moto's).
    pub fn source(&self, config: &aws_config::SdkConfig) -> pipewatch::aws::CodePipelineSource {
        let config = config.to_builder().endpoint_url(self.url()).build();
        pipewatch::aws::CodePipelineSource::new(std::sync::Arc::new(
            pipewatch::aws::clients::Clients::new(
                config,
                Some(HOME_ACCOUNT.to_owned()),
                pipewatch::config::RoleSettings::default(),
            ),
        ))
    }

    /// The approver's clients, talking to this fake: every pipeline given by its ARN
    /// through `role` (issued by moto's STS), as the approver reaches them.
    pub fn approver_clients(
        &self,
        config: &aws_config::SdkConfig,
        role: &str,
    ) -> std::sync::Arc<pipewatch::aws::clients::Clients> {
        let config = config.to_builder().endpoint_url(self.url()).build();
        std::sync::Arc::new(pipewatch::aws::clients::Clients::new(
            config,
            None,
            pipewatch::config::RoleSettings {
                name: role.to_owned(),
                external_id: None,
            },
        ))
    }

    /// Serves `state` (a GetPipelineState response, JSON) for its pipeline, in every region.
    pub fn set_state(&self, state: &str) {
        self.insert_state(None, state);
    }

    /// Serves `state` for its pipeline in `region` only.
    pub fn set_state_in(&self, region: &str, state: &str) {
        self.insert_state(Some(region.to_owned()), state);
    }

    fn insert_state(&self, region: Option<String>, state: &str) {
        let name = serde_json::from_str::<serde_json::Value>(state).unwrap()["pipelineName"]
            .as_str()
            .expect("a state names its pipeline")
            .to_owned();
        self.script
            .lock()
            .unwrap()
            .states
            .insert((region, name), state.to_owned());
    }

    /// Every `PutApprovalResult` that decided an approval (token included), in order.
    pub fn approvals(&self) -> Vec<serde_json::Value> {
        self.script.lock().unwrap().approvals.clone()
    }

    /// Deletes a pipeline (every region's copy).
    pub fn remove(&self, pipeline: &str) {
        self.script
            .lock()
            .unwrap()
            .states
            .retain(|(_, name), _| name != pipeline);
    }

    /// Tags a pipeline served in every region.
    pub fn set_tags(&self, pipeline: &str, tags: &[(&str, &str)]) {
        let tags = tags
            .iter()
            .map(|(k, v)| ((*k).to_owned(), (*v).to_owned()))
            .collect();
        self.script
            .lock()
            .unwrap()
            .tags
            .insert((None, pipeline.to_owned()), Some(tags));
    }

    /// Marks a pipeline as once tagged: the Tagging API still returns it, with no tags.
    pub fn set_formerly_tagged(&self, pipeline: &str) {
        self.script
            .lock()
            .unwrap()
            .tags
            .insert((None, pipeline.to_owned()), None);
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

    /// The next `count` requests (of any pipeline) fail with `fault`.
    pub fn fail_next(&self, count: usize, fault: Fault) {
        let mut script = self.script.lock().unwrap();
        script.faults.extend(std::iter::repeat_n(fault, count));
    }

    /// The next `count` `GetPipelineExecution` requests fail with `fault`.
    pub fn fail_next_executions(&self, count: usize, fault: Fault) {
        let mut script = self.script.lock().unwrap();
        script
            .execution_faults
            .extend(std::iter::repeat_n(fault, count));
    }

    /// The next `count` `PutApprovalResult` requests fail with `fault`.
    pub fn fail_next_approvals(&self, count: usize, fault: Fault) {
        let mut script = self.script.lock().unwrap();
        script
            .approval_faults
            .extend(std::iter::repeat_n(fault, count));
    }

    /// Holds every `PutApprovalResult` at the returned gate, before it is applied, until
    /// the test opens it: meanwhile `GetPipelineState` still shows the approval waiting.
    pub fn gate_approvals(&self) -> crate::gate::Gate {
        let gate = crate::gate::Gate::new();
        self.script.lock().unwrap().approval_gate = Some(gate.clone());
        gate
    }

    /// Runs `each` as every `GetPipelineState` is answered (a clock moved on, say).
    pub fn on_get_state(&self, each: impl Fn() + Send + Sync + 'static) {
        self.script.lock().unwrap().on_state = Some(Arc::new(each));
    }

    pub fn set_latency(&self, latency: Duration) {
        self.script.lock().unwrap().latency = latency;
    }

    /// Throttles every request past `per_second` in any one-second window, as
    /// CodePipeline's account-wide rate limit does.
    pub fn set_rate_limit(&self, per_second: usize) {
        self.script.lock().unwrap().rate_limit = Some((per_second, VecDeque::new()));
    }

    /// Requests answered with `ThrottlingException` by the rate limit.
    pub fn throttled(&self) -> usize {
        self.script.lock().unwrap().throttled
    }

    /// How many pipelines a `ListPipelines` page holds.
    pub fn set_page_size(&self, size: usize) {
        self.script.lock().unwrap().page_size = size.max(1);
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

    /// Records one action run of `pipeline` (an `actionExecutionDetails` entry, JSON), as
    /// `ListActionExecutions` will list it: runs are listed newest first.
    pub fn add_action_run(&self, pipeline: &str, run: serde_json::Value) {
        self.script
            .lock()
            .unwrap()
            .action_runs
            .entry(pipeline.to_owned())
            .or_default()
            .push(run);
    }

    /// Records one pipeline execution of `pipeline` (a `pipelineExecutionSummaries` entry,
    /// JSON), as `ListPipelineExecutions` will list it, newest first. An execution
    /// recorded again (a new status) keeps its place.
    pub fn add_execution_summary(&self, pipeline: &str, summary: serde_json::Value) {
        let mut script = self.script.lock().unwrap();
        let list = script
            .execution_summaries
            .entry(pipeline.to_owned())
            .or_default();
        match list
            .iter_mut()
            .find(|s| s["pipelineExecutionId"] == summary["pipelineExecutionId"])
        {
            Some(existing) => *existing = summary,
            None => list.push(summary),
        }
    }

    /// Forgets the action runs of `pipeline` (history older than the API keeps).
    pub fn clear_action_runs(&self, pipeline: &str) {
        self.script.lock().unwrap().action_runs.remove(pipeline);
    }

    /// Requests received by operation (`GetPipelineState`, `ListPipelines`, ...).
    pub fn operations(&self, operation: &str) -> usize {
        self.script
            .lock()
            .unwrap()
            .operations
            .get(operation)
            .copied()
            .unwrap_or(0)
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

    /// The access key ids that signed requests to `region`.
    pub fn access_keys(&self, region: &str) -> HashSet<String> {
        self.script
            .lock()
            .unwrap()
            .access_keys
            .get(region)
            .cloned()
            .unwrap_or_default()
    }
}
