//! The document the stack's parameters and secrets amount to (`pipewatch config default`):
//! what a user starts from, so that switching to a document changes nothing until they
//! edit it. The caller reads the parameters and the secrets' route lists; this writes
//! them as one document, which [`super::Document::load`] reads back to the same routes.
//!
//! One rule needs care. A stack's route pattern (`payments-*`) matches a pipeline's name
//! in any account the stack watches, while a document's name pattern selects this
//! account's pipelines only (an ARN selects another's). So each pattern is written once
//! for home and once per other account the stack watches (`OtherPipelineArns`).

use std::fmt::Write;

use super::{Destination, Webhook};
use crate::pipeline::{Entry, Location};
use crate::render::content::Severity;

/// Where an editor finds the schema of the documents this pipewatch writes.
pub const SCHEMA_URL: &str =
    "https://github.com/pipewatch/pipewatch/schema/notifications.schema.json";

/// One of the stack's routes: where it goes (`name` suggests the destination's name), and
/// the names or patterns it hears about in any account.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct StackRoute {
    pub name: String,
    pub destination: Destination,
    pub pipelines: Vec<String>,
}

/// The document that routes as `routes` do, for a stack that also watches pipelines at
/// `elsewhere` (other accounts or regions). Destinations keep the routes' order; routes
/// that hear about the same pipelines share one subscription.
pub fn write(routes: &[StackRoute], elsewhere: &[Location]) -> String {
    let mut out = format!(
        "# yaml-language-server: $schema={SCHEMA_URL}\n\
         #\n\
         # What the stack's parameters and secrets say today, as a notifications document\n\
         # (pipewatch config default): with it, every message goes where it goes now.\n\
         # The stack's own email and AWS Chatbot subscriptions (NotificationEmail,\n\
         # SlackChannelId) keep receiving the notification topic: the document adds to them.\n\
         version: 1\n"
    );
    let mut names: Vec<String> = Vec::new();
    let mut subscriptions: Vec<(Vec<String>, Vec<String>)> = Vec::new();
    out.push_str(if routes.is_empty() {
        "destinations: {}\n"
    } else {
        "destinations:\n"
    });
    for route in routes {
        let name = unused(&route.name, &names);
        write_destination(&mut out, &name, &route.destination);
        let pipelines = everywhere(&route.pipelines, elsewhere);
        match subscriptions.iter_mut().find(|(p, _)| *p == pipelines) {
            Some((_, to)) => to.push(name.clone()),
            None => subscriptions.push((pipelines, vec![name.clone()])),
        }
        names.push(name);
    }
    out.push_str(if subscriptions.is_empty() {
        "subscriptions: []\n"
    } else {
        "subscriptions:\n"
    });
    for (pipelines, to) in subscriptions {
        let pipelines: Vec<String> = pipelines.iter().map(|p| quoted(p)).collect();
        let _ = writeln!(out, "  - pipelines: [{}]", pipelines.join(", "));
        let _ = writeln!(out, "    to: [{}]", to.join(", "));
    }
    out
}

fn write_destination(out: &mut String, name: &str, destination: &Destination) {
    let _ = writeln!(out, "  {name}:");
    let severity = |out: &mut String, severity: Severity| {
        if severity != Severity::Info {
            let _ = writeln!(out, "    severity: {}", severity.as_str());
        }
    };
    match destination {
        Destination::SlackApp {
            channel,
            severity: floor,
            broadcast_failures,
            approvals,
        } => {
            let _ = writeln!(out, "    type: slack-app\n    channel: {}", quoted(channel));
            severity(out, *floor);
            if !broadcast_failures {
                out.push_str("    broadcast_failures: false\n");
            }
            if *approvals {
                out.push_str("    approvals: true\n");
            }
        }
        Destination::SlackWebhook(webhook) | Destination::TeamsWebhook(webhook) => {
            let kind = if matches!(destination, Destination::TeamsWebhook(_)) {
                "teams"
            } else {
                "slack"
            };
            // The stack's routes have no template: the writer writes none.
            let Webhook {
                secret,
                entry,
                severity: floor,
                ..
            } = webhook;
            let _ = writeln!(out, "    type: {kind}\n    secret: {}", quoted(secret));
            if let Some(entry) = entry {
                let _ = writeln!(out, "    entry: {entry}");
            }
            severity(out, *floor);
        }
        Destination::Email(topic) | Destination::Chatbot(topic) => {
            let kind = if matches!(destination, Destination::Email(_)) {
                "email"
            } else {
                "chatbot"
            };
            let _ = writeln!(out, "    type: {kind}\n    topic: {}", quoted(&topic.arn));
            severity(out, topic.severity);
        }
    }
}

/// `wanted`, made a name the document takes and none of `taken`.
fn unused(wanted: &str, taken: &[String]) -> String {
    let mut base: String = wanted
        .to_ascii_lowercase()
        .chars()
        .map(|c| {
            if c.is_ascii_alphanumeric() || c == '-' || c == '_' {
                c
            } else {
                '-'
            }
        })
        .collect();
    while base.contains("--") {
        base = base.replace("--", "-");
    }
    base = base
        .trim_start_matches(['-', '_'])
        .chars()
        .take(60)
        .collect();
    if base.is_empty() {
        base.push_str("destination");
    }
    let mut name = base.clone();
    let mut n = 2;
    while taken.contains(&name) {
        name = format!("{base}-{n}");
        n += 1;
    }
    name
}

