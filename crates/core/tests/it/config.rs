//! The notifications document's published schema (`schema/notifications.schema.json`,
//! for editors) and the reader agree: the example document passes both, and documents
//! wrong in shape fail both. The reader checks more than a schema can (references,
//! secrets, look-alike names): those are its own tests'.

use pipewatch_core::config::Document;
use serde_json::{Value, json};

use crate::fixtures::repository;

fn schema() -> jsonschema::Validator {
    let text =
        std::fs::read_to_string(repository().join("schema/notifications.schema.json")).unwrap();
    jsonschema::validator_for(&serde_json::from_str::<Value>(&text).unwrap()).unwrap()
}

fn example() -> String {
    std::fs::read_to_string(repository().join("docs/examples/notifications.yaml")).unwrap()
}

#[test]
fn the_example_document_is_read_and_matches_the_schema() {
    let text = example();
    assert!(
        text.starts_with("# yaml-language-server: $schema=../../schema/notifications.schema.json"),
        "editors find the schema"
    );
    let document = Document::load(text.as_bytes()).unwrap();
    assert_eq!(document.destinations.len(), 4);
    let validator = schema();
    // Every example (the cookbook's too) is read and matches the schema.
    let mut examples: Vec<_> = std::fs::read_dir(repository().join("docs/examples"))
        .unwrap()
        .map(|entry| entry.unwrap().path())
        .filter(|path| path.extension().is_some_and(|e| e == "yaml"))
        .collect();
    examples.sort();
    assert!(examples.len() >= 4, "{examples:?}");
    for path in examples {
        let text = std::fs::read_to_string(&path).unwrap();
        assert!(
            text.starts_with(
                "# yaml-language-server: $schema=../../schema/notifications.schema.json"
            ),
            "{}: editors find the schema",
            path.display()
        );
        if let Err(refused) = Document::load(text.as_bytes()) {
            panic!("{}: {refused}", path.display());
        }
        let as_json: Value = serde_norway::from_str(&text).unwrap();
        let errors: Vec<String> = validator
            .iter_errors(&as_json)
            .map(|e| e.to_string())
            .collect();
        assert!(errors.is_empty(), "{errors:#?}");
    }
}

#[test]
fn documents_wrong_in_shape_fail_the_schema_and_the_reader_alike() {
    let good: Value = serde_norway::from_str(&example()).unwrap();
    let validator = schema();
    let change = |edit: &dyn Fn(&mut Value)| {
        let mut document = good.clone();
        edit(&mut document);
        document
    };
    let cases = [
        change(&|d| d["version"] = json!(2)),
        change(&|d| d["colour"] = json!("red")),
        change(&|d| d["destinations"]["releases"]["type"] = json!("pager")),
        change(&|d| d["destinations"]["releases"]["chanel"] = json!("C0123456789")),
        change(&|d| d["destinations"]["on-call"]["severity"] = json!("critical")),
        change(&|d| d["destinations"]["on-call"]["secret"] = json!("https://example.com/x")),
        change(&|d| d["destinations"]["Releases"] = d["destinations"]["releases"].clone()),
        change(&|d| d["destinations"]["payments-email"]["topic"] = json!("pipewatch-payments")),
        change(&|d| {
            d["destinations"]["payments-email"]["secret"] =
                d["destinations"]["on-call"]["secret"].clone();
        }),
        change(&|d| {
            d["destinations"]["on-call"]["topic"] =
                d["destinations"]["payments-email"]["topic"].clone();
        }),
        change(&|d| d["subscriptions"][0]["pipelines"] = json!([])),
        change(&|d| d["subscriptions"][0]["to"] = json!("payments-teams")),
        change(&|d| d["approvers"][0]["users"] = json!(["maria"])),
    ];
    for (i, document) in cases.iter().enumerate() {
        assert!(
            !validator.is_valid(document),
            "case {i}: the schema takes it"
        );
        let text = serde_json::to_string_pretty(document).unwrap();
        assert!(
            Document::load(text.as_bytes()).is_err(),
            "case {i}: the reader takes it"
        );
    }
}

