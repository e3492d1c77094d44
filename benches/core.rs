//! The change-detection core alone, on CodePipeline's largest pipeline shape (50 stages of
//! 20 actions): what a quiet tick spends per pipeline besides waiting on AWS. Run with
//! `cargo bench --bench core`; no services needed.

use pipewatch_core::diff::{diff, essentials, essentials_since};
use pipewatch_core::record::Record;
use pipewatch_core::state::PipelineState;
use serde_json::json;

fn main() {
    divan::main();
}

/// 50 stages of 20 actions, every run finished, as `GetPipelineState` (CLI form) says it.
fn large(run: usize) -> PipelineState {
    let stages: Vec<_> = (0..50)
        .map(|s| {
            json!({"stageName": format!("Stage{s:02}"),
                "inboundTransitionState": {"enabled": true},
                "latestExecution": {"pipelineExecutionId": "e-1", "status": "Succeeded", "type": "STANDARD"},
                "actionStates": (0..20).map(|a| json!({"actionName": format!("Action{a:02}"),
                    "entityUrl": "https://console.aws.amazon.com/codebuild/home#/projects/p/view",
                    "latestExecution": {"actionExecutionId": format!("a-{s}-{a}-{run}"), "status": "Succeeded",
                        "summary": "Build succeeded in 2 minutes",
                        "lastStatusChange": "2025-11-24T10:00:00Z",
                        "externalExecutionId": format!("build:{s}-{a}"),
                        "externalExecutionUrl": format!("https://console.aws.amazon.com/codebuild/home#/builds/b-{s}-{a}/view/new")}}))
                    .collect::<Vec<_>>()})
        })
        .collect();
    PipelineState::from_json(
        json!({"pipelineName": "monolith", "pipelineVersion": 3, "stageStates": stages})
            .to_string()
            .as_bytes(),
    )
    .unwrap()
}

#[divan::bench]
fn parse_a_response(bencher: divan::Bencher) {
    let text = serde_json::to_vec(&large(0)).unwrap();
    bencher.bench(|| PipelineState::from_json(divan::black_box(&text)).unwrap());
}

#[divan::bench]
fn diff_when_nothing_changed(bencher: divan::Bencher) {
    let (stored, current) = (essentials(&large(0)), large(0));
    bencher.bench(|| diff(divan::black_box(&stored), divan::black_box(&current)));
}

#[divan::bench]
fn diff_when_every_action_ran_again(bencher: divan::Bencher) {
    let (stored, current) = (essentials(&large(0)), large(1));
    bencher.bench(|| diff(divan::black_box(&stored), divan::black_box(&current)));
}

#[divan::bench]
fn essentials_of_an_observation(bencher: divan::Bencher) {
    let (stored, current) = (essentials(&large(0)), large(1));
    bencher.bench(|| essentials_since(divan::black_box(&stored), divan::black_box(&current)));
}

#[divan::bench]
fn read_a_stored_record(bencher: divan::Bencher) {
    let record = Record {
        pipeline: "monolith".into(),
        version: 7,
        snapshot: Some(essentials(&large(0))),
        outbox: Vec::new(),
        executions: Vec::new(),
        expires_at: None,
        health: pipewatch_core::record::Health::default(),
    };
    let item =
        pipewatch::aws::dynamodb::encode(&record, pipewatch_core::state::Timestamp::now()).unwrap();
    bencher.bench(|| pipewatch::aws::dynamodb::decode(divan::black_box(&item)));
}
