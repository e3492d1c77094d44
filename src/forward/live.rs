//! What the forwarder sends where, kept current: the stack's parameters, or the
//! notifications document in S3 once one is there, read again at most once per cache
//! period with a conditional request (an unchanged document costs one 304).
//!
//! A document takes effect whole or not at all. One that is refused (the core's checks, or
//! a reference only the forwarder can check: a secret's entry, the Slack app) leaves the
//! last good one running; the operator is told once per refused version, through the
//! alarm topic, with every problem's line and reason. A cold start whose newest document
//! is refused runs the newest earlier version that is sound. Every version that takes
//! effect is logged with its S3 version id. With no document at the key, the stack's
//! parameters decide, as before documents existed.

use std::collections::HashMap;
use std::sync::Arc;
use std::time::{Duration, Instant};

use pipewatch_core::config::{self, Document};

use super::{AppRoute, Destination, Format, destination};
use crate::aws::document::{self as s3doc, Read};
use crate::ports::BoxError;

/// How many earlier versions a cold start reads, looking for a sound one.
const VERSIONS_BACK: i32 = 10;

/// Where messages go: every webhook and every Slack app channel, each with its audience.
#[derive(Debug, Default)]
pub struct Routes {
    pub webhooks: Vec<Destination>,
    pub channels: Vec<AppRoute>,
    /// The document's S3 version id, or `None`: the stack's parameters.
    pub version: Option<String>,
}

impl Routes {
    /// The stack's routes: the webhook secrets' lists (`secrets`, their values by ARN)
    /// and `SLACK_APP_ROUTES`.
    pub fn from_stack(
        forwarder: &crate::config::ForwarderConfig,
        secrets: &HashMap<String, String>,
    ) -> Result<Self, String> {
        let mut routes = Self::default();
        for (arn, name, format) in [
            (&forwarder.slack_secret, "slack", Format::Slack),
            (&forwarder.teams_secret, "teams", Format::Teams),
        ] {
            let Some(arn) = arn else { continue };
            let value = secrets
                .get(arn)
                .ok_or_else(|| format!("the {name} webhook secret was not read"))?;
            routes
                .webhooks
                .extend(destination::parse(value, name, format)?);
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
        labels.join(", ")
    }
}

/// A document's destinations, made routes: each webhook's URL taken from its secret's
/// value (`secrets`, by ARN). Refused, in words naming the destination and never a
/// secret's value, when an entry is not in its secret or a channel needs the Slack app
/// and it is not installed.
pub fn compile(
    document: &Document,
    secrets: &HashMap<String, String>,
    app_installed: bool,
) -> Result<Routes, String> {
    let mut routes = Routes::default();
    for (name, wanted) in &document.destinations {
        let pipelines = document.audience_of(name);
        let (webhook, format) = match wanted {
            config::Destination::SlackApp {
                channel,
                severity,
                broadcast_failures,
                approvals,
            } => {
                if !app_installed {
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
        });
    }
    Ok(routes)
}

/// The document's place and the services reading it needs.
pub struct Source<'a> {
    pub s3: &'a aws_sdk_s3::Client,
    pub secrets: &'a aws_sdk_secretsmanager::Client,
    pub dynamodb: &'a aws_sdk_dynamodb::Client,
    /// The alarm topic, where the operator hears of a refused document.
    pub operator: Option<(&'a aws_sdk_sns::Client, &'a str)>,
    pub bucket: &'a str,
    pub key: &'a str,
    /// Where "told once" is remembered.
    pub table: &'a str,
    pub cache: Duration,
    pub app_installed: bool,
}

/// The routes in effect, across invocations of one container.
pub struct Live {
    stack: Arc<Routes>,
    current: Arc<Routes>,
    /// The `ETag` of the newest document read, taken or refused (`None`: none read yet).
    seen: Option<String>,
    checked_at: Option<Instant>,
    /// Webhook secrets' values by ARN, read once per container as the stack's are.
    secrets: HashMap<String, String>,
}

impl Live {
    /// Starts from the stack's routes.
    pub fn new(stack: Routes) -> Self {
        let stack = Arc::new(stack);
        Self {
            current: Arc::clone(&stack),
            stack,
            seen: None,
            checked_at: None,
            secrets: HashMap::new(),
        }
    }

    /// The routes now: the document (when `source` names one) read again when the cache
    /// period has passed.
    pub async fn routes(&mut self, source: Option<&Source<'_>>) -> Arc<Routes> {
        let Some(source) = source else {
            return Arc::clone(&self.current);
        };
        let now = Instant::now();
        if self
            .checked_at
            .is_some_and(|at| now.duration_since(at) < source.cache)
        {
            return Arc::clone(&self.current);
        }
        match self.refresh(source).await {
            Ok(()) => self.checked_at = Some(now),
            // Read again at the next invocation; what runs keeps running.
            Err(error) => tracing::warn!(error = %pipewatch_core::error::chain(&*error),
                bucket = source.bucket, key = source.key,
                "could not read the notifications document; what was in effect stays"),
        }
        Arc::clone(&self.current)
    }

