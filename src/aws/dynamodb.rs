//! The snapshot store on DynamoDB: one item per pipeline.
//!
//! | attribute    | type | holds |
//! |--------------|------|-------|
//! | `pipeline`   | S    | the partition key: the pipeline's name |
//! | `schema`     | N    | [`SCHEMA_VERSION`]; another value is re-baselined |
//! | `version`    | N    | the optimistic lock every write is conditional on |
//! | `snapshot`   | B    | the last observation's essentials, JSON, deflated (absent until a read succeeds) |
//! | `outbox`     | B    | claimed, unpublished messages, JSON, deflated (absent when empty) |
//! | `executions` | B    | the commits and triggers of recent executions, JSON, deflated (absent when empty) |
//! | `health`     | S    | JSON: the streak of failed reads and whether it was announced (absent when healthy) |
//! | `pending`    | N    | how many messages the outbox holds, for people looking at the table |
//! | `updated_at` | S    | when the item was last written (RFC 3339), for people too |
//! | `expires_at` | N    | epoch seconds; the table's TTL attribute: a record no tick wrote for the retention period goes |
//!
//! Deflating keeps a 2,500-action pipeline (CodePipeline's own limit is 50 stages of
//! 50 actions) well under DynamoDB's 400 KB item limit; [`MAX_STORED_BYTES`] guards the rest.

use std::collections::HashMap;
use std::io::{Read, Write};
use std::time::Duration;

use aws_sdk_dynamodb::Client;
use aws_sdk_dynamodb::error::SdkError;
use aws_sdk_dynamodb::operation::put_item::PutItemError;
use aws_sdk_dynamodb::primitives::Blob;
use aws_sdk_dynamodb::types::{AttributeValue, KeysAndAttributes};
use flate2::Compression;
use flate2::read::DeflateDecoder;
use flate2::write::DeflateEncoder;

use crate::ports::SnapshotStore;
use crate::ports::StoreError;
use pipewatch_core::record::{Expected, Health, Loaded, Pending, Record, SCHEMA_VERSION, Saved};
use pipewatch_core::state::{PipelineState, Timestamp};

/// The table's partition key attribute (the template declares the same).
pub const KEY: &str = "pipeline";

/// The table's TTL attribute (the template declares the same).
pub const EXPIRES_AT: &str = "expires_at";

/// BatchGetItem's limit per call.
const BATCH_SIZE: usize = 100;

/// The deflated snapshot and outbox together may not pass this, leaving headroom under
/// DynamoDB's 400 KB item limit for names and numbers.
pub const MAX_STORED_BYTES: usize = 350_000;

/// Inflating more than this is refused: a corrupt blob must not exhaust memory.
const MAX_INFLATED_BYTES: u64 = 64 * 1024 * 1024;

/// Reads and writes snapshot items in one table.
#[derive(Debug, Clone)]
pub struct DynamoStore {
    client: Client,
    table: String,
}

impl DynamoStore {
    pub fn new(client: Client, table: impl Into<String>) -> Self {
        Self {
            client,
            table: table.into(),
        }
    }

    fn key(pipeline: &str) -> HashMap<String, AttributeValue> {
        HashMap::from([(KEY.to_owned(), AttributeValue::S(pipeline.to_owned()))])
    }
}

