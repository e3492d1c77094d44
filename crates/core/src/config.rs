//! The notifications document: which destinations exist and which pipelines each hears
//! about, in one file an operator edits (YAML, or JSON, which is YAML too) — what the
//! stack's parameters and the secrets' route lists say today, said once. Pure: the
//! caller brings the bytes (a file, an S3 object) and gets a [`Document`] or every
//! problem with its line and column; nothing half-read is ever returned.
//!
//! ```yaml
//! # yaml-language-server: $schema=../schema/notifications.schema.json
//! version: 1
//! destinations:
//!   releases:
//!     type: slack-app
//!     channel: C0123456789
//!   payments-teams:
//!     type: teams
//!     secret: arn:aws:secretsmanager:eu-west-1:123456789012:secret:pipewatch/teams-AbCdEf
//!     severity: approval
//!   payments-email:
//!     type: email
//!     topic: arn:aws:sns:eu-west-1:123456789012:pipewatch-payments-email
//!     severity: failure
//! subscriptions:
//!   - pipelines: ["payments-*"]
//!     to: [payments-teams, payments-email, releases]
//! ```
//!
//! What it guards against, before anything else is read (`config/scan.rs`): a document over
//! [`MAX_BYTES`], bytes that are not UTF-8, nesting past the parser's depth, anchors and
//! aliases (none is needed, and an alias bomb is refused, not expanded). Then: unknown
//! keys, wrong types, names that are not plain ASCII (so two names cannot differ only by
//! a look-alike letter) or that repeat, subscriptions to destinations that do not exist,
//! and secrets written into the document (a token, a webhook URL: refused naming the key,
//! never repeating the value; a destination names the Secrets Manager secret that holds
//! it). The document may name approvers, but only to narrow those the stack names: a
//! click is decided only when both allow it ([`Document::approvers`]).

pub mod default;
mod parse;
mod scan;
pub mod template;
pub mod templated;

use std::collections::BTreeMap;
use std::fmt;

use crate::interaction::Approvers;
use crate::pipeline::{Entry, PipelineRef};
use crate::render::content::Severity;

pub use parse::MAX_BYTES;

/// The document's layout; a document names the version it was written for.
pub const VERSION: u32 = 1;

/// A document that was read whole and found sound.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Document {
    /// By name: `[a-z0-9][a-z0-9_-]*`, at most 64 characters.
    pub destinations: BTreeMap<String, Destination>,
    pub subscriptions: Vec<Subscription>,
    /// Rules that narrow the stack's approvers; `None` leaves them as they are.
    approvers: Option<Approvers>,
    /// The templates, compiled: `NAME.title` and `NAME.text`.
    pub templates: template::Templates,
}

/// Where messages go.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Destination {
    /// A channel of the Slack app: one living message per execution.
    SlackApp {
        /// A channel id (`C0123456789`).
        channel: String,
        /// The least severity that starts a message.
        severity: Severity,
        broadcast_failures: bool,
        /// Approve and Reject buttons (needs the approver).
        approvals: bool,
    },
    /// A Slack incoming webhook: Block Kit, one message per notification.
    SlackWebhook(Webhook),
    /// A Microsoft Teams Workflows webhook: an Adaptive Card per notification.
    TeamsWebhook(Webhook),
    /// An SNS topic of email subscribers: the plain text a mail client shows.
    Email(Topic),
    /// An SNS topic an AWS Chatbot channel configuration subscribes to: a Chatbot custom
    /// notification.
    Chatbot(Topic),
}

/// A topic destination: which SNS topic, and what it is sent. Its subscribers (and their
/// filter policies, on the `severity` and `pipeline` attributes) are the topic's owner's.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Topic {
    /// The topic's ARN, in the stack's account and region.
    pub arn: String,
    pub severity: Severity,
    /// The template that shapes its messages, declared under `templates`.
    pub template: Option<String>,
}

/// A webhook destination: where its URL is kept, and what it is sent.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Webhook {
    /// The Secrets Manager secret holding the webhook's URL.
    pub secret: String,
    /// Which of the secret's webhooks, 1-based, when it lists several (as the stack's
    /// `SlackWebhookSecretArn` may); `None`: the secret holds one. The document decides
    /// what the destination hears: the filters an entry of the secret carries are not read.
    pub entry: Option<u32>,
    pub severity: Severity,
    /// The template that shapes its messages, declared under `templates`.
    pub template: Option<String>,
}

impl Destination {
    /// The template that shapes its messages, if one does.
    pub fn template(&self) -> Option<&str> {
        match self {
            Self::SlackApp { .. } => None,
            Self::SlackWebhook(webhook) | Self::TeamsWebhook(webhook) => {
                webhook.template.as_deref()
            }
            Self::Email(topic) | Self::Chatbot(topic) => topic.template.as_deref(),
        }
    }

    /// The least severity this destination is sent.
    pub fn severity(&self) -> Severity {
        match self {
            Self::SlackApp { severity, .. } => *severity,
            Self::SlackWebhook(webhook) | Self::TeamsWebhook(webhook) => webhook.severity,
            Self::Email(topic) | Self::Chatbot(topic) => topic.severity,
        }
    }
}

/// Which pipelines a set of destinations hears about.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Subscription {
    /// Names, patterns (`payments-*`) or pipeline ARNs (other accounts), as the stack's
    /// `PipelineNames` takes them.
    pub pipelines: Vec<String>,
    /// Destination names, each declared in `destinations`.
    pub to: Vec<String>,
    /// `pipelines`, read once when the document is.
    entries: Vec<Entry>,
}

