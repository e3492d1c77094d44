//! The tick against real components: DynamoDB Local, moto's SNS and SQS, and a wire-level
//! CodePipeline fake that the real SDK client talks to. Faults are injected by proxies in
//! front of the emulators, never inside the adapters. Each test prints its figures.

use std::collections::{HashMap, HashSet};
use std::sync::atomic::{AtomicBool, Ordering};
use std::time::Duration;

use aws_sdk_dynamodb::primitives::Blob;
use aws_sdk_dynamodb::types::AttributeValue;
use serde_json::json;

use pipewatch::aws::sqs::{SqsDeadLetters, SqsShardQueue};
use pipewatch::aws::{CodePipelineSource, DynamoStore, SnsNotifier};
use pipewatch::lambda::Function;
use pipewatch::ports::NotifyError;
use pipewatch::ports::{DeadLetterQueue, Notifier, PipelineSource, SnapshotStore};
use pipewatch::select::{Home, Selection};
use pipewatch::tick::{Clock, Settings, TickSummary, Watcher};
use pipewatch_core::pipeline::PipelineRef;
use pipewatch_core::record::Loaded;
use pipewatch_core::render::console::Console;
use pipewatch_core::render::message::Message;
use pipewatch_testkit::fake_codepipeline::Fault as PipelineFault;
use pipewatch_testkit::fault_proxy::{Fault, FaultProxy};
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

#[tokio::test]
async fn a_record_written_by_0_1_0_is_read_without_a_rebaseline_and_its_pending_message_delivered()
{
    let harness = World::new().await;
    let old = pipewatch_testkit::records::item("v0.1.0-release-failure");
    let pending_id = "web-app-release/41/1";
    aws_sdk_dynamodb::Client::new(&harness.config)
        .put_item()
        .table_name(&harness.table)
        .set_item(Some(old))
        .send()
        .await
        .unwrap();
    let Loaded::Found(record) =
        pipewatch::aws::dynamodb::decode(&harness.item("web-app-release").await)
    else {
        panic!("the 0.1.0 record must read as found")
    };
    assert!(record.executions.is_empty());
    assert_eq!(record.outbox[0].message.id, pending_id);

    // The pipeline moves on (the failed test is retried): the pending message goes out,
    // and the new change is announced, from the old snapshot, with no re-baseline.
    let states = serve_release_executions(&harness);
    harness.fake.set_state(&states[3]);
    let summary = watcher(&harness)
        .tick(&["web-app-release".to_owned()])
        .await;
    assert!(summary.failed.is_empty(), "{summary:?}");
    assert_eq!(summary.rebaselined, 0);
    assert_eq!(
        summary.changes, 2,
        "the retry: stage and action back in progress"
    );
    assert_eq!(
        (summary.messages_published, summary.messages_pending),
        (2, 0)
    );
    let delivered = harness.inbox.drain().await;
    assert_eq!(
        delivered[0].id(),
        pending_id,
        "the old message first, as written"
    );
    assert_eq!(
        delivered[0].subject,
        "web-app-release: Build/UnitTests Failed (+2 more)"
    );
    assert_eq!(delivered[1].body["schema_version"], 2);
    // One claim, one acknowledgement, on from the old version.
    assert_eq!(harness.stored("web-app-release").await.version, 43);
}

/// Writes a record fixture (`tests/records/{name}.json`) to the table.
async fn put_fixture(harness: &World, name: &str) {
    aws_sdk_dynamodb::Client::new(&harness.config)
        .put_item()
        .table_name(&harness.table)
        .set_item(Some(pipewatch_testkit::records::item(name)))
        .send()
        .await
        .unwrap();
}

#[test]
fn every_stored_format_ever_written_reads_as_a_record() {
    let dir = std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("tests/records");
    let mut read = 0;
    for entry in std::fs::read_dir(dir).unwrap() {
        let name = entry.unwrap().path();
        let name = name.file_stem().unwrap().to_str().unwrap().to_owned();
        match pipewatch::aws::dynamodb::decode(&pipewatch_testkit::records::item(&name)) {
            Loaded::Found(_) => read += 1,
            other => panic!("{name}: {other:?}"),
        }
    }
    assert!(read >= 3, "{read}");
}

