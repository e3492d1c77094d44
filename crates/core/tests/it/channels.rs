//! What users get, channel by channel: every bundled scenario rendered as
//! `pipewatch replay --format ...` prints it ([`Recording::write`], the tick's own
//! rendering path), committed as `insta` snapshots so a reviewer sees exactly what each channel shows. Each JSON body is
//! validated against `schema/notification.schema.json`, and every rendering is held to
//! its channel's limits, also for a pipeline far larger than any scenario.

use pipewatch_core::render::console::Console;
use pipewatch_core::render::content::{Content, Context};
use pipewatch_core::render::message::{messages, sns_payload};
use pipewatch_core::render::{chatbot, slack, teams};
use pipewatch_core::replay::{Format, Recording};
use serde_json::{Value, json};

use crate::fixtures::{repository, scenario_files, scenario_names};

const FORMATS: [&str; 8] = [
    "text",
    "json",
    "body",
    "email",
    "chatbot",
    "slack",
    "slack-app",
    "teams",
];

/// The platforms' own limits, written down here rather than read from the renderers'
/// constants, so that raising a constant past what the platform takes fails a test.
/// Slack (Block Kit reference, enforced alike by Slack's own SDKs): 50 blocks a message,
/// 150 characters in a header, 3,000 in a section's text, 75 in a button's text and 3,000
/// in its URL; a message's blocks are refused past about 12,000 characters in all
/// (undocumented: "12,000 text characters with a buffer for block containers" from Slack,
/// refusals reported from 11,341), so 11,000 is the ceiling held here.
pub(crate) const SLACK_MAX_BLOCKS: usize = 50;
const SLACK_MAX_HEADER: usize = 150;
const SLACK_MAX_SECTION: usize = 3_000;
const SLACK_MAX_BUTTON_TEXT: usize = 75;
const SLACK_MAX_BUTTON_URL: usize = 3_000;
const SLACK_MAX_TOTAL_TEXT: usize = 11_000;
/// A button's `value`: 2,000 characters (Block Kit reference).
const SLACK_MAX_BUTTON_VALUE: usize = 2_000;
/// Microsoft Teams refuses a message over 28 KB (its documented limit for bot and webhook
/// messages), the webhook's envelope included: a card stays under 27,000 bytes.
const TEAMS_MAX_BYTES: usize = 27_000;
/// AWS Chatbot posts a custom notification's title as a Slack header and its description
/// as a section: Slack's limits are the ones that bite.
const CHATBOT_MAX_TITLE: usize = SLACK_MAX_HEADER;
const CHATBOT_MAX_DESCRIPTION: usize = SLACK_MAX_SECTION;
/// SNS takes 262,144 bytes a message (body, subject and attributes): a body stays clear
/// of it by more than a subject and the attributes take.
const SNS_MAX_PAYLOAD: usize = 250_000;

/// `pipewatch replay --format FORMAT` over a scenario, with console links for eu-west-1.
pub(crate) fn replay(scenario: &str, format: &str) -> String {
    let format = Format::from_name(format).unwrap();
    let console = Console::new("eu-west-1", Some("123456789012")).unwrap();
    let mut out = Vec::new();
    Recording::load(&scenario_files(scenario))
        .unwrap()
        .write(format, Some(&console), None, None, &mut out)
        .unwrap();
    String::from_utf8(out).unwrap()
}

/// JSON documents, one per line, pretty-printed for review.
fn pretty(lines: &str) -> String {
    lines
        .lines()
        .map(|line| {
            serde_json::to_string_pretty(&serde_json::from_str::<Value>(line).unwrap()).unwrap()
        })
        .collect::<Vec<_>>()
        .join("\n---\n")
}

fn schema() -> jsonschema::Validator {
    let path = repository().join("schema/notification.schema.json");
    let schema: Value = serde_json::from_str(&std::fs::read_to_string(path).unwrap()).unwrap();
    jsonschema::draft202012::options()
        .should_validate_formats(true)
        .build(&schema)
        .expect("the schema is a valid 2020-12 schema")
}