impl SnapshotStore for DynamoStore {
    async fn load_many(&self, pipelines: &[String]) -> Result<HashMap<String, Loaded>, StoreError> {
        let mut found = HashMap::new();
        for chunk in pipelines.chunks(BATCH_SIZE) {
            let mut request = KeysAndAttributes::builder()
                .set_keys(Some(chunk.iter().map(|p| Self::key(p)).collect()))
                // Half the read units of a strong read; why that is safe: crate::tick.
                .consistent_read(false)
                .build()
                .map_err(|e| store_error("BatchGetItem", e))?;
            // UnprocessedKeys are normal under throttling: retry them with a growing pause.
            for attempt in 0_u32.. {
                let output = self
                    .client
                    .batch_get_item()
                    .request_items(&self.table, request.clone())
                    .send()
                    .await
                    .map_err(|e| store_error("BatchGetItem", e))?;
                for item in output
                    .responses()
                    .and_then(|r| r.get(&self.table))
                    .into_iter()
                    .flatten()
                {
                    if let Some(AttributeValue::S(pipeline)) = item.get(KEY) {
                        found.insert(pipeline.clone(), decode(item));
                    }
                }
                match output.unprocessed_keys().and_then(|u| u.get(&self.table)) {
                    Some(rest) if !rest.keys().is_empty() && attempt < 5 => {
                        request = rest.clone();
                        tokio::time::sleep(Duration::from_millis(50 << attempt)).await;
                    }
                    Some(rest) if !rest.keys().is_empty() => {
                        // Still throttled: fall back to one strongly consistent read each.
                        for key in rest.keys() {
                            if let Some(AttributeValue::S(pipeline)) = key.get(KEY) {
                                found.insert(pipeline.clone(), self.load(pipeline).await?);
                            }
                        }
                        break;
                    }
                    _ => break,
                }
            }
        }
        Ok(pipelines
            .iter()
            .map(|p| (p.clone(), found.remove(p).unwrap_or(Loaded::Missing)))
            .collect())
    }

    async fn load(&self, pipeline: &str) -> Result<Loaded, StoreError> {
        let output = self
            .client
            .get_item()
            .table_name(&self.table)
            .set_key(Some(Self::key(pipeline)))
            .consistent_read(true)
            .send()
            .await
            .map_err(|e| store_error("GetItem", e))?;
        Ok(output.item().map_or(Loaded::Missing, decode))
    }

    async fn save(&self, record: &Record, expected: Expected) -> Result<Saved, StoreError> {
        let item = encode(record, Timestamp::now())?;
        let request = self
            .client
            .put_item()
            .table_name(&self.table)
            .set_item(Some(item))
            .expression_attribute_names("#k", KEY);
        let request = match expected {
            Expected::Absent => request.condition_expression("attribute_not_exists(#k)"),
            Expected::Version(version) => request
                .condition_expression("attribute_exists(#k) AND #v = :v")
                .expression_attribute_names("#v", "version")
                .expression_attribute_values(":v", AttributeValue::N(version.to_string())),
            Expected::UnreadableVersion => request
                .condition_expression(
                    "attribute_exists(#k) AND (attribute_not_exists(#v) OR NOT attribute_type(#v, :n))",
                )
                .expression_attribute_names("#v", "version")
                .expression_attribute_values(":n", AttributeValue::S("N".into())),
        };
        match request.send().await {
            Ok(_) => Ok(Saved::Written),
            Err(SdkError::ServiceError(e))
                if matches!(e.err(), PutItemError::ConditionalCheckFailedException(_)) =>
            {
                Ok(Saved::Conflict)
            }
            Err(e) => Err(store_error("PutItem", e)),
        }
    }
}

fn store_error(
    operation: &'static str,
    error: impl std::error::Error + Send + Sync + 'static,
) -> StoreError {
    StoreError {
        operation,
        source: Box::new(error),
    }
}

