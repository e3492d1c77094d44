//! The event trigger: CodePipeline events, straight from an EventBridge rule or batched
//! through the event queue, checked through the function's own dispatch against DynamoDB
//! Local, moto and the wire-level CodePipeline fake. A burst is coalesced, an event racing
//! a scheduled tick on one change announces it once, and events for pipelines nobody
//! watches, or that name none, touch nothing. Each test prints its figures.

use std::time::{Duration, Instant};

use serde_json::{Value, json};

use pipewatch_testkit::fake_codepipeline::HOME_ACCOUNT;
use pipewatch_testkit::world::{TestFunction, World, state};

/// An EventBridge event from CodePipeline about `pipeline` at home, of one of the three
/// kinds the rule forwards.
fn event(pipeline: &str, n: usize) -> Value {
    let kinds = [
        ("CodePipeline Pipeline Execution State Change", json!({})),
        (
            "CodePipeline Stage Execution State Change",
            json!({"stage": "Build"}),
        ),
        (
            "CodePipeline Action Execution State Change",
            json!({"stage": "Build", "action": "Compile"}),
        ),
    ];
    let (kind, extra) = &kinds[n % kinds.len()];
    let mut detail =
        json!({"pipeline": pipeline, "execution-id": format!("{pipeline}-e"), "state": "STARTED"});
    detail
        .as_object_mut()
        .unwrap()
        .extend(extra.as_object().unwrap().clone());
    json!({"version": "0", "id": format!("{pipeline}-{n}"), "detail-type": kind,
           "source": "aws.codepipeline", "account": HOME_ACCOUNT, "region": "us-east-1",
           "time": "2026-11-27T09:14:03Z", "resources": [], "detail": detail})
}

/// The event queue's batch, as Lambda delivers it: one SQS record per event.
fn queued(bodies: &[String]) -> Value {
    let records: Vec<Value> = bodies
        .iter()
        .enumerate()
        .map(|(i, body)| {
            json!({"messageId": format!("m-{i}"), "receiptHandle": format!("r-{i}"), "body": body,
                   "attributes": {}, "messageAttributes": {}, "md5OfBody": "", "eventSource": "aws:sqs",
                   "eventSourceARN": "arn:aws:sqs:us-east-1:123456789012:pipewatch-events",
                   "awsRegion": "us-east-1"})
        })
        .collect();
    json!({ "Records": records })
}

fn names(count: usize) -> Vec<String> {
    (0..count).map(|i| format!("svc-{i:02}")).collect()
}

async fn baselined(world: &World, names: &[String]) -> TestFunction {
    let refs: Vec<&str> = names.iter().map(String::as_str).collect();
    world.serve(&refs, 0);
    let function = world.function("svc-*", "", None);
    function.handle(&json!({}), None).await.unwrap();
    function
}

