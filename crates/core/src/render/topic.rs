//! What the forwarder publishes to a document's `email` and `chatbot` destinations: SNS
//! topics of a team's own, whose subscribers read one rendering each. An email topic's
//! subscribers get the plain text a mail client shows, under the message's subject; a
//! Chatbot topic's, the custom notification AWS Chatbot renders. Both carry the message
//! attributes the stack's own topic does for a subscription's filter policy (`severity`,
//! and `pipeline` when the message is about one).

use crate::render::content::{Content, sns_subject};
use crate::render::{chatbot, email};

/// Which rendering a topic's subscribers read.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Reader {
    Email,
    Chatbot,
}

/// One SNS `Publish`, as sent.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Publish {
    /// SNS's rules for a subject (printable ASCII, under 100 characters); only email
    /// shows one.
    pub subject: Option<String>,
    pub message: String,
    /// String attributes by name.
    pub attributes: Vec<(&'static str, String)>,
}

/// What `reader`'s topic is published for `content`.
pub fn publish(reader: Reader, content: &Content) -> Publish {
    let (subject, message) = match reader {
        Reader::Email => (Some(sns_subject(&content.subject)), email::render(content)),
        Reader::Chatbot => (None, chatbot::render(content).to_string()),
    };
    let mut attributes = vec![("severity", content.severity.as_str().to_owned())];
    if !content.pipeline.is_empty() {
        attributes.push(("pipeline", content.pipeline.clone()));
    }
    Publish {
        subject,
        message,
        attributes,
    }
}

impl Publish {
    /// The call as `replay --format calls` prints it: SNS's own parameter names.
    pub fn to_json(&self) -> serde_json::Value {
        let mut body = serde_json::Map::new();
        if let Some(subject) = &self.subject {
            body.insert("Subject".into(), subject.clone().into());
        }
        body.insert("Message".into(), self.message.clone().into());
        let attributes: serde_json::Map<String, serde_json::Value> = self
            .attributes
            .iter()
            .map(|(name, value)| {
                (
                    (*name).to_owned(),
                    serde_json::json!({"DataType": "String", "StringValue": value}),
                )
            })
            .collect();
        body.insert("MessageAttributes".into(), attributes.into());
        body.into()
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::render::content::Severity;

    fn content() -> Content {
        let mut content = Content::note(
            "web/3/1",
            "web: Deploy failed — in 4 min",
            "web: Deploy failed",
            Severity::Failure,
        );
        content.pipeline = "web".into();
        content
    }

    #[test]
    fn an_email_topic_gets_the_mail_text_under_an_sns_subject() {
        let content = content();
        let published = publish(Reader::Email, &content);
        assert_eq!(
            published.subject.as_deref(),
            Some("web: Deploy failed ? in 4 min")
        );
        assert_eq!(published.message, email::render(&content));
        assert_eq!(
            published.attributes,
            [("severity", "failure".into()), ("pipeline", "web".into())]
        );
    }

    #[test]
    fn a_chatbot_topic_gets_the_custom_notification_and_no_subject() {
        let content = content();
        let published = publish(Reader::Chatbot, &content);
        assert_eq!(published.subject, None);
        let message: serde_json::Value = serde_json::from_str(&published.message).unwrap();
        assert_eq!(message, chatbot::render(&content));
        let call = published.to_json();
        assert_eq!(call.get("Subject"), None);
        assert_eq!(
            call["MessageAttributes"]["severity"],
            serde_json::json!({"DataType": "String", "StringValue": "failure"})
        );
    }

    #[test]
    fn an_alarm_is_about_no_pipeline() {
        let alarm = Content::note("m-1", "ALARM: errors", "why", Severity::Failure);
        let published = publish(Reader::Email, &alarm);
        assert_eq!(published.attributes, [("severity", "failure".into())]);
        assert_eq!(published.subject.as_deref(), Some("ALARM: errors"));
    }
}
