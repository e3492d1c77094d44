//! The tick against real components: DynamoDB Local, moto's SNS and SQS, and a wire-level
//! CodePipeline fake that the real SDK client talks to. Faults are injected by proxies in
//! front of the emulators, never inside the adapters. Each test prints its figures.

use std::collections::{HashMap, HashSet};
use std::time::Duration;

use aws_sdk_dynamodb::types::AttributeValue;
use serde_json::json;

use pipewatch::aws::sqs::SqsDeadLetters;
use pipewatch::aws::{CodePipelineSource, DynamoStore, SnsNotifier};
use pipewatch::ports::{DeadLetterQueue, Notifier, PipelineSource, SnapshotStore};
use pipewatch::tick::{Clock, Settings, TickSummary, Watcher};
use pipewatch_core::pipeline::PipelineRef;
use pipewatch_core::render::console::Console;
use pipewatch_testkit::fake_codepipeline::Fault as PipelineFault;
use pipewatch_testkit::fixtures::{scenario, scenario_executions};
use pipewatch_testkit::world::World;

/// The settings these tests watch with: links to eu-west-1's console, records that never
/// expire, "cannot read" after 3 failed reads, 4 pipelines at once.
fn settings(lease: Duration) -> Settings {
    Settings {
        lease,
        max_concurrency: 4,
        console: Console::new("eu-west-1", Some("123456789012")),
        retention: None,
        max_publish_attempts: 10,
        report_failures_after: 3,
        clock: Clock::default(),
    }
}

/// The watcher over `world`'s own adapters, with a one-minute lease.
fn watcher(world: &World) -> Watcher<CodePipelineSource, DynamoStore, SnsNotifier, SqsDeadLetters> {
    world.watcher_with(
        world.store(),
        world.notifier(),
        settings(Duration::from_mins(1)),
    )
}

/// Serves the recorded release's executions; returns its states, oldest first.
fn serve_release_executions(world: &World) -> Vec<String> {
    for execution in scenario_executions("release-failure-retry") {
        world.fake.set_execution(&execution);
    }
    scenario("release-failure-retry")
}

/// Serves run `run` of each pipeline (see [`run_state`]).
fn serve_run(world: &World, pipelines: &[String], run: usize) {
    for pipeline in pipelines {
        world.fake.set_state(&run_state(pipeline, run));
    }
}

/// Names `count` pipelines, serves their first run and ticks once: silent baselines.
async fn baselined<S: SnapshotStore, N: Notifier, D: DeadLetterQueue>(
    world: &World,
    watcher: &Watcher<CodePipelineSource, S, N, D>,
    prefix: &str,
    count: usize,
) -> Vec<String> {
    let pipelines = names(prefix, count);
    serve_run(world, &pipelines, 0);
    let summary = watcher.tick(&pipelines).await;
    assert_eq!(summary.writes, count, "{summary:?}");
    pipelines
}

/// Ticks over pipelines named at home, as most tests watch them.
trait TickByName {
    async fn tick(&self, names: &[String]) -> TickSummary;
}

impl<P: PipelineSource, S: SnapshotStore, N: Notifier, D: DeadLetterQueue> TickByName
    for Watcher<P, S, N, D>
{
    async fn tick(&self, names: &[String]) -> TickSummary {
        let pipelines: Vec<PipelineRef> = names.iter().map(PipelineRef::home).collect();
        self.run_tick(&pipelines).await
    }
}

fn number(item: &HashMap<String, AttributeValue>, name: &str) -> u64 {
    item[name].as_n().unwrap().parse().unwrap()
}

/// A pipeline whose one action has run `run` times: each run is one change.
fn run_state(pipeline: &str, run: usize) -> String {
    json!({"pipelineName": pipeline, "pipelineVersion": 1, "stageStates": [
        {"stageName": "Build",
         "latestExecution": {"pipelineExecutionId": format!("{pipeline}-execution"), "status": "Succeeded"},
         "actionStates": [{"actionName": "Compile",
            "latestExecution": {"actionExecutionId": format!("{pipeline}-run-{run}"), "status": "Succeeded"}}]}]})
    .to_string()
}

fn names(prefix: &str, count: usize) -> Vec<String> {
    (0..count).map(|i| format!("{prefix}-{i:03}")).collect()
}

