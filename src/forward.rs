//! The Slack forwarder's logic: each SNS record of an invocation → one webhook post.
//!
//! pipewatch's own messages carry their subject and text lines in the JSON body; anything
//! else on the topic (the CloudWatch alarms publish there too) is posted as it came.
//! Slack cannot drop duplicates, so a redelivered message (see the tick's guarantees) may
//! be posted twice; every post names the notification id so people can tell.

use aws_lambda_events::sns::SnsEvent;

use crate::error::BoxError;
use crate::ports::Webhook;
use crate::render::slack::webhook_message;

/// A record that could not be posted. The invocation fails, so Lambda retries it.
#[derive(Debug, thiserror::Error)]
#[error("posting SNS message {message_id} to the Slack webhook failed")]
pub struct ForwardError {
    pub message_id: String,
    #[source]
    pub source: BoxError,
}

impl From<ForwardError> for lambda_runtime::Diagnostic {
    fn from(error: ForwardError) -> Self {
        Self {
            error_type: "pipewatch.ForwardFailed".to_owned(),
            error_message: crate::error::chain(&error),
        }
    }
}

/// Posts every record of `event`; returns how many were posted.
pub async fn forward<W: Webhook>(webhook: &W, event: &SnsEvent) -> Result<usize, ForwardError> {
    for record in &event.records {
        let (subject, text) = subject_and_text(record.sns.subject.as_deref(), &record.sns.message);
        webhook
            .post(&webhook_message(&subject, &text))
            .await
            .map_err(|source| ForwardError {
                message_id: record.sns.message_id.clone(),
                source,
            })?;
    }
    Ok(event.records.len())
}

/// Our message body gives both; another publisher's message is shown as it is.
fn subject_and_text(subject: Option<&str>, message: &str) -> (String, String) {
    let ours = serde_json::from_str::<serde_json::Value>(message)
        .ok()
        .and_then(|body| {
            let text = body["text"].as_str()?.to_owned();
            let id = body["id"].as_str().unwrap_or_default();
            let subject = body["subject"].as_str().unwrap_or_default().to_owned();
            Some((subject, format!("{text}\n(notification {id})")))
        });
    ours.unwrap_or_else(|| {
        (
            subject.unwrap_or("pipewatch").to_owned(),
            message.to_owned(),
        )
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn our_messages_give_their_subject_and_lines() {
        let body = r#"{"id":"web/7/1","subject":"web: stage Build Failed","text":"web: stage Build Failed (execution e1)","changes":[]}"#;
        let (subject, text) = subject_and_text(Some("ignored"), body);
        assert_eq!(subject, "web: stage Build Failed");
        assert_eq!(
            text,
            "web: stage Build Failed (execution e1)\n(notification web/7/1)"
        );
    }

    #[test]
    fn other_messages_are_posted_as_they_came() {
        let alarm = r#"{"AlarmName":"pipewatch-errors","NewStateValue":"ALARM"}"#;
        let (subject, text) = subject_and_text(Some("ALARM: \"pipewatch-errors\""), alarm);
        assert_eq!(subject, "ALARM: \"pipewatch-errors\"");
        assert_eq!(text, alarm);
    }
}
