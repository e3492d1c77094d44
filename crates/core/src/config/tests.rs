//! The document: what it takes, and every bad one refused in words, in its place.

use super::*;
use crate::interaction::{Target, UserGroups};

const GOOD: &str = r#"# yaml-language-server: $schema=../schema/notifications.schema.json
version: 1
destinations:
  releases:
    type: slack-app
    channel: C0123456789
    approvals: true
  payments-teams:
    type: teams
    secret: arn:aws:secretsmanager:eu-west-1:123456789012:secret:pipewatch/teams-AbCdEf
    severity: approval
  ops:
    type: slack
    secret: arn:aws:secretsmanager:eu-west-1:123456789012:secret:pipewatch/ops-AbCdEf
    severity: failure
subscriptions:
  - pipelines: ["payments-*", "arn:aws:codepipeline:us-west-2:210987654321:payments-eu"]
    to: [payments-teams, releases]
  - pipelines: ["*"]
    to: [releases, ops]
approvers:
  - users: [U024BE7LH]
    pipelines: ["payments-*"]
    stages: [Prod]
"#;

/// `GOOD` with `from` replaced by `to`.
fn with(from: &str, to: &str) -> String {
    assert!(GOOD.contains(from), "{from}");
    GOOD.replacen(from, to, 1)
}

fn refused(text: &str) -> Vec<String> {
    Document::load(text.as_bytes())
        .expect_err("refused")
        .0
        .iter()
        .map(ToString::to_string)
        .collect()
}

#[test]
fn a_document_names_destinations_and_who_hears_about_what() {
    let document = Document::load(GOOD.as_bytes()).unwrap();
    assert_eq!(document.destinations.len(), 3);
    assert_eq!(
        document.destinations["releases"],
        Destination::SlackApp {
            channel: "C0123456789".into(),
            severity: Severity::Info,
            broadcast_failures: true,
            approvals: true,
        }
    );
    assert_eq!(document.destinations["ops"].severity(), Severity::Failure);
    let names = |pipeline: &str| -> Vec<&str> {
        document
            .destinations_of(pipeline)
            .into_iter()
            .map(|(name, _)| name)
            .collect()
    };
    assert_eq!(names("payments-api"), ["payments-teams", "releases", "ops"]);
    assert_eq!(names("web-app"), ["releases", "ops"]);
    assert_eq!(
        names("arn:aws:codepipeline:us-west-2:210987654321:payments-eu"),
        ["payments-teams", "releases"],
        "another account's pipeline, by its ARN only"
    );
    assert!(names("arn:aws:codepipeline:us-west-2:210987654321:web").is_empty());
    let json = serde_json::json!({"version": 1, "destinations": {"releases": {
        "type": "slack-app", "channel": "C0123456789"}},
        "subscriptions": [{"pipelines": ["*"], "to": ["releases"]}]});
    assert!(
        Document::load(json.to_string().as_bytes()).is_ok(),
        "JSON is YAML too"
    );
}

