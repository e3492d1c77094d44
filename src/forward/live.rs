//! What the forwarder sends where: the stack's parameters, or the notifications document
//! (kept current by [`crate::aws::live::Live`]), made routes. A document that names a
//! webhook its secret does not hold, a Slack app channel when the stack has no Slack
//! app, or a topic outside the stack's, is refused whole, as one the core refuses.

use std::collections::HashMap;

use pipewatch_core::config::{self, Document};

use super::topic::{self, TopicRoute};
use super::{AppRoute, Destination, Format, destination};
use crate::ports::BoxError;
use pipewatch_core::render::topic::Reader;

/// Where messages go: every webhook, Slack app channel and topic, each with its audience.
#[derive(Debug, Default)]
pub struct Routes {
    pub webhooks: Vec<Destination>,
    pub channels: Vec<AppRoute>,
    /// A document's email and Chatbot topics (the stack's own subscribe to its topic).
    pub topics: Vec<TopicRoute>,
}

/// What the stack lets a document reach beyond the secrets it names.
#[derive(Debug, Clone, Default)]
pub struct Reach {
    /// The Slack app is installed: slack-app destinations can be sent.
    pub app_installed: bool,
    /// `DOCUMENT_TOPICS`: the topics email and Chatbot destinations may name.
    pub topics: Option<String>,
}

impl Routes {
    /// The stack's routes: the webhook secrets' lists (`secrets`, their values by ARN)
    /// and `SLACK_APP_ROUTES`.
    pub fn from_stack(
        forwarder: &crate::config::ForwarderConfig,
        secrets: &HashMap<String, String>,
    ) -> Result<Self, String> {
        let mut routes = Self::default();
        for (_, _, listed) in destination::of_stack(forwarder, secrets)? {
            routes.webhooks.extend(listed);
        }
        if let Some(settings) = &forwarder.slack_app {
            routes.channels = super::app::parse_routes(&settings.routes)?;
        }
        Ok(routes)
    }

    /// For logs: every destination's label, never a URL.
    pub fn labels(&self) -> String {
        let mut labels: Vec<String> = self.webhooks.iter().map(|d| d.label.clone()).collect();
        labels.extend(
            self.channels
                .iter()
                .map(|r| format!("slack app {}", r.channel)),
        );
        labels.extend(self.topics.iter().map(|t| t.label.clone()));
        labels.join(", ")
    }
}

/// A document's destinations, made routes: each webhook's URL taken from its secret's
/// value (`secrets`, by ARN). Refused, in words naming the destination and never a
/// secret's value, when an entry is not in its secret, a channel needs the Slack app
/// and it is not installed, or a topic is not one the stack lets it reach.
pub fn compile(
    document: &Document,
    secrets: &HashMap<String, String>,
    reach: &Reach,
) -> Result<Routes, String> {
    let mut routes = Routes::default();
    let templates = std::sync::Arc::new(document.templates.clone());
    let shaped = |template: &Option<String>| {
        template.as_ref().map(|name| destination::Shaped {
            templates: templates.clone(),
            name: name.clone(),
        })
    };
    for (name, wanted) in &document.destinations {
        let pipelines = document.audience_of(name);
        let (webhook, format) = match wanted {
            config::Destination::SlackApp {
                channel,
                severity,
                broadcast_failures,
                approvals,
            } => {
                if !reach.app_installed {
                    return Err(format!(
                        "destinations.{name}: a slack-app destination needs the Slack app, and \
                         the stack has none (SlackAppTokenSecretArn)"
                    ));
                }
                routes.channels.push(AppRoute {
                    channel: channel.clone(),
                    pipelines,
                    severity: *severity,
                    broadcast_failures: *broadcast_failures,
                    approvals: *approvals,
                });
                continue;
            }
            config::Destination::SlackWebhook(webhook) => (webhook, Format::Slack),
            config::Destination::TeamsWebhook(webhook) => (webhook, Format::Teams),
            config::Destination::Email(target) | config::Destination::Chatbot(target) => {
                topic::permitted(&target.arn, reach.topics.as_deref())
                    .map_err(|e| format!("destinations.{name}: {e}"))?;
                routes.topics.push(TopicRoute {
                    label: name.clone(),
                    arn: target.arn.clone(),
                    reader: if matches!(wanted, config::Destination::Email(_)) {
                        Reader::Email
                    } else {
                        Reader::Chatbot
                    },
                    pipelines,
                    severity: target.severity,
                    template: shaped(&target.template),
                });
                continue;
            }
        };
        let value = secrets
            .get(&webhook.secret)
            .ok_or_else(|| format!("destinations.{name}: its secret was not read"))?;
        let listed = destination::parse(value, name, format)
            .map_err(|e| format!("destinations.{name}: {e}"))?;
        let chosen = match webhook.entry {
            None if listed.len() == 1 => &listed[0],
            None => {
                return Err(format!(
                    "destinations.{name}: its secret lists {} webhooks; say which with entry",
                    listed.len()
                ));
            }
            Some(n) => listed
                .get(usize::try_from(n).unwrap_or(usize::MAX).saturating_sub(1))
                .ok_or_else(|| {
                    format!(
                        "destinations.{name}: entry {n}, but its secret lists {} webhook{}",
                        listed.len(),
                        if listed.len() == 1 { "" } else { "s" }
                    )
                })?,
        };
        routes.webhooks.push(Destination {
            label: name.clone(),
            url: chosen.url.clone(),
            format,
            pipelines,
            severity: webhook.severity,
            template: shaped(&webhook.template),
        });
    }
    Ok(routes)
}

/// Makes routes of each document that takes effect, reading the webhook secrets it names
/// (each once per container, as the stack's are).
pub struct Compiler<'a> {
    pub secrets: &'a aws_sdk_secretsmanager::Client,
    pub reach: Reach,
    read: HashMap<String, String>,
}

impl<'a> Compiler<'a> {
    pub fn new(secrets: &'a aws_sdk_secretsmanager::Client, reach: Reach) -> Self {
        Self {
            secrets,
            reach,
            read: HashMap::new(),
        }
    }

    /// `document`'s routes, `Ok(Err(problem))` when it is refused; `Err` when a secret
    /// could not be read (the document is tried again at the next invocation).
    pub async fn routes(
        &mut self,
        document: &Document,
    ) -> Result<Result<Routes, String>, BoxError> {
        for wanted in document.destinations.values() {
            let (config::Destination::SlackWebhook(webhook)
            | config::Destination::TeamsWebhook(webhook)) = wanted
            else {
                continue;
            };
            if !self.read.contains_key(&webhook.secret) {
                let value = crate::aws::secrets::secret_string(self.secrets, &webhook.secret)
                    .await
                    .map_err(|e| format!("reading the secret of a destination: {e}"))?;
                self.read.insert(webhook.secret.clone(), value);
            }
        }
        let routes = compile(document, &self.read, &self.reach);
        if let Ok(routes) = &routes {
            tracing::info!(destinations = %routes.labels(), "the document's destinations");
        }
        Ok(routes)
    }
}
