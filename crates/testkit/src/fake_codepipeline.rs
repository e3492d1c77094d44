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

use crate::http::{Reply, Request, Server};

const GET_STATE: &str = "CodePipeline_20150709.GetPipelineState";
const GET_EXECUTION: &str = "CodePipeline_20150709.GetPipelineExecution";
const LIST_PIPELINES: &str = "CodePipeline_20150709.ListPipelines";
const LIST_ACTION_EXECUTIONS: &str = "CodePipeline_20150709.ListActionExecutions";
const LIST_PIPELINE_EXECUTIONS: &str = "CodePipeline_20150709.ListPipelineExecutions";
const GET_RESOURCES: &str = "ResourceGroupsTaggingAPI_20170126.GetResources";
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
    latency: Duration,
    /// Run as each `GetPipelineState` is answered: a test's way to let time pass per call.
    on_state: Option<Arc<dyn Fn() + Send + Sync>>,
    /// Requests per second above which the fake throttles, and when each was answered.
    rate_limit: Option<(usize, VecDeque<Instant>)>,
    throttled: usize,
    page_size: usize,
    calls: HashMap<String, usize>,
    execution_calls: HashMap<String, usize>,
    operations: BTreeMap<&'static str, usize>,
    access_keys: HashMap<String, HashSet<String>>,
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

/// `Credential=AKID/DATE/REGION/SERVICE/aws4_request` of the request's signature.
fn credential_scope(request: &Request) -> Option<(String, String)> {
    let authorization = request.header("authorization")?;
    let credential = authorization.split("Credential=").nth(1)?;
    let mut parts = credential.split('/');
    let key = parts.next()?.to_owned();
    let region = parts.nth(1)?.to_owned();
    Some((key, region))
}

fn answer(script: &Mutex<Script>, request: &Request) -> Reply {
    let body = serde_json::from_slice::<serde_json::Value>(&request.body).unwrap_or_default();
    let (key, region) = credential_scope(request).unwrap_or_default();
    let (operation, latency, fault, hook) = {
        let mut script = script.lock().unwrap();
        script
            .access_keys
            .entry(region.clone())
            .or_default()
            .insert(key);
        let operation = match request.header("x-amz-target") {
            Some(GET_STATE) => "GetPipelineState",
            Some(GET_EXECUTION) => "GetPipelineExecution",
            Some(LIST_PIPELINES) => "ListPipelines",
            Some(LIST_ACTION_EXECUTIONS) => "ListActionExecutions",
            Some(LIST_PIPELINE_EXECUTIONS) => "ListPipelineExecutions",
            Some(GET_RESOURCES) => "GetResources",
            _ => "unknown",
        };
        // Every request counts, answered or faulted.
        *script.operations.entry(operation).or_default() += 1;
        if let Some(name) = body["name"]
            .as_str()
            .filter(|_| operation == "GetPipelineState")
        {
            *script.calls.entry(name.to_owned()).or_default() += 1;
        }
        if let Some(id) = body["pipelineExecutionId"]
            .as_str()
            .filter(|_| operation == "GetPipelineExecution")
        {
            *script.execution_calls.entry(id.to_owned()).or_default() += 1;
        }
        let throttled = over_rate_limit(&mut script);
        if throttled {
            script.throttled += 1;
        }
        let fault = if throttled {
            Some(Fault::Throttle)
        } else if operation == "GetPipelineExecution" {
            script
                .execution_faults
                .pop_front()
                .or_else(|| script.faults.pop_front())
        } else {
            script.faults.pop_front()
        };
        let hook = script
            .on_state
            .clone()
            .filter(|_| operation == "GetPipelineState");
        (operation, script.latency, fault, hook)
    };
    if let Some(each) = hook {
        each();
    }
    std::thread::sleep(latency);
    if let Some(fault) = fault {
        return faulted(fault);
    }
    match operation {
        "GetPipelineState" => get_state(script, &region, &body),
        "GetPipelineExecution" => get_execution(script, &body),
        "ListPipelines" => list_pipelines(script, &region, &body),
        "ListActionExecutions" => list_action_executions(script, &body),
        "ListPipelineExecutions" => list_pipeline_executions(script, &body),
        "GetResources" => get_resources(script, &region, &body),
        _ => error(
            400,
            "UnknownOperationException",
            "only GetPipelineState, GetPipelineExecution, ListPipelines and GetResources are faked",
        ),
    }
}