fn assert_valid(validator: &jsonschema::Validator, body: &Value, what: &str) {
    let errors: Vec<String> = validator
        .iter_errors(body)
        .map(|e| format!("{} at {}", e, e.instance_path))
        .collect();
    assert!(errors.is_empty(), "{what}: {errors:#?}\n{body:#}");
}

#[test]
fn every_scenario_in_every_channel_is_what_users_get() {
    let scenarios = scenario_names();
    assert!(scenarios.len() >= 6, "{scenarios:?}");
    for scenario in &scenarios {
        for format in FORMATS {
            let output = replay(scenario, format);
            let shown = match format {
                "text" | "email" => output,
                _ => pretty(&output),
            };
            insta::assert_snapshot!(format!("{scenario}__{format}"), shown);
        }
    }
}

#[test]
fn every_body_matches_the_committed_json_schema() {
    let validator = schema();
    let mut bodies = 0;
    for scenario in scenario_names() {
        for line in replay(&scenario, "body").lines() {
            let body: Value = serde_json::from_str(line).unwrap();
            assert_valid(&validator, &body, &scenario);
            bodies += 1;
        }
    }
    assert!(bodies >= 20, "{bodies}");
    // And the schema is not a rubber stamp.
    let wrong = json!({"schema_version": 2, "id": "x"});
    assert!(!validator.is_valid(&wrong));
}

#[test]
fn every_rendering_keeps_its_channels_limits() {
    for scenario in scenario_names() {
        for line in replay(&scenario, "slack").lines() {
            assert_slack_limits(&serde_json::from_str(line).unwrap(), &scenario);
        }
        for line in replay(&scenario, "slack-app").lines() {
            crate::slack_app::assert_app_call_limits(
                &serde_json::from_str(line).unwrap(),
                &scenario,
            );
        }
        for line in replay(&scenario, "chatbot").lines() {
            assert_chatbot_limits(&serde_json::from_str(line).unwrap(), &scenario);
        }
        for line in replay(&scenario, "teams").lines() {
            assert!(
                line.len() <= TEAMS_MAX_BYTES,
                "{scenario}: {} bytes",
                line.len()
            );
        }
        for line in replay(&scenario, "body").lines() {
            let body: Value = serde_json::from_str(line).unwrap();
            let subject = body["subject"].as_str().unwrap();
            assert!(subject.len() < 100 && subject.is_ascii(), "{subject}");
        }
    }
}

pub(crate) fn assert_slack_limits(post: &Value, what: &str) {
    let header = &post["blocks"][0];
    assert_eq!(header["type"], "header");
    assert!(header["text"]["text"].as_str().unwrap().chars().count() <= SLACK_MAX_HEADER);
    let blocks = post["attachments"][0]["blocks"].as_array().unwrap();
    assert!(
        blocks.len() < SLACK_MAX_BLOCKS,
        "{what}: {} blocks",
        blocks.len() + 1
    );
    assert_blocks_within_limits(blocks, what);
    assert!(
        !post["text"].as_str().unwrap().is_empty(),
        "a fallback text"
    );
}

/// Each block's text, each button, and the text of all the blocks together within Slack's
/// limits.
pub(crate) fn assert_blocks_within_limits(blocks: &[Value], what: &str) {
    let mut total = 0;
    for block in blocks {
        if let Some(text) = block["text"]["text"].as_str() {
            assert!(
                !text.is_empty() && text.chars().count() <= SLACK_MAX_SECTION,
                "{what}"
            );
            total += text.chars().count();
        }
        for element in block["elements"].as_array().into_iter().flatten() {
            if let Some(text) = element["text"].as_str() {
                total += text.chars().count();
            }
            if element["type"] == "button" {
                let label = element["text"]["text"].as_str().unwrap();
                assert!(label.chars().count() <= SLACK_MAX_BUTTON_TEXT);
                // A link, or a decision naming its approval in a value.
                match (element["url"].as_str(), element["value"].as_str()) {
                    (Some(url), None) => assert!(url.len() <= SLACK_MAX_BUTTON_URL),
                    (None, Some(value)) => assert!(value.len() <= SLACK_MAX_BUTTON_VALUE),
                    other => panic!("{what}: a button is a link or a value: {other:?}"),
                }
            }
        }
    }
    assert!(total <= SLACK_MAX_TOTAL_TEXT, "{what}: {total} characters");
}