/// A record as an item. Fails, naming the sizes, when it would not fit.
pub fn encode(
    record: &Record,
    now: Timestamp,
) -> Result<HashMap<String, AttributeValue>, StoreError> {
    let too_large = |detail: String| StoreError {
        operation: "encoding the snapshot item",
        source: detail.into(),
    };
    let mut item = HashMap::from([
        (KEY.to_owned(), AttributeValue::S(record.pipeline.clone())),
        (
            "schema".to_owned(),
            AttributeValue::N(SCHEMA_VERSION.to_string()),
        ),
        (
            "version".to_owned(),
            AttributeValue::N(record.version.to_string()),
        ),
        (
            "pending".to_owned(),
            AttributeValue::N(record.outbox.len().to_string()),
        ),
        ("updated_at".to_owned(), AttributeValue::S(now.to_string())),
    ]);
    if let Some(expires_at) = record.expires_at {
        item.insert(
            EXPIRES_AT.to_owned(),
            AttributeValue::N(expires_at.to_string()),
        );
    }
    let mut stored = 0;
    if let Some(snapshot) = &record.snapshot {
        let snapshot =
            deflate(&serde_json::to_vec(snapshot).map_err(|e| too_large(e.to_string()))?);
        stored += snapshot.len();
        item.insert(
            "snapshot".to_owned(),
            AttributeValue::B(Blob::new(snapshot)),
        );
    }
    if !record.health.is_healthy() {
        let health = serde_json::to_string(&record.health).map_err(|e| too_large(e.to_string()))?;
        stored += health.len();
        item.insert("health".to_owned(), AttributeValue::S(health));
    }
    if !record.outbox.is_empty() {
        let outbox =
            deflate(&serde_json::to_vec(&record.outbox).map_err(|e| too_large(e.to_string()))?);
        stored += outbox.len();
        item.insert("outbox".to_owned(), AttributeValue::B(Blob::new(outbox)));
    }
    if !record.executions.is_empty() {
        let executions =
            deflate(&serde_json::to_vec(&record.executions).map_err(|e| too_large(e.to_string()))?);
        stored += executions.len();
        item.insert(
            "executions".to_owned(),
            AttributeValue::B(Blob::new(executions)),
        );
    }
    if stored > MAX_STORED_BYTES {
        return Err(too_large(format!(
            "{stored} bytes deflated for snapshot and {} outbox messages, over the {MAX_STORED_BYTES}-byte budget",
            record.outbox.len()
        )));
    }
    Ok(item)
}

/// An item as what the tick can use: a record, or what could be salvaged from it.
pub fn decode(item: &HashMap<String, AttributeValue>) -> Loaded {
    let number = |name: &str| match item.get(name) {
        Some(AttributeValue::N(n)) => n.parse::<u64>().ok(),
        _ => None,
    };
    let version = number("version");
    let (outbox, outbox_problem) = match item.get("outbox") {
        None => (Vec::new(), None),
        Some(value) => match blob(value).and_then(|bytes| {
            serde_json::from_slice::<Vec<Pending>>(&bytes).map_err(|e| format!("outbox: {e}"))
        }) {
            Ok(outbox) => (outbox, None),
            Err(problem) => (Vec::new(), Some(problem)),
        },
    };
    let unreadable = |reason: String| Loaded::Unreadable {
        version,
        outbox: outbox.clone(),
        reason,
    };
    match number("schema") {
        Some(schema) if schema == u64::from(SCHEMA_VERSION) => {}
        Some(schema) => {
            return unreadable(format!(
                "schema version {schema}, expected {SCHEMA_VERSION}"
            ));
        }
        None => return unreadable("no schema version".into()),
    }
    if let Some(problem) = outbox_problem {
        return unreadable(problem);
    }
    let health: Option<Health> = match item.get("health") {
        None => None,
        Some(AttributeValue::S(json)) => match serde_json::from_str(json) {
            Ok(health) => Some(health),
            Err(e) => return unreadable(format!("health: {e}")),
        },
        Some(_) => return unreadable("health: not a string attribute".into()),
    };
    // Only a record of failed reads may lack a snapshot: it never read the pipeline.
    let snapshot = match item.get("snapshot") {
        None if health.is_some() => Ok(None),
        None => Err("no snapshot attribute".to_owned()),
        Some(value) => blob(value).and_then(|bytes| {
            PipelineState::from_json(&bytes)
                .map(Some)
                .map_err(|e| format!("snapshot: {}", pipewatch_core::error::chain(&e)))
        }),
    };
    let (snapshot, version) = match (snapshot, version) {
        (Ok(snapshot), Some(version)) => (snapshot, version),
        (Err(problem), _) => return unreadable(problem),
        (Ok(_), None) => return unreadable("no readable version".into()),
    };
    let pipeline = match (item.get(KEY), &snapshot) {
        (Some(AttributeValue::S(p)), _) => p.clone(),
        (_, Some(snapshot)) => snapshot.pipeline_name.clone(),
        (_, None) => return unreadable("no pipeline key".into()),
    };
    // A cache is only a cache: one that does not read is dropped, not fatal.
    let executions = item
        .get("executions")
        .and_then(|value| blob(value).ok())
        .and_then(|bytes| serde_json::from_slice(&bytes).ok())
        .unwrap_or_default();
    let expires_at = match item.get(EXPIRES_AT) {
        Some(AttributeValue::N(n)) => n.parse().ok(),
        _ => None,
    };
    Loaded::Found(Record {
        pipeline,
        version,
        snapshot,
        outbox,
        executions,
        expires_at,
        health: health.unwrap_or_default(),
    })
}