/// Whether one more request now passes the rate limit (a sliding one-second window).
fn over_rate_limit(script: &mut Script) -> bool {
    let Some((per_second, answered)) = script.rate_limit.as_mut() else {
        return false;
    };
    let now = Instant::now();
    while answered
        .front()
        .is_some_and(|at| now.duration_since(*at) >= Duration::from_secs(1))
    {
        answered.pop_front();
    }
    if answered.len() >= *per_second {
        return true;
    }
    answered.push_back(now);
    false
}

/// The state of `name` as `region` sees it: its own copy, else the every-region one.
fn state_in(script: &Script, region: &str, name: &str) -> Option<String> {
    script
        .states
        .get(&(Some(region.to_owned()), name.to_owned()))
        .or_else(|| script.states.get(&(None, name.to_owned())))
        .cloned()
}

/// The pipeline names `region` sees.
fn names_in(script: &Script, region: &str) -> Vec<String> {
    let mut names: Vec<String> = script
        .states
        .keys()
        .filter(|(r, _)| r.as_deref().is_none_or(|r| r == region))
        .map(|(_, name)| name.clone())
        .collect();
    names.sort();
    names.dedup();
    names
}

fn get_state(script: &Mutex<Script>, region: &str, body: &serde_json::Value) -> Reply {
    let Some(name) = body["name"].as_str().map(str::to_owned) else {
        return error(400, "ValidationException", "name is required");
    };
    let state = state_in(&script.lock().unwrap(), region, &name);
    match state {
        None => error(
            400,
            "PipelineNotFoundException",
            &format!("Account '{HOME_ACCOUNT}' does not have a pipeline with name '{name}'"),
        ),
        Some(state) => ok(state),
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
    let execution = script.lock().unwrap().executions.get(&id).cloned();
    match execution {
        None => error(
            400,
            "PipelineExecutionNotFoundException",
            &format!("Pipeline execution with id '{id}' not found"),
        ),
        Some(execution) => ok(execution),
    }
}

/// A page of `pipelineName`'s action runs, newest first, of one pipeline execution when the
/// filter names one; `nextToken` is the index of the next run.
fn list_action_executions(script: &Mutex<Script>, body: &serde_json::Value) -> Reply {
    let script = script.lock().unwrap();
    let name = match known_pipeline(&script, body) {
        Ok(name) => name,
        Err(reply) => return reply,
    };
    let wanted = body["filter"]["pipelineExecutionId"].as_str();
    let runs: Vec<&serde_json::Value> = script
        .action_runs
        .get(name)
        .into_iter()
        .flatten()
        .rev()
        .filter(|run| wanted.is_none_or(|id| run["pipelineExecutionId"] == id))
        .collect();
    page(body, "actionExecutionDetails", &runs)
}

/// The `pipelineName` a history call names, or the error AWS answers when it names none
/// or one that does not exist.
fn known_pipeline<'a>(script: &Script, body: &'a serde_json::Value) -> Result<&'a str, Reply> {
    let Some(name) = body["pipelineName"].as_str() else {
        return Err(error(
            400,
            "ValidationException",
            "pipelineName is required",
        ));
    };
    if script.states.keys().any(|(_, n)| n == name) {
        Ok(name)
    } else {
        Err(error(
            400,
            "PipelineNotFoundException",
            &format!("Account '{HOME_ACCOUNT}' does not have a pipeline with name '{name}'"),
        ))
    }
}

/// One page of `items` under `key`: `maxResults` of them (at most 100) from `nextToken`,
/// the index of the first, with the next page's token when more follow.
fn page(body: &serde_json::Value, key: &str, items: &[&serde_json::Value]) -> Reply {
    let start: usize = body["nextToken"]
        .as_str()
        .and_then(|t| t.parse().ok())
        .unwrap_or(0);
    let size = body["maxResults"]
        .as_u64()
        .map_or(100, |n| usize::try_from(n).unwrap_or(100))
        .min(100);
    let shown: Vec<&serde_json::Value> = items.iter().skip(start).take(size).copied().collect();
    let mut answer = serde_json::json!({ key: shown });
    if start + size < items.len() {
        answer["nextToken"] = serde_json::Value::String((start + size).to_string());
    }
    ok(answer.to_string())
}