/// Six destinations of every kind for `web-app-*`, and one for another team.
const ROUTES: &str = r#"version: 1
destinations:
  ops:
    type: slack
    secret: arn:aws:secretsmanager:eu-west-1:123456789012:secret:pipewatch/ops-AbCdEf
    entry: 2
    severity: failure
  cards:
    type: teams
    secret: arn:aws:secretsmanager:eu-west-1:123456789012:secret:pipewatch/cards-AbCdEf
  quiet:
    type: slack-app
    channel: C0QUIET0001
    severity: failure
    broadcast_failures: false
  loud:
    type: slack-app
    channel: C0LOUD00001
    approvals: true
  elsewhere:
    type: slack
    secret: arn:aws:secretsmanager:eu-west-1:123456789012:secret:pipewatch/x-AbCdEf
  mail:
    type: email
    topic: arn:aws:sns:eu-west-1:123456789012:pipewatch-web-email
    severity: approval
  chat:
    type: chatbot
    topic: arn:aws:sns:eu-west-1:123456789012:pipewatch-web-chatbot
subscriptions:
  - pipelines: ["web-app-*"]
    to: [ops, cards, quiet, loud, mail, chat]
  - pipelines: ["payments-*"]
    to: [elsewhere]
"#;

/// `replay --config FILE --format calls`: every call of every destination the document
/// routes a recording's messages to, each webhook named by its secret (and entry), each
/// Slack app channel's calls as its living message makes them, with its own options.
#[test]
fn a_documents_calls_are_each_destinations_own() {
    use pipewatch_core::replay::{Format, Recording};
    let document = Document::load(ROUTES.as_bytes()).unwrap();
    let files = crate::fixtures::scenario_files("release-failure-retry");
    let recording = Recording::load(&files).unwrap();
    let written = |format: Format| -> Vec<Value> {
        let mut out = Vec::new();
        recording
            .write(format, None, None, Some(&document), &mut out)
            .unwrap();
        String::from_utf8(out)
            .unwrap()
            .lines()
            .map(|l| serde_json::from_str(l).unwrap())
            .collect()
    };
    let calls = written(Format::Calls);
    let to =
        |name: &str| -> Vec<&Value> { calls.iter().filter(|c| c["destination"] == name).collect() };
    let messages: usize = recording
        .steps()
        .iter()
        .map(|step| recording.messages(step, None).len())
        .sum();
    assert_eq!(to("cards").len(), messages, "every message, as a card");
    assert!(to("cards")[0]["body"]["attachments"].is_array());
    assert_eq!(
        to("cards")[0]["url"],
        "arn:aws:secretsmanager:eu-west-1:123456789012:secret:pipewatch/cards-AbCdEf"
    );
    let ops = to("ops");
    assert_eq!(ops.len(), 1, "failures only: {ops:#?}");
    assert_eq!(
        ops[0]["url"],
        "arn:aws:secretsmanager:eu-west-1:123456789012:secret:pipewatch/ops-AbCdEf (entry 2)"
    );
    assert_eq!(
        (
            ops[0]["method"].as_str(),
            ops[0]["body"]["blocks"].is_array()
        ),
        (Some("POST"), true)
    );
    assert!(to("elsewhere").is_empty(), "another team's pipelines only");
    // Each channel's living message: the quiet one starts at the failure, the loud one at
    // the first message; only the loud one's failure replies stay in the thread.
    let (quiet, loud) = (to("quiet"), to("loud"));
    assert!(!quiet.is_empty() && loud.len() > quiet.len(), "{quiet:#?}");
    assert!(quiet.iter().all(|c| c["body"]["channel"] == "C0QUIET0001"));
    assert!(loud.iter().all(|c| c["body"]["channel"] == "C0LOUD00001"));
    assert_eq!(loud[0]["method"], "chat.postMessage");
    assert_eq!(loud[0]["url"], "https://slack.com/api/chat.postMessage");
    let broadcast = |calls: &[&Value]| calls.iter().any(|c| c["body"]["reply_broadcast"] == true);
    assert!(broadcast(&loud) && !broadcast(&quiet));
    let (mail, chat) = (to("mail"), to("chat"));
    assert_eq!(
        calls.len(),
        to("cards").len() + ops.len() + quiet.len() + loud.len() + mail.len() + chat.len()
    );

    // The chat formats print what the document sends destinations of their kind.
    assert_eq!(written(Format::Slack), [ops[0]["body"].clone()]);
    assert_eq!(written(Format::Teams).len(), messages);
    let app: Vec<Value> = written(Format::SlackApp);
    assert_eq!(app.len(), quiet.len() + loud.len());
    let mut out = Vec::new();
    recording
        .write(Format::Calls, None, Some(2), Some(&document), &mut out)
        .unwrap();
    let step_two = String::from_utf8(out).unwrap().lines().count();
    assert!(
        step_two > 0 && step_two < calls.len(),
        "one step's calls: {step_two}"
    );
    let error = recording
        .write(Format::Calls, None, None, None, &mut Vec::new())
        .unwrap_err();
    assert!(error.to_string().contains("give it with --config FILE"));
}

