//! The dead-letter queue read back, for `pipewatch redrive`: `ReceiveMessage` and
//! `DeleteMessageBatch`, made with the operator's credentials. The watcher only ever sends
//! to the queue ([`crate::aws::sqs`]), so its role is granted neither call.

use aws_sdk_sqs::Client;

use pipewatch_core::record::DeadLetter;

use crate::ports::BoxError;

/// `DeleteMessageBatch`'s limit.
const MAX_BATCH: usize = 10;

/// Reads one dead-letter queue.
#[derive(Debug, Clone)]
pub struct DeadLetterReader {
    client: Client,
    queue_url: String,
}

impl DeadLetterReader {
    pub fn new(client: Client, queue_url: impl Into<String>) -> Self {
        Self {
            client,
            queue_url: queue_url.into(),
        }
    }
}

/// A message received from the dead-letter queue: its receipt (to delete it), and the
/// letter, or why the body is not one.
#[derive(Debug)]
pub struct Received {
    pub receipt: String,
    pub letter: Result<DeadLetter, String>,
}

impl DeadLetterReader {
    /// Up to ten messages, hidden from other readers for `hide_seconds`.
    pub async fn receive(&self, hide_seconds: i32) -> Result<Vec<Received>, BoxError> {
        let output = self
            .client
            .receive_message()
            .queue_url(&self.queue_url)
            .max_number_of_messages(10)
            .visibility_timeout(hide_seconds)
            .wait_time_seconds(1)
            .send()
            .await?;
        Ok(output
            .messages()
            .iter()
            .map(|m| Received {
                receipt: m.receipt_handle().unwrap_or_default().to_owned(),
                letter: serde_json::from_str(m.body().unwrap_or_default())
                    .map_err(|e| format!("not a pipewatch dead letter: {e}")),
            })
            .collect())
    }

    /// Deletes received messages.
    pub async fn delete(&self, receipts: &[String]) -> Result<(), BoxError> {
        for (batch_index, batch) in receipts.chunks(MAX_BATCH).enumerate() {
            let entries = batch
                .iter()
                .enumerate()
                .map(|(i, receipt)| {
                    aws_sdk_sqs::types::DeleteMessageBatchRequestEntry::builder()
                        .id(format!("r{}", batch_index * MAX_BATCH + i))
                        .receipt_handle(receipt)
                        .build()
                })
                .collect::<Result<Vec<_>, _>>()?;
            let output = self
                .client
                .delete_message_batch()
                .queue_url(&self.queue_url)
                .set_entries(Some(entries))
                .send()
                .await?;
            if let Some(failure) = output.failed().first() {
                return Err(format!(
                    "SQS did not delete {} messages: {} {}",
                    output.failed().len(),
                    failure.code(),
                    failure.message().unwrap_or_default()
                )
                .into());
            }
        }
        Ok(())
    }
}