/// A page of `pipelineName`'s executions, newest first; `nextToken` is the index of the
/// next one.
fn list_pipeline_executions(script: &Mutex<Script>, body: &serde_json::Value) -> Reply {
    let script = script.lock().unwrap();
    let name = match known_pipeline(&script, body) {
        Ok(name) => name,
        Err(reply) => return reply,
    };
    let summaries: Vec<&serde_json::Value> = script
        .execution_summaries
        .get(name)
        .into_iter()
        .flatten()
        .rev()
        .collect();
    page(body, "pipelineExecutionSummaries", &summaries)
}

/// A page of names, `nextToken` being the index of the next one.
fn list_pipelines(script: &Mutex<Script>, region: &str, body: &serde_json::Value) -> Reply {
    let script = script.lock().unwrap();
    let names = names_in(&script, region);
    let start: usize = body["nextToken"]
        .as_str()
        .and_then(|t| t.parse().ok())
        .unwrap_or(0);
    // As AWS: `maxResults` names at most (default 100), up to the page size (at most 1,000).
    let asked = body["maxResults"]
        .as_u64()
        .map_or(100, |m| usize::try_from(m).unwrap_or(usize::MAX));
    let end = (start + asked.min(script.page_size)).min(names.len());
    let pipelines: Vec<serde_json::Value> = names[start.min(end)..end]
        .iter()
        .map(|name| serde_json::json!({"name": name, "version": 1, "pipelineType": "V2"}))
        .collect();
    let mut page = serde_json::json!({ "pipelines": pipelines });
    if end < names.len() {
        page["nextToken"] = serde_json::json!(end.to_string());
    }
    ok(page.to_string())
}

/// Pipelines carrying every filter's tag, and the once-tagged ones with no tags (as the
/// real API keeps returning them for a while), one page a call.
fn get_resources(script: &Mutex<Script>, region: &str, body: &serde_json::Value) -> Reply {
    let script = script.lock().unwrap();
    let filters: Vec<(String, Vec<String>)> = body["TagFilters"]
        .as_array()
        .into_iter()
        .flatten()
        .map(|f| {
            (
                f["Key"].as_str().unwrap_or_default().to_owned(),
                f["Values"]
                    .as_array()
                    .into_iter()
                    .flatten()
                    .filter_map(|v| v.as_str().map(str::to_owned))
                    .collect(),
            )
        })
        .collect();
    let mut mappings = Vec::new();
    for name in names_in(&script, region) {
        let arn = format!("arn:aws:codepipeline:{region}:{HOME_ACCOUNT}:{name}");
        match script.tags.get(&(None, name.clone())) {
            Some(None) => mappings.push(serde_json::json!({"ResourceARN": arn, "Tags": []})),
            Some(Some(tags)) => {
                let carries = filters.iter().all(|(key, values)| {
                    tags.iter()
                        .any(|(k, v)| k == key && (values.is_empty() || values.contains(v)))
                });
                if carries {
                    let tags: Vec<serde_json::Value> = tags
                        .iter()
                        .map(|(k, v)| serde_json::json!({"Key": k, "Value": v}))
                        .collect();
                    mappings.push(serde_json::json!({"ResourceARN": arn, "Tags": tags}));
                }
            }
            None => {}
        }
    }
    // One resource a page, to exercise the paginator.
    let start: usize = body["PaginationToken"]
        .as_str()
        .and_then(|t| t.parse().ok())
        .unwrap_or(0);
    let page: Vec<serde_json::Value> = mappings.iter().skip(start).take(1).cloned().collect();
    let next = if start + 1 < mappings.len() {
        (start + 1).to_string()
    } else {
        String::new()
    };
    ok(serde_json::json!({"ResourceTagMappingList": page, "PaginationToken": next}).to_string())
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

fn ok(body: String) -> Reply {
    Reply::Respond {
        status: 200,
        content_type: JSON,
        body: body.into_bytes(),
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