#[tokio::test]
async fn a_recorded_release_is_announced_step_by_step_after_a_silent_baseline() {
    let harness = World::new().await;
    let watcher = watcher(&harness);
    let pipelines = vec!["web-app-release".to_owned()];
    let states = scenario("release-failure-retry");

    harness.fake.set_state(&states[0]);
    let first = watcher.tick(&pipelines).await;
    assert_eq!(
        (first.changes, first.messages_published, first.writes),
        (0, 0, 1)
    );
    assert!(
        harness.inbox.drain().await.is_empty(),
        "first sight is silent"
    );

    // The moves of each step, as the replay contract lists them (crates/cli/tests/cli/replay.rs):
    // the release starting, the build failing, its retry, deploying, deployed.
    let expected_changes = [5, 3, 2, 4, 2];
    assert_eq!(states.len(), expected_changes.len() + 1);
    for state in &states[1..] {
        harness.fake.set_state(state);
        let summary = watcher.tick(&pipelines).await;
        assert!(summary.failed.is_empty(), "{summary:?}");
        assert_eq!(summary.messages_pending, 0);
    }
    let delivered = harness.inbox.drain().await;
    assert_eq!(
        delivered.len(),
        states.len() - 1,
        "one message per tick with changes"
    );
    for (message, expected) in delivered.iter().zip(&expected_changes) {
        assert_eq!(message.changes().len(), *expected);
        assert_eq!(message.body["id"], message.id());
        assert_eq!(message.attributes["pipeline"], "web-app-release");
        assert!(message.subject.len() < 100 && message.subject.starts_with("web-app-release: "));
    }
    let failure = &delivered[1];
    assert_eq!(
        failure.subject,
        "web-app-release: Build/UnitTests Failed (+2 more)"
    );
    let statuses: Vec<String> = serde_json::from_str(&failure.attributes["status"]).unwrap();
    assert!(statuses.contains(&"Failed".to_owned()));
    assert_eq!(failure.attributes["severity"], "failure");
    let ids: HashSet<&str> = delivered
        .iter()
        .map(pipewatch_testkit::services::Delivered::id)
        .collect();
    assert_eq!(ids.len(), delivered.len(), "ids are unique");
    println!(
        "release scenario: {} ticks, {} messages, {} changes",
        states.len(),
        delivered.len(),
        expected_changes.iter().sum::<usize>()
    );
}

const RELEASE_EXECUTION: &str = "a3c8e1d2-5b7f-4e6a-8c9d-0f1e2d3c4b5a";

#[tokio::test]
async fn a_release_is_enriched_once_per_execution_and_every_message_shows_the_commit() {
    let harness = World::new().await;
    let watcher = watcher(&harness);
    let pipelines = vec!["web-app-release".to_owned()];
    let states = serve_release_executions(&harness);
    let mut enriched = 0;
    for state in &states {
        harness.fake.set_state(state);
        let summary = watcher.tick(&pipelines).await;
        assert!(summary.failed.is_empty(), "{summary:?}");
        assert_eq!(summary.enrichment_failures, 0);
        enriched += summary.enriched;
    }
    let delivered = harness.inbox.drain().await;
    assert_eq!(delivered.len(), states.len() - 1);
    assert_eq!(
        harness.fake.execution_calls(RELEASE_EXECUTION),
        1,
        "asked once, however many changes mention it"
    );
    assert_eq!(enriched, 1);
    for message in &delivered {
        let execution = &message.body["executions"][0];
        assert_eq!(execution["id"], RELEASE_EXECUTION);
        assert_eq!(execution["enriched"], true, "{}", message.body);
        assert_eq!(execution["revisions"][0]["short_id"], "4e1243b");
        assert_eq!(
            execution["revisions"][0]["message"]
                .as_str()
                .unwrap()
                .lines()
                .next(),
            Some("Merge pull request #412 from acme/feature/faster-checkout")
        );
        assert_eq!(message.body["schema_version"], 2);
    }
    let failure = &delivered[1].body;
    assert_eq!(
        failure["headline"],
        "web-app-release: Build/UnitTests Failed after 1m35s (+2 more)"
    );
    let lead = &failure["changes"][usize::try_from(failure["lead"].as_u64().unwrap()).unwrap()];
    assert_eq!(lead["duration_seconds"], 95);
    assert!(
        lead["links"]["logs"]
            .as_str()
            .unwrap()
            .contains("codebuild")
    );
    assert_eq!(
        lead["links"]["execution"],
        format!(
            "https://eu-west-1.console.aws.amazon.com/codesuite/codepipeline/pipelines/web-app-release/executions/{RELEASE_EXECUTION}/timeline?region=eu-west-1"
        )
    );
    assert_eq!(
        failure["pipeline_arn"],
        "arn:aws:codepipeline:eu-west-1:123456789012:web-app-release"
    );
    let cached = harness.stored("web-app-release").await.executions;
    assert_eq!(cached.len(), 1, "the answer is kept in the record");
    println!(
        "enrichment: {} messages over {} ticks, GetPipelineExecution called {} time(s)",
        delivered.len(),
        states.len(),
        harness.fake.all_execution_calls()
    );
}

#[tokio::test]
async fn a_failed_enrichment_never_delays_a_notification_and_is_asked_again_later() {
    let harness = World::new().await;
    let watcher = watcher(&harness);
    let pipelines = vec!["web-app-release".to_owned()];
    let states = serve_release_executions(&harness);
    harness.fake.set_state(&states[0]);
    watcher.tick(&pipelines).await;

    harness.fake.fail_next_executions(1, PipelineFault::Denied);
    harness.fake.set_state(&states[1]);
    let denied = watcher.tick(&pipelines).await;
    assert!(denied.failed.is_empty(), "{denied:?}");
    assert_eq!(
        (denied.messages_published, denied.enrichment_failures),
        (1, 1)
    );
    let without = harness.inbox.drain().await;
    assert_eq!(without[0].body["executions"][0]["enriched"], false);
    assert_eq!(
        without[0].body["executions"][0]["revisions"],
        json!([]),
        "no commit rather than a wrong one"
    );

    harness.fake.set_state(&states[2]);
    let later = watcher.tick(&pipelines).await;
    assert_eq!((later.enriched, later.enrichment_failures), (1, 0));
    let with = harness.inbox.drain().await;
    assert_eq!(with[0].body["executions"][0]["enriched"], true);
    assert_eq!(harness.fake.execution_calls(RELEASE_EXECUTION), 2);
}

mod faults;
mod races;
mod records;
