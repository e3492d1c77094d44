//! Telling the operator something by a path that does not depend on Slack: a message on
//! the stack's alarm topic, which the email subscriber receives unfiltered.

use aws_sdk_sns::Client;

use crate::ports::BoxError;

/// Publishes `message` on `topic_arn` with `subject` (made fit for SNS).
pub async fn tell(
    client: &Client,
    topic_arn: &str,
    subject: &str,
    message: &str,
) -> Result<(), BoxError> {
    client
        .publish()
        .topic_arn(topic_arn)
        .subject(pipewatch_core::render::content::sns_subject(subject))
        .message(message)
        .send()
        .await
        .map_err(|e| super::describe(&e))?;
    Ok(())
}
