//! The forwarder's logic: each SNS record of an invocation → its content → every
//! destination that wants it, rendered for that destination (Slack Block Kit, a Teams
//! Adaptive Card, the Slack app's living message, or a document's email or Chatbot topic).
//!
//! pipewatch's own messages are read back as [`Content`] from their JSON body, so the chat
//! message says exactly what the email says. The stack's CloudWatch alarms are put into
//! words (name, state, what it means, why, a link to the alarm); anything else on the topic
//! is posted as it came.
//!
//! Failures and retries, per destination:
//! - 429: wait the `Retry-After` the server asked for when the invocation has time left;
//!   otherwise fail, so that Lambda delivers the event again later;
//! - 5xx, timeouts, connection errors: back off and try again, within the time left;
//! - 400, 403, 404, 410 and other refusals: permanent; the error names the reason.
//!
//! Any failed destination fails the invocation (Lambda retries it twice, then the
//! dead-letter queue keeps the event, and the Errors alarm sees it). A retried event posts
//! again to the destinations that had accepted it; every post shows the notification id.

pub mod app;
pub mod destination;
pub mod live;
pub mod stack;
pub mod topic;

use std::time::{Duration, Instant};

use aws_lambda_events::sns::SnsEvent;
use serde_json::Value;

pub use app::{App, AppError, AppRoute};
pub use destination::{Destination, Format};

use crate::ports::PostError;
use crate::ports::Webhook;
use pipewatch_core::config::templated;
use pipewatch_core::render::console::Console;
use pipewatch_core::render::content::{Content, Links, Severity};
use pipewatch_core::render::{slack, teams};

/// Attempts per destination and message, the first included.
pub const MAX_ATTEMPTS: u32 = 4;

/// Kept free before the deadline for one more post (its timeout) and the response.
const RESERVE: Duration = Duration::from_secs(12);

/// The longest `Retry-After` honoured within an invocation.
const MAX_WAIT: Duration = Duration::from_secs(30);

/// One destination that did not take a message. Its display holds the reason, so the
/// list in [`ForwardError`] reads whole on one line.
#[derive(Debug, thiserror::Error)]
#[error("{destination}: {error}")]
pub struct Undelivered {
    pub destination: String,
    pub error: PostError,
}

/// An SNS record that did not reach every destination. The invocation fails, so Lambda
/// delivers the event again.
#[derive(Debug, thiserror::Error)]
#[error(
    "SNS message {message_id} reached {} of {} destinations; {}",
    .total - .failed.len(),
    .total,
    .failed.iter().map(ToString::to_string).collect::<Vec<_>>().join("; ")
)]
pub struct ForwardError {
    pub message_id: String,
    pub total: usize,
    pub failed: Vec<Undelivered>,
}

impl From<ForwardError> for lambda_runtime::Diagnostic {
    fn from(error: ForwardError) -> Self {
        let permanent = error.failed.iter().all(|f| f.error.is_permanent());
        Self {
            error_type: if permanent {
                "pipewatch.ForwardRefused"
            } else {
                "pipewatch.ForwardFailed"
            }
            .to_owned(),
            error_message: pipewatch_core::error::chain(&error),
        }
    }
}

/// What `destination` is posted for `content`: the built-in message, or its template's
/// (the built-in one when the template fails: logged, noted in `failed`, never lost).
fn body(destination: &Destination, content: &Content, failed: &mut Vec<FailedTemplate>) -> Value {
    let Some(shaped) = &destination.template else {
        return match destination.format {
            Format::Slack => slack::render(content),
            Format::Teams => teams::render(content),
        };
    };
    let channel = match destination.format {
        Format::Slack => templated::Channel::Slack,
        Format::Teams => templated::Channel::Teams,
    };
    let (body, error) = templated::webhook(&shaped.templates, Some(&shaped.name), channel, content);
    template_failed(&destination.label, &shaped.name, error, failed);
    body
}

/// A template that failed in an invocation (the built-in message went instead), and why.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct FailedTemplate {
    pub template: String,
    pub error: String,
}

/// Logs a template's failure, and notes it once per template in `failed`.
fn template_failed(
    destination: &str,
    template: &str,
    error: Option<String>,
    failed: &mut Vec<FailedTemplate>,
) {
    let Some(error) = error else { return };
    tracing::warn!(destination = %destination, template = %template, error = %error,
        "a template failed: the built-in message was sent instead");
    if !failed.iter().any(|f| f.template == template) {
        failed.push(FailedTemplate {
            template: template.to_owned(),
            error,
        });
    }
}

/// What an invocation posted.
#[derive(Debug, Default, PartialEq, Eq)]
pub struct Forwarded {
    pub messages: usize,
    pub posts: usize,
    /// The templates that failed (each once), for the operator.
    pub failed_templates: Vec<FailedTemplate>,
}