#[tokio::test]
async fn a_record_with_refused_messages_and_a_failed_read_streak_is_carried_on() {
    let harness = World::new().await;
    put_fixture(&harness, "v0.2-release-failure-refused-twice").await;
    let record = harness.stored("web-app-release").await;
    assert_eq!(
        (record.outbox[0].attempts, record.outbox[0].claimed_at),
        (2, 1_795_834_800_000)
    );
    assert_eq!(record.health.failures, 2);
    assert!(!record.health.reported);

    let states = serve_release_executions(&harness);
    harness.fake.set_state(&states[3]);
    let summary = watcher(&harness)
        .tick(&["web-app-release".to_owned()])
        .await;
    assert!(summary.failed.is_empty(), "{summary:?}");
    assert_eq!((summary.rebaselined, summary.dead_lettered), (0, 0));
    let delivered = harness.inbox.drain().await;
    assert_eq!(
        delivered[0].id(),
        "web-app-release/41/1",
        "the refused message, at last"
    );
    assert!(
        delivered
            .iter()
            .all(|m| m.attributes["kind"] != r#"["access"]"#),
        "a streak never announced ends silently"
    );
    assert!(harness.stored("web-app-release").await.health.is_healthy());
}

#[tokio::test]
async fn a_record_of_a_pipeline_never_read_is_baselined_with_one_reads_again_message() {
    let harness = World::new().await;
    put_fixture(&harness, "v0.2-never-read-announced").await;
    let record = harness.stored("ghost-release").await;
    assert!(record.snapshot.is_none() && record.health.reported);

    let states = serve_release_executions(&harness);
    harness
        .fake
        .set_state(&states[2].replace("web-app-release", "ghost-release"));
    let summary = watcher(&harness).tick(&["ghost-release".to_owned()]).await;
    assert!(summary.failed.is_empty(), "{summary:?}");
    assert_eq!(
        (summary.changes, summary.rebaselined),
        (1, 0),
        "{summary:?}"
    );
    let delivered = harness.inbox.drain().await;
    assert_eq!(delivered.len(), 1);
    assert_eq!(delivered[0].changes()[0]["kind"], "access");
    assert_eq!(delivered[0].changes()[0]["readable"], true);
    let record = harness.stored("ghost-release").await;
    assert!(record.snapshot.is_some() && record.health.is_healthy());
}

#[tokio::test]
async fn quiet_ticks_make_no_write() {
    let harness = World::new().await;
    let watcher = watcher(&harness);
    let pipelines = baselined(&harness, &watcher, "quiet", 3).await;
    let version = number(&harness.item(&pipelines[0]).await, "version");
    for _ in 0..3 {
        let summary = watcher.tick(&pipelines).await;
        assert_eq!(
            (summary.writes, summary.changes, summary.pipelines_checked),
            (0, 0, 3)
        );
    }
    assert_eq!(
        number(&harness.item(&pipelines[0]).await, "version"),
        version
    );
    assert!(harness.inbox.drain().await.is_empty());
}

/// Whether the eight ticks overlap here is the scheduler's to decide; whatever it decides,
/// nothing is announced twice or lost (the next test forces the races).
#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn overlapping_ticks_announce_every_change_exactly_once() {
    overlapping_ticks(None).await;
}

/// Batch reads are eventually consistent: the claim must still decide alone, even when
/// every read is a whole tick old.
#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn overlapping_ticks_reading_old_records_still_announce_every_change_exactly_once() {
    let proxy = FaultProxy::start(&pipewatch_testkit::services::require(
        "AWS_ENDPOINT_URL_DYNAMODB",
    ));
    proxy.lag_batch_reads();
    let conflicts = overlapping_ticks(Some(&proxy)).await;
    assert!(proxy.stale_answers() > 0, "some reads were old");
    // A tick reading a record older than the one written meanwhile claims against an old
    // version, however the ticks are scheduled: its claim loses and is decided again.
    assert!(
        conflicts > 0,
        "claims against old reads were lost and decided again"
    );
}

/// Eight ticks at once over ten pipelines for six rounds of new runs, their DynamoDB calls
/// through `proxy` if given; asserts every run announced exactly once, returns the claims
/// lost and decided again.
async fn overlapping_ticks(proxy: Option<&FaultProxy>) -> usize {
    const TICKS: usize = 8;
    const PIPELINES: usize = 10;
    const ROUNDS: usize = 6;
    let harness = std::sync::Arc::new(World::new().await);
    let store_url = proxy.map(FaultProxy::url);
    let pipelines = names("busy", PIPELINES);
    let mut conflicts_or_quiet = 0;
    let mut conflicts = 0;
    for round in 0..=ROUNDS {
        for pipeline in &pipelines {
            harness.fake.set_state(&run_state(pipeline, round));
        }
        let ticks: Vec<_> = (0..TICKS)
            .map(|_| {
                let harness = std::sync::Arc::clone(&harness);
                let pipelines = pipelines.clone();
                let store_url = store_url.clone();
                tokio::spawn(async move {
                    match store_url {
                        None => watcher(&harness).tick(&pipelines).await,
                        Some(url) => {
                            let watcher = harness.watcher_with(
                                harness.store_via(&url),
                                harness.notifier(),
                                settings(Duration::from_mins(1)),
                            );
                            watcher.tick(&pipelines).await
                        }
                    }
                })
            })
            .collect();
        for tick in ticks {
            let summary: TickSummary = tick.await.unwrap();
            assert!(summary.failed.is_empty(), "{summary:?}");
            conflicts_or_quiet += PIPELINES - summary.changes.min(PIPELINES);
            conflicts += summary.conflicts;
        }
    }
    let delivered = harness.inbox.drain().await;
    let mut announced: HashMap<String, usize> = HashMap::new();
    for message in &delivered {
        for change in message.changes() {
            *announced
                .entry(change["execution_id"].as_str().unwrap().to_owned())
                .or_default() += 1;
        }
    }
    let expected: Vec<String> = pipelines
        .iter()
        .flat_map(|p| (1..=ROUNDS).map(move |run| format!("{p}-run-{run}")))
        .collect();
    let duplicated = announced.values().filter(|n| **n > 1).count();
    let lost = expected
        .iter()
        .filter(|id| !announced.contains_key(*id))
        .count();
    println!(
        "concurrency ({}): {TICKS} ticks at once x {ROUNDS} rounds x {PIPELINES} pipelines: {} changes, {} messages, {duplicated} duplicated, {lost} lost ({conflicts_or_quiet} pipeline checks found nothing left to claim, {conflicts} claims lost and decided again)",
        if proxy.is_some() {
            "reads a tick old"
        } else {
            "fresh reads"
        },
        expected.len(),
        delivered.len()
    );
    assert!(expected.len() >= 50);
    assert_eq!(duplicated, 0);
    assert_eq!(lost, 0);
    assert_eq!(
        announced.len(),
        expected.len(),
        "nothing announced that did not happen"
    );
    conflicts
}

