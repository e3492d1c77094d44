//! A document's `email` and `chatbot` destinations: SNS topics of a team's own, each
//! published the rendering its subscribers read ([`pipewatch_core::render::topic`]). The
//! forwarder may publish only to the topics the stack names (`DOCUMENT_TOPICS`, an ARN
//! pattern the template builds from `DocumentTopicPrefix`, the same as its IAM policy's):
//! a document naming another is refused whole, in words, before anything is sent.

use crate::ports::PostError;
use pipewatch_core::config::Audience;
use pipewatch_core::render::content::{Content, Severity};
use pipewatch_core::render::topic::{self, Reader};

/// One topic and what it wants.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct TopicRoute {
    /// The document's name for it, for logs and errors.
    pub label: String,
    pub arn: String,
    pub reader: Reader,
    pub pipelines: Audience,
    /// The least severity sent here.
    pub severity: Severity,
    /// The document's template that shapes its messages; `None`: the built-in ones.
    pub template: Option<super::destination::Shaped>,
}

impl TopicRoute {
    /// As [`super::Destination::wants`]: alarms (`None`) go wherever their severity
    /// reaches, whatever the pipelines.
    pub fn wants(&self, pipeline: Option<&str>, severity: Severity) -> bool {
        super::destination::wanted(self.severity, &self.pipelines, pipeline, severity)
    }
}

/// Publishes `content` to `route`'s topic, shaped by its template when it has one (the
/// built-in message when the template fails: logged, never lost).
pub async fn publish(
    sns: &aws_sdk_sns::Client,
    route: &TopicRoute,
    content: &Content,
    failed: &mut Vec<super::FailedTemplate>,
) -> Result<(), PostError> {
    let published = match &route.template {
        None => topic::publish(route.reader, content),
        Some(shaped) => {
            let (published, error) = pipewatch_core::config::templated::topic(
                &shaped.templates,
                Some(&shaped.name),
                route.reader,
                content,
            );
            super::template_failed(&route.label, &shaped.name, error, failed);
            published
        }
    };
    crate::aws::topic::publish(sns, &route.arn, published).await
}

/// Whether a document's topic is one the stack lets the forwarder publish to: `allowed`
/// is `DOCUMENT_TOPICS`, an ARN pattern (`*` for any characters); `None`, none.
pub fn permitted(arn: &str, allowed: Option<&str>) -> Result<(), String> {
    match allowed {
        Some(pattern) if pipewatch_core::glob::matches(pattern, arn) => Ok(()),
        Some(pattern) => Err(format!(
            "the topic {arn} is not one this stack may publish to ({pattern}: the \
             DocumentTopicPrefix parameter)"
        )),
        None => Err(format!(
            "the topic {arn} cannot be published to: the stack names no topic a document \
             may use (DOCUMENT_TOPICS)"
        )),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn only_the_stacks_topics_are_permitted() {
        let allowed = Some("arn:aws:sns:eu-west-1:123456789012:pipewatch-*");
        assert!(permitted("arn:aws:sns:eu-west-1:123456789012:pipewatch-mail", allowed).is_ok());
        for other in [
            "arn:aws:sns:eu-west-1:123456789012:payments-mail",
            "arn:aws:sns:eu-west-1:210987654321:pipewatch-mail",
            "arn:aws:sns:us-east-1:123456789012:pipewatch-mail",
        ] {
            let error = permitted(other, allowed).unwrap_err();
            assert!(error.contains("DocumentTopicPrefix"), "{error}");
        }
        assert!(
            permitted("arn:aws:sns:eu-west-1:123456789012:pipewatch-mail", None)
                .unwrap_err()
                .contains("DOCUMENT_TOPICS")
        );
    }
}
