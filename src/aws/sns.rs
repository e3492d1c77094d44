//! The notifier on SNS: `PublishBatch`, handled per entry.
//!
//! Each message is published with `MessageStructure=json` (a `default` body for queues
//! and programs, an `email` body for people), the subject, and message attributes for
//! subscription filter policies:
//!
//! | attribute        | type         | holds |
//! |------------------|--------------|-------|
//! | `pipeline`       | String       | the pipeline's name |
//! | `severity`       | String       | `failure`, `approval`, `warning` or `info`: the most urgent change's |
//! | `stage`          | String.Array | the stages the changes happened in |
//! | `kind`           | String.Array | `action`, `inbound`, `stage`, `transition`, `pipeline_version`, `condition`, `access` |
//! | `status`         | String.Array | the new statuses, as AWS spells them |
//! | `idempotency_id` | String       | the message's id, the same on every redelivery |

use aws_sdk_sns::Client;
use aws_sdk_sns::error::ProvideErrorMetadata;
use aws_sdk_sns::types::{MessageAttributeValue, PublishBatchRequestEntry};

use crate::ports::Notifier;
use crate::ports::{BoxError, NotifyError};
use pipewatch_core::render::message::{Message, sns_payload};

/// PublishBatch's limits: 10 entries, and 256 KiB for the whole request.
const MAX_BATCH_ENTRIES: usize = 10;
const MAX_BATCH_BYTES: usize = 256 * 1024;

/// Publishes to one topic.
#[derive(Debug, Clone)]
pub struct SnsNotifier {
    client: Client,
    topic_arn: String,
}

impl SnsNotifier {
    pub fn new(client: Client, topic_arn: impl Into<String>) -> Self {
        Self {
            client,
            topic_arn: topic_arn.into(),
        }
    }

    /// Each entry's outcome; an error is `(permanent, why)`.
    async fn publish_batch(
        &self,
        batch: &[(usize, PublishBatchRequestEntry)],
    ) -> Vec<Result<(), (bool, BoxError)>> {
        let entries = batch.iter().map(|(_, entry)| entry.clone()).collect();
        let output = match self
            .client
            .publish_batch()
            .topic_arn(&self.topic_arn)
            .set_publish_batch_request_entries(Some(entries))
            .send()
            .await
        {
            Ok(output) => output,
            Err(error) => {
                // The whole call failed: every entry in it failed for the same reason.
                let permanent = error.code().is_some_and(refused_for_good);
                let reason = super::describe(&error).to_string();
                return batch
                    .iter()
                    .map(|_| Err((permanent, reason.clone().into())))
                    .collect();
            }
        };
        batch
            .iter()
            .map(|(_, entry)| {
                if output
                    .successful()
                    .iter()
                    .any(|s| s.id() == Some(entry.id()))
                {
                    Ok(())
                } else if let Some(failure) = output.failed().iter().find(|f| f.id() == entry.id())
                {
                    let permanent = failure.sender_fault() || refused_for_good(failure.code());
                    Err((
                        permanent,
                        format!(
                            "{}{}: {}",
                            failure.code(),
                            if failure.sender_fault() {
                                " (sender fault)"
                            } else {
                                ""
                            },
                            failure.message().unwrap_or("no message")
                        )
                        .into(),
                    ))
                } else {
                    Err((
                        false,
                        "SNS reported neither success nor failure for this entry".into(),
                    ))
                }
            })
            .collect()
    }
}

impl Notifier for SnsNotifier {
    async fn publish(&self, messages: &[Message]) -> Vec<Result<(), NotifyError>> {
        let mut results: Vec<Option<Result<(), NotifyError>>> =
            messages.iter().map(|_| None).collect();
        for batch in batches(messages) {
            let outcomes = self.publish_batch(&batch).await;
            for ((index, _), outcome) in batch.into_iter().zip(outcomes) {
                results[index] = Some(outcome.map_err(|(permanent, source)| NotifyError {
                    id: messages[index].id.clone(),
                    permanent,
                    source,
                }));
            }
        }
        results
            .into_iter()
            .map(|r| r.expect("every message is in exactly one batch"))
            .collect()
    }
}

/// Whether SNS's error code says the message will never be taken as it is: a parameter
/// it rejects, or the topic's KMS key unusable. Throttling, internal errors and lost
/// connections are not: those are retried. (Authorization and a missing topic are not
/// either: they are the deployment's to fix, and the attempts bound catches them.)
fn refused_for_good(code: &str) -> bool {
    code.starts_with("InvalidParameter")
        || code.starts_with("KMS")
        || matches!(code, "InvalidMessageContents" | "ValidationError")
}

