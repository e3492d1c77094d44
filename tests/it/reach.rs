//! Reach: every pipeline that matters, at any scale. The function's own dispatch
//! ([`Function::handle`]) against DynamoDB Local, moto's SNS and SQS, and the wire-level
//! CodePipeline fake (which also answers `ListPipelines` and the Tagging API):
//! patterns, tags, a pipeline created or deleted between ticks, shards through a real
//! queue, deadlines, throttling, and the records' expiry. Other accounts, which need
//! STS, are in `lambda_e2e.rs`, where endpoints come from the environment as in Lambda.

use std::collections::HashSet;
use std::time::{Duration, Instant};

use serde_json::{Value, json};

use pipewatch::aws::sqs::SqsShardQueue;
use pipewatch::tick::TickSummary;
use pipewatch_testkit::services::{drain_queue, unique};
use pipewatch_testkit::world::{TestFunction, World, state};

async fn schedule(function: &TestFunction) -> TickSummary {
    function.handle(&json!({}), None).await.unwrap()
}

/// The pipelines the messages of a tick were about.
async fn announced(world: &World) -> HashSet<String> {
    world
        .inbox
        .drain()
        .await
        .iter()
        .map(|m| m.attributes["pipeline"].clone())
        .collect()
}

#[tokio::test]
async fn a_pattern_picks_up_a_new_pipeline_silently_and_forgets_a_deleted_one() {
    let world = World::new().await;
    world.fake.set_page_size(2); // every listing takes pages
    world.serve(&["release-a", "release-b", "release-c", "nightly"], 0);
    let function = world.function("release-*", "", None);

    let first = schedule(&function).await;
    assert_eq!((first.pipelines_checked, first.writes), (3, 3), "{first:?}");
    assert_eq!(world.fake.calls("nightly"), 0, "not selected");

    // Created between ticks: found by the next listing, and baselined silently.
    world.serve(&["release-d"], 0);
    world.serve(&["release-a"], 1);
    let second = schedule(&function).await;
    assert_eq!(
        (second.pipelines_checked, second.changes),
        (4, 1),
        "{second:?}"
    );
    assert_eq!(
        announced(&world).await,
        HashSet::from(["release-a".to_owned()])
    );

    // Deleted: no longer listed, no longer checked, and no error about it.
    world.fake.remove("release-b");
    let calls = world.fake.calls("release-b");
    let third = schedule(&function).await;
    assert!(third.failed.is_empty(), "{third:?}");
    assert_eq!(third.pipelines_checked, 3);
    assert_eq!(world.fake.calls("release-b"), calls);
}

#[tokio::test]
async fn all_pipelines_with_every_tag_are_watched_and_a_stale_tag_is_checked_again() {
    let world = World::new().await;
    world.serve(&["web", "api", "batch", "old"], 0);
    world
        .fake
        .set_tags("web", &[("team", "payments"), ("tier", "prod")]);
    world
        .fake
        .set_tags("api", &[("team", "payments"), ("tier", "dev")]);
    world
        .fake
        .set_tags("batch", &[("team", "payments"), ("tier", "prod")]);
    world.fake.set_formerly_tagged("old");
    let function = world.function("*", "team=payments,tier=prod", None);
    let summary = schedule(&function).await;
    assert_eq!(summary.pipelines_checked, 2, "{summary:?}");
    for (pipeline, checked) in [("web", 1), ("batch", 1), ("api", 0), ("old", 0)] {
        assert_eq!(world.fake.calls(pipeline), checked, "{pipeline}");
    }
    assert!(world.fake.operations("GetResources") >= 2, "paginated");
}

#[tokio::test]
async fn a_selection_matching_nothing_fails_in_words() {
    let world = World::new().await;
    world.serve(&["web"], 0);
    let function = world.function("release-*", "", None);
    let error = function.handle(&json!({}), None).await.unwrap_err();
    assert_eq!(
        error.to_string(),
        "resolving the watched pipelines failed: the selection matches no pipeline: release-*"
    );
}