/// The Slack app, when one is installed: its client and store, its channels, and the
/// topic that tells the operator when a channel cannot take messages.
pub struct AppTarget<'a> {
    pub app: App<'a>,
    pub routes: &'a [AppRoute],
    /// The alarm topic: a path to the operator that does not depend on Slack.
    pub operator: Option<(&'a aws_sdk_sns::Client, &'a str)>,
}

/// A document's email and Chatbot topics, and the client that publishes to them.
pub struct Topics<'a> {
    pub sns: &'a aws_sdk_sns::Client,
    pub routes: &'a [topic::TopicRoute],
}

/// Posts every record of `event` to the destinations that want it, retrying within
/// `deadline` (the invocation's).
pub async fn forward<W: Webhook>(
    webhook: &W,
    destinations: &[Destination],
    topics: Option<&Topics<'_>>,
    app: Option<&AppTarget<'_>>,
    event: &SnsEvent,
    deadline: Instant,
) -> Result<Forwarded, ForwardError> {
    let mut forwarded = Forwarded::default();
    for record in &event.records {
        let sns = &record.sns;
        let (content, pipeline) = read(&sns.message_id, sns.subject.as_deref(), &sns.message);
        let wanted: Vec<&Destination> = destinations
            .iter()
            .filter(|d| d.wants(pipeline.as_deref(), content.severity))
            .collect();
        let mut failed = Vec::new();
        for destination in &wanted {
            let body = body(destination, &content, &mut forwarded.failed_templates);
            match deliver(webhook, destination, &body, deadline).await {
                Ok(()) => forwarded.posts += 1,
                Err(error) => failed.push(Undelivered {
                    destination: destination.label.clone(),
                    error,
                }),
            }
        }
        let mut total = wanted.len();
        if let Some(topics) = topics {
            for route in topics
                .routes
                .iter()
                .filter(|r| r.wants(pipeline.as_deref(), content.severity))
            {
                total += 1;
                match topic::publish(topics.sns, route, &content, &mut forwarded.failed_templates)
                    .await
                {
                    Ok(()) => forwarded.posts += 1,
                    Err(error) => failed.push(Undelivered {
                        destination: route.label.clone(),
                        error,
                    }),
                }
            }
        }
        if let Some(target) = app {
            for route in target
                .routes
                .iter()
                .filter(|r| r.wants(pipeline.as_deref()))
            {
                total += 1;
                match target.app.deliver(route, &content, deadline).await {
                    Ok(sent) => forwarded.posts += sent.posts + sent.updates,
                    Err(AppError::Destination(error)) => {
                        if let Err(kept) =
                            keep(target, route, &content.id, &sns.message, &error.to_string()).await
                        {
                            failed.push(Undelivered {
                                destination: format!("slack app {}", route.channel),
                                error: unavailable(kept.as_ref()),
                            });
                        }
                    }
                    Err(error) => failed.push(Undelivered {
                        destination: format!("slack app {}", route.channel),
                        error: unavailable(&error),
                    }),
                }
            }
        }
        if !failed.is_empty() {
            return Err(ForwardError {
                message_id: sns.message_id.clone(),
                total,
                failed,
            });
        }
        forwarded.messages += 1;
    }
    Ok(forwarded)
}

/// What a redrive of one channel's dead letters did.
#[derive(Debug, Default, PartialEq, Eq, serde::Serialize)]
pub struct SlackRedriven {
    pub channel: String,
    pub delivered: usize,
    /// Still kept: the first Slack refused again, and the ones after it.
    pub kept: usize,
    /// Why the first kept one was refused again.
    pub reason: Option<String>,
}

/// Sends `channel`'s dead letters to that channel again, oldest first, through the app's
/// rules (a run's living message is updated, not duplicated) and to nothing else: not back
/// through the topic, where every other subscriber would get them twice. Stops at the
/// first that Slack still refuses, keeping it and those after it.
pub async fn redrive_channel(
    target: &AppTarget<'_>,
    channel: &str,
    deadline: Instant,
) -> Result<SlackRedriven, String> {
    let route = target
        .routes
        .iter()
        .find(|r| r.channel == channel)
        .ok_or_else(|| format!("no route of SLACK_APP_ROUTES is for channel {channel:?}"))?;
    let refs = target.app.refs;
    let letters = refs
        .dead_letters(channel)
        .await
        .map_err(|e| e.to_string())?;
    let mut redriven = SlackRedriven {
        channel: channel.to_owned(),
        ..SlackRedriven::default()
    };
    for (i, (id, body, _)) in letters.iter().enumerate() {
        let (content, _) = read(id, None, body);
        match target.app.deliver(route, &content, deadline).await {
            Ok(_) => {
                refs.forget_dead_letter(channel, id)
                    .await
                    .map_err(|e| e.to_string())?;
                redriven.delivered += 1;
            }
            Err(AppError::Destination(error)) => {
                redriven.kept = letters.len() - i;
                redriven.reason = Some(error.to_string());
                break;
            }
            Err(error) => {
                return Err(format!(
                    "{redriven:?} then {}",
                    pipewatch_core::error::chain(&error)
                ));
            }
        }
    }
    tracing::info!(channel = %channel, delivered = redriven.delivered, kept = redriven.kept, "redrove the channel's dead letters");
    Ok(redriven)
}

