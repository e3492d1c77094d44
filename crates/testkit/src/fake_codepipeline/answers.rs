//! What the fake answers: each operation's reply from the script, in the `awsJson1_1`
//! protocol, after the script's latency, faults and rate limit.

use std::sync::Mutex;
use std::time::{Duration, Instant};

use super::{Fault, HOME_ACCOUNT, Script};
use crate::http::{Reply, Request};

const GET_STATE: &str = "CodePipeline_20150709.GetPipelineState";
const GET_EXECUTION: &str = "CodePipeline_20150709.GetPipelineExecution";
const LIST_PIPELINES: &str = "CodePipeline_20150709.ListPipelines";
const LIST_ACTION_EXECUTIONS: &str = "CodePipeline_20150709.ListActionExecutions";
const LIST_PIPELINE_EXECUTIONS: &str = "CodePipeline_20150709.ListPipelineExecutions";
const GET_RESOURCES: &str = "ResourceGroupsTaggingAPI_20170126.GetResources";
const PUT_APPROVAL_RESULT: &str = "CodePipeline_20150709.PutApprovalResult";
const JSON: &str = "application/x-amz-json-1.1";

/// Who CodePipeline says decided an approval through the approver.
pub const APPROVER_ROLE: &str =
    "arn:aws:sts::123456789012:assumed-role/pipewatch-approver/approver";

/// `Credential=AKID/DATE/REGION/SERVICE/aws4_request` of the request's signature.
fn credential_scope(request: &Request) -> Option<(String, String)> {
    let authorization = request.header("authorization")?;
    let credential = authorization.split("Credential=").nth(1)?;
    let mut parts = credential.split('/');
    let key = parts.next()?.to_owned();
    let region = parts.nth(1)?.to_owned();
    Some((key, region))
}

pub(super) fn answer(script: &Mutex<Script>, request: &Request) -> Reply {
    let body = serde_json::from_slice::<serde_json::Value>(&request.body).unwrap_or_default();
    let (key, region) = credential_scope(request).unwrap_or_default();
    let (operation, latency, fault, hook, gate) = {
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
            Some(PUT_APPROVAL_RESULT) => "PutApprovalResult",
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
        } else if operation == "PutApprovalResult" {
            script.approval_faults.pop_front()
        } else {
            script.faults.pop_front()
        };
        let hook = script
            .on_state
            .clone()
            .filter(|_| operation == "GetPipelineState");
        let gate = script
            .approval_gate
            .clone()
            .filter(|_| operation == "PutApprovalResult");
        (operation, script.latency, fault, hook, gate)
    };
    if let Some(each) = hook {
        each();
    }
    if let Some(gate) = gate {
        gate.pass();
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
        "PutApprovalResult" => put_approval_result(script, &region, &body),
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

/// Decides a waiting approval as CodePipeline does: only with the token the action's
/// latest run carries while it waits. The decision is recorded (what a test reads back) and
/// the state moves on: the run succeeds or fails, with the summary, written by the caller's
/// role.
fn put_approval_result(script: &Mutex<Script>, region: &str, body: &serde_json::Value) -> Reply {
    let (Some(name), Some(stage), Some(action), Some(token)) = (
        body["pipelineName"].as_str(),
        body["stageName"].as_str(),
        body["actionName"].as_str(),
        body["token"].as_str(),
    ) else {
        return error(
            400,
            "ValidationException",
            "pipelineName, stageName, actionName and token are required",
        );
    };
    let mut script = script.lock().unwrap();
    let Some(text) = state_in(&script, region, name) else {
        return error(
            400,
            "PipelineNotFoundException",
            &format!("no pipeline named '{name}'"),
        );
    };
    // PARALLEL mode: the token is a waiting run's externalExecutionId in the history.
    let decided = if body["result"]["status"] == "Approved" {
        "Succeeded"
    } else {
        "Failed"
    };
    // As CodePipeline records a decision: the caller's role as who changed the run, now as
    // when (ActionExecutionDetail's updatedBy and lastUpdateTime, ActionExecution's
    // lastUpdatedBy and lastStatusChange in the API reference), the summary kept.
    let by = serde_json::json!(APPROVER_ROLE);
    let now = serde_json::json!(
        std::time::SystemTime::now()
            .duration_since(std::time::UNIX_EPOCH)
            .unwrap()
            .as_secs()
    );
    if let Some(run) = script
        .action_runs
        .get_mut(name)
        .into_iter()
        .flatten()
        .find(|run| {
            run["stageName"] == stage
                && run["actionName"] == action
                && run["status"] == "InProgress"
                && run["output"]["executionResult"]["externalExecutionId"] == token
        })
    {
        run["status"] = serde_json::json!(decided);
        run["updatedBy"] = by;
        run["lastUpdateTime"] = now;
        run["output"]["executionResult"]["externalExecutionSummary"] =
            body["result"]["summary"].clone();
        script.approvals.push(body.clone());
        return ok(r#"{"approvedAt": 1764000000}"#.to_owned());
    }
    let mut pipeline: serde_json::Value = serde_json::from_str(&text).unwrap();
    let Some(run) = pipeline["stageStates"]
        .as_array_mut()
        .and_then(|stages| stages.iter_mut().find(|s| s["stageName"] == stage))
        .and_then(|s| s["actionStates"].as_array_mut())
        .and_then(|actions| actions.iter_mut().find(|a| a["actionName"] == action))
        .map(|a| &mut a["latestExecution"])
    else {
        return error(400, "ActionNotFoundException", "no such stage and action");
    };
    if run["status"] != "InProgress" || run["token"].is_null() {
        return error(
            400,
            "ApprovalAlreadyCompletedException",
            "the approval action has already been completed",
        );
    }
    if run["token"] != token {
        return error(
            400,
            "InvalidApprovalTokenException",
            "the approval token is not valid",
        );
    }
    let summary = body["result"]["summary"].clone();
    run["status"] = serde_json::json!(decided);
    run["summary"] = summary;
    run["lastUpdatedBy"] = by;
    run["lastStatusChange"] = now;
    run.as_object_mut().map(|r| r.remove("token"));
    script.approvals.push(body.clone());
    let key = if script
        .states
        .contains_key(&(Some(region.to_owned()), name.to_owned()))
    {
        (Some(region.to_owned()), name.to_owned())
    } else {
        (None, name.to_owned())
    };
    script.states.insert(key, pipeline.to_string());
    ok(r#"{"approvedAt": 1764000000}"#.to_owned())
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