#[test]
fn every_bad_document_is_refused_in_its_place_and_in_words() {
    let cases: Vec<(String, &str)> = vec![
        (
            with("version: 1", "version: one"),
            "2:10: version: invalid type",
        ),
        (
            with("version: 1", "version: 2"),
            "2:1: version 2: this pipewatch reads version 1",
        ),
        (GOOD.replace("version: 1\n", ""), "missing field `version`"),
        (
            with("    severity: failure", "    severity: critical"),
            "15:15: destinations.ops.severity: unknown variant `critical`",
        ),
        (
            with(
                "    approvals: true",
                "    approvals: true\n    aprovals: true",
            ),
            "unknown field `aprovals`",
        ),
        (
            with("type: slack\n", "type: pager\n"),
            "unknown variant `pager`",
        ),
        (
            with("to: [releases, ops]", "to: [releases, opps]"),
            "20:20: no destination named \"opps\" (did you mean \"ops\"?)",
        ),
        (
            with("to: [releases, ops]", "to: [releases, pagerduty]"),
            "no destination named \"pagerduty\" is declared",
        ),
        (
            with("  ops:\n", "  оps:\n"),
            "the destination name \"оps\" is not 1-64 of a-z, 0-9, - and _",
        ),
        (
            with("  ops:\n", "  releases:\n"),
            "the destination \"releases\" is declared twice",
        ),
        (
            with("channel: C0123456789", "channel: \"#releases\""),
            "6:5: \"#releases\" is not a Slack channel id (C0123456789)",
        ),
        (
            with("pipelines: [\"*\"]", "pipelines: []"),
            "a subscription names no pipeline",
        ),
        (
            with("to: [releases, ops]", "to: []"),
            "a subscription names no destination",
        ),
        (
            with("pipelines: [\"*\"]", "pipelines: [\"web app\"]"),
            "the subscription has \"web app\": not a pipeline name or pattern",
        ),
        (
            with("users: [U024BE7LH]", "users: [maria]"),
            "approvers: \"maria\" is not a Slack user id (U024BE7LH)",
        ),
    ];
    for (text, expected) in &cases {
        let problems = refused(text).join("\n");
        assert!(problems.contains(expected), "{expected}\n  got: {problems}");
    }
    let alias = refused(&with("pipelines: [\"*\"]", "pipelines: [*]")).join("\n");
    assert!(alias.starts_with("19:17: anchors and aliases"), "{alias}");
}

#[test]
fn a_secret_written_into_the_document_is_refused_by_its_key_never_repeated() {
    let url = "https://hooks.slack.com/services/T000/B000/SECRETPARTxyz";
    let token = "xoxb-1234-5678-SECRETTOKEN";
    for (text, key) in [
        (
            with(
                "secret: arn:aws:secretsmanager:eu-west-1:123456789012:secret:pipewatch/ops-AbCdEf",
                &format!("secret: {url}"),
            ),
            "secret",
        ),
        (
            with(
                "    approvals: true",
                &format!("    approvals: true\n    token: {token}"),
            ),
            "token",
        ),
        (
            with(
                "secret: arn:aws:secretsmanager:eu-west-1:123456789012:secret:pipewatch/teams-AbCdEf",
                "secret: https://acme.webhook.office.com/webhookb2/SECRETPART",
            ),
            "secret",
        ),
    ] {
        let problems = refused(&text).join("\n");
        assert!(problems.contains(&format!("under \"{key}\"")), "{problems}");
        for secret in ["SECRETPART", "SECRETTOKEN"] {
            assert!(!problems.contains(secret), "{problems}");
        }
    }
    let not_an_arn = refused(&with(
        "secret: arn:aws:secretsmanager:eu-west-1:123456789012:secret:pipewatch/ops-AbCdEf",
        "secret: pipewatch/ops",
    ))
    .join("\n");
    assert!(
        not_an_arn.contains("the ARN of the Secrets Manager secret"),
        "{not_an_arn}"
    );
}

#[test]
fn hostile_documents_are_refused_quickly_never_expanded() {
    let huge = format!("version: 1\n# {}\n", "x".repeat(10 * 1024 * 1024));
    let problems = refused(&huge);
    assert_eq!(
        problems,
        ["1:1: the document is 10485774 bytes, over the 262144 a document may be"]
    );
    let deep = format!(
        "version: 1\napprovers: {}{}\n",
        "[".repeat(20_000),
        "]".repeat(20_000)
    );
    assert_eq!(
        refused(&deep),
        ["2:44: the document nests deeper than 32 levels"]
    );
    // Within that, deeper than the parser takes: its own limit.
    let nested = format!(
        "version: 1\napprovers: {}{}\n",
        "[".repeat(30),
        "]".repeat(30)
    );
    assert!(
        refused(&nested)[0].contains("approvers"),
        "{:?}",
        refused(&nested)
    );
    let bomb = "version: 1\na: &a [\"x\", \"x\", \"x\", \"x\", \"x\", \"x\", \"x\", \"x\"]\nb: &b [*a, *a, *a, *a, *a, *a, *a, *a]\nc: &c [*b, *b, *b, *b, *b, *b, *b, *b]\nd: [*c, *c, *c, *c, *c, *c, *c, *c]\n";
    assert_eq!(
        refused(bomb)[0].split(':').take(2).collect::<Vec<_>>(),
        ["2", "4"],
        "refused at the first anchor"
    );
    let bytes = b"version: 1\ndestinations:\n  ops\xff: {}\n";
    assert_eq!(
        Document::load(bytes).unwrap_err().to_string(),
        "3:6: the document is not UTF-8 text"
    );
}