/// A stack pattern as the document's: at home, and by ARN at each other location.
fn everywhere(patterns: &[String], elsewhere: &[Location]) -> Vec<String> {
    let mut all = Vec::new();
    for pattern in patterns {
        all.push(pattern.clone());
        if Entry::parse(pattern).is_ok_and(|entry| entry.location.is_none()) {
            for at in elsewhere {
                all.push(format!(
                    "arn:{}:codepipeline:{}:{}:{pattern}",
                    at.partition, at.region, at.account
                ));
            }
        }
    }
    all.dedup();
    all
}

/// A YAML double-quoted scalar (JSON's string syntax is one).
fn quoted(text: &str) -> String {
    serde_json::Value::from(text).to_string()
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::config::Document;

    const TEAMS: &str = "arn:aws:secretsmanager:eu-west-1:123456789012:secret:teams-AbCdEf";

    fn teams(entry: Option<u32>, severity: Severity) -> Destination {
        Destination::TeamsWebhook(Webhook {
            secret: TEAMS.into(),
            entry,
            severity,
            template: None,
        })
    }

    fn routes() -> Vec<StackRoute> {
        vec![
            StackRoute {
                name: "Slack app C0123456789".into(),
                destination: Destination::SlackApp {
                    channel: "C0123456789".into(),
                    severity: Severity::Warning,
                    broadcast_failures: false,
                    approvals: true,
                },
                pipelines: vec!["*".into()],
            },
            StackRoute {
                name: "teams #1".into(),
                destination: teams(Some(1), Severity::Info),
                pipelines: vec!["payments-*".into()],
            },
            StackRoute {
                name: "teams #1".into(),
                destination: teams(Some(2), Severity::Failure),
                pipelines: vec!["*".into()],
            },
        ]
    }

    #[test]
    fn the_stacks_routes_read_back_as_the_same_destinations_and_pipelines() {
        let elsewhere = [Location {
            partition: "aws".into(),
            region: "us-west-2".into(),
            account: "210987654321".into(),
        }];
        let text = write(&routes(), &elsewhere);
        let document = Document::load(text.as_bytes()).unwrap_or_else(|e| panic!("{e}\n{text}"));
        let names: Vec<&str> = document.destinations.keys().map(String::as_str).collect();
        assert_eq!(names, ["slack-app-c0123456789", "teams-1", "teams-1-2"]);
        assert_eq!(document.destinations["teams-1-2"], routes()[2].destination);
        assert_eq!(
            document.destinations["slack-app-c0123456789"],
            routes()[0].destination
        );
        assert_eq!(document.destinations["teams-1"], routes()[1].destination);
        assert_eq!(document.subscriptions.len(), 2, "{text}");
        assert_eq!(
            document.subscriptions[0].to,
            ["slack-app-c0123456789", "teams-1-2"]
        );
        let hears = |pipeline: &str| -> Vec<&str> {
            document
                .destinations_of(pipeline)
                .into_iter()
                .map(|(n, _)| n)
                .collect()
        };
        assert_eq!(
            hears("arn:aws:codepipeline:us-west-2:210987654321:payments-eu"),
            ["slack-app-c0123456789", "teams-1-2", "teams-1"],
            "a stack's pattern matches the name in every account the stack watches"
        );
        assert_eq!(hears("web"), ["slack-app-c0123456789", "teams-1-2"]);
        assert!(hears("arn:aws:codepipeline:us-east-1:210987654321:web").is_empty());
        assert!(text.starts_with(&format!("# yaml-language-server: $schema={SCHEMA_URL}\n")));
    }

    #[test]
    fn topic_destinations_read_back_as_written() {
        let topic = |arn: &str, severity| super::super::Topic {
            arn: arn.into(),
            severity,
            template: None,
        };
        let routes = [
            StackRoute {
                name: "mail".into(),
                destination: Destination::Email(topic(
                    "arn:aws:sns:eu-west-1:123456789012:pipewatch-mail",
                    Severity::Failure,
                )),
                pipelines: vec!["*".into()],
            },
            StackRoute {
                name: "chat".into(),
                destination: Destination::Chatbot(topic(
                    "arn:aws:sns:eu-west-1:123456789012:pipewatch-chat",
                    Severity::Info,
                )),
                pipelines: vec!["*".into()],
            },
        ];
        let text = write(&routes, &[]);
        let document = Document::load(text.as_bytes()).unwrap_or_else(|e| panic!("{e}\n{text}"));
        assert_eq!(document.destinations["mail"], routes[0].destination);
        assert_eq!(document.destinations["chat"], routes[1].destination);
    }

    #[test]
    fn no_route_is_an_empty_document_and_odd_names_are_made_names() {
        let empty = write(&[], &[]);
        let document = Document::load(empty.as_bytes()).unwrap();
        assert!(document.destinations.is_empty() && document.subscriptions.is_empty());
        assert_eq!(unused("__", &[]), "destination");
        assert_eq!(
            unused("on_call-2", &[]),
            "on_call-2",
            "what names take is kept"
        );
        assert_eq!(unused("Ops Team", &["ops-team".into()]), "ops-team-2");
        assert_eq!(
            unused("x", &["x".into(), "x-2".into()]),
            "x-3",
            "a third of one name"
        );
        assert_eq!(unused(&"y".repeat(80), &[]).len(), 60);
        assert_eq!(
            everywhere(&["a".into(), "a".into()], &[]),
            ["a"],
            "a pattern repeated is written once"
        );
    }
}