/// A topic's call is SNS's `Publish`, with what its subscribers read; `--format email` and
/// `--format chatbot` print what the document's email and Chatbot destinations are sent.
#[test]
fn a_topics_call_is_a_publish_of_what_its_subscribers_read() {
    use pipewatch_core::replay::{Format, Recording};
    let document = Document::load(ROUTES.as_bytes()).unwrap();
    let files = crate::fixtures::scenario_files("release-failure-retry");
    let recording = Recording::load(&files).unwrap();
    let written = |format: Format| -> String {
        let mut out = Vec::new();
        recording
            .write(format, None, None, Some(&document), &mut out)
            .unwrap();
        String::from_utf8(out).unwrap()
    };
    let calls: Vec<Value> = written(Format::Calls)
        .lines()
        .map(|l| serde_json::from_str(l).unwrap())
        .collect();
    let to =
        |name: &str| -> Vec<&Value> { calls.iter().filter(|c| c["destination"] == name).collect() };
    let messages: usize = recording
        .steps()
        .iter()
        .map(|step| recording.messages(step, None).len())
        .sum();
    // A topic's call is SNS's Publish, with what its subscribers read.
    let (mail, chat) = (to("mail"), to("chat"));
    assert_eq!(chat.len(), messages, "every message, to Chatbot");
    assert!(
        !mail.is_empty() && mail.len() < messages,
        "approvals and failures only"
    );
    assert_eq!(
        (chat[0]["method"].as_str(), chat[0]["url"].as_str()),
        (
            Some("Publish"),
            Some("arn:aws:sns:eu-west-1:123456789012:pipewatch-web-chatbot")
        )
    );
    let notification: Value =
        serde_json::from_str(chat[0]["body"]["Message"].as_str().unwrap()).unwrap();
    assert_eq!(
        (&notification["version"], &notification["source"]),
        (&json!("1.0"), &json!("custom"))
    );
    assert_eq!(chat[0]["body"].get("Subject"), None);
    let subject = mail[0]["body"]["Subject"].as_str().unwrap();
    assert!(subject.starts_with("web-app-release") && subject.is_ascii());
    assert_eq!(
        mail[0]["body"]["MessageAttributes"]["pipeline"]["StringValue"],
        "web-app-release"
    );
    let emails = written(Format::Email);
    assert_eq!(
        emails.matches("\n=== step ").count() + 1,
        mail.len(),
        "{emails}"
    );
    assert!(emails.contains(mail[0]["body"]["Message"].as_str().unwrap()));
    let chatbot: Value =
        serde_json::from_str(written(Format::Chatbot).lines().next().unwrap()).unwrap();
    assert_eq!(chatbot, notification);
}

