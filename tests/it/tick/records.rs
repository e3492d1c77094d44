//! Records written by every earlier release read back, refused messages and failed reads
//! carried on, and quiet ticks that write nothing.

use pipewatch_core::record::Loaded;
use pipewatch_testkit::world::World;

use super::{TickByName, baselined, number, serve_release_executions, watcher};

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
