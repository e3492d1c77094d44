//! A release told in 20 notifications, as the tick makes them: a nine-stage pipeline's
//! execution moving stage by stage, one stage failing and retried by a person on the way.
//! Each notification carries the execution's progress and a growing revision. The Slack
//! app's tests and its benchmark deliver it.

use pipewatch_core::diff::{diff, essentials, essentials_since};
use pipewatch_core::render::content::{Content, Context};
use pipewatch_core::render::message::messages;
use pipewatch_core::state::PipelineState;
use serde_json::{Value, json};

/// The execution the release runs.
pub const EXECUTION: &str = "e7d1c0de-0000-4000-8000-000000000001";

/// The release, one event a step: each stage starts then succeeds, but Stage3 fails
/// (step 8) and is retried by a person (step 9).
const EVENTS: [(usize, &str); 20] = [
    (0, "InProgress"),
    (0, "Succeeded"),
    (1, "InProgress"),
    (1, "Succeeded"),
    (2, "InProgress"),
    (2, "Succeeded"),
    (3, "InProgress"),
    (3, "Failed"),
    (3, "InProgress"),
    (3, "Succeeded"),
    (4, "InProgress"),
    (4, "Succeeded"),
    (5, "InProgress"),
    (5, "Succeeded"),
    (6, "InProgress"),
    (6, "Succeeded"),
    (7, "InProgress"),
    (7, "Succeeded"),
    (8, "InProgress"),
    (8, "Succeeded"),
];

/// The pipeline after the first `step` events.
pub fn state_at(step: usize) -> PipelineState {
    let stages: Vec<Value> = (0..9)
        .map(|i| {
            let name = format!("Stage{i}");
            let Some((at, (_, status))) = EVENTS[..step]
                .iter()
                .enumerate()
                .rev()
                .find(|(_, (s, _))| *s == i)
            else {
                return json!({"stageName": name});
            };
            let retried = i == 3 && step >= 9;
            let mut action = json!({"actionName": "Run", "latestExecution": {
                "actionExecutionId": format!("a-{i}-{}", usize::from(retried)),
                "status": status, "lastStatusChange": 1_700_000_000 + 60 * at}});
            if *status == "Failed" {
                action["latestExecution"]["errorDetails"] =
                    json!({"code": "JobFailed", "message": "exit status 1"});
            }
            let mut stage = json!({"stageName": name,
                "latestExecution": {"pipelineExecutionId": EXECUTION, "status": status},
                "actionStates": [action]});
            if retried {
                stage["retryStageMetadata"] =
                    json!({"manualStageRetryAttempt": 1, "latestRetryTrigger": "ManualStageRetry"});
            }
            stage
        })
        .collect();
    serde_json::from_value(json!({"pipelineName": "shop-release", "stageStates": stages})).unwrap()
}

/// The 20 notifications of the release, in order, as the tick makes them.
pub fn release() -> Vec<Content> {
    let mut snapshot = essentials(&state_at(0));
    (1..=20)
        .map(|step| {
            let state = state_at(step);
            let changes = diff(&snapshot, &state);
            assert!(!changes.is_empty(), "step {step} changes something");
            snapshot = essentials_since(&snapshot, &state);
            let context = Context {
                state: Some(&state),
                starts: Some(&snapshot),
                revision: Some(100 + step as u64),
                ..Context::default()
            };
            let message = &messages("shop-release", &changes, &context, &format!("shop/{step}"))[0];
            Content::from_body(&message.body).unwrap()
        })
        .collect()
}

/// `items` in an order that is the same on every run for a `seed`: a linear congruential
/// generator, so a failure is reproduced by its seed.
pub fn shuffled<T>(mut items: Vec<T>, seed: u64) -> Vec<T> {
    let mut state = seed;
    for i in (1..items.len()).rev() {
        state = state
            .wrapping_mul(6_364_136_223_846_793_005)
            .wrapping_add(1_442_695_040_888_963_407);
        let j = usize::try_from(state >> 33).unwrap() % (i + 1);
        items.swap(i, j);
    }
    items
}
