//! Publishing to a notifications document's email and Chatbot topics (the forwarder's):
//! one `Publish` per message and topic.
//!
//! SNS's client retries throttling and server errors itself; what still fails is a
//! [`PostError`], permanent when publishing again cannot mend it (the topic, its key or a
//! policy must change), so the invocation fails as for a webhook's refusal and Lambda
//! delivers the event again.

use aws_sdk_sns::Client;
use aws_sdk_sns::error::ProvideErrorMetadata;
use aws_sdk_sns::types::MessageAttributeValue;

use crate::ports::PostError;
use pipewatch_core::render::topic::Publish;

/// Publishes `published` to the topic `arn`.
pub async fn publish(client: &Client, arn: &str, published: Publish) -> Result<(), PostError> {
    let mut request = client
        .publish()
        .topic_arn(arn)
        .set_subject(published.subject)
        .message(published.message);
    let host = format!("SNS topic {arn}");
    for (name, value) in published.attributes {
        let value = MessageAttributeValue::builder()
            .data_type("String")
            .string_value(value)
            .build()
            .map_err(|e| PostError::Unavailable {
                host: host.clone(),
                detail: e.to_string(),
            })?;
        request = request.message_attributes(name, value);
    }
    match request.send().await {
        Ok(_) => Ok(()),
        Err(error) => {
            let status = error.raw_response().map(|r| r.status().as_u16());
            let detail = super::describe(&error).to_string();
            match (error.code(), status) {
                (Some(code), Some(status)) if refused_for_good(code) => Err(PostError::Refused {
                    host,
                    status,
                    meaning: meaning(code),
                    detail: format!(" ({detail})"),
                }),
                _ => Err(PostError::Unavailable { host, detail }),
            }
        }
    }
}

/// Errors that publishing again cannot mend: the topic, its key or the policy must change.
fn refused_for_good(code: &str) -> bool {
    code.starts_with("InvalidParameter")
        || (code.starts_with("KMS") && code != "KMSThrottling")
        || matches!(code, "AuthorizationError" | "NotFound" | "InvalidSecurity")
}

fn meaning(code: &str) -> &'static str {
    match code {
        "AuthorizationError" => {
            "the forwarder may not publish to it (its name must start with the stack's \
             DocumentTopicPrefix, and its access policy must not deny the forwarder)"
        }
        "NotFound" => "no such topic",
        code if code.starts_with("KMS") => {
            "its encryption key refused the forwarder (a customer managed key's policy must \
             let the forwarder's role use it)"
        }
        _ => "SNS refused the message",
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn what_cannot_be_mended_by_publishing_again_is_permanent() {
        for code in [
            "AuthorizationError",
            "NotFound",
            "KMSDisabled",
            "InvalidParameterValue",
        ] {
            assert!(refused_for_good(code), "{code}");
        }
        for code in ["Throttled", "InternalError", "KMSThrottling"] {
            assert!(!refused_for_good(code), "{code}");
        }
        assert!(meaning("AuthorizationError").contains("DocumentTopicPrefix"));
        assert_eq!(meaning("NotFound"), "no such topic");
        assert!(meaning("KMSAccessDenied").contains("key"));
    }
}