/// A document with a template, and a destination naming it.
const TEMPLATED: &str = r#"version: 1
destinations:
  team:
    type: slack
    secret: arn:aws:secretsmanager:eu-west-1:123456789012:secret:pipewatch/team-AbCdEf
    template: one-line
templates:
  one-line:
    title: "{{ pipeline }}"
    text: "{{ headline }}"
subscriptions:
  - pipelines: ["*"]
    to: [team]
"#;

#[test]
fn a_documents_templates_are_compiled_and_every_bad_one_is_placed() {
    let document = Document::load(TEMPLATED.as_bytes()).unwrap();
    assert_eq!(document.templates.count(), 1);
    assert_eq!(document.destinations["team"].template(), Some("one-line"));
    let refused = |from: &str, to: &str| -> String {
        assert!(TEMPLATED.contains(from), "{from}");
        Document::load(TEMPLATED.replacen(from, to, 1).as_bytes())
            .unwrap_err()
            .to_string()
    };
    for (problem, expected) in [
        (
            refused("template: one-line", "template: one_line"),
            "6:5: no template named \"one_line\" is declared under templates",
        ),
        (
            refused("{{ headline }}", "{% set x = 1 %}"),
            "10:5: templates.one-line.text: line 1: {% set %} is not taken",
        ),
        (
            refused("{{ headline }}", "{{ headline "),
            "10:5: templates.one-line.text: line 1: ",
        ),
        (
            refused(
                "  one-line:\n    title: \"{{ pipeline }}\"\n    text: \"{{ headline }}\"\n",
                "  one-line: {}\n",
            ),
            "a template has a title, a text or both",
        ),
        (
            refused("    title:", "    subject:"),
            "unknown field `subject`",
        ),
        (
            refused("  one-line:\n", "  one-line:\n    text: x\n  one-line:\n"),
            "the template \"one-line\" is declared twice",
        ),
        (
            refused(
                "    type: slack\n    secret: arn:aws:secretsmanager:eu-west-1:123456789012:secret:pipewatch/team-AbCdEf\n",
                "    type: slack-app\n    channel: C0123456789\n",
            ),
            "a slack-app destination takes no template",
        ),
    ] {
        assert!(problem.contains(expected), "{expected}\n  got: {problem}");
    }
    let as_json: Value = serde_norway::from_str(TEMPLATED).unwrap();
    let errors: Vec<String> = schema()
        .iter_errors(&as_json)
        .map(|e| e.to_string())
        .collect();
    assert!(errors.is_empty(), "{errors:#?}");
}

/// `replay --config` shows what a templated destination is sent; a template that fails
/// at run time sends the built-in message.
#[test]
fn a_templated_destinations_calls_are_its_templates() {
    use pipewatch_core::replay::{Format, Recording};
    let files = crate::fixtures::scenario_files("release-failure-retry");
    let recording = Recording::load(&files).unwrap();
    let calls = |text: &str| -> Vec<Value> {
        let document = Document::load(text.as_bytes()).unwrap();
        let mut out = Vec::new();
        recording
            .write(Format::Calls, None, None, Some(&document), &mut out)
            .unwrap();
        String::from_utf8(out)
            .unwrap()
            .lines()
            .map(|l| serde_json::from_str(l).unwrap())
            .collect()
    };
    let templated = calls(TEMPLATED);
    assert!(!templated.is_empty());
    for call in &templated {
        let text = call["body"]["text"].as_str().unwrap();
        assert!(
            text.starts_with("web-app-release\nweb-app-release: "),
            "{text}"
        );
        assert_eq!(call["body"].as_object().unwrap().len(), 1, "text alone");
    }
    let failing = calls(&TEMPLATED.replace("{{ headline }}", "{{ headlin }}"));
    assert_eq!(failing.len(), templated.len());
    assert!(
        failing.iter().all(|c| c["body"]["blocks"].is_array()),
        "the built-in message"
    );
}