#[test]
fn the_document_narrows_the_stacks_approvers_and_never_widens_them() {
    let stack = Approvers::parse(r#"[{"users": ["U024BE7LH", "U0OTHER001"], "pipelines": ["*"]}]"#)
        .unwrap();
    let document = Document::load(GOOD.as_bytes()).unwrap();
    let target = |pipeline: &str, stage: &str| Target {
        pipeline: pipeline.into(),
        arn: None,
        stage: stage.into(),
        action: "Approve".into(),
        action_execution_id: "run-1".into(),
        execution: None,
    };
    let none = UserGroups::new();
    let narrowed = document.approvers(&stack);
    assert!(narrowed.allows("U024BE7LH", &none, &target("payments-api", "Prod")));
    assert!(
        !narrowed.allows("U024BE7LH", &none, &target("web-app", "Prod")),
        "narrowed"
    );
    assert!(!narrowed.allows("U0OTHER001", &none, &target("payments-api", "Prod")));
    let widening = with("users: [U024BE7LH]", "users: [U024BE7LH, U0INTRUDER]");
    let widening = Document::load(widening.as_bytes()).unwrap();
    assert!(
        !widening
            .approvers(&stack)
            .allows("U0INTRUDER", &none, &target("payments-api", "Prod")),
        "a document cannot add an approver"
    );
    let silent = Document::load(
        GOOD.replace(&GOOD[GOOD.find("approvers:").unwrap()..], "")
            .as_bytes(),
    )
    .unwrap();
    assert!(
        silent
            .approvers(&stack)
            .allows("U0OTHER001", &none, &target("web-app", "Prod")),
        "no rules: the stack's"
    );
    // The rules themselves, for a function that keeps the stack's apart (the approver).
    assert!(silent.narrowing().is_none());
    let rules = document.narrowing().expect("GOOD has approvers");
    assert!(rules.allows("U024BE7LH", &none, &target("payments-api", "Prod")));
    assert!(!rules.allows("U024BE7LH", &none, &target("web-app", "Prod")));
}

#[test]
fn explain_says_which_pattern_selects_a_pipeline_in_each_subscription() {
    let document = Document::load(GOOD.as_bytes()).unwrap();
    let why = |pipeline: &str| -> Vec<Option<&str>> {
        document
            .explain(pipeline)
            .into_iter()
            .map(|(_, by)| by)
            .collect()
    };
    assert_eq!(why("payments-api"), [Some("payments-*"), Some("*")]);
    assert_eq!(why("web-app"), [None, Some("*")]);
    assert_eq!(
        why("arn:aws:codepipeline:us-west-2:210987654321:payments-eu"),
        [
            Some("arn:aws:codepipeline:us-west-2:210987654321:payments-eu"),
            None
        ],
        "\"*\" is this account's pipelines"
    );
    assert_eq!(why("not a pipeline"), [None, None]);
}

#[test]
fn a_webhook_is_slack_or_teams_and_takes_only_its_own_keys() {
    let document = Document::load(GOOD.as_bytes()).unwrap();
    assert!(matches!(
        document.destinations["payments-teams"],
        Destination::TeamsWebhook(..)
    ));
    assert!(matches!(
        document.destinations["ops"],
        Destination::SlackWebhook(..)
    ));
    let teams_channel = refused(&with(
        "    severity: approval",
        "    severity: approval\n    channel: C0123456789",
    ));
    assert_eq!(
        teams_channel,
        ["12:5: a teams destination takes no channel"]
    );
    let app_secret = refused(&with(
        "    approvals: true",
        "    approvals: true\n    secret: arn:aws:secretsmanager:eu-west-1:123456789012:secret:x",
    ));
    assert_eq!(app_secret, ["8:5: a slack-app destination takes no secret"]);
    let second = with(
        "    severity: failure",
        "    severity: failure\n    entry: 2",
    );
    let Destination::SlackWebhook(ops) =
        &Document::load(second.as_bytes()).unwrap().destinations["ops"]
    else {
        panic!("ops is a Slack webhook")
    };
    assert_eq!((ops.entry, ops.severity), (Some(2), Severity::Failure));
    assert_eq!(
        refused(&with(
            "    severity: failure",
            "    severity: failure\n    entry: 0"
        )),
        ["16:5: entry counts the secret's webhooks from 1"]
    );
    assert_eq!(
        refused(&with(
            "    approvals: true",
            "    approvals: true\n    entry: 1"
        )),
        ["8:5: a slack-app destination takes no entry"]
    );
    let listed = refused("version: 1\ndestinations: [a, b]\n").join("");
    assert!(listed.contains("expected destinations by name"), "{listed}");
}

#[test]
fn names_channels_and_typos_are_judged_to_the_letter() {
    for (name, good) in [
        ("a-b", true),
        ("a_b", true),
        ("0ps", true),
        (&"x".repeat(64)[..], true),
        (&"x".repeat(65)[..], false),
        ("-a", false),
        ("_a", false),
        ("A", false),
        ("a.b", false),
        ("", false),
    ] {
        assert_eq!(parse::is_name(name), good, "{name:?}");
    }
    for (channel, good) in [
        ("C0123456789", true),
        ("G0123456789", true),
        ("C01234", false),
        ("D0123456789", false),
        ("c0123456789", false),
        ("C0123456789x", false),
    ] {
        assert_eq!(parse::is_channel(channel), good, "{channel:?}");
    }
    for (a, b, d) in [
        ("ops", "opps", 1),
        ("payments", "paymnets", 2),
        ("abc", "xyz", 3),
        ("", "ab", 2),
        ("ab", "", 2),
        ("same", "same", 0),
    ] {
        assert_eq!(parse::distance(a, b), d, "{a} {b}");
    }
}

#[test]
fn a_document_of_exactly_the_most_bytes_is_read() {
    let mut text = GOOD.to_owned();
    text.push('#');
    text.push_str(&"x".repeat(MAX_BYTES - text.len() - 1));
    text.push('\n');
    assert_eq!(text.len(), MAX_BYTES);
    assert!(Document::load(text.as_bytes()).is_ok());
    text.push('\n');
    assert!(refused(&text)[0].contains("over the 262144"));
}

#[test]
fn a_destinations_audience_agrees_with_who_hears_what() {
    let document = Document::load(GOOD.as_bytes()).unwrap();
    let pipelines = [
        "payments-api",
        "web",
        "arn:aws:codepipeline:us-west-2:210987654321:payments-eu",
        "arn:aws:codepipeline:us-west-2:210987654321:web",
        "arn:aws:codepipeline:eu-west-1:210987654321:payments-eu",
    ];
    let mut pairs = 0;
    for name in document.destinations.keys() {
        let audience = document.audience_of(name);
        for pipeline in pipelines {
            let hears = document
                .destinations_of(pipeline)
                .iter()
                .any(|(n, _)| n == name);
            assert_eq!(audience.hears(pipeline), hears, "{name} {pipeline}");
            pairs += usize::from(hears);
        }
    }
    assert_eq!(
        pairs, 7,
        "releases 3, payments-teams 2, ops 2, as GOOD says"
    );
    assert_eq!(
        document.audience_of("releases"),
        Audience::Document(
            [
                "payments-*",
                "arn:aws:codepipeline:us-west-2:210987654321:payments-eu",
                "*"
            ]
            .map(|p| crate::pipeline::Entry::parse(p).unwrap())
            .to_vec()
        )
    );
    assert_eq!(document.audience_of("nobody"), Audience::Document(vec![]));
    // The stack's patterns match a name in any account; a key that is not a pipeline's
    // is matched as given.
    let names = Audience::Names(vec!["payments-*".into()]);
    assert!(names.hears("arn:aws:codepipeline:us-west-2:210987654321:payments-eu"));
    assert!(names.hears("payments-api") && !names.hears("web"));
    assert!(Audience::all().hears("any") && Audience::all().hears("web-*"));
    assert!(
        !document.audience_of("ops").hears("web-*"),
        "a pattern is no pipeline"
    );
}

/// Two topic destinations, and what each takes.
const TOPICS: &str = r#"version: 1
destinations:
  payments-email:
    type: email
    topic: arn:aws:sns:eu-west-1:123456789012:pipewatch-payments-email
    severity: approval
  payments-chatbot:
    type: chatbot
    topic: arn:aws:sns:eu-west-1:123456789012:pipewatch-payments-chatbot
subscriptions:
  - pipelines: ["payments-*"]
    to: [payments-email, payments-chatbot]
"#;

#[test]
fn an_email_or_chatbot_destination_names_a_standard_topic() {
    let document = Document::load(TOPICS.as_bytes()).unwrap();
    let topic = |arn: &str, severity| Topic {
        arn: arn.into(),
        severity,
        template: None,
    };
    assert_eq!(
        document.destinations["payments-email"],
        Destination::Email(topic(
            "arn:aws:sns:eu-west-1:123456789012:pipewatch-payments-email",
            Severity::Approval
        ))
    );
    assert_eq!(
        document.destinations["payments-chatbot"],
        Destination::Chatbot(topic(
            "arn:aws:sns:eu-west-1:123456789012:pipewatch-payments-chatbot",
            Severity::Info
        ))
    );
    assert_eq!(
        document.destinations["payments-email"].severity(),
        Severity::Approval
    );
    let topics = |from: &str, to: &str| {
        assert!(TOPICS.contains(from), "{from}");
        refused(&TOPICS.replacen(from, to, 1)).join("\n")
    };
    for (text, expected) in [
        (
            topics(
                "    type: chatbot\n",
                "    type: chatbot\n    secret: arn:aws:secretsmanager:eu-west-1:123456789012:secret:pipewatch/x\n",
            ),
            "9:5: a chatbot destination takes no secret",
        ),
        (
            topics("    type: email\n", "    type: email\n    entry: 1\n"),
            "5:5: an email destination takes no entry",
        ),
        (
            topics(
                "    type: email\n",
                "    type: email\n    channel: C0123456789\n",
            ),
            "an email destination takes no channel",
        ),
        (
            topics(
                ":pipewatch-payments-email",
                ":pipewatch-payments-email.fifo",
            ),
            "is a FIFO topic, which takes neither email nor Chatbot subscribers",
        ),
        (
            topics(
                "arn:aws:sns:eu-west-1:123456789012:pipewatch-payments-email",
                "pipewatch-payments-email",
            ),
            "5:5: \"pipewatch-payments-email\" is not an SNS topic's ARN",
        ),
        (
            topics(
                "arn:aws:sns:eu-west-1:123456789012:",
                "arn:aws:sns:eu-west-1:12345678901:",
            ),
            "is not an SNS topic's ARN",
        ),
        (
            topics(
                "arn:aws:sns:eu-west-1:123456789012:",
                "arn:aws:sqs:eu-west-1:123456789012:",
            ),
            "is not an SNS topic's ARN",
        ),
        (
            topics(
                "    topic: arn:aws:sns:eu-west-1:123456789012:pipewatch-payments-chatbot\n",
                "",
            ),
            "\"\" is not an SNS topic's ARN",
        ),
    ] {
        assert!(text.contains(expected), "{expected}\n  got: {text}");
    }
    let slack_with_a_topic = refused(&with(
        "    type: slack\n",
        "    type: slack\n    topic: arn:aws:sns:eu-west-1:123456789012:pipewatch-x\n",
    ))
    .join("\n");
    assert!(
        slack_with_a_topic.contains("a slack destination takes no topic"),
        "{slack_with_a_topic}"
    );
}