/// One problem with a document, where it is: `line:column: reason`, 1-based.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Problem {
    pub line: usize,
    pub column: usize,
    pub reason: String,
}

impl fmt::Display for Problem {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{}:{}: {}", self.line, self.column, self.reason)
    }
}

/// A document refused: every problem found, in the order they stand.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("{}", .0.iter().map(ToString::to_string).collect::<Vec<_>>().join("; "))]
pub struct Refused(pub Vec<Problem>);

impl Document {
    /// Reads `bytes` as a notifications document.
    pub fn load(bytes: &[u8]) -> Result<Self, Refused> {
        parse::document(bytes)
    }

    /// The destinations `pipeline` (a name, or a key as [`crate::pipeline::PipelineRef`]
    /// gives it) hears about, each once, in the order the document first names them.
    pub fn destinations_of(&self, pipeline: &str) -> Vec<(&str, &Destination)> {
        let mut found: Vec<(&str, &Destination)> = Vec::new();
        for (subscription, by) in self.explain(pipeline) {
            if by.is_none() {
                continue;
            }
            for name in &subscription.to {
                if !found.iter().any(|(n, _)| n == name)
                    && let Some((name, destination)) = self.destinations.get_key_value(name)
                {
                    found.push((name.as_str(), destination));
                }
            }
        }
        found
    }

    /// Why `pipeline` hears about what it does: each subscription in order, with the
    /// pattern that selects the pipeline, or `None` when none does.
    pub fn explain<'a>(&'a self, pipeline: &str) -> Vec<(&'a Subscription, Option<&'a str>)> {
        let pipeline = PipelineRef::from_key(pipeline).ok();
        self.subscriptions
            .iter()
            .map(|subscription| {
                let by = pipeline.as_ref().and_then(|pipeline| {
                    let at = subscription
                        .entries
                        .iter()
                        .position(|entry| selects(entry, pipeline))?;
                    subscription.pipelines.get(at).map(String::as_str)
                });
                (subscription, by)
            })
            .collect()
    }

    /// The document's approver rules, which narrow the stack's (`None`: it has none).
    pub fn narrowing(&self) -> Option<&Approvers> {
        self.approvers.as_ref()
    }

    /// The approvers in force: the stack's, narrowed by the document's rules when it has
    /// any (a click is allowed only when both allow it), so whoever edits the document
    /// can take approvers away, never add one.
    pub fn approvers<'a>(&'a self, stack: &'a Approvers) -> Narrowed<'a> {
        Narrowed {
            stack,
            document: self.approvers.as_ref(),
        }
    }
}

/// Which pipelines a destination hears about, as a pipeline's key
/// ([`crate::pipeline::PipelineRef::key`]) is tested against it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Audience {
    /// The stack's routes (`SlackAppRoutes`, the webhook secrets' `pipelines`): names or
    /// patterns, each matching the name in every account the stack watches.
    Names(Vec<String>),
    /// A document's: the patterns of every subscription naming the destination, names
    /// selecting this account's pipelines and ARNs another's.
    Document(Vec<Entry>),
}

impl Audience {
    /// Every pipeline, by name in any account.
    pub fn all() -> Self {
        Self::Names(vec!["*".to_owned()])
    }

    /// Whether the pipeline keyed `key` is heard about.
    pub fn hears(&self, key: &str) -> bool {
        let pipeline = PipelineRef::from_key(key);
        match self {
            Self::Names(patterns) => {
                let name = pipeline.as_ref().map_or(key, |p| p.name.as_str());
                patterns.iter().any(|p| crate::glob::matches(p, name))
            }
            Self::Document(entries) => {
                pipeline.is_ok_and(|pipeline| entries.iter().any(|entry| selects(entry, &pipeline)))
            }
        }
    }
}

impl Document {
    /// Who hears about what `name` is sent: the patterns of every subscription that names
    /// it, each once. [`Audience::hears`] then agrees with [`Document::destinations_of`].
    pub fn audience_of(&self, name: &str) -> Audience {
        let mut entries: Vec<Entry> = Vec::new();
        for subscription in self
            .subscriptions
            .iter()
            .filter(|s| s.to.iter().any(|t| t == name))
        {
            for entry in &subscription.entries {
                if !entries.contains(entry) {
                    entries.push(entry.clone());
                }
            }
        }
        Audience::Document(entries)
    }
}

/// Whether a subscription's `entry` selects `pipeline`: at its location, by its name.
fn selects(entry: &Entry, pipeline: &PipelineRef) -> bool {
    entry.location == pipeline.location && crate::glob::matches(&entry.name, &pipeline.name)
}

/// The stack's approvers, narrowed by a document's.
#[derive(Debug, Clone, Copy)]
pub struct Narrowed<'a> {
    stack: &'a Approvers,
    document: Option<&'a Approvers>,
}

impl Narrowed<'_> {
    /// Whether `user` (with the members of user groups read) may decide `target`.
    pub fn allows(
        &self,
        user: &str,
        groups: &crate::interaction::UserGroups,
        target: &crate::interaction::Target,
    ) -> bool {
        self.stack.allows(user, groups, target)
            && self
                .document
                .is_none_or(|document| document.allows(user, groups, target))
    }
}

#[cfg(test)]
mod tests;
