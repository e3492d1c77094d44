//! Updating and releasing: an update from any earlier release replaces nothing that holds
//! state and takes its parameters; the one-click listing creates only types the repository
//! accepts; the release metadata names one version.

use std::collections::BTreeSet;
use std::path::Path;

use serde_norway::Value;

use super::{MANIFEST_DIR, RELEASES, release_template, resource, template};

/// What users would lose if an update replaced it, with the properties whose change makes
/// CloudFormation replace the resource (or, for a KMS key, refuse the update), as its
/// resource reference lists them: the table (records and outboxes), the key that encrypts
/// it, and the notification topic (subscribers who confirmed by email). Renaming one of
/// them (its logical id) deletes it and creates an empty one.
const KEPT_ACROSS_UPDATES: [(&str, &[&str]); 3] = [
    (
        "SnapshotTable",
        &[
            "TableName",
            "KeySchema",
            "LocalSecondaryIndexes",
            "ImportSourceSpecification",
        ],
    ),
    (
        "NotificationKey",
        &["KeySpec", "KeyUsage", "Origin", "MultiRegion"],
    ),
    ("NotificationTopic", &["TopicName", "FifoTopic"]),
];

#[test]
fn an_update_from_an_earlier_release_replaces_nothing_that_holds_state() {
    for release in RELEASES {
        replaces_nothing_that_holds_state(&release_template(release));
    }
}

fn replaces_nothing_that_holds_state(previous: &Value) {
    let current = template();
    for (id, replacing) in KEPT_ACROSS_UPDATES {
        let (before, after) = (&previous["Resources"][id], &current["Resources"][id]);
        assert!(!after.is_null(), "{id} is gone: an update would delete it");
        assert_eq!(before["Type"], after["Type"], "{id}");
        for property in replacing {
            assert_eq!(
                before["Properties"][property], after["Properties"][property],
                "{id}.{property} changed: CloudFormation would replace {id}"
            );
        }
    }
    // The key's attribute keeps its type (the key schema names it).
    assert_eq!(
        resource(previous, "SnapshotTable")["AttributeDefinitions"],
        resource(&current, "SnapshotTable")["AttributeDefinitions"]
    );
    // And if a replacement ever happens anyway, the old table and its key stay.
    for id in ["SnapshotTable", "NotificationKey"] {
        for policy in ["DeletionPolicy", "UpdateReplacePolicy"] {
            assert_eq!(current["Resources"][id][policy], "Retain", "{id}.{policy}");
        }
    }
}

#[test]
fn parameters_of_every_earlier_release_are_still_taken() {
    for release in RELEASES {
        parameters_still_taken(&release_template(release));
    }
}

fn parameters_still_taken(previous: &Value) {
    let current = template();
    let Value::Mapping(parameters) = &previous["Parameters"] else {
        panic!("the previous template has parameters")
    };
    for (name, before) in parameters {
        let after = &current["Parameters"][name];
        assert!(
            !after.is_null(),
            "{name:?} was removed: updating stacks would fail"
        );
        // Every value the previous release allowed is still allowed.
        if let Value::Sequence(allowed) = &after["AllowedValues"] {
            if let Value::Sequence(earlier) = &before["AllowedValues"] {
                for value in earlier {
                    assert!(
                        allowed.contains(value),
                        "{name:?} no longer allows {value:?}"
                    );
                }
            }
            assert!(allowed.contains(&before["Default"]) || before["Default"].is_null());
        }
    }
}

/// The Serverless Application Repository's listing, against the limits its API documents
/// (`CreateApplication`), and one version everywhere: `Cargo.toml`, the listing and
/// `CHANGELOG.md`'s latest entry.
/// CloudFormation refuses an update that gives a logical id another resource type, and the
/// emulated stacks do not: every release users may update from keeps each of its ids' types
/// (a replaced resource takes a new id, as 0.2.0's Scheduler schedule did).
#[test]
fn no_update_from_a_release_changes_a_resources_type() {
    let current = pipewatch_testkit::stack::translated_resources(
        &pipewatch_testkit::stack::current_template(),
    );
    for release in RELEASES {
        let previous = pipewatch_testkit::stack::translated_resources(
            &Path::new(MANIFEST_DIR).join(format!("tests/deploy/template-{release}.yaml")),
        );
        assert!(previous.len() > 20, "{release}: {}", previous.len());
        for (id, kind) in &previous {
            if let Some(now) = current.get(id) {
                assert_eq!(now, kind, "{release}'s {id} changes type");
            }
        }
    }
}