#[tokio::test]
async fn sns_failing_for_several_ticks_loses_nothing_and_keeps_ids() {
    let harness = World::new().await;
    let (proxy, watcher) = harness.with_sns_proxy(settings(Duration::from_mins(1)));
    let pipelines = vec!["flaky".to_owned()];
    harness.fake.set_state(&run_state("flaky", 0));
    watcher.tick(&pipelines).await;

    // Three ticks of outage: throttled, then 500s while claiming a change each, then
    // throttled again with nothing new, only the retries of what is pending.
    let outage = [
        (Some(1), Fault::sns_throttling()),
        (Some(2), Fault::server_error()),
        (None, Fault::sns_throttling()),
    ];
    for (run, fault) in outage {
        proxy.always(fault);
        if let Some(run) = run {
            harness.fake.set_state(&run_state("flaky", run));
        }
        let summary = watcher.tick(&pipelines).await;
        // Not a failed check: the messages wait in the outbox, and the figures say so.
        assert!(summary.failed.is_empty(), "{summary:?}");
        assert!(summary.publish_failures >= 1, "{summary:?}");
        assert!(summary.messages_pending >= 1, "{summary:?}");
        assert_eq!(summary.messages_published, 0);
    }
    let pending: Vec<String> = harness
        .stored("flaky")
        .await
        .outbox
        .iter()
        .map(|p| p.message.id.clone())
        .collect();
    assert_eq!(pending.len(), 2);
    assert!(harness.inbox.drain().await.is_empty());

    proxy.heal();
    let summary = watcher.tick(&pipelines).await;
    assert!(summary.failed.is_empty(), "{summary:?}");
    assert_eq!(
        (summary.messages_published, summary.messages_pending),
        (2, 0)
    );
    let delivered = harness.inbox.drain().await;
    let ids: Vec<&str> = delivered
        .iter()
        .map(pipewatch_testkit::services::Delivered::id)
        .collect();
    assert_eq!(
        ids, pending,
        "the messages claimed during the outage, same ids, in order"
    );
    assert!(harness.stored("flaky").await.outbox.is_empty());
    println!(
        "sns outage: {} requests faulted over 3 ticks; {} messages delivered after recovery, 0 lost",
        proxy.faulted(),
        delivered.len()
    );
}

#[tokio::test]
async fn a_tick_killed_between_claim_and_publish_is_completed_after_its_lease() {
    let harness = World::new().await;
    // A lease no slow machine can outrun; the clock is moved past it instead of waited on.
    let lease = Duration::from_hours(1);
    let (proxy, watcher) = harness.with_sns_proxy(settings(lease));
    let pipelines = vec!["crashy".to_owned()];
    harness.fake.set_state(&run_state("crashy", 0));
    watcher.tick(&pipelines).await;

    // SNS never answers; the tick is killed (its future dropped) while publishing.
    proxy.always(Fault::Hang);
    harness.fake.set_state(&run_state("crashy", 1));
    kill_when(watcher.tick(&pipelines), || proxy.faulted() > 0).await;
    let claimed = harness.stored("crashy").await;
    assert_eq!(
        claimed.outbox.len(),
        1,
        "the claim was written before the crash"
    );
    proxy.heal();

    // Within the lease, another tick leaves the message to its (dead) owner.
    let early = watcher.tick(&pipelines).await;
    assert_eq!(
        (
            early.messages_published,
            early.messages_pending,
            early.writes
        ),
        (0, 1, 0)
    );
    assert!(harness.inbox.drain().await.is_empty());

    watcher
        .settings
        .clock
        .advance(lease + Duration::from_secs(1));
    let late = watcher.tick(&pipelines).await;
    assert_eq!(
        (late.messages_published, late.messages_pending),
        (1, 0),
        "{late:?}"
    );
    let delivered = harness.inbox.drain().await;
    assert_eq!(delivered.len(), 1);
    assert_eq!(delivered[0].id(), claimed.outbox[0].message.id);
    assert_eq!(delivered[0].changes()[0]["execution_id"], "crashy-run-1");
}

/// A notifier that publishes for real, then never returns: a crash after SNS accepted the
/// message but before the outbox was acknowledged.
struct PublishThenDie {
    notifier: SnsNotifier,
    published: AtomicBool,
}

