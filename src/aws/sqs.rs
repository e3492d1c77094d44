//! The shard queue on SQS: `SendMessageBatch`, ten shards a call. Each message is one
//! shard, `{"pipelines": ["key", ...]}`, which the function consumes through an event
//! source mapping (see [`crate::lambda`]).

use aws_sdk_sqs::Client;
use aws_sdk_sqs::types::SendMessageBatchRequestEntry;

use crate::error::BoxError;
use crate::ports::ShardQueue;

/// `SendMessageBatch`'s limit.
const MAX_BATCH: usize = 10;

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
        for (batch_index, batch) in shards.chunks(MAX_BATCH).enumerate() {
            let entries = batch
                .iter()
                .enumerate()
                .map(|(i, keys)| {
                    SendMessageBatchRequestEntry::builder()
                        .id(format!("s{}", batch_index * MAX_BATCH + i))
                        .message_body(serde_json::json!({ "pipelines": keys }).to_string())
                        .build()
                })
                .collect::<Result<Vec<_>, _>>()?;
            let output = self
                .client
                .send_message_batch()
                .queue_url(&self.queue_url)
                .set_entries(Some(entries))
                .send()
                .await?;
            if let Some(failure) = output.failed().first() {
                return Err(format!(
                    "SQS refused {} of {} shards: {} {}",
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
}