/// The one-click path: every type the listing's template creates, once translated, is one
/// the Serverless Application Repository accepts (its dated list in tests/deploy/); what
/// `template.yaml` has besides is exactly the documented limitations: the Chatbot channel,
/// and the approver's function URL.
#[test]
fn the_listing_creates_only_types_the_repository_accepts() {
    let accepted: BTreeSet<String> = std::fs::read_to_string(format!(
        "{MANIFEST_DIR}/tests/deploy/sar-supported-resources.txt"
    ))
    .unwrap()
    .lines()
    .filter(|l| !l.is_empty() && !l.starts_with('#'))
    .map(str::to_owned)
    .collect();
    assert!(accepted.len() > 100, "{}", accepted.len());
    let listing =
        pipewatch_testkit::stack::listing_template("https://github.com/example/pipewatch");
    let listed: BTreeSet<String> = pipewatch_testkit::stack::translated_types(&listing)
        .into_iter()
        .collect();
    let refused: Vec<&String> = listed.difference(&accepted).collect();
    assert!(refused.is_empty(), "not accepted: {refused:?}");
    assert!(listed.contains("AWS::Events::Rule") && listed.contains("AWS::Lambda::Function"));
    let full: BTreeSet<String> =
        pipewatch_testkit::stack::translated_types(&pipewatch_testkit::stack::current_template())
            .into_iter()
            .collect();
    let left_out: Vec<&String> = full.difference(&listed).collect();
    assert_eq!(
        left_out,
        [
            "AWS::Chatbot::SlackChannelConfiguration",
            "AWS::Lambda::Url"
        ]
    );
    let install = std::fs::read_to_string(format!("{MANIFEST_DIR}/docs/install.md")).unwrap();
    assert!(install.contains("The one-click install has no AWS Chatbot channel"));
    let app = std::fs::read_to_string(format!("{MANIFEST_DIR}/docs/slack-app.md")).unwrap();
    assert!(app.contains("The one-click install has no approver"));
    let listing: Value =
        serde_norway::from_str(&std::fs::read_to_string(listing).unwrap()).unwrap();
    let application = &listing["Metadata"]["AWS::ServerlessRepo::Application"];
    assert_eq!(
        application["SourceCodeUrl"].as_str(),
        Some("https://github.com/example/pipewatch")
    );
    assert!(listing["Parameters"].get("SlackWorkspaceId").is_none());
}

#[test]
fn the_release_metadata_is_complete_and_names_one_version() {
    let template = template();
    let app = &template["Metadata"]["AWS::ServerlessRepo::Application"];
    let text = |key: &str| {
        app[key]
            .as_str()
            .unwrap_or_else(|| panic!("the listing has no {key}"))
            .to_owned()
    };
    let version = env!("CARGO_PKG_VERSION");
    assert_eq!(text("SemanticVersion"), version);
    let changelog = std::fs::read_to_string(format!("{MANIFEST_DIR}/CHANGELOG.md")).unwrap();
    let latest = changelog
        .lines()
        .find_map(|line| line.strip_prefix("## "))
        .expect("CHANGELOG.md has an entry");
    assert_eq!(
        latest.split_whitespace().next(),
        Some(version),
        "CHANGELOG.md's latest entry is {latest:?}"
    );
    // The repository's address is Cargo.toml's, written in by scripts/listing.py.
    assert_eq!(text("SourceCodeUrl"), "REPOSITORY_URL");
    assert_eq!(text("HomePageUrl"), "REPOSITORY_URL");

    // The licence listed is one the crate is offered under, and its file holds its text.
    let licence = text("SpdxLicenseId");
    assert!(
        env!("CARGO_PKG_LICENSE")
            .split(" OR ")
            .any(|l| l == licence),
        "{licence} is not in {}",
        env!("CARGO_PKG_LICENSE")
    );
    let licence_text =
        std::fs::read_to_string(format!("{MANIFEST_DIR}/{}", text("LicenseUrl"))).unwrap();
    assert!(licence_text.contains("Apache License") && licence_text.contains("Version 2.0"));
    assert!(Path::new(MANIFEST_DIR).join(text("ReadmeUrl")).is_file());

    let name = text("Name");
    assert!((1..=140).contains(&name.len()));
    assert!(name.chars().all(|c| c.is_ascii_alphanumeric() || c == '-'));
    let author = text("Author");
    assert!((1..=127).contains(&author.len()));
    assert!(
        author
            .chars()
            .all(|c| c.is_ascii_lowercase() || c.is_ascii_digit() || c == '-')
            && !author.starts_with('-')
            && !author.ends_with('-')
            && !author.contains("--"),
        "{author}"
    );
    assert!((1..=256).contains(&text("Description").len()));
    let Value::Sequence(labels) = &app["Labels"] else {
        panic!("the listing has labels")
    };
    assert!(labels.len() <= 10);
    for label in labels {
        let label = label.as_str().unwrap();
        assert!((1..=127).contains(&label.len()));
        assert!(
            label
                .chars()
                .all(|c| c.is_ascii_alphanumeric() || "+-_:/@".contains(c)),
            "{label}"
        );
    }
}

/// A stack update deploys the forwarder before the watcher: CloudFormation updates what a
/// resource refers to first, so the watcher's function (as CloudFormation gets it) refers
/// to the forwarder's, under the forwarder's own condition, and never the other way. A
/// newer watcher then never publishes to an older forwarder of its stack.
#[test]
fn an_update_deploys_the_forwarder_before_the_watcher() {
    let translated = pipewatch_testkit::stack::translated_template(
        &pipewatch_testkit::stack::current_template(),
        &serde_json::json!({
            "PipelineNames": "web-*",
            "SlackWebhookSecretArn": "arn:aws:secretsmanager:us-east-1:123456789012:secret:w",
        }),
    );
    let resources = &translated["Resources"];
    let refers = |from: &str, to: &str| {
        let properties = resources[from]["Properties"].to_string();
        properties.contains(&serde_json::json!({"Ref": to}).to_string())
    };
    assert_eq!(
        resources["WatcherFunction"]["Type"],
        "AWS::Lambda::Function"
    );
    assert!(refers("WatcherFunction", "ForwarderFunction"));
    assert!(!refers("ForwarderFunction", "WatcherFunction"));
    let tags = resources["WatcherFunction"]["Properties"]["Tags"].to_string();
    assert!(
        tags.contains(r#"{"Fn::If":["HasForwarder",{"Ref":"ForwarderFunction"},"none"]}"#),
        "only when there is a forwarder: {tags}"
    );
}