impl Notifier for PublishThenDie {
    async fn publish(&self, messages: &[Message]) -> Vec<Result<(), NotifyError>> {
        let _ = self.notifier.publish(messages).await;
        self.published.store(true, Ordering::SeqCst);
        std::future::pending().await
    }
}

/// Drives `tick` until `now` says so, then drops it mid-flight: to the store and SNS,
/// exactly what a killed process looks like. Panics if the tick finishes first.
async fn kill_when(tick: impl std::future::Future<Output = TickSummary>, now: impl Fn() -> bool) {
    tokio::pin!(tick);
    loop {
        tokio::select! {
            summary = &mut tick => panic!("the tick finished before it could be killed: {summary:?}"),
            () = tokio::time::sleep(Duration::from_millis(10)) => if now() { return },
        }
    }
}

#[tokio::test]
async fn a_crash_after_publishing_redelivers_once_with_the_same_id() {
    let harness = World::new().await;
    let lease = Duration::from_hours(1);
    let dying = harness.watcher_with(
        harness.store(),
        PublishThenDie {
            notifier: harness.notifier(),
            published: AtomicBool::new(false),
        },
        settings(lease),
    );
    let healthy = harness.watcher_with(harness.store(), harness.notifier(), settings(lease));
    let pipelines = vec!["twice".to_owned()];
    harness.fake.set_state(&run_state("twice", 0));
    harness.fake.set_execution(&execution_of("twice-execution"));
    healthy.tick(&pipelines).await;

    harness.fake.set_state(&run_state("twice", 1));
    kill_when(dying.tick(&pipelines), || {
        dying.notifier.published.load(Ordering::SeqCst)
    })
    .await;
    healthy
        .settings
        .clock
        .advance(lease + Duration::from_secs(1));
    let summary = healthy.tick(&pipelines).await;
    assert_eq!(summary.messages_published, 1);

    let delivered = harness.inbox.drain().await;
    assert_eq!(delivered.len(), 2, "delivered, then redelivered");
    assert_eq!(
        delivered[0].id(),
        delivered[1].id(),
        "a redelivery shares the id"
    );
    assert_eq!(delivered[0].body, delivered[1].body);
    assert_eq!(
        delivered[1].body["executions"][0]["revisions"][0]["short_id"], "c0ffee1",
        "the redelivery carries the enrichment made before the claim"
    );
    assert_eq!(
        harness.fake.execution_calls("twice-execution"),
        1,
        "and calls nothing"
    );
    assert!(harness.stored("twice").await.outbox.is_empty());
}

/// A `GetPipelineExecution` response for `id`, with one commit.
fn execution_of(id: &str) -> String {
    json!({"pipelineExecution": {"pipelineExecutionId": id, "status": "InProgress",
        "artifactRevisions": [{"name": "Src", "revisionId": "c0ffee1234567890abcdef1234567890abcdef12",
            "revisionSummary": "Fix the retry"}],
        "trigger": {"triggerType": "StartPipelineExecution",
            "triggerDetail": "arn:aws:iam::123456789012:user/ana"}}})
    .to_string()
}

#[tokio::test]
async fn dynamodb_throttled_or_unavailable_fails_the_tick_cleanly_and_the_next_catches_up() {
    let harness = World::new().await;
    let (proxy, watcher) = harness.with_dynamodb_proxy(settings(Duration::from_mins(1)));
    let pipelines = baselined(&harness, &watcher, "ddb", 2).await;
    serve_run(&harness, &pipelines, 1);

    proxy.always(Fault::dynamodb_throttling());
    let throttled = watcher.tick(&pipelines).await;
    assert_eq!(throttled.failed.len(), 2, "{throttled:?}");
    assert!(
        throttled.failed[0].error.contains("BatchGetItem failed"),
        "{}",
        throttled.failed[0].error
    );

    // Unavailable: nothing listens where the store points.
    let closed = {
        let listener = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
        format!("http://{}", listener.local_addr().unwrap())
    };
    let unreachable = harness.watcher_with(
        harness.store_via(&closed),
        harness.notifier(),
        settings(Duration::from_mins(1)),
    );
    let down = unreachable.tick(&pipelines).await;
    assert_eq!(down.failed.len(), 2, "{down:?}");
    assert_eq!(down.messages_published, 0);
    assert!(
        harness.inbox.drain().await.is_empty(),
        "nothing published without a claim"
    );

    proxy.heal();
    let recovered = watcher.tick(&pipelines).await;
    assert!(recovered.failed.is_empty(), "{recovered:?}");
    let delivered = harness.inbox.drain().await;
    assert_eq!(delivered.len(), 2, "each pipeline's change, once");
    println!(
        "dynamodb outage: {} requests throttled; tick errors: {:?}; after recovery {} messages",
        proxy.faulted(),
        down.failed[0].error,
        delivered.len()
    );
}

