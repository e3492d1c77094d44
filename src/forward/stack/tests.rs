//! `config default`'s promise: with the document the stack's routes amount to, every
//! bundled scenario's every message goes to the same webhooks, in the same format, and
//! to the same Slack app channels with the same options, as with the stack's routes.

use std::path::{Path, PathBuf};

use super::*;
use crate::forward::live::{Reach, Routes, compile};
use pipewatch_core::config::Document;
use pipewatch_core::render::content::Content;
use pipewatch_core::render::{slack, teams};
use pipewatch_core::replay::Recording;

const SLACK: &str = "arn:aws:secretsmanager:eu-west-1:123456789012:secret:slack-AbCdEf";
const TEAMS: &str = "arn:aws:secretsmanager:eu-west-1:123456789012:secret:teams-AbCdEf";
const APP: &str = "arn:aws:secretsmanager:eu-west-1:123456789012:secret:app-AbCdEf";

/// A stack using every kind of route: a list of three webhooks with patterns, severities
/// and a format of their own, a plain Teams URL, and two Slack app channels.
fn stack() -> (ForwarderConfig, HashMap<String, String>) {
    let routes = r#"[{"channel": "C0RELEASES1", "approvals": true},
        {"channel": "C0WEBAPP001", "pipelines": ["web-*", "*-api"], "severity": "failure",
         "broadcast_failures": false}]"#;
    let config = ForwarderConfig::from_lookup(|name| {
        Some(
            match name {
                "SLACK_WEBHOOK_SECRET_ARN" => SLACK,
                "TEAMS_WEBHOOK_SECRET_ARN" => TEAMS,
                "SLACK_APP_SECRET_ARN" => APP,
                "SLACK_APP_ROUTES" => routes,
                "TABLE_NAME" => "t",
                _ => return None,
            }
            .to_owned(),
        )
    })
    .unwrap();
    let slack = r#"[{"url": "https://hooks.example/a"},
        {"url": "https://hooks.example/b", "pipelines": ["*-release", "infra-?rod"], "severity": "approval"},
        {"url": "https://hooks.example/c", "format": "teams", "severity": "failure"}]"#;
    let secrets = HashMap::from([
        (SLACK.to_owned(), slack.to_owned()),
        (TEAMS.to_owned(), "https://teams.example/d".to_owned()),
    ]);
    (config, secrets)
}

/// Where a message goes by `routes`: each webhook's URL with the body it is sent, and
/// each channel with its options.
fn sent(routes: &Routes, content: &Content) -> (Vec<(String, String)>, Vec<String>) {
    let key = content.pipeline_key();
    let webhooks = routes
        .webhooks
        .iter()
        .filter(|d| d.wants(Some(&key), content.severity))
        .map(|d| {
            let body = match d.format {
                Format::Slack => slack::render(content),
                Format::Teams => teams::render(content),
            };
            (d.url.uri().to_string(), body.to_string())
        })
        .collect();
    let channels = routes
        .channels
        .iter()
        .filter(|r| r.wants(Some(&key)))
        .map(|r| {
            format!(
                "{} {:?} {} {}",
                r.channel, r.severity, r.broadcast_failures, r.approvals
            )
        })
        .collect();
    (webhooks, channels)
}

fn scenarios() -> Vec<Vec<PathBuf>> {
    let root = Path::new(env!("CARGO_MANIFEST_DIR")).join("events/pipeline-states");
    let mut all: Vec<Vec<PathBuf>> = std::fs::read_dir(root)
        .unwrap()
        .map(|dir| {
            let mut files: Vec<PathBuf> = std::fs::read_dir(dir.unwrap().path())
                .unwrap()
                .map(|f| f.unwrap().path())
                .filter(|p| p.extension().is_some_and(|e| e == "json"))
                .collect();
            files.sort();
            files
        })
        .collect();
    all.sort();
    all
}

#[test]
fn the_default_document_sends_every_bundled_message_where_the_stack_does() {
    let (config, secrets) = stack();
    let text = document(&config, &secrets, "").unwrap();
    let document = Document::load(text.as_bytes()).unwrap_or_else(|e| panic!("{e}\n{text}"));
    let by_document = compile(
        &document,
        &secrets,
        &Reach {
            app_installed: true,
            topics: None,
        },
    )
    .unwrap();
    let by_stack = Routes::from_stack(&config, &secrets).unwrap();
    assert_eq!(
        (by_document.webhooks.len(), by_document.channels.len()),
        (4, 2)
    );
    let (mut messages, mut posts, mut narrowed) = (0, 0, 0);
    let scenarios = scenarios();
    assert_eq!(scenarios.len(), 8, "every bundled scenario");
    for files in scenarios {
        let recording = Recording::load(&files).unwrap();
        for step in recording.steps() {
            for message in recording.messages(&step, None) {
                let content = Content::from_body(&message.body).unwrap();
                let stack = sent(&by_stack, &content);
                assert_eq!(
                    sent(&by_document, &content),
                    stack,
                    "{}: {}",
                    files[0].display(),
                    content.id
                );
                messages += 1;
                posts += stack.0.len() + stack.1.len();
                narrowed += usize::from(stack.0.len() + stack.1.len() < 6);
            }
        }
    }
    assert!(messages >= 20, "{messages} messages");
    assert!(
        narrowed > 0 && posts > messages,
        "routes that choose: {posts} posts, {narrowed} narrowed"
    );
}

#[test]
fn the_default_document_names_each_secret_by_arn_and_a_listed_webhook_by_entry() {
    let (config, secrets) = stack();
    let watched = "web-*, arn:aws:codepipeline:us-west-2:210987654321:payments-eu";
    let text = document(&config, &secrets, watched).unwrap();
    assert!(!text.contains("hooks.example") && !text.contains("teams.example"));
    let document = Document::load(text.as_bytes()).unwrap();
    let names: Vec<&str> = document.destinations.keys().map(String::as_str).collect();
    assert_eq!(
        names,
        [
            "slack-1",
            "slack-2",
            "slack-3",
            "slack-app-c0releases1",
            "slack-app-c0webapp001",
            "teams-1"
        ]
    );
    let config::Destination::TeamsWebhook(third) = &document.destinations["slack-3"] else {
        panic!("a webhook of the Slack secret in Teams' format: {text}")
    };
    assert_eq!((third.secret.as_str(), third.entry), (SLACK, Some(3)));
    let config::Destination::TeamsWebhook(plain) = &document.destinations["teams-1"] else {
        panic!("{text}")
    };
    assert_eq!(plain.entry, None, "a secret holding one URL needs no entry");
    let other = "arn:aws:codepipeline:us-west-2:210987654321:web-app";
    let hears: Vec<&str> = document
        .destinations_of(other)
        .into_iter()
        .map(|(n, _)| n)
        .collect();
    assert_eq!(
        hears,
        [
            "slack-1",
            "slack-3",
            "teams-1",
            "slack-app-c0releases1",
            "slack-app-c0webapp001"
        ],
        "another account's pipelines hear as the stack's patterns match their names"
    );
    let missing = document_error(&config);
    assert_eq!(missing, "the slack webhook secret was not read");
}

fn document_error(config: &ForwarderConfig) -> String {
    document(config, &HashMap::new(), "").unwrap_err()
}