#[tokio::test]
async fn a_large_selection_is_sent_as_shards_that_the_function_checks_from_sqs() {
    let world = World::new().await;
    let names: Vec<String> = (0..7).map(|i| format!("fleet-{i}")).collect();
    let refs: Vec<&str> = names.iter().map(String::as_str).collect();
    world.serve(&refs, 0);
    let sqs = aws_sdk_sqs::Client::new(&world.config);
    let queue_url = sqs
        .create_queue()
        .queue_name(unique("shards"))
        .send()
        .await
        .unwrap()
        .queue_url
        .unwrap();
    let function = world.function(
        "fleet-*",
        "",
        Some((SqsShardQueue::new(sqs.clone(), &queue_url), 3)),
    );

    let fanned = schedule(&function).await;
    assert_eq!((fanned.shards_sent, fanned.pipelines_checked), (3, 0));
    assert_eq!(
        world.fake.operations("GetPipelineState"),
        0,
        "nothing checked here"
    );

    // What the event source mapping would deliver: the queue's messages as SQS events.
    let mut checked = 0;
    for (i, body) in drain_queue(&sqs, &queue_url).await.into_iter().enumerate() {
        let event = json!({"Records": [{
            "messageId": format!("shard-{i}"), "body": body, "eventSource": "aws:sqs",
            "eventSourceARN": "arn:aws:sqs:us-east-1:123456789012:shards", "awsRegion": "us-east-1"}]});
        let summary = function.handle(&event, None).await.unwrap();
        assert!(summary.pipelines_checked <= 3);
        checked += summary.pipelines_checked;
    }
    assert_eq!(checked, 7, "every pipeline, in shards of at most 3");
    for name in &names {
        assert_eq!(world.fake.calls(name), 1, "{name}: checked exactly once");
    }
}

#[tokio::test]
async fn near_the_deadline_the_rest_are_skipped_not_failed_and_checked_first_next_time() {
    let world = World::new().await;
    let names: Vec<String> = (0..6).map(|i| format!("slow-{i}")).collect();
    let refs: Vec<&str> = names.iter().map(String::as_str).collect();
    world.serve(&refs, 0);
    let mut function = world.function(&names.join(","), "", None);
    function.watcher.settings.max_concurrency = 1;
    // Each check takes ten seconds by the tick's clock, however fast this machine is.
    let clock = function.watcher.settings.clock.clone();
    let per_check = clock.clone();
    world
        .fake
        .on_get_state(move || per_check.advance(Duration::from_secs(10)));

    // A minute left: 10 s are kept back (the margin), so checks start at 0, 10, 20, 30 and
    // 40 s; the sixth would start at 50 s, too near.
    let deadline = clock.instant() + Duration::from_mins(1);
    let cut = function.handle(&json!({}), Some(deadline)).await.unwrap();
    assert!(cut.failed.is_empty(), "{cut:?}");
    assert_eq!((cut.pipelines_checked, cut.skipped), (5, 1), "{cut:?}");
    let unchecked: Vec<&String> = names.iter().filter(|n| world.fake.calls(n) == 0).collect();
    assert_eq!(unchecked.len(), 1);

    // The next tick starts with the one skipped, then the others, as far as it gets.
    let deadline = clock.instant() + Duration::from_mins(1);
    let next = function.handle(&json!({}), Some(deadline)).await.unwrap();
    assert_eq!((next.pipelines_checked, next.skipped), (5, 1), "{next:?}");
    assert_eq!(world.fake.calls(unchecked[0]), 1, "the skipped one first");
    let checked_again = names.iter().filter(|n| world.fake.calls(n) == 2).count();
    assert_eq!(checked_again, 4, "then the others");
    println!(
        "deadline: first tick checked {} and skipped {}; the next checked {} and skipped {}",
        cut.pipelines_checked, cut.skipped, next.pipelines_checked, next.skipped
    );
}

#[tokio::test]
async fn throttling_past_codepipelines_rate_is_absorbed_by_adaptive_retries() {
    let world = World::new().await;
    let names: Vec<String> = (0..60).map(|i| format!("busy-{i:02}")).collect();
    let refs: Vec<&str> = names.iter().map(String::as_str).collect();
    world.serve(&refs, 0);
    world.fake.set_rate_limit(25);
    let mut function = world.function("busy-*", "", None);
    function.watcher.settings.max_concurrency = 16;
    let started = Instant::now();
    let summary = function.handle(&json!({}), None).await.unwrap();
    assert!(summary.failed.is_empty(), "{summary:?}");
    assert_eq!(summary.pipelines_checked, 60);
    assert!(world.fake.throttled() > 0, "the limit was reached");
    // The SDK interceptor saw each throttled answer (the ApiThrottles metric). Other
    // tests of this binary run alongside and may add calls, never throttles.
    let figures = pipewatch::aws::interceptor::take_api_figures();
    let throttles: u64 = figures.values().map(|f| f.throttles).sum();
    assert_eq!(throttles, world.fake.throttled() as u64, "{figures:?}");
    assert!(figures["GetPipelineState"].calls >= 60 + throttles.min(1));
    println!(
        "throttling: 60 pipelines at 16 at once against 25 requests/s: {} throttled answers, all checked in {} ms",
        world.fake.throttled(),
        started.elapsed().as_millis()
    );
}

