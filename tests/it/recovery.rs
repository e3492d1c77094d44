//! Recovery against the wire-level fake's `ListActionExecutions`: runs that came and went
//! between two ticks are reported once, in order, before the run that revealed them; a
//! quiet tick asks nothing; deleted history degrades to what the observations show. And
//! the completeness figure: a scripted day of a busy pipeline whose builds fail and are
//! retried between polls, the share of runs reported with and without recovery.

use std::collections::HashSet;

use serde_json::{Value, json};

use pipewatch_testkit::world::World;

/// Build/UnitTests on run `run` with `status`, in pipeline execution `execution`.
fn observed(pipeline: &str, execution: &str, run: &str, status: &str) -> String {
    json!({"pipelineName": pipeline, "pipelineVersion": 1, "stageStates": [
        {"stageName": "Build",
         "latestExecution": {"pipelineExecutionId": execution, "status": "InProgress"},
         "actionStates": [{"actionName": "UnitTests",
            "latestExecution": {"actionExecutionId": run, "status": status,
                                "externalExecutionUrl": format!("https://logs.example/{run}")}}]}]})
    .to_string()
}

/// An `actionExecutionDetails` entry of Build/UnitTests.
fn action_run(execution: &str, run: &str, status: &str, started: f64) -> Value {
    let mut detail = json!({"pipelineExecutionId": execution, "actionExecutionId": run,
        "pipelineVersion": 1, "stageName": "Build", "actionName": "UnitTests",
        "startTime": started, "lastUpdateTime": started + 30.0, "status": status,
        "output": {"executionResult": {"externalExecutionId": run,
            "externalExecutionSummary": format!("{run} {status}"),
            "externalExecutionUrl": format!("https://logs.example/{run}")}}});
    if status == "Failed" {
        detail["output"]["executionResult"]["errorDetails"] =
            json!({"code": "JobFailed", "message": format!("{run}: exit status 1")});
    }
    detail
}

/// `(recovered, execution_id, status, why)` of each change the subscriber got, in order.
async fn delivered(world: &World) -> Vec<(bool, String, String, String)> {
    world
        .inbox
        .drain()
        .await
        .iter()
        .flat_map(pipewatch_testkit::services::Delivered::changes)
        .map(|c| {
            (
                c["recovered"] == true,
                c["execution_id"].as_str().unwrap_or_default().to_owned(),
                c["status"].as_str().unwrap_or_default().to_owned(),
                c["why"].as_str().unwrap_or_default().to_owned(),
            )
        })
        .collect()
}

#[tokio::test]
async fn a_failure_retried_between_ticks_is_reported_once_before_its_retry() {
    let world = World::new().await;
    let function = world.function("web", "", None);
    world
        .fake
        .set_state(&observed("web", "e1", "a1", "InProgress"));
    function.handle(&json!({}), None).await.unwrap();
    let asked = || world.fake.operations("ListActionExecutions");

    // Between two ticks a1 failed and was retried as a2.
    world
        .fake
        .add_action_run("web", action_run("e1", "a1", "Failed", 1_800_000_000.0));
    world
        .fake
        .add_action_run("web", action_run("e1", "a2", "InProgress", 1_800_000_040.0));
    world
        .fake
        .set_state(&observed("web", "e1", "a2", "InProgress"));
    let summary = function.handle(&json!({}), None).await.unwrap();
    assert_eq!(
        (summary.recovered, summary.recovery_failures),
        (1, 0),
        "{summary:?}"
    );
    assert_eq!(asked(), 1, "one page for the one pipeline execution");
    let changes = delivered(&world).await;
    assert_eq!(
        changes,
        [
            (
                true,
                "a1".into(),
                "Failed".into(),
                "a1: exit status 1".into()
            ),
            (false, "a2".into(), "InProgress".into(), String::new()),
        ],
        "the failure, with its reason, before the retry"
    );

    // A quiet tick asks nothing; the retry's end is not a new run: nothing to ask either.
    function.handle(&json!({}), None).await.unwrap();
    world
        .fake
        .set_state(&observed("web", "e1", "a2", "Succeeded"));
    let summary = function.handle(&json!({}), None).await.unwrap();
    assert_eq!((summary.changes, summary.recovered), (1, 0));
    assert_eq!(asked(), 1);
    let changes = delivered(&world).await;
    assert_eq!(changes.len(), 1, "a1 is not reported again: {changes:?}");

    // History deleted (older than the API keeps): a new run is reported as observed.
    world.fake.clear_action_runs("web");
    world
        .fake
        .set_state(&observed("web", "e2", "a9", "InProgress"));
    let summary = function.handle(&json!({}), None).await.unwrap();
    assert!(summary.failed.is_empty(), "{summary:?}");
    assert_eq!((summary.recovered, summary.recovery_failures), (0, 0));
    let changes = delivered(&world).await;
    assert!(
        changes.iter().all(|(recovered, ..)| !recovered),
        "{changes:?}"
    );
    assert!(changes.iter().any(|(_, id, ..)| id == "a9"), "{changes:?}");
}

/// A tiny deterministic generator, so the scripted day is the same on every run.
struct Lcg(u64);

impl Lcg {
    fn below(&mut self, n: u64) -> u64 {
        self.0 = self
            .0
            .wrapping_mul(6_364_136_223_846_793_005)
            .wrapping_add(1);
        (self.0 >> 33) % n
    }
}