/// Groups messages into PublishBatch calls within both limits, keeping their order.
/// Each entry is paired with its message's index.
fn batches(messages: &[Message]) -> Vec<Vec<(usize, PublishBatchRequestEntry)>> {
    let mut batches: Vec<Vec<(usize, PublishBatchRequestEntry)>> = Vec::new();
    let mut batch_bytes = 0;
    for (index, message) in messages.iter().enumerate() {
        let (entry, bytes) = entry(index, message);
        let full = batches
            .last()
            .is_none_or(|b| b.len() == MAX_BATCH_ENTRIES || batch_bytes + bytes > MAX_BATCH_BYTES);
        if full {
            batches.push(Vec::new());
            batch_bytes = 0;
        }
        batch_bytes += bytes;
        batches
            .last_mut()
            .expect("just pushed")
            .push((index, entry));
    }
    batches
}

/// The batch entry for a message, and its size as SNS counts it (body, subject, attributes).
fn entry(index: usize, message: &Message) -> (PublishBatchRequestEntry, usize) {
    let payload = sns_payload(message);
    let mut attributes = vec![
        ("pipeline", "String", message.pipeline.clone()),
        (
            "severity",
            "String",
            message.attributes.severity.as_str().to_owned(),
        ),
        ("idempotency_id", "String", message.id.clone()),
    ];
    for (name, values) in [
        ("stage", &message.attributes.stages),
        ("kind", &message.attributes.kinds),
        ("status", &message.attributes.statuses),
    ] {
        // SNS rejects empty attribute values; a message without statuses has no `status`.
        if !values.is_empty() {
            let array = serde_json::to_string(values).expect("strings serialise");
            attributes.push((name, "String.Array", array));
        }
    }
    let mut bytes = payload.len() + message.subject.len();
    let mut builder = PublishBatchRequestEntry::builder()
        .id(format!("m{index}"))
        .message(payload)
        .message_structure("json")
        .subject(&message.subject);
    for (name, data_type, value) in attributes {
        bytes += name.len() + data_type.len() + value.len();
        let value = MessageAttributeValue::builder()
            .data_type(data_type)
            .string_value(value)
            .build()
            .expect("data type is set");
        builder = builder.message_attributes(name, value);
    }
    (builder.build().expect("id and message are set"), bytes)
}

#[cfg(test)]
mod tests {
    use super::*;
    use pipewatch_core::render::message::Attributes;

    fn message(id: &str, body_bytes: usize) -> Message {
        Message {
            id: id.into(),
            pipeline: "web".into(),
            subject: "web: something".into(),
            text: "line".into(),
            body: "x".repeat(body_bytes),
            attributes: Attributes {
                severity: pipewatch_core::render::message::Severity::Failure,
                stages: vec!["Build".into()],
                kinds: vec!["action".into()],
                statuses: vec![],
            },
        }
    }

    #[test]
    fn batches_hold_at_most_ten_entries_and_256_kib() {
        let small: Vec<Message> = (0..23).map(|i| message(&format!("s{i}"), 100)).collect();
        let sizes: Vec<usize> = batches(&small).iter().map(Vec::len).collect();
        assert_eq!(sizes, [10, 10, 3]);

        let large: Vec<Message> = (0..5).map(|i| message(&format!("l{i}"), 100_000)).collect();
        let sizes: Vec<usize> = batches(&large).iter().map(Vec::len).collect();
        assert_eq!(sizes, [2, 2, 1]);
    }

    #[test]
    fn an_entry_carries_the_filterable_attributes_and_no_empty_one() {
        let (entry, _) = entry(3, &message("web/9/1", 10));
        assert_eq!(entry.id(), "m3");
        assert_eq!(entry.message_structure(), Some("json"));
        let attributes = entry.message_attributes().unwrap();
        assert_eq!(attributes["idempotency_id"].string_value(), Some("web/9/1"));
        assert_eq!(attributes["stage"].data_type(), "String.Array");
        assert_eq!(attributes["stage"].string_value(), Some(r#"["Build"]"#));
        assert!(!attributes.contains_key("status"));
        assert_eq!(attributes["severity"].string_value(), Some("failure"));
    }
}