#[tokio::test]
async fn an_unreadable_snapshot_is_rebaselined_with_a_warning_never_a_crash() {
    let harness = World::new().await;
    let watcher = watcher(&harness);
    let client = aws_sdk_dynamodb::Client::new(&harness.config);
    let corruptions: [(&str, &str, AttributeValue); 3] = [
        (
            "garbage",
            "1",
            AttributeValue::B(Blob::new(b"\x00garbage".to_vec())),
        ),
        (
            "future",
            "99",
            AttributeValue::B(Blob::new(b"whatever".to_vec())),
        ),
        ("wrong-type", "1", AttributeValue::S("not a blob".into())),
    ];
    let pipelines: Vec<String> = corruptions
        .iter()
        .map(|(name, _, _)| (*name).to_owned())
        .collect();
    for (name, schema, snapshot) in corruptions {
        harness.fake.set_state(&run_state(name, 1));
        client
            .put_item()
            .table_name(&harness.table)
            .item("pipeline", AttributeValue::S(name.into()))
            .item("schema", AttributeValue::N(schema.into()))
            .item("version", AttributeValue::N("5".into()))
            .item("snapshot", snapshot)
            .send()
            .await
            .unwrap();
    }
    let summary = watcher.tick(&pipelines).await;
    assert!(summary.failed.is_empty(), "{summary:?}");
    assert_eq!((summary.rebaselined, summary.changes), (3, 0));
    assert!(
        harness.inbox.drain().await.is_empty(),
        "a re-baseline is silent"
    );
    for pipeline in &pipelines {
        assert_eq!(
            harness.stored(pipeline).await.version,
            6,
            "the version line goes on"
        );
        harness.fake.set_state(&run_state(pipeline, 2));
    }
    let next = watcher.tick(&pipelines).await;
    assert_eq!((next.changes, next.messages_published), (3, 3));
}

/// The Lambda's function over `watcher`, watching `entries` at home, without shards.
fn function_over<S: SnapshotStore, N: Notifier>(
    watcher: Watcher<CodePipelineSource, S, N, SqsDeadLetters>,
    entries: &str,
) -> Function<CodePipelineSource, S, N, SqsDeadLetters, SqsShardQueue> {
    Function::new(
        watcher,
        Selection::parse(entries).unwrap(),
        Home {
            partition: "aws".into(),
            region: "eu-west-1".into(),
            account: Some("123456789012".into()),
        },
        Duration::from_mins(5),
        None,
        500,
    )
}

#[tokio::test]
async fn a_missing_pipeline_fails_alone_and_does_not_fail_the_invocation() {
    let harness = World::new().await;
    let watcher = watcher(&harness);
    let pipelines = ["alpha".to_owned(), "ghost".to_owned(), "omega".to_owned()];
    let existing = ["alpha".to_owned(), "omega".to_owned()];
    serve_run(&harness, &existing, 0);
    let function = function_over(watcher, &pipelines.join(","));
    // The baseline: the two that exist are recorded silently, the missing one fails alone,
    // and that is not the invocation's failure either.
    let baseline = function
        .handle(&json!({}), None)
        .await
        .expect("an unreadable pipeline is not the invocation's failure");
    assert_eq!(
        (
            baseline.pipelines_checked,
            baseline.changes,
            baseline.failed.len()
        ),
        (2, 0, 1),
        "{baseline:?}"
    );
    serve_run(&harness, &existing, 1);
    // A pipeline that cannot be read is told by the FailedPipelines metric and its own
    // message, not by failing every invocation (which would keep the Errors alarm on).
    let summary = function
        .handle(&json!({}), None)
        .await
        .expect("an unreadable pipeline is not the invocation's failure");
    assert_eq!(summary.failed.len(), 1, "{summary:?}");
    assert_eq!(summary.failed[0].pipeline, "ghost");
    assert!(summary.failed[0].unreadable);
    assert!(
        summary.failed[0].error.contains("does not exist"),
        "{summary:?}"
    );
    let delivered = harness.inbox.drain().await;
    let announced: HashSet<&str> = delivered
        .iter()
        .map(|m| m.attributes["pipeline"].as_str())
        .collect();
    assert_eq!(announced, HashSet::from(["alpha", "omega"]));

    // The store failing is pipewatch's own failure: the invocation fails, naming it.
    let broken = function_over(
        harness.watcher_with(
            harness.store_via("http://127.0.0.1:9"),
            harness.notifier(),
            settings(Duration::from_mins(1)),
        ),
        "alpha",
    );
    let error = broken
        .handle(&json!({}), None)
        .await
        .unwrap_err()
        .to_string();
    assert!(
        error.starts_with("1 of 1 pipelines failed: alpha ("),
        "{error}"
    );
}