#[tokio::test]
async fn a_record_expires_only_once_unwatched_and_quiet_ticks_write_nothing() {
    let world = World::new().await;
    world.serve(&["kept"], 0);
    let function = world.function("kept", "", None);
    schedule(&function).await;
    let item = aws_sdk_dynamodb::Client::new(&world.config)
        .get_item()
        .table_name(&world.table)
        .key(
            "pipeline",
            aws_sdk_dynamodb::types::AttributeValue::S("kept".into()),
        )
        .send()
        .await
        .unwrap()
        .item
        .unwrap();
    let expires: i64 = item[pipewatch::aws::dynamodb::EXPIRES_AT]
        .as_n()
        .unwrap()
        .parse()
        .unwrap();
    let now = pipewatch_core::state::Timestamp::now().unix_millis() / 1000;
    assert!(
        (expires - now - 90 * 86_400).abs() < 60,
        "{expires} vs {now}"
    );
    let quiet = schedule(&function).await;
    assert_eq!(quiet.writes, 0, "a fresh expiry is not rewritten");
}

#[tokio::test]
async fn a_custom_input_and_a_shard_name_their_own_pipelines() {
    let world = World::new().await;
    world.serve(&["a", "b", "c"], 0);
    let function = world.function("a", "", None);
    let custom = function
        .handle(&json!({"pipelines": ["b", "c"]}), None)
        .await
        .unwrap();
    assert_eq!(custom.pipelines_checked, 2);
    assert_eq!(world.fake.calls("a"), 0);
    let event: Value = serde_json::from_str(
        &std::fs::read_to_string(concat!(
            env!("CARGO_MANIFEST_DIR"),
            "/events/sqs-shard.json"
        ))
        .unwrap(),
    )
    .unwrap();
    // The sample shard names pipelines this world lacks: each fails, by name (not the
    // invocation: they are unreadable pipelines, see crate::lambda).
    let summary = function.handle(&event, None).await.unwrap();
    assert_eq!(summary.failed.len(), 3, "{summary:?}");
    assert!(summary.failed.iter().all(|f| f.unreadable));
    assert!(
        summary
            .failed
            .iter()
            .any(|f| f.pipeline == "arn:aws:codepipeline:us-west-2:222233334444:svc-orders"),
        "{summary:?}"
    );
}

#[tokio::test]
async fn other_regions_and_accounts_are_read_apart_through_a_role_and_never_collide() {
    pipewatch_testkit::services::require("AWS_ENDPOINT_URL_STS");
    let world = World::new().await;
    world.fake.set_state_in("us-east-1", &state("svc-a", 0));
    world.fake.set_state_in("eu-central-1", &state("svc-a", 10));
    world.fake.set_state_in("us-west-2", &state("svc-a", 20));
    let other_account = "arn:aws:codepipeline:us-west-2:222233334444:svc-a";
    let other_region = "arn:aws:codepipeline:eu-central-1:123456789012:svc-a";
    let function = world.function(&format!("svc-a,{other_account},{other_region}"), "", None);

    let first = schedule(&function).await;
    assert_eq!((first.pipelines_checked, first.writes), (3, 3), "{first:?}");
    for key in ["svc-a", other_account, other_region] {
        let item = aws_sdk_dynamodb::Client::new(&world.config)
            .get_item()
            .table_name(&world.table)
            .key(
                "pipeline",
                aws_sdk_dynamodb::types::AttributeValue::S(key.into()),
            )
            .send()
            .await
            .unwrap();
        assert!(item.item.is_some(), "a record of its own: {key}");
    }
    // Another account: a role's credentials (issued by STS); this account: its own.
    let west = world.fake.access_keys("us-west-2");
    assert!(!west.is_empty() && !west.contains("test"), "{west:?}");
    assert_eq!(
        world.fake.access_keys("eu-central-1"),
        HashSet::from(["test".to_owned()])
    );

    world.fake.set_state_in("us-west-2", &state("svc-a", 21));
    let changed = schedule(&function).await;
    assert_eq!(changed.changes, 1, "{changed:?}");
    let delivered = world.inbox.drain().await;
    assert_eq!(delivered.len(), 1);
    let message = &delivered[0];
    assert_eq!(message.attributes["pipeline"], "svc-a");
    assert_eq!(message.body["pipeline_arn"], other_account);
    assert!(
        message.id().starts_with(&format!("{other_account}/")),
        "{}",
        message.id()
    );
    assert!(
        message.body["links"]["pipeline"]
            .as_str()
            .unwrap()
            .starts_with("https://us-west-2.console.aws.amazon.com/"),
        "links to its own region's console"
    );
}