    async fn refresh(&mut self, source: &Source<'_>) -> Result<(), BoxError> {
        let first = self.checked_at.is_none();
        let fetched =
            match s3doc::read(source.s3, source.bucket, source.key, self.seen.as_deref()).await? {
                Read::Unchanged => return Ok(()),
                Read::Missing => {
                    if self.current.version.is_some() {
                        tracing::warn!(
                            bucket = source.bucket,
                            key = source.key,
                            "the notifications document is gone: the stack's parameters decide"
                        );
                    }
                    self.current = Arc::clone(&self.stack);
                    self.seen = None;
                    return Ok(());
                }
                Read::Changed(fetched) => fetched,
            };
        match self.take(source, &fetched).await? {
            Ok(routes) => {
                self.current = Arc::new(routes);
                self.seen = Some(fetched.etag);
            }
            Err(problems) => {
                if first {
                    self.fall_back(source, &fetched).await?;
                }
                self.refused(source, &fetched, &problems).await;
                self.seen = Some(fetched.etag);
            }
        }
        Ok(())
    }

    /// A document read, made routes: `Ok(Err(problems))` when it is refused.
    async fn take(
        &mut self,
        source: &Source<'_>,
        fetched: &s3doc::Fetched,
    ) -> Result<Result<Routes, String>, BoxError> {
        let document = match Document::load(&fetched.bytes) {
            Ok(document) => document,
            Err(refused) => {
                let lines: Vec<String> = refused.0.iter().map(ToString::to_string).collect();
                return Ok(Err(lines.join("\n")));
            }
        };
        for wanted in document.destinations.values() {
            let (config::Destination::SlackWebhook(webhook)
            | config::Destination::TeamsWebhook(webhook)) = wanted
            else {
                continue;
            };
            if !self.secrets.contains_key(&webhook.secret) {
                let value = crate::aws::secrets::secret_string(source.secrets, &webhook.secret)
                    .await
                    .map_err(|e| format!("reading the secret of a destination: {e}"))?;
                self.secrets.insert(webhook.secret.clone(), value);
            }
        }
        let mut routes = match compile(&document, &self.secrets, source.app_installed) {
            Ok(routes) => routes,
            Err(problem) => return Ok(Err(problem)),
        };
        routes.version = Some(
            fetched
                .version
                .clone()
                .unwrap_or_else(|| fetched.etag.clone()),
        );
        tracing::info!(
            bucket = source.bucket,
            key = source.key,
            version = routes.version.as_deref().unwrap_or_default(),
            destinations = %routes.labels(),
            "a notifications document took effect"
        );
        Ok(Ok(routes))
    }

    /// A cold start whose newest document is refused: the newest earlier sound version.
    async fn fall_back(
        &mut self,
        source: &Source<'_>,
        newest: &s3doc::Fetched,
    ) -> Result<(), BoxError> {
        let versions = s3doc::versions(source.s3, source.bucket, source.key, VERSIONS_BACK).await?;
        for version in versions
            .iter()
            .filter(|v| Some(v.as_str()) != newest.version.as_deref())
        {
            let fetched =
                s3doc::read_version(source.s3, source.bucket, source.key, version).await?;
            if let Ok(routes) = self.take(source, &fetched).await? {
                self.current = Arc::new(routes);
                return Ok(());
            }
        }
        tracing::warn!("no earlier notifications document is sound: the stack's parameters decide");
        Ok(())
    }

    /// Logs a refused document and tells the operator, once per version.
    async fn refused(&self, source: &Source<'_>, fetched: &s3doc::Fetched, problems: &str) {
        let version = fetched.version.as_deref().unwrap_or(&fetched.etag);
        let running = self.current.version.as_deref().map_or_else(
            || "the stack's parameters".to_owned(),
            |v| format!("version {v}"),
        );
        tracing::error!(bucket = source.bucket, key = source.key, version, problems,
            running = %running, "the notifications document is refused; what was in effect stays");
        let Some((sns, topic)) = source.operator else {
            return;
        };
        let now = pipewatch_core::state::Timestamp::now().unix_millis() / 1000;
        match crate::aws::once::first_to_tell(source.dynamodb, source.table, &fetched.etag, now)
            .await
        {
            Ok(false) => {}
            Ok(true) => {
                let message = format!(
                    "pipewatch refused its notifications document s3://{}/{} (version {version}); \
                     nothing of it took effect, and {running} keeps running.\n\n{problems}\n\n\
                     pipewatch config check FILE shows the same on your machine. You are told \
                     once per version.",
                    source.bucket, source.key
                );
                if let Err(error) = crate::aws::operator::tell(
                    sns,
                    topic,
                    "pipewatch refused its notifications document",
                    &message,
                )
                .await
                {
                    tracing::warn!(error = %error, "could not tell the operator");
                }
            }
            Err(error) => tracing::warn!(error = %error, "could not tell the operator"),
        }
    }
}