fn unavailable(error: &(dyn std::error::Error + 'static)) -> PostError {
    PostError::Unavailable {
        host: "Slack's Web API".into(),
        detail: pipewatch_core::error::chain(error),
    }
}

/// A notification `route`'s channel cannot take: kept as a dead letter for that channel,
/// and the operator told once (per channel and reason, while the reference lives) through
/// the alarm topic. The invocation then succeeds: retrying cannot help.
async fn keep(
    target: &AppTarget<'_>,
    route: &AppRoute,
    id: &str,
    body: &str,
    reason: &str,
) -> Result<(), Box<dyn std::error::Error + Send + Sync>> {
    let refs = target.app.refs;
    let now = pipewatch_core::state::Timestamp::now().unix_millis();
    tracing::error!(channel = %route.channel, notification = %id, reason = %reason,
        "the Slack app cannot post to this channel: the notification is kept as a dead letter");
    refs.dead_letter(&route.channel, id, body, reason, now)
        .await?;
    let code = reason
        .rsplit_once('(')
        .map_or(reason, |(_, code)| code.trim_end_matches(')'));
    if let Some((sns, topic)) = target.operator
        && refs
            .claim_once(&route.channel, &format!("told/{code}"), now)
            .await?
    {
        let message = format!(
            "pipewatch's Slack app cannot post to channel {}: {reason}.\n\n\
             Its notifications are kept as dead letters in the snapshot table (keys slack/{}/dead/...). \
             Once it is fixed, send them to that channel alone: invoke the forwarder with \
             {{\"redrive_slack_channel\": \"{}\"}}. You are told once per channel and reason.",
            route.channel, route.channel, route.channel
        );
        let subject = format!("pipewatch cannot post to Slack channel {}", route.channel);
        crate::aws::operator::tell(sns, topic, &subject, &message).await?;
        refs.done(&route.channel, &format!("told/{code}")).await?;
    }
    Ok(())
}

/// Posts `body`, retrying what may succeed later while the invocation has time for it.
pub async fn deliver<W: Webhook>(
    webhook: &W,
    destination: &Destination,
    body: &Value,
    deadline: Instant,
) -> Result<(), PostError> {
    let mut attempt = 1;
    loop {
        let error = match webhook.post(&destination.url, body).await {
            Ok(()) => return Ok(()),
            Err(error) if error.is_permanent() || attempt == MAX_ATTEMPTS => return Err(error),
            Err(error) => error,
        };
        let wait = match &error {
            PostError::RateLimited { retry_after, .. } => {
                retry_after.unwrap_or(Duration::from_secs(1))
            }
            _ => Duration::from_millis(500) * 2_u32.pow(attempt - 1),
        };
        if wait > MAX_WAIT || Instant::now() + wait + RESERVE > deadline {
            // Not enough time left: fail, and Lambda delivers the event again later.
            return Err(error);
        }
        tracing::warn!(destination = %destination.label, error = %error,
            wait_ms = u64::try_from(wait.as_millis()).unwrap_or(u64::MAX), "retrying a post");
        tokio::time::sleep(wait).await;
        attempt += 1;
    }
}

/// A record's content, and the key of the pipeline it is about (`None` for alarms and
/// others).
fn read(message_id: &str, subject: Option<&str>, message: &str) -> (Content, Option<String>) {
    if let Ok(content) = Content::from_body(message) {
        let pipeline = content.pipeline_key();
        return (content, Some(pipeline));
    }
    if let Some(alarm) = alarm(message_id, message) {
        return (alarm, None);
    }
    (
        Content::relayed(message_id, subject.unwrap_or("pipewatch"), message),
        None,
    )
}

/// A CloudWatch alarm's notification, in words.
fn alarm(message_id: &str, message: &str) -> Option<Content> {
    let json: Value = serde_json::from_str(message).ok()?;
    let name = json["AlarmName"].as_str()?;
    let state = json["NewStateValue"].as_str()?;
    let (severity, words) = match state {
        "ALARM" => (Severity::Failure, "ALARM"),
        "OK" => (Severity::Info, "OK again"),
        _ => (Severity::Warning, "insufficient data"),
    };
    let mut text = String::new();
    if let Some(description) = json["AlarmDescription"].as_str() {
        text.push_str(description.trim());
    }
    if let Some(reason) = json["NewStateReason"].as_str() {
        if !text.is_empty() {
            text.push_str("\n\n");
        }
        text.push_str("Why: ");
        text.push_str(reason.trim());
    }
    let region = json["AlarmArn"]
        .as_str()
        .and_then(|arn| arn.split(':').nth(3))
        .unwrap_or_default();
    let links = Links {
        pipeline: None,
        alarm: Console::new(region, None).map(|c| c.alarm_url(name)),
    };
    let mut content = Content::note(message_id, &format!("{words}: {name}"), &text, severity);
    content.links = links;
    Some(content)
}

/// The invocation's deadline as an [`Instant`], from Lambda's epoch milliseconds; `None`
/// when the value cannot be one (cargo-lambda's local runtime sends the timeout itself,
/// `600000`, rather than a point in time).
pub fn deadline_from_epoch_ms(deadline_ms: u64) -> Option<Instant> {
    let now_ms = u64::try_from(pipewatch_core::state::Timestamp::now().unix_millis()).unwrap_or(0);
    // A deadline is in the next 15 minutes (Lambda's longest timeout), give or take.
    let plausible = deadline_ms + 60_000 >= now_ms && deadline_ms <= now_ms + 16 * 60_000;
    plausible.then(|| Instant::now() + Duration::from_millis(deadline_ms.saturating_sub(now_ms)))
}

/// Without a deadline from the runtime, a forwarder invocation allows itself this long.
pub const DEFAULT_TIME: Duration = Duration::from_secs(25);

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn only_a_point_in_the_next_minutes_is_a_deadline() {
        let now = u64::try_from(pipewatch_core::state::Timestamp::now().unix_millis()).unwrap();
        assert!(deadline_from_epoch_ms(now + 30_000).is_some());
        assert!(
            deadline_from_epoch_ms(600_000).is_none(),
            "a timeout, not a deadline"
        );
        assert!(deadline_from_epoch_ms(now + 86_400_000).is_none());
    }

    #[test]
    fn an_alarm_is_put_into_words_with_a_link() {
        let message = r#"{"AlarmName":"pipewatch-watcher-errors","AlarmDescription":"pipewatch ticks are failing.",
            "NewStateValue":"ALARM","NewStateReason":"Threshold Crossed: 1 datapoint [3.0] was >= 3.0",
            "AlarmArn":"arn:aws:cloudwatch:eu-west-1:123456789012:alarm:pipewatch-watcher-errors"}"#;
        let (content, pipeline) = read("m-1", Some("ALARM: \"pipewatch-watcher-errors\""), message);
        assert_eq!(pipeline, None);
        assert_eq!(content.severity, Severity::Failure);
        assert_eq!(content.headline, "ALARM: pipewatch-watcher-errors");
        assert!(content.text.starts_with("pipewatch ticks are failing."));
        assert!(content.text.contains("Why: Threshold Crossed"));
        assert_eq!(
            content.links.alarm.as_deref(),
            Some(
                "https://eu-west-1.console.aws.amazon.com/cloudwatch/home?region=eu-west-1#alarmsV2:alarm/pipewatch-watcher-errors"
            )
        );
    }

    #[test]
    fn anything_else_is_posted_as_it_came_in_neutral_colours() {
        let (content, pipeline) = read("m-2", Some("hello"), "plain text");
        assert_eq!(
            (content.headline.as_str(), content.text.as_str()),
            ("hello", "plain text")
        );
        assert_eq!(pipeline, None);
        let json = r#"{"id": "x", "schema_version": 2, "status": "Failed"}"#;
        let (content, _) = read("m-3", None, json);
        assert!(content.relayed);
        assert_eq!(
            (content.title(), content.text.as_str()),
            ("pipewatch", json)
        );
        let message = slack::render(&content);
        assert_eq!(message["attachments"][0]["color"], "#8C959F");
        assert_eq!(message["blocks"][0]["text"]["text"], "📨 pipewatch");
        let card = teams::render(&content).to_string();
        assert!(card.contains(r#""color":"Default""#), "{card}");
    }

    #[test]
    fn a_body_of_pipewatchs_is_read_whatever_its_version() {
        let body = r#"{"schema_version": 7, "id": "web/1/1", "pipeline": "web", "part": "?",
            "headline": "web: something new", "text": "web: a line", "severity": "critical"}"#;
        let (content, pipeline) = read("m-4", None, body);
        assert_eq!(pipeline.as_deref(), Some("web"));
        assert!(!content.relayed);
        assert_eq!(content.severity, Severity::Warning);
        assert_eq!(
            slack::render(&content)["attachments"][0]["color"],
            "#BF8700"
        );
    }
}