/// Plays a busy day for `pipeline`: 60 polls; between two polls 0–3 runs of the build
/// happen (the failures retried at once), and the poll sees only the last. Returns the
/// runs that happened and the ids reported. With `history`, the fake lists the runs.
async fn scripted_day(world: &World, pipeline: &str, history: bool) -> (usize, HashSet<String>) {
    let function = world.function(pipeline, "", None);
    let mut random = Lcg(7);
    world
        .fake
        .set_state(&observed(pipeline, "e0", "r0", "Succeeded"));
    if history {
        let baseline = action_run("e0", "r0", "Succeeded", 1_799_999_990.0);
        world.fake.add_action_run(pipeline, baseline);
    }
    function.handle(&json!({}), None).await.unwrap();
    let mut happened = 0;
    let mut all = Vec::new();
    let mut reported = HashSet::new();
    let mut clock = 1_800_000_000.0;
    let mut last = ("e0".to_owned(), "r0".to_owned(), "Succeeded");
    for poll in 1..=60 {
        let runs = random.below(4);
        if runs > 0 && random.below(3) == 0 {
            // A new pipeline execution starts.
            last.0 = format!("e{poll}");
        }
        for n in 0..runs {
            let id = format!("{pipeline}-r{poll}-{n}");
            let status = if n + 1 < runs {
                "Failed"
            } else if random.below(2) == 0 {
                "InProgress"
            } else {
                "Succeeded"
            };
            clock += 10.0;
            if history {
                world
                    .fake
                    .add_action_run(pipeline, action_run(&last.0, &id, status, clock));
            }
            happened += 1;
            all.push(format!("{id} {} {status} at poll {poll}", last.0));
            last.1 = id;
            last.2 = status;
        }
        world
            .fake
            .set_state(&observed(pipeline, &last.0, &last.1, last.2));
        function.handle(&json!({}), None).await.unwrap();
        for (_, id, _, _) in delivered(world).await {
            if !id.is_empty() && id.starts_with(pipeline) {
                reported.insert(id);
            }
        }
    }
    if history {
        for run in &all {
            if !reported.contains(run.split(' ').next().unwrap()) {
                eprintln!("missed: {run}");
            }
        }
    }
    (happened, reported)
}

#[tokio::test]
async fn over_a_busy_day_every_run_is_reported_with_recovery() {
    let world = World::new().await;
    let (happened, without) = scripted_day(&world, "plain", false).await;
    let (same, with) = scripted_day(&world, "recovering", true).await;
    assert_eq!(happened, same, "the same day twice");
    #[allow(clippy::cast_precision_loss)]
    let share = |reported: usize| 100.0 * reported as f64 / happened as f64;
    println!(
        "completeness over a scripted day ({happened} build runs, 60 polls, failures retried between polls): {:.0}% reported from observations alone, {:.0}% with recovery",
        share(without.len()),
        share(with.len())
    );
    assert!(without.len() < happened, "the day has runs between polls");
    assert_eq!(with.len(), happened, "every run reported with recovery");
}

/// A `pipelineExecutionSummaries` entry.
fn execution(id: &str, status: &str, started: f64) -> Value {
    json!({"pipelineExecutionId": id, "status": status, "startTime": started,
           "lastUpdateTime": started + 95.0, "trigger": {"triggerType": "Webhook"}})
}

#[tokio::test]
async fn executions_that_failed_or_were_superseded_between_ticks_are_reported_once() {
    let world = World::new().await;
    let function = world.function("deploy", "", None);
    world
        .fake
        .add_execution_summary("deploy", execution("e1", "Succeeded", 1_800_000_000.0));
    world
        .fake
        .set_state(&observed("deploy", "e1", "a1", "Succeeded"));
    function.handle(&json!({}), None).await.unwrap();

    // Between two ticks: e2 failed, e3 was superseded by e4, which now runs.
    for (id, status, at) in [
        ("e2", "Failed", 1_800_000_100.0),
        ("e3", "Superseded", 1_800_000_200.0),
        ("e4", "InProgress", 1_800_000_300.0),
    ] {
        world
            .fake
            .add_execution_summary("deploy", execution(id, status, at));
    }
    world
        .fake
        .set_state(&observed("deploy", "e4", "a4", "InProgress"));
    let summary = function.handle(&json!({}), None).await.unwrap();
    assert_eq!(summary.recovered, 2, "{summary:?}");
    assert_eq!(world.fake.operations("ListPipelineExecutions"), 1);
    let messages = world.inbox.drain().await;
    assert_eq!(messages.len(), 1);
    let changes = messages[0].changes();
    let executions: Vec<(String, String, String, bool, u64)> = changes
        .iter()
        .filter(|c| c["kind"] == "execution")
        .map(|c| {
            (
                c["execution_id"].as_str().unwrap().to_owned(),
                c["status"].as_str().unwrap().to_owned(),
                c["severity"].as_str().unwrap().to_owned(),
                c["recovered"] == true,
                c["duration_seconds"].as_u64().unwrap(),
            )
        })
        .collect();
    assert_eq!(
        executions,
        [
            ("e2".into(), "Failed".into(), "failure".into(), true, 95),
            ("e3".into(), "Superseded".into(), "warning".into(), true, 95),
        ],
        "oldest first, before what the observation shows: {changes:#?}"
    );
    assert_eq!(changes[0]["kind"], "execution", "reported first");
    assert_eq!(messages[0].attributes["severity"], "failure");

    // Next tick e4 succeeds: nothing is recovered again, no list is asked.
    world
        .fake
        .add_execution_summary("deploy", execution("e4", "Succeeded", 1_800_000_300.0));
    world
        .fake
        .set_state(&observed("deploy", "e4", "a4", "Succeeded"));
    let summary = function.handle(&json!({}), None).await.unwrap();
    assert_eq!(summary.recovered, 0);
    assert_eq!(world.fake.operations("ListPipelineExecutions"), 1);
}
