//! The two queues on SQS, both written with `SendMessageBatch`, ten messages a call:
//!
//! - the shard queue: each message is one shard, `{"pipelines": ["key", ...]}`, which the
//!   function consumes through an event source mapping (see [`crate::lambda`]);
//! - the dead-letter queue: each message is one [`DeadLetter`] as JSON (the message whole,
//!   why it left the outbox, its attempts), with the pipeline, the message id and the
//!   reason as message attributes for the console. `pipewatch redrive` publishes them
//!   again, reading them with [`crate::aws::dead_letter_reader`] (the operator's calls,
//!   not the function's).

use aws_sdk_sqs::Client;
use aws_sdk_sqs::types::SendMessageBatchRequestEntry;

use aws_sdk_sqs::types::MessageAttributeValue;

use pipewatch_core::record::DeadLetter;

use crate::ports::{BoxError, DeadLetterQueue, ShardQueue};

/// `SendMessageBatch`'s limits: ten entries, 256 KiB in all.
const MAX_BATCH: usize = 10;
const MAX_BATCH_BYTES: usize = 256 * 1024;

/// Sends shards to one queue.
#[derive(Debug, Clone)]
pub struct SqsShardQueue {
    client: Client,
    queue_url: String,
}

impl SqsShardQueue {
    pub fn new(client: Client, queue_url: impl Into<String>) -> Self {
        Self {
            client,
            queue_url: queue_url.into(),
        }
    }
}

impl ShardQueue for SqsShardQueue {
    async fn send(&self, shards: &[Vec<String>]) -> Result<(), BoxError> {
        let entries = shards
            .iter()
            .enumerate()
            .map(|(i, keys)| {
                SendMessageBatchRequestEntry::builder()
                    .id(format!("s{i}"))
                    .message_body(serde_json::json!({ "pipelines": keys }).to_string())
                    .build()
            })
            .collect::<Result<Vec<_>, _>>()?;
        send_all(&self.client, &self.queue_url, entries, "shards").await
    }
}

/// Sends dead letters to one queue.
#[derive(Debug, Clone)]
pub struct SqsDeadLetters {
    client: Client,
    queue_url: String,
}

impl SqsDeadLetters {
    pub fn new(client: Client, queue_url: impl Into<String>) -> Self {
        Self {
            client,
            queue_url: queue_url.into(),
        }
    }
}

impl DeadLetterQueue for SqsDeadLetters {
    async fn send(&self, letters: &[DeadLetter]) -> Result<(), BoxError> {
        let text = |value: &str| {
            MessageAttributeValue::builder()
                .data_type("String")
                // SQS attribute values hold at most 256 KiB; a reason is a line.
                .string_value(value.chars().take(1_000).collect::<String>())
                .build()
        };
        let entries = letters
            .iter()
            .enumerate()
            .map(|(i, letter)| {
                SendMessageBatchRequestEntry::builder()
                    .id(format!("d{i}"))
                    .message_body(serde_json::to_string(letter)?)
                    .message_attributes("pipeline", text(&letter.message.pipeline)?)
                    .message_attributes("idempotency_id", text(&letter.message.id)?)
                    .message_attributes("reason", text(&letter.reason)?)
                    .build()
                    .map_err(BoxError::from)
            })
            .collect::<Result<Vec<_>, BoxError>>()?;
        send_all(&self.client, &self.queue_url, entries, "dead letters").await
    }
}

/// Sends `entries` in batches within both of `SendMessageBatch`'s limits (ten entries,
/// 256 KiB); any entry refused fails the whole send.
async fn send_all(
    client: &Client,
    queue_url: &str,
    entries: Vec<SendMessageBatchRequestEntry>,
    what: &str,
) -> Result<(), BoxError> {
    let size = |e: &SendMessageBatchRequestEntry| {
        e.message_body().len()
            + e.message_attributes().map_or(0, |a| {
                a.iter()
                    .map(|(k, v)| {
                        k.len() + v.data_type().len() + v.string_value().map_or(0, str::len)
                    })
                    .sum()
            })
    };
    let mut batches: Vec<Vec<SendMessageBatchRequestEntry>> = Vec::new();
    let mut bytes = 0;
    for entry in entries {
        let entry_bytes = size(&entry);
        if batches
            .last()
            .is_none_or(|b| b.len() == MAX_BATCH || bytes + entry_bytes > MAX_BATCH_BYTES)
        {
            batches.push(Vec::new());
            bytes = 0;
        }
        bytes += entry_bytes;
        batches.last_mut().expect("just pushed").push(entry);
    }
    for batch in batches {
        let output = client
            .send_message_batch()
            .queue_url(queue_url)
            .set_entries(Some(batch.clone()))
            .send()
            .await?;
        if let Some(failure) = output.failed().first() {
            return Err(format!(
                "SQS refused {} of {} {what}: {} {}",
                output.failed().len(),
                batch.len(),
                failure.code(),
                failure.message().unwrap_or_default()
            )
            .into());
        }
    }
    Ok(())
}
