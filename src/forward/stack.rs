//! The stack's routes (the webhook secrets' lists and `SLACK_APP_ROUTES`) said as a
//! notifications document's: what `pipewatch config default` prints, so that a user
//! starts from exactly what runs today. The secrets' values are read for their lists;
//! the document names each secret by ARN, and a webhook of a list by its entry.

use std::collections::HashMap;

use pipewatch_core::config::default::{self, StackRoute};
use pipewatch_core::config::{self, Audience, Webhook};
use pipewatch_core::pipeline::{Entry, Location};

use super::{Format, app, destination};
use crate::config::ForwarderConfig;

/// The document the forwarder's configuration amounts to, for a stack that also watches
/// the pipelines `watched` names (`PIPELINES`, `OtherPipelineArns`: names, patterns and
/// ARNs, comma-separated). `secrets` holds each webhook secret's value by ARN.
pub fn document(
    forwarder: &ForwarderConfig,
    secrets: &HashMap<String, String>,
    watched: &str,
) -> Result<String, String> {
    let mut elsewhere: Vec<Location> = watched
        .split(',')
        .map(str::trim)
        .filter(|e| !e.is_empty())
        .filter_map(|e| Entry::parse(e).ok()?.location)
        .collect();
    elsewhere.sort();
    elsewhere.dedup();
    Ok(default::write(&routes(forwarder, secrets)?, &elsewhere))
}

/// The stack's routes, in the order the forwarder reads them.
pub fn routes(
    forwarder: &ForwarderConfig,
    secrets: &HashMap<String, String>,
) -> Result<Vec<StackRoute>, String> {
    let mut routes = Vec::new();
    for (arn, name, listed) in destination::of_stack(forwarder, secrets)? {
        let several = listed.len() > 1;
        for (i, entry) in listed.into_iter().enumerate() {
            let webhook = Webhook {
                secret: arn.to_owned(),
                entry: several.then(|| u32::try_from(i + 1).unwrap_or(u32::MAX)),
                severity: entry.severity,
                template: None,
            };
            routes.push(StackRoute {
                name: format!("{name}-{}", i + 1),
                destination: match entry.format {
                    Format::Slack => config::Destination::SlackWebhook(webhook),
                    Format::Teams => config::Destination::TeamsWebhook(webhook),
                },
                pipelines: names(entry.pipelines),
            });
        }
    }
    if let Some(settings) = &forwarder.slack_app {
        for route in app::parse_routes(&settings.routes)? {
            routes.push(StackRoute {
                name: format!("slack-app-{}", route.channel),
                destination: config::Destination::SlackApp {
                    channel: route.channel,
                    severity: route.severity,
                    broadcast_failures: route.broadcast_failures,
                    approvals: route.approvals,
                },
                pipelines: names(route.pipelines),
            });
        }
    }
    Ok(routes)
}

/// The stack's patterns: the secrets' and `SLACK_APP_ROUTES`' audiences are names, never
/// a document's.
fn names(audience: Audience) -> Vec<String> {
    match audience {
        Audience::Names(patterns) => patterns,
        Audience::Document(_) => Vec::new(),
    }
}

#[cfg(test)]
mod tests;
