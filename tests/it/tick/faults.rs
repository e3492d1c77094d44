//! Faults of the services around the tick: DynamoDB throttled or down, unreadable
//! snapshots, missing or failing pipelines, SNS refusing messages or out for long.

use std::collections::HashSet;
use std::time::Duration;

use aws_sdk_dynamodb::primitives::Blob;
use aws_sdk_dynamodb::types::AttributeValue;
use pipewatch::aws::CodePipelineSource;
use pipewatch::aws::sqs::{SqsDeadLetters, SqsShardQueue};
use pipewatch::lambda::Function;
use pipewatch::ports::{Notifier, SnapshotStore};
use pipewatch::select::{Home, Selection};
use pipewatch::tick::Watcher;
use pipewatch_core::render::message::Message;
use pipewatch_testkit::fake_codepipeline::Fault as PipelineFault;
use pipewatch_testkit::fault_proxy::{Fault, FaultProxy};
use pipewatch_testkit::fixtures::scenario;
use pipewatch_testkit::world::World;
use serde_json::json;

use super::{TickByName, baselined, run_state, serve_run, settings, watcher};

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