fn blob(value: &AttributeValue) -> Result<Vec<u8>, String> {
    let AttributeValue::B(blob) = value else {
        return Err("not a binary attribute".into());
    };
    let mut inflated = Vec::new();
    DeflateDecoder::new(blob.as_ref())
        .take(MAX_INFLATED_BYTES + 1)
        .read_to_end(&mut inflated)
        .map_err(|e| format!("cannot inflate: {e}"))?;
    if inflated.len() as u64 > MAX_INFLATED_BYTES {
        return Err(format!("inflates past {MAX_INFLATED_BYTES} bytes"));
    }
    Ok(inflated)
}

fn deflate(bytes: &[u8]) -> Vec<u8> {
    let mut encoder = DeflateEncoder::new(Vec::new(), Compression::default());
    encoder
        .write_all(bytes)
        .expect("writing to a Vec cannot fail");
    encoder.finish().expect("writing to a Vec cannot fail")
}

#[cfg(test)]
mod tests {
    use super::*;
    use pipewatch_core::render::message::messages;

    fn record(outbox: usize) -> Record {
        let state = PipelineState::from_json(
            std::fs::read(concat!(
                env!("CARGO_MANIFEST_DIR"),
                "/events/pipeline-states/release-failure-retry/03.json"
            ))
            .unwrap()
            .as_slice(),
        )
        .unwrap();
        let before = PipelineState::from_json(
            std::fs::read(concat!(
                env!("CARGO_MANIFEST_DIR"),
                "/events/pipeline-states/release-failure-retry/02.json"
            ))
            .unwrap()
            .as_slice(),
        )
        .unwrap();
        let changes = pipewatch_core::diff::diff(&before, &state);
        Record {
            pipeline: "web-app-release".into(),
            version: 12,
            snapshot: Some(pipewatch_core::diff::essentials(&state)),
            outbox: (0..outbox)
                .map(|i| Pending {
                    message: messages(
                        "web-app-release",
                        &changes,
                        &pipewatch_core::render::content::Context::default(),
                        &format!("web-app-release/{i}"),
                    )
                        .remove(0),
                    lease_until: 5,
                    claimed_at: 4,
                    attempts: u32::try_from(i).unwrap(),
                })
                .collect(),
            expires_at: Some(1_900_000_000),
            health: pipewatch_core::record::Health::default(),
            executions: (0..outbox.min(1))
                .map(|_| {
                    pipewatch_core::state::PipelineExecution::from_json(
                        br#"{"pipelineExecutionId": "a3c8e1d2", "artifactRevisions": [{"revisionId": "4e1243b"}]}"#,
                    )
                    .unwrap()
                })
                .collect(),
        }
    }

    fn now() -> Timestamp {
        Timestamp::from_unix_millis(1_800_000_000_000).unwrap()
    }

    #[test]
    fn a_record_survives_encoding() {
        for outbox in [0, 3] {
            let record = record(outbox);
            let item = encode(&record, now()).unwrap();
            assert_eq!(item.contains_key("outbox"), outbox > 0);
            assert_eq!(decode(&item), Loaded::Found(record));
        }
    }

