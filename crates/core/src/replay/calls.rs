//! `replay --config FILE --format calls`: every call the forwarder would make for a
//! recording, destination by destination, as the document routes it. A webhook's URL is
//! a secret, so its call names the secret's ARN instead; the Slack app's calls name the
//! Web API method they call; a topic's, SNS's `Publish` with its parameters.

use std::collections::BTreeMap;

use serde::Serialize;
use serde_json::Value;

use crate::config::templated::{self, Channel};
use crate::config::{Destination, Document};
use crate::living::Simulation;
use crate::render::content::Content;
use crate::render::slack_app;
use crate::render::topic::Reader;

/// One outgoing call.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct Call<'a> {
    pub destination: &'a str,
    pub method: &'static str,
    /// Where it goes: Slack's Web API method's URL, the ARN of the secret holding a
    /// webhook's URL (with the entry, when the secret lists several), or a topic's ARN.
    pub url: String,
    pub body: Value,
}

/// The Slack app's channels' messages live across a recording: one simulation each.
#[derive(Debug, Default)]
pub struct Calls {
    channels: BTreeMap<String, Simulation>,
}

impl Calls {
    /// The calls `content` makes by `document`.
    pub fn of<'a>(&mut self, document: &'a Document, content: &Content) -> Vec<Call<'a>> {
        let mut calls = Vec::new();
        for (name, destination) in document.destinations_of(&content.pipeline_key()) {
            match destination {
                Destination::SlackApp {
                    channel,
                    severity,
                    broadcast_failures,
                    approvals,
                } => {
                    let simulation = self
                        .channels
                        .entry(name.to_owned())
                        .or_insert_with(|| Simulation::new(channel, *severity));
                    let options = slack_app::Options {
                        broadcast_failures: *broadcast_failures,
                        approve_in_slack: *approvals,
                    };
                    for call in simulation.deliver(&slack_app::render(content, options)) {
                        calls.push(Call {
                            destination: name,
                            method: call.method,
                            url: format!("https://slack.com/api/{}", call.method),
                            body: call.body,
                        });
                    }
                }
                Destination::SlackWebhook(webhook) | Destination::TeamsWebhook(webhook) => {
                    if content.severity < webhook.severity {
                        continue;
                    }
                    let channel = if matches!(destination, Destination::TeamsWebhook(_)) {
                        Channel::Teams
                    } else {
                        Channel::Slack
                    };
                    let (body, _) = templated::webhook(
                        &document.templates,
                        webhook.template.as_deref(),
                        channel,
                        content,
                    );
                    let url = match webhook.entry {
                        Some(entry) => format!("{} (entry {entry})", webhook.secret),
                        None => webhook.secret.clone(),
                    };
                    calls.push(Call {
                        destination: name,
                        method: "POST",
                        url,
                        body,
                    });
                }
                Destination::Email(wanted) | Destination::Chatbot(wanted) => {
                    if content.severity < wanted.severity {
                        continue;
                    }
                    let reader = if matches!(destination, Destination::Email(_)) {
                        Reader::Email
                    } else {
                        Reader::Chatbot
                    };
                    let (published, _) = templated::topic(
                        &document.templates,
                        wanted.template.as_deref(),
                        reader,
                        content,
                    );
                    calls.push(Call {
                        destination: name,
                        method: "Publish",
                        url: wanted.arn.clone(),
                        body: published.to_json(),
                    });
                }
            }
        }
        calls
    }
}
