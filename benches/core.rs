//! The change-detection core alone, on CodePipeline's largest pipeline shape (50 stages of
//! 20 actions): what a quiet tick spends per pipeline besides waiting on AWS. Run with
//! `cargo bench --bench core`; no services needed.

use std::fmt::Write as _;

use pipewatch_core::config::Document;
use pipewatch_core::diff::{diff, essentials, essentials_since};
use pipewatch_core::record::Record;
use pipewatch_core::state::PipelineState;
use serde_json::json;

fn main() {
    divan::main();
}

/// 50 stages of 20 actions, every run finished, as `GetPipelineState` (CLI form) says it.
fn large(run: usize) -> PipelineState {
    let stages: Vec<_> = (0..50)
        .map(|s| {
            json!({"stageName": format!("Stage{s:02}"),
                "inboundTransitionState": {"enabled": true},
                "latestExecution": {"pipelineExecutionId": "e-1", "status": "Succeeded", "type": "STANDARD"},
                "actionStates": (0..20).map(|a| json!({"actionName": format!("Action{a:02}"),
                    "entityUrl": "https://console.aws.amazon.com/codebuild/home#/projects/p/view",
                    "latestExecution": {"actionExecutionId": format!("a-{s}-{a}-{run}"), "status": "Succeeded",
                        "summary": "Build succeeded in 2 minutes",
                        "lastStatusChange": "2025-11-24T10:00:00Z",
                        "externalExecutionId": format!("build:{s}-{a}"),
                        "externalExecutionUrl": format!("https://console.aws.amazon.com/codebuild/home#/builds/b-{s}-{a}/view/new")}}))
                    .collect::<Vec<_>>()})
        })
        .collect();
    PipelineState::from_json(
        json!({"pipelineName": "monolith", "pipelineVersion": 3, "stageStates": stages})
            .to_string()
            .as_bytes(),
    )
    .unwrap()
}

#[divan::bench]
fn parse_a_response(bencher: divan::Bencher) {
    let text = serde_json::to_vec(&large(0)).unwrap();
    bencher.bench(|| PipelineState::from_json(divan::black_box(&text)).unwrap());
}

#[divan::bench]
fn diff_when_nothing_changed(bencher: divan::Bencher) {
    let (stored, current) = (essentials(&large(0)), large(0));
    bencher.bench(|| diff(divan::black_box(&stored), divan::black_box(&current)));
}

#[divan::bench]
fn diff_when_every_action_ran_again(bencher: divan::Bencher) {
    let (stored, current) = (essentials(&large(0)), large(1));
    bencher.bench(|| diff(divan::black_box(&stored), divan::black_box(&current)));
}

#[divan::bench]
fn essentials_of_an_observation(bencher: divan::Bencher) {
    let (stored, current) = (essentials(&large(0)), large(1));
    bencher.bench(|| essentials_since(divan::black_box(&stored), divan::black_box(&current)));
}

#[divan::bench]
fn read_a_stored_record(bencher: divan::Bencher) {
    let record = Record {
        pipeline: "monolith".into(),
        version: 7,
        snapshot: Some(essentials(&large(0))),
        outbox: Vec::new(),
        executions: Vec::new(),
        expires_at: None,
        health: pipewatch_core::record::Health::default(),
    };
    let item =
        pipewatch::aws::dynamodb::encode(&record, pipewatch_core::state::Timestamp::now()).unwrap();
    bencher.bench(|| pipewatch::aws::dynamodb::decode(divan::black_box(&item)));
}

/// A large notifications document: 50 destinations (20 Slack webhooks, 20 Teams webhooks,
/// 10 Slack app channels) and 200 subscriptions, each naming 10 of 2,000 pipelines and
/// a pattern, and 3 destinations. About 60 KB of YAML.
fn large_document() -> String {
    let mut text = String::from("version: 1\ndestinations:\n");
    for d in 0..50 {
        let kind = match d % 5 {
            0 | 1 => "slack",
            2 | 3 => "teams",
            _ => "slack-app",
        };
        if kind == "slack-app" {
            let _ = write!(
                text,
                "  d{d:02}:\n    type: slack-app\n    channel: C{d:010}\n    severity: warning\n"
            );
        } else {
            let _ = write!(
                text,
                "  d{d:02}:\n    type: {kind}\n    secret: arn:aws:secretsmanager:eu-west-1:123456789012:secret:pipewatch/d{d:02}-AbCdEf\n    severity: approval\n"
            );
        }
    }
    text.push_str("subscriptions:\n");
    for s in 0..200 {
        let pipelines: Vec<String> = (0..10)
            .map(|p| format!("\"svc-{:04}\"", s * 10 + p))
            .chain([format!("\"team{s:03}-*\"")])
            .collect();
        let _ = write!(
            text,
            "  - pipelines: [{}]\n    to: [d{:02}, d{:02}, d{:02}]\n",
            pipelines.join(", "),
            s % 50,
            (s + 17) % 50,
            (s + 31) % 50
        );
    }
    text
}