fn assert_chatbot_limits(notification: &Value, what: &str) {
    assert_eq!(notification["version"], "1.0");
    assert_eq!(notification["source"], "custom");
    let content = &notification["content"];
    assert_eq!(content["textType"], "client-markdown");
    assert!(content["title"].as_str().unwrap().chars().count() <= CHATBOT_MAX_TITLE);
    let description = content["description"].as_str().unwrap();
    assert!(
        description.chars().count() <= CHATBOT_MAX_DESCRIPTION,
        "{what}"
    );
    let thread = notification["metadata"]["threadId"].as_str().unwrap();
    assert!(!thread.is_empty());
}

#[test]
fn a_thread_is_a_pipeline_execution_so_a_release_threads_together() {
    let threads: Vec<String> = replay("release-failure-retry", "chatbot")
        .lines()
        .map(|line| {
            let notification: Value = serde_json::from_str(line).unwrap();
            notification["metadata"]["threadId"]
                .as_str()
                .unwrap()
                .to_owned()
        })
        .collect();
    assert_eq!(threads.len(), 5);
    assert!(
        threads
            .iter()
            .all(|t| t == "a3c8e1d2-5b7f-4e6a-8c9d-0f1e2d3c4b5a"),
        "{threads:?}"
    );
    // A message about no execution (a definition edit) threads by pipeline.
    let edit = replay("manual-approval", "chatbot");
    let last: Value = serde_json::from_str(edit.lines().last().unwrap()).unwrap();
    assert_eq!(last["metadata"]["threadId"], "infra-prod");
}

#[test]
fn approval_tokens_appear_in_no_channel() {
    for scenario in ["manual-approval", "approval-rejected"] {
        let token = scenario_files(scenario)
            .iter()
            .map(|f| std::fs::read_to_string(f).unwrap())
            .find_map(|state| {
                let at = state.find("\"token\": \"")? + 10;
                Some(state[at..at + state[at..].find('"').unwrap()].to_owned())
            })
            .expect("the scenario has a waiting approval");
        for format in FORMATS {
            assert!(
                !replay(scenario, format).contains(&token),
                "{scenario} {format}"
            );
        }
        // The Slack app's buttons were rendered for that very approval, token and all.
        assert!(
            replay(scenario, "slack-app").contains(pipewatch_core::interaction::APPROVE),
            "{scenario}: the buttons are there"
        );
    }
}

#[test]
fn the_sample_sns_event_carries_what_the_tick_publishes_today() {
    let event: Value = serde_json::from_str(
        &std::fs::read_to_string(repository().join("events/sns-notification.json")).unwrap(),
    )
    .unwrap();
    let sample = event["Records"][0]["Sns"]["Message"].as_str().unwrap();
    let step_2 = replay("release-failure-retry", "body")
        .lines()
        .nth(1)
        .unwrap()
        .to_owned();
    assert_eq!(sample, step_2, "regenerate events/sns-notification.json");
}

/// A pipeline far past any scenario: 50 stages of 40 failing actions with long reasons.
/// 50 stages of 40 actions failing, each action with a reason `repeat` sentences long.
fn huge_failure_with(repeat: usize) -> Vec<pipewatch_core::change::Change> {
    let reason = "Error while executing command: make test. Reason: exit status 2. ".repeat(repeat);
    let stages = |status: &str| -> Value {
        Value::Array(
            (0..50)
                .map(|s| {
                    json!({"stageName": format!("Stage{s:02}"),
                        "latestExecution": {"pipelineExecutionId": "e-1", "status": status},
                        "actionStates": (0..40).map(|a| json!({"actionName": format!("Action{a:02}"),
                            "latestExecution": {"actionExecutionId": format!("a-{s}-{a}"), "status": status,
                                "lastStatusChange": "2025-11-24T10:00:00Z",
                                "externalExecutionUrl": format!("https://console.aws.amazon.com/codebuild/home#/builds/b-{s}-{a}"),
                                "errorDetails": {"code": "JobFailed", "message": reason}}})).collect::<Vec<_>>()})
                })
                .collect(),
        )
    };
    let state = |status: &str| {
        pipewatch_core::state::PipelineState::from_json(
            json!({"pipelineName": "monolith", "stageStates": stages(status)})
                .to_string()
                .as_bytes(),
        )
        .unwrap()
    };
    pipewatch_core::diff::diff(&state("InProgress"), &state("Failed"))
}