#[tokio::test]
async fn a_pipeline_that_keeps_failing_is_announced_once_in_words_and_once_when_back() {
    let harness = World::new().await;
    let watcher = watcher(&harness); // announces after 3 failed reads
    let pipelines = vec!["payments-api".to_owned(), "ghost".to_owned()];
    harness.fake.set_state(&run_state("payments-api", 0));
    watcher.tick(&pipelines).await;

    // Access removed from payments-api; ghost never existed. Six failed ticks each
    // (apart, so that the fake's one denial meets payments-api).
    let mut announced = Vec::new();
    for _ in 0..6 {
        harness.fake.fail_next(1, PipelineFault::Denied);
        let summary = watcher.tick(&pipelines[..1]).await;
        assert_eq!(summary.failed.len(), 1, "{summary:?}");
        let summary = watcher.tick(&pipelines[1..]).await;
        assert_eq!(summary.failed.len(), 1, "{summary:?}");
        announced.extend(harness.inbox.drain().await);
    }
    assert_eq!(
        announced.len(),
        2,
        "one message per pipeline: {announced:#?}"
    );
    for message in &announced {
        assert_eq!(message.attributes["severity"], "failure");
        assert_eq!(message.attributes["kind"], r#"["access"]"#);
        let change = &message.changes()[0];
        assert_eq!(change["readable"], false);
        assert_eq!(change["failed_checks"], 3);
        assert!(
            message.subject.contains("cannot read"),
            "{}",
            message.subject
        );
    }
    for (pipeline, reason) in [
        ("payments-api", "AccessDenied"),
        ("ghost", "does not exist"),
    ] {
        let message = announced
            .iter()
            .find(|m| m.attributes["pipeline"] == pipeline)
            .unwrap();
        let why = message.changes()[0]["why"].as_str().unwrap().to_owned();
        assert!(why.contains(reason), "{pipeline}: {why}");
    }

    // Both readable again: one "reads again" each, and nothing after.
    harness.fake.set_state(&run_state("ghost", 0));
    let summary = watcher.tick(&pipelines).await;
    assert!(summary.failed.is_empty(), "{summary:?}");
    let back = harness.inbox.drain().await;
    assert_eq!(back.len(), 2, "{back:#?}");
    for message in &back {
        assert_eq!(message.attributes["severity"], "info");
        assert_eq!(message.changes()[0]["readable"], true);
    }
    let quiet = watcher.tick(&pipelines).await;
    assert_eq!((quiet.writes, quiet.messages_published), (0, 0));
    assert!(harness.stored("ghost").await.health.is_healthy());
}

#[tokio::test]
async fn a_message_sns_refuses_for_good_is_dead_lettered_and_the_others_delivered() {
    let harness = World::new().await;
    let (proxy, watcher) = harness.with_sns_proxy(settings(Duration::from_mins(1)));
    let pipelines = vec![
        "keyless".to_owned(),
        "fine-1".to_owned(),
        "fine-2".to_owned(),
    ];
    serve_run(&harness, &pipelines, 0);
    watcher.tick(&pipelines).await;

    // The messages of `keyless` meet a disabled key; the others go through.
    proxy.when_body_contains("keyless", Fault::sns_error("KMSDisabled"));
    serve_run(&harness, &pipelines, 1);
    let summary = watcher.tick(&pipelines).await;
    assert_eq!(
        (summary.messages_published, summary.dead_lettered),
        (2, 1),
        "{summary:?}"
    );
    assert!(
        summary.failed.is_empty(),
        "dead-lettered is handled: {summary:?}"
    );
    let delivered = harness.inbox.drain().await;
    let names: HashSet<&str> = delivered
        .iter()
        .map(|m| m.attributes["pipeline"].as_str())
        .collect();
    assert_eq!(names, HashSet::from(["fine-1", "fine-2"]));
    let letters = harness.inbox.drain_dead_letters().await;
    assert_eq!(letters.len(), 1);
    let letter = &letters[0];
    assert_eq!(letter.message.pipeline, "keyless");
    assert!(letter.reason.contains("KMSDisabled"), "{}", letter.reason);
    assert_eq!(letter.attempts, 1, "refused for good: not retried");
    assert!(harness.stored("keyless").await.outbox.is_empty());

    // Refused again and again for another reason: dead-lettered after the attempts.
    proxy.clear_rules();
    proxy.when_body_contains("keyless", Fault::sns_error("AuthorizationError"));
    let mut watcher = watcher;
    watcher.settings.max_publish_attempts = 3;
    serve_run(&harness, &pipelines[..1], 2);
    for attempt in 1..=3 {
        let summary = watcher.tick(&pipelines[..1]).await;
        let stored = harness.stored("keyless").await;
        if attempt < 3 {
            assert_eq!(stored.outbox[0].attempts, attempt, "{summary:?}");
            assert_eq!(summary.dead_lettered, 0);
        } else {
            assert!(stored.outbox.is_empty());
            assert_eq!(summary.dead_lettered, 1);
        }
    }
    let letters = [letter.clone()]
        .into_iter()
        .chain(harness.inbox.drain_dead_letters().await)
        .collect::<Vec<_>>();
    assert_eq!(letters.len(), 2);
    assert_eq!(letters[1].attempts, 3);
    assert!(letters[1].reason.contains("AuthorizationError"));

    // Fixed: the redrive publishes both, same ids, and empties the queue. (This test read
    // them off the queue: they go back first, as they were.)
    let queue = harness.inbox.dead_letters();
    pipewatch::ports::DeadLetterQueue::send(&queue, &letters)
        .await
        .unwrap();
    proxy.clear_rules();
    let reader = harness.inbox.dead_letter_reader();
    let redriven = pipewatch::redrive::redrive(&reader, &harness.notifier_via(&proxy.url()))
        .await
        .unwrap();
    assert_eq!((redriven.published, redriven.refused), (2, 0), "{redriven}");
    let delivered = harness.inbox.drain().await;
    let ids: HashSet<&str> = delivered
        .iter()
        .map(pipewatch_testkit::services::Delivered::id)
        .collect();
    let expected: HashSet<&str> = letters.iter().map(|l| l.message.id.as_str()).collect();
    assert_eq!(ids, expected, "redriven with their own ids");
    assert!(harness.inbox.drain_dead_letters().await.is_empty());
}

#[tokio::test]
async fn a_long_sns_outage_keeps_the_outbox_bounded_and_loses_nothing() {
    // The outbox's bound (docs/operating.md): at most 100 messages.
    const MAX_OUTBOX_MESSAGES: usize = 100;
    let harness = World::new().await;
    let (proxy, mut watcher) = harness.with_sns_proxy(settings(Duration::from_mins(1)));
    // The bound, not the attempts, is what this outage meets.
    watcher.settings.max_publish_attempts = 1_000;
    let pipelines = vec!["busy".to_owned()];
    harness.fake.set_state(&run_state("busy", 0));
    watcher.tick(&pipelines).await;

    // SNS refuses every call (not retried by the SDK, so each tick is quick) while the
    // pipeline changes on every tick: more changes than the outbox may hold.
    proxy.always(Fault::sns_error("AuthorizationError"));
    let ticks = MAX_OUTBOX_MESSAGES + 20;
    let mut largest = 0;
    let mut dead_lettered = 0;
    for run in 1..=ticks {
        harness.fake.set_state(&run_state("busy", run));
        let summary = watcher.tick(&pipelines).await;
        assert!(summary.failed.is_empty(), "{summary:?}");
        assert!(
            run == 1 || summary.oldest_pending_ms > 0,
            "the oldest message's wait is measured: {summary:?}"
        );
        dead_lettered += summary.dead_lettered;
        largest = largest.max(harness.stored("busy").await.outbox.len());
    }
    assert_eq!(largest, MAX_OUTBOX_MESSAGES, "bounded");
    assert_eq!(dead_lettered, ticks - MAX_OUTBOX_MESSAGES);
    assert!(harness.inbox.drain().await.is_empty());

    proxy.heal();
    let summary = watcher.tick(&pipelines).await;
    assert_eq!(
        summary.messages_published, MAX_OUTBOX_MESSAGES,
        "{summary:?}"
    );
    let delivered = harness.inbox.drain().await;
    let letters = harness.inbox.drain_dead_letters().await;
    let mut ids: Vec<String> = delivered.iter().map(|m| m.id().to_owned()).collect();
    ids.extend(letters.iter().map(|l| l.message.id.clone()));
    let unique: HashSet<&String> = ids.iter().collect();
    assert_eq!(unique.len(), ids.len(), "nothing twice");
    assert_eq!(
        ids.len(),
        ticks,
        "every change is delivered or dead-lettered: 0 lost"
    );
    // The oldest went to the dead-letter queue, the newest were delivered.
    let first_delivered_run = delivered
        .iter()
        .map(|m| m.changes()[0]["execution_id"].as_str().unwrap().to_owned())
        .next()
        .unwrap();
    assert_eq!(
        first_delivered_run,
        format!("busy-run-{}", ticks - MAX_OUTBOX_MESSAGES + 1)
    );
    println!(
        "outage of {ticks} ticks: outbox at most {largest}, {} delivered after recovery, {} dead-lettered, 0 lost",
        delivered.len(),
        letters.len()
    );
}

#[tokio::test]
async fn codepipeline_throttling_is_retried_and_only_persistent_failure_fails_the_pipeline() {
    let harness = World::new().await;
    let watcher = watcher(&harness);
    let pipelines = vec!["busy-api".to_owned()];
    harness.fake.set_state(&run_state("busy-api", 0));
    harness.fake.fail_next(2, PipelineFault::Throttle);
    let summary = watcher.tick(&pipelines).await;
    assert!(summary.failed.is_empty(), "{summary:?}");
    assert_eq!(
        harness.fake.calls("busy-api"),
        3,
        "two throttled attempts, then success"
    );

    harness.fake.fail_next(20, PipelineFault::ServerError);
    let summary = watcher.tick(&pipelines).await;
    assert_eq!(summary.failed.len(), 1);
    assert!(
        summary.failed[0].error.contains("GetPipelineState failed"),
        "{}",
        summary.failed[0].error
    );
}

#[tokio::test]
async fn snapshots_of_many_pipelines_are_read_in_batches() {
    let harness = World::new().await;
    let (proxy, watcher) = harness.with_dynamodb_proxy(settings(Duration::from_mins(1)));
    let started = std::time::Instant::now();
    let pipelines = baselined(&harness, &watcher, "fleet", 120).await;
    let baseline_ms = started.elapsed().as_millis();
    let before = proxy.operations("BatchGetItem");
    let quiet = watcher.tick(&pipelines).await;
    assert_eq!(
        (quiet.pipelines_checked, quiet.writes, quiet.changes),
        (120, 0, 0)
    );
    // 120 records in two BatchGetItem calls of at most 100 keys, and no other read.
    assert_eq!(proxy.operations("BatchGetItem") - before, 2);
    assert_eq!(proxy.operations("GetItem"), 0);
    harness.fake.set_state(&run_state(&pipelines[117], 1));
    let one = watcher.tick(&pipelines).await;
    assert_eq!((one.changes, one.messages_published, one.writes), (1, 1, 2));
    println!(
        "120 pipelines: baseline tick {baseline_ms} ms, quiet tick {} ms with 0 writes",
        quiet.duration_ms
    );
}

#[tokio::test]
async fn unprocessed_batch_keys_are_retried_not_taken_for_new_pipelines() {
    let harness = World::new().await;
    let (proxy, watcher) = harness.with_dynamodb_proxy(settings(Duration::from_mins(1)));
    let pipelines = baselined(&harness, &watcher, "unprocessed", 3).await;
    let before = proxy.forwarded();

    // DynamoDB answers the first BatchGetItem with every key unprocessed (as it does when
    // throttled); the adapter must ask again rather than see three new pipelines.
    let keys: Vec<serde_json::Value> = pipelines
        .iter()
        .map(|p| json!({"pipeline": {"S": p}}))
        .collect();
    proxy.once(Fault::Respond {
        status: 200,
        content_type: "application/x-amz-json-1.0",
        body: json!({"Responses": {&harness.table: []},
                     "UnprocessedKeys": {&harness.table: {"Keys": keys, "ConsistentRead": true}}})
        .to_string(),
    });
    let summary = watcher.tick(&pipelines).await;
    assert!(summary.failed.is_empty(), "{summary:?}");
    assert_eq!((summary.writes, summary.changes), (0, 0));
    assert_eq!(
        proxy.forwarded() - before,
        1,
        "one retried BatchGetItem, no GetItem or PutItem"
    );
}

#[tokio::test]
async fn approval_tokens_reach_neither_dynamodb_nor_sns() {
    let harness = World::new().await;
    let (proxy, watcher) = harness.with_sns_proxy(settings(Duration::from_mins(1)));
    let token = "6f1a2b3c-4d5e-4f60-8a7b-9c0d1e2f3a4b";
    let states = scenario("manual-approval");
    assert!(states[1].contains(token));
    let pipelines = vec!["infra-prod".to_owned()];
    harness.fake.set_state(&states[0]);
    watcher.tick(&pipelines).await;

    // Keep the approval's message in the outbox for a while, to inspect it there too.
    proxy.always(Fault::sns_throttling());
    harness.fake.set_state(&states[1]);
    watcher.tick(&pipelines).await;
    let item = harness.item("infra-prod").await;
    let mut stored = String::new();
    for attribute in ["snapshot", "outbox"] {
        let blob = item[attribute].as_b().unwrap().as_ref();
        let mut inflated = String::new();
        std::io::Read::read_to_string(&mut flate2::read::DeflateDecoder::new(blob), &mut inflated)
            .unwrap();
        stored.push_str(&inflated);
    }
    assert!(
        stored.contains("ChangeReview"),
        "the outbox holds the approval message"
    );
    assert!(!stored.contains(token));

    proxy.heal();
    watcher.tick(&pipelines).await;
    let delivered = harness.inbox.drain().await;
    assert_eq!(delivered.len(), 1);
    assert!(
        delivered[0]
            .subject
            .contains("approval waiting at Approve/ChangeReview"),
        "{}",
        delivered[0].subject
    );
    assert!(!format!("{delivered:?}").contains(token));
}

#[tokio::test]
async fn publish_batch_results_are_handled_per_entry() {
    let harness = World::new().await;
    let proxy = FaultProxy::start(&pipewatch_testkit::services::require(
        "AWS_ENDPOINT_URL_SNS",
    ));
    let notifier = harness.notifier_via(&proxy.url());
    let changes = pipewatch_core::diff::diff(
        &pipewatch_core::state::PipelineState::from_json(run_state("split", 0).as_bytes()).unwrap(),
        &pipewatch_core::state::PipelineState::from_json(run_state("split", 1).as_bytes()).unwrap(),
    );
    let messages: Vec<Message> = (1..=3)
        .map(|n| {
            pipewatch_core::render::message::messages(
                "split",
                &changes,
                &pipewatch_core::render::content::Context::default(),
                &format!("split/{n}"),
            )
            .remove(0)
        })
        .collect();
    // SNS accepts the first and third entries and fails the second (entries are m0, m1, m2).
    proxy.once(Fault::Respond {
        status: 200,
        content_type: "text/xml",
        body: "<PublishBatchResponse xmlns=\"http://sns.amazonaws.com/doc/2010-03-31/\"><PublishBatchResult>\
               <Successful><member><Id>m0</Id><MessageId>a</MessageId></member><member><Id>m2</Id><MessageId>c</MessageId></member></Successful>\
               <Failed><member><Id>m1</Id><Code>InternalError</Code><Message>try again</Message><SenderFault>false</SenderFault></member></Failed>\
               </PublishBatchResult><ResponseMetadata><RequestId>r</RequestId></ResponseMetadata></PublishBatchResponse>"
            .into(),
    });
    let results = notifier.publish(&messages).await;
    assert!(results[0].is_ok() && results[2].is_ok(), "{results:?}");
    let error = results[1].as_ref().unwrap_err();
    assert_eq!(error.id, "split/2/1");
    assert!(
        pipewatch_core::error::chain(error).contains("InternalError"),
        "{error:?}"
    );
}