#[divan::bench]
fn load_a_document_of_50_destinations_and_200_subscriptions(bencher: divan::Bencher) {
    let text = large_document();
    assert!(Document::load(text.as_bytes()).is_ok());
    bencher.bench(|| Document::load(divan::black_box(text.as_bytes())).unwrap());
}

/// What the forwarder does per message: the pipeline's key against every destination's
/// audience, made once per document (the last of the 2,000 pipelines, so every pattern
/// is tried).
#[divan::bench]
fn route_a_message_by_that_document(bencher: divan::Bencher) {
    let document = Document::load(large_document().as_bytes()).unwrap();
    let audiences: Vec<_> = document
        .destinations
        .keys()
        .map(|name| document.audience_of(name))
        .collect();
    bencher.bench(|| {
        audiences
            .iter()
            .filter(|audience| audience.hears(divan::black_box("svc-1999")))
            .count()
    });
}

/// A document of 50 templates, each a title and a text that loops over the changes, and
/// one destination naming each.
fn templated_document() -> String {
    let mut text = String::from("version: 1\ndestinations:\n");
    for t in 0..50 {
        let _ = write!(
            text,
            "  d{t:02}:\n    type: slack\n    secret: arn:aws:secretsmanager:eu-west-1:123456789012:secret:pipewatch/d{t:02}-AbCdEf\n    template: t{t:02}\n"
        );
    }
    text.push_str("templates:\n");
    for t in 0..50 {
        let _ = write!(
            text,
            "  t{t:02}:\n    title: \"{{{{ pipeline|upper }}}} #{t}: {{{{ headline }}}}\"\n    text: \"{{% for change in changes %}}{{% if change.severity == 'failure' %}}:x:{{% else %}}:white_check_mark:{{% endif %}} {{{{ change.what }}}}{{% if change.why %}} ({{{{ change.why|truncate(80) }}}}){{% endif %}}\\n{{% endfor %}}\"\n"
        );
    }
    text.push_str("subscriptions:\n  - pipelines: [\"*\"]\n    to: [d00]\n");
    text
}

#[divan::bench]
fn load_a_document_of_50_templates(bencher: divan::Bencher) {
    let text = templated_document();
    assert_eq!(
        Document::load(text.as_bytes()).unwrap().templates.count(),
        50
    );
    bencher.bench(|| Document::load(divan::black_box(text.as_bytes())).unwrap());
}

/// A template over a message of the failure scenario (three changes), divided by them for
/// the time per change: `cargo bench` prints the time per message.
#[divan::bench]
fn render_a_template_for_a_message_of_three_changes(bencher: divan::Bencher) {
    use pipewatch_core::config::templated::{Channel, webhook};
    use pipewatch_core::render::content::Content;
    let document = Document::load(templated_document().as_bytes()).unwrap();
    let event: serde_json::Value =
        serde_json::from_str(include_str!("../events/sns-notification.json")).unwrap();
    let content =
        Content::from_body(event["Records"][0]["Sns"]["Message"].as_str().unwrap()).unwrap();
    assert_eq!(content.changes.len(), 3);
    let (body, failed) = webhook(&document.templates, Some("t07"), Channel::Slack, &content);
    assert_eq!(failed, None);
    assert!(
        body["text"]
            .as_str()
            .unwrap()
            .starts_with("WEB-APP-RELEASE #7: ")
    );
    bencher.bench(|| {
        webhook(
            &document.templates,
            Some("t07"),
            Channel::Slack,
            divan::black_box(&content),
        )
    });
}