fn huge_failure() -> Vec<pipewatch_core::change::Change> {
    huge_failure_with(40)
}

#[test]
fn many_short_changes_meet_slacks_block_limit_before_its_text_limit() {
    let changes = huge_failure_with(0);
    let said = Content::build(
        "monolith",
        &changes[..200],
        &Context::default(),
        "m/1/1",
        (1, 1),
    );
    let post = slack::render(&said);
    assert_slack_limits(&post, "short");
    let blocks = post["attachments"][0]["blocks"].as_array().unwrap().len() + 1;
    assert!(
        blocks >= SLACK_MAX_BLOCKS - 3,
        "the limit is used: {blocks} blocks"
    );
    assert!(post.to_string().contains(" more"), "…and N more");
}

#[test]
fn a_huge_failure_keeps_every_limit_and_says_how_much_was_left_out() {
    let changes = huge_failure();
    assert_eq!(changes.len(), 50 * 41);
    let console = Console::new("eu-west-1", Some("123456789012")).unwrap();
    let context = Context {
        console: Some(&console),
        executions: &[],
        ..Context::default()
    };
    let messages = messages("monolith", &changes, &context, "monolith/9");
    assert!(messages.len() > 1, "split into parts under SNS's limit");
    let validator = schema();
    let mut total = 0;
    for message in &messages {
        assert!(sns_payload(message).len() <= SNS_MAX_PAYLOAD);
        let said = Content::from_body(&message.body).unwrap();
        total += said.changes.len();
        assert_valid(
            &validator,
            &serde_json::from_str(&message.body).unwrap(),
            "huge",
        );

        let post = slack::render(&said);
        assert_slack_limits(&post, "huge");
        assert!(post.to_string().contains(" more"), "…and N more");
        let notification = chatbot::render(&said);
        assert_chatbot_limits(&notification, "huge");
        // Keywords: the pipeline, the severity and the first stages, five at most (see
        // chatbot.rs).
        let keywords = notification["content"]["keywords"].as_array().unwrap();
        assert!(keywords.len() <= 5, "{keywords:?}");
        assert_eq!(keywords[..2], [json!("monolith"), json!("failure")]);
        assert!(
            notification["content"]["description"]
                .as_str()
                .unwrap()
                .contains(" more")
        );
        let card = teams::render(&said).to_string();
        assert!(card.len() <= TEAMS_MAX_BYTES, "{} bytes", card.len());
        assert!(card.contains(" more"));
    }
    assert_eq!(total, changes.len(), "no change lost across parts");
}