#[tokio::test]
async fn a_burst_of_events_is_coalesced_into_one_check_per_pipeline() {
    let world = World::new().await;
    let pipelines = names(10);
    let function = baselined(&world, &pipelines).await;
    let refs: Vec<&str> = pipelines.iter().map(String::as_str).collect();
    world.serve(&refs, 1);
    let before: Vec<usize> = pipelines.iter().map(|p| world.fake.calls(p)).collect();

    // A release's burst: 100 events, 10 for each pipeline, in one queue batch.
    let bodies: Vec<String> = (0..100)
        .map(|n| event(&pipelines[n % 10], n / 10).to_string())
        .collect();
    let started = Instant::now();
    let summary = function.handle(&queued(&bodies), None).await.unwrap();
    let took = started.elapsed();
    assert_eq!((summary.events, summary.events_ignored), (100, 0));
    assert_eq!(summary.pipelines_checked, 10, "{summary:?}");
    let calls: usize = pipelines
        .iter()
        .zip(&before)
        .map(|(p, b)| world.fake.calls(p) - b)
        .sum();
    assert_eq!(
        calls, 10,
        "one GetPipelineState per pipeline, not per event"
    );
    assert_eq!(world.inbox.drain().await.len(), 10, "each change announced");
    println!(
        "burst: 100 events for 10 pipelines: {calls} GetPipelineState calls, 10 messages, in {} ms",
        took.as_millis()
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn an_event_and_a_scheduled_tick_racing_on_one_change_announce_it_once() {
    let world = World::new().await;
    let pipelines = names(3);
    let function = baselined(&world, &pipelines).await;
    let refs: Vec<&str> = pipelines.iter().map(String::as_str).collect();
    let mut announced = 0;
    for run in 1..=5 {
        world.serve(&refs, run);
        let bodies: Vec<String> = pipelines
            .iter()
            .map(|p| event(p, run).to_string())
            .collect();
        let (tick, batch) = (json!({}), queued(&bodies));
        let (scheduled, evented) =
            tokio::join!(function.handle(&tick, None), function.handle(&batch, None));
        let (scheduled, evented) = (scheduled.unwrap(), evented.unwrap());
        assert_eq!(
            scheduled.changes + evented.changes,
            3,
            "each change claimed by one of them: {scheduled:?} {evented:?}"
        );
        let delivered = world.inbox.drain().await;
        assert_eq!(delivered.len(), 3, "run {run}: once per pipeline");
        announced += delivered.len();
    }
    println!(
        "race: 5 rounds of a schedule and an event batch at once over 3 pipelines: {announced} messages for 15 changes, 0 duplicated"
    );
}

#[tokio::test]
async fn events_for_unwatched_pipelines_and_malformed_events_touch_nothing() {
    let world = World::new().await;
    let pipelines = names(2);
    let function = baselined(&world, &pipelines).await;
    world.fake.set_state(&state("other-team", 0));
    let unwatched = event("other-team", 0);
    let elsewhere = {
        // A watched name, but in another account: not the pipeline this stack watches.
        let mut e = event("svc-00", 0);
        e["account"] = json!("999988887777");
        e
    };
    let malformed = json!({"source": "aws.codepipeline", "detail-type": "CodePipeline Action Execution State Change", "detail": {}});

    let direct = function.handle(&unwatched, None).await.unwrap();
    assert_eq!((direct.events, direct.events_ignored), (1, 1));
    let nameless = function.handle(&malformed, None).await.unwrap();
    assert_eq!((nameless.events, nameless.events_ignored), (1, 1));
    let batch = queued(&[
        unwatched.to_string(),
        elsewhere.to_string(),
        malformed.to_string(),
        "{\"not\": \"an event\"".to_owned(),
    ]);
    let queued = function.handle(&batch, None).await.unwrap();
    assert_eq!((queued.events, queued.events_ignored), (4, 4), "{queued:?}");
    for summary in [&direct, &nameless, &queued] {
        assert_eq!((summary.pipelines_checked, summary.writes), (0, 0));
        assert!(summary.failed.is_empty());
    }
    assert_eq!(world.fake.calls("other-team"), 0, "never observed");
    assert!(world.inbox.drain().await.is_empty());
}

/// Notification latency, measured: a state changes in the fake, the matching event is
/// delivered, and the message is in the subscriber's queue. The schedule's latency is
/// the wait for the next tick (half a period on average) plus the same tick.
#[tokio::test]
async fn an_event_is_announced_within_its_own_check() {
    let world = World::new().await;
    let pipelines = names(20);
    let function = baselined(&world, &pipelines).await;
    let mut latencies = Vec::new();
    for run in 1..=20 {
        let pipeline = &pipelines[run % pipelines.len()];
        world.fake.set_state(&state(pipeline, run));
        let changed = Instant::now();
        function.handle(&event(pipeline, run), None).await.unwrap();
        let delivered = world.inbox.drain().await;
        latencies.push(changed.elapsed());
        assert_eq!(delivered.len(), 1, "run {run}");
        assert_eq!(delivered[0].attributes["pipeline"], *pipeline);
    }
    latencies.sort();
    let tick = {
        let refs: Vec<&str> = pipelines.iter().map(String::as_str).collect();
        world.serve(&refs, 100);
        let started = Instant::now();
        function.handle(&json!({}), None).await.unwrap();
        started.elapsed()
    };
    let median = latencies[latencies.len() / 2];
    assert!(median < Duration::from_secs(5), "{latencies:?}");
    println!(
        "latency, event mode: change → delivered in {} ms median, {} ms max over 20 events (plus EventBridge's delivery and the queue's batching window of up to 2 s); schedule mode: half the period on average (30 s at rate(1 minute), 150 s at rate(5 minutes)) plus a tick ({} ms over 20 pipelines here)",
        median.as_millis(),
        latencies.last().unwrap().as_millis(),
        tick.as_millis()
    );
}