    #[test]
    fn an_unknown_schema_is_unreadable_but_keeps_version_and_outbox() {
        let record = record(2);
        let mut item = encode(&record, now()).unwrap();
        item.insert("schema".into(), AttributeValue::N("2".into()));
        let Loaded::Unreadable {
            version,
            outbox,
            reason,
        } = decode(&item)
        else {
            panic!("schema 2 must be unreadable")
        };
        assert_eq!(version, Some(12));
        assert_eq!(outbox, record.outbox);
        assert!(reason.contains("schema version 2"), "{reason}");
    }

    #[test]
    fn a_corrupt_or_truncated_snapshot_is_unreadable_with_a_reason() {
        let good = encode(&record(0), now()).unwrap();
        let AttributeValue::B(blob) = &good["snapshot"] else {
            unreachable!()
        };
        let cases = [
            (
                "truncated",
                AttributeValue::B(Blob::new(&blob.as_ref()[..blob.as_ref().len() / 2])),
            ),
            (
                "garbage",
                AttributeValue::B(Blob::new(b"\x00\x01garbage".to_vec())),
            ),
            ("wrong type", AttributeValue::S("hello".into())),
            (
                "not JSON",
                AttributeValue::B(Blob::new(deflate(b"{\"pipelineName\":"))),
            ),
        ];
        for (what, value) in cases {
            let mut item = good.clone();
            item.insert("snapshot".into(), value);
            match decode(&item) {
                Loaded::Unreadable { version, .. } => assert_eq!(version, Some(12), "{what}"),
                other => panic!("{what}: {other:?}"),
            }
        }
        let mut item = good;
        item.remove("version");
        assert!(matches!(
            decode(&item),
            Loaded::Unreadable { version: None, .. }
        ));
    }

    #[test]
    fn a_deflate_bomb_is_refused() {
        let bomb = deflate(&vec![
            b' ';
            usize::try_from(MAX_INFLATED_BYTES).unwrap() + 10
        ]);
        assert!(
            blob(&AttributeValue::B(Blob::new(bomb)))
                .unwrap_err()
                .contains("inflates past")
        );
    }

    #[test]
    fn the_largest_pipeline_codepipeline_allows_fits_well_under_the_item_limit() {
        // 50 stages of 50 actions, each with a distinct UUID-like execution id.
        let stages: Vec<serde_json::Value> = (0..50)
            .map(|s| {
                let actions: Vec<serde_json::Value> = (0..50)
                    .map(|a| serde_json::json!({"actionName": format!("Action-{a:02}"),
                        "latestExecution": {"actionExecutionId": format!("{s:08x}-{a:04x}-4{:03x}-8{:03x}-{:012x}", s * a, s + a, s * 7919 + a * 104_729),
                                            "status": "Succeeded"}}))
                    .collect();
                serde_json::json!({"stageName": format!("Stage-{s:02}"), "actionStates": actions,
                    "latestExecution": {"pipelineExecutionId": format!("{s:08x}-0000-4000-8000-000000000000"), "status": "Succeeded"}})
            })
            .collect();
        let state: PipelineState = serde_json::from_value(
            serde_json::json!({"pipelineName": "big", "stageStates": stages}),
        )
        .unwrap();
        let record = Record {
            pipeline: "big".into(),
            version: 1,
            snapshot: Some(pipewatch_core::diff::essentials(&state)),
            outbox: Vec::new(),
            executions: Vec::new(),
            expires_at: None,
            health: pipewatch_core::record::Health::default(),
        };
        let item = encode(&record, now()).unwrap();
        let AttributeValue::B(blob) = &item["snapshot"] else {
            unreachable!()
        };
        let raw = serde_json::to_vec(&record.snapshot.unwrap()).unwrap().len();
        println!(
            "2,500-action snapshot: {raw} bytes as JSON, {} deflated",
            blob.as_ref().len()
        );
        assert!(
            blob.as_ref().len() < 100_000,
            "{} bytes",
            blob.as_ref().len()
        );
    }
}