/// pipewatch losing and regaining access to a pipeline (the tick decides these; no replay
/// shows them), in every channel: what users get, valid, within each channel's limits.
#[test]
fn a_pipeline_pipewatch_cannot_read_is_said_in_every_channel() {
    use pipewatch_core::change::Change;
    use pipewatch_core::render::email;
    let since = pipewatch_core::state::Timestamp::from_unix_millis(1_764_000_000_000);
    let lost = Change::Access {
        readable: false,
        failed_checks: 5,
        since,
        error: Some("GetPipelineState failed: AccessDeniedException: User: arn:aws:sts::123456789012:assumed-role/pipewatch-watcher/x is not authorized to perform: codepipeline:GetPipelineState".into()),
    };
    let back = Change::Access {
        readable: true,
        failed_checks: 5,
        since,
        error: None,
    };
    let console = Console::new("eu-west-1", Some("123456789012"));
    let links = Context {
        console: console.as_ref(),
        executions: &[],
        ..Context::default()
    };
    let validator = schema();
    // And what recovery adds: an execution that failed between checks, and a run.
    let at =
        |s: i64| pipewatch_core::state::Timestamp::from_unix_millis(1_764_000_000_000 + s * 1000);
    let execution = Change::Execution {
        execution_id: "3f1c9a2e-5b6f-4a7e-9c0d-1e2f3a4b5c6d".into(),
        status: pipewatch_core::state::Status::new("Failed"),
        started_at: at(0),
        finished_at: at(95),
    };
    let run = Change::Action {
        stage: "Build".into(),
        action: "UnitTests".into(),
        execution_id: Some("a1".into()),
        status: Some(pipewatch_core::state::Status::new("Failed")),
        previous_status: Some(pipewatch_core::state::Status::new("InProgress")),
        previous_execution_id: Some("a1".into()),
        summary: None,
        error: Some(pipewatch_core::state::ErrorDetails {
            code: Some("JobFailed".into()),
            message: Some("exit status 1".into()),
        }),
        external_url: Some("https://eu-west-1.console.aws.amazon.com/codesuite/codebuild/projects/web/build/web:1/log".into()),
        entity_url: None,
        last_updated_by: None,
        approval: None,
        started_at: at(10),
        finished_at: at(70),
        pipeline_execution_id: Some("3f1c9a2e-5b6f-4a7e-9c0d-1e2f3a4b5c6d".into()),
        recovered: true,
    };
    for (name, changes) in [
        ("access-lost", vec![lost]),
        ("access-back", vec![back]),
        ("recovered-between-checks", vec![execution, run]),
    ] {
        let message = messages("payments-api", &changes, &links, "payments-api/7").remove(0);
        let body: Value = serde_json::from_str(&message.body).unwrap();
        assert_valid(&validator, &body, name);
        let content = Content::from_body(&message.body).unwrap();
        let slack = slack::render(&content);
        assert_slack_limits(&slack, name);
        let chatbot = chatbot::render(&content);
        assert_chatbot_limits(&chatbot, name);
        let shown = [
            message.text.clone(),
            pretty(&message.body),
            email::render(&content),
            pretty(&chatbot.to_string()),
            pretty(&slack.to_string()),
            pretty(&teams::render(&content).to_string()),
        ]
        .join("\n---\n");
        let words = match name {
            "access-lost" => "cannot read",
            "access-back" => "reads the pipeline again",
            _ => "between checks",
        };
        for part in shown.split("\n---\n") {
            assert!(part.contains(words), "{name}: {part}");
        }
        insta::assert_snapshot!(name, shown);
    }
}

/// No stale snapshot: every file under snapshots/ is one a test of this file writes (every
/// scenario in every format, and the three the tick alone produces), so a scenario or a
/// format removed takes its snapshots with it.
#[test]
fn every_snapshot_is_one_a_test_writes() {
    let dir = std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("tests/it/snapshots");
    let mut kept: Vec<String> = std::fs::read_dir(&dir)
        .unwrap()
        .map(|e| e.unwrap().file_name().into_string().unwrap())
        .collect();
    kept.sort();
    let mut written: Vec<String> = scenario_names()
        .iter()
        .flat_map(|scenario| {
            FORMATS.map(|format| format!("it__channels__{scenario}__{format}.snap"))
        })
        .chain(
            ["access-back", "access-lost", "recovered-between-checks"]
                .map(|name| format!("it__channels__{name}.snap")),
        )
        .collect();
    written.sort();
    assert_eq!(kept, written);
}

#[test]
fn one_step_alone_is_that_steps_part_of_the_whole() {
    let recording = Recording::load(&scenario_files("release-failure-retry")).unwrap();
    let write = |only| {
        let mut out = Vec::new();
        recording
            .write(Format::Text, None, only, None, &mut out)
            .unwrap();
        String::from_utf8(out).unwrap()
    };
    let whole = write(None);
    let step_2: Vec<&str> = whole.lines().filter(|l| l.starts_with("step 2:")).collect();
    assert!(!step_2.is_empty(), "{whole}");
    assert_eq!(write(Some(2)).lines().collect::<Vec<_>>(), step_2);
    assert_eq!(write(Some(99)), "", "a step past the end prints nothing");
}
