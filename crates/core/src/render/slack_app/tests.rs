use serde_json::json;

use super::*;
use crate::render::content::Context;
use crate::render::slack::MAX_BLOCKS;
use crate::state::PipelineState;

fn state(json: Value) -> PipelineState {
    serde_json::from_value(json).unwrap()
}

const BROADCAST: Options = Options {
    broadcast_failures: true,
    approve_in_slack: false,
};

/// A run of `stages` stages, the first `done` succeeded and the next one at `now`.
fn content(stages: usize, done: usize, now: &str) -> Content {
    let stage_states: Vec<Value> = (0..stages)
        .map(|i| {
            let status = if i < done { "Succeeded" } else { now };
            if i <= done {
                json!({"stageName": format!("Stage{i:02}"),
                    "latestExecution": {"pipelineExecutionId": "e-1", "status": status},
                    "actionStates": [{"actionName": "Act", "latestExecution": {"actionExecutionId": format!("a{i}"),
                        "status": status, "lastStatusChange": 1_700_000_000 + 60 * i64::try_from(i).unwrap(),
                        "errorDetails": {"message": "boom"}}}]})
            } else {
                json!({"stageName": format!("Stage{i:02}")})
            }
        })
        .collect();
    let before = state(json!({"pipelineName": "web", "stageStates": []}));
    let after = state(json!({"pipelineName": "web", "stageStates": stage_states}));
    let mut base = after.clone();
    for stage in &mut base.stage_states {
        stage.latest_execution = None;
        for action in &mut stage.action_states {
            action.latest_execution = None;
        }
    }
    let _ = before;
    let changes = crate::diff::diff(&crate::diff::essentials(&base), &after);
    let context = Context {
        state: Some(&after),
        revision: Some(3),
        ..Context::default()
    };
    Content::build("web", &changes, &context, "web/3/1", (1, 1))
}

#[test]
fn each_execution_gets_a_living_message_whole_from_its_progress() {
    let rendered = render(&content(3, 1, "Failed"), Options::default());
    assert_eq!(rendered.living.len(), 1);
    let living = &rendered.living[0];
    assert_eq!((living.execution.as_str(), living.revision), ("e-1", 3));
    let text = living.message.to_string();
    assert!(text.contains("failed at Stage01/Act"), "{text}");
    assert!(text.contains("✅ Stage00"), "{text}");
    assert!(text.contains("◻️ Stage02"), "{text}");
    assert!(rendered.standalone.is_none());
}

#[test]
fn a_failure_is_a_thread_reply_with_its_own_key_broadcast_only_when_asked() {
    let quiet = render(&content(2, 1, "Failed"), Options::default());
    let keys: Vec<&str> = quiet.replies.iter().map(|r| r.key.as_str()).collect();
    assert_eq!(keys, ["failed/Stage01/Act/a1"]);
    assert!(!quiet.replies[0].broadcast);
    assert!(quiet.replies[0].message.to_string().contains("boom"));
    assert!(render(&content(2, 1, "Failed"), BROADCAST).replies[0].broadcast);
    assert!(
        render(&content(2, 1, "InProgress"), BROADCAST)
            .replies
            .is_empty()
    );
}

#[test]
fn equal_runs_render_equal_and_a_change_renders_different() {
    let a = render(&content(3, 1, "InProgress"), Options::default());
    let b = render(&content(3, 1, "InProgress"), Options::default());
    let c = render(&content(3, 2, "InProgress"), Options::default());
    assert_eq!(a.living[0].digest, b.living[0].digest);
    assert_ne!(a.living[0].digest, c.living[0].digest);
}

#[test]
fn without_progress_or_revision_the_webhook_message_is_posted_on_its_own() {
    let mut content = content(2, 1, "Failed");
    content.revision = None;
    let rendered = render(&content, Options::default());
    assert!(rendered.living.is_empty() && rendered.replies.is_empty());
    let standalone = rendered.standalone.unwrap();
    assert_eq!(standalone.key, "web/3/1");
    assert_eq!(standalone.message, slack::render(&content));
}

#[test]
fn many_stages_stay_within_slacks_limits_and_say_what_was_left_out() {
    let rendered = render(&content(2_000, 1_999, "InProgress"), Options::default());
    let message = &rendered.living[0].message;
    let blocks = message["blocks"].as_array().unwrap();
    assert!(blocks.len() <= MAX_BLOCKS, "{}", blocks.len());
    for block in blocks {
        assert!(
            block["text"]["text"]
                .as_str()
                .is_none_or(|t| t.chars().count() <= MAX_SECTION)
        );
    }
    assert!(message.to_string().contains(" more stages"));
    let text: usize = blocks.iter().map(text_chars).sum();
    assert!(text <= slack::MAX_TOTAL_TEXT, "{text}");
    assert!(
        text > slack::MAX_TOTAL_TEXT - 1_000,
        "the room is used: {text} characters"
    );
    let sections: Vec<usize> = blocks
        .iter()
        .filter_map(|b| b["text"]["text"].as_str())
        .map(|t| t.chars().count())
        .collect();
    let full = &sections[2..sections.len() - 1];
    assert!(full.len() >= 2, "several full sections: {sections:?}");
    assert!(
        full.iter().all(|n| *n > MAX_SECTION - 100),
        "sections are filled before another starts: {sections:?}"
    );
    let plain = &plain(message);
    assert!(plain.get("blocks").is_none());
    assert!(plain["text"].as_str().unwrap().chars().count() <= MAX_SECTION);
}

#[test]
fn a_continuation_says_so_above_the_same_message() {
    let living = &render(&content(2, 1, "Failed"), Options::default()).living[0];
    let continued = continuing(&living.message, None);
    assert_eq!(
        continued["blocks"][0]["elements"][0]["text"],
        "Continues an earlier message that can no longer be edited."
    );
    assert_eq!(continued["blocks"][1], living.message["blocks"][0]);
    assert!(continued["text"].as_str().unwrap().ends_with("(continued)"));
}

/// The characters of every `text` in a block, as Slack counts toward a message's total.
fn text_chars(value: &Value) -> usize {
    match value {
        Value::Object(map) => map
            .iter()
            .map(|(k, v)| match v {
                Value::String(s) if k == "text" => s.chars().count(),
                other => text_chars(other),
            })
            .sum(),
        Value::Array(items) => items.iter().map(text_chars).sum(),
        _ => 0,
    }
}

#[test]
fn a_waiting_approval_gets_decision_buttons_naming_its_run_only_when_asked() {
    let mut content = content(2, 1, "InProgress");
    let progress = content.executions[0].progress.as_mut().unwrap();
    progress.stages[1].awaiting_approval = true;
    progress.stages[1].action_execution_id = Some("run-7".into());
    let plain = render(&content, Options::default()).living[0]
        .message
        .to_string();
    assert!(
        !plain.contains(interaction::APPROVE),
        "not unless the approver is installed"
    );
    let asked = Options {
        approve_in_slack: true,
        ..Options::default()
    };
    let message = render(&content, asked).living[0].message.clone();
    let actions = message["blocks"]
        .as_array()
        .unwrap()
        .iter()
        .find(|b| b["type"] == "actions")
        .unwrap();
    let approve = &actions["elements"][0];
    let reject = &actions["elements"][1];
    assert_eq!(
        (approve["action_id"].as_str(), reject["action_id"].as_str()),
        (Some(interaction::APPROVE), Some(interaction::REJECT))
    );
    assert!(
        approve["confirm"].is_object() && reject["confirm"].is_object(),
        "each asks first"
    );
    let target: Target = serde_json::from_str(approve["value"].as_str().unwrap()).unwrap();
    assert_eq!(
        target,
        Target {
            pipeline: "web".into(),
            arn: None,
            stage: "Stage01".into(),
            action: "Act".into(),
            action_execution_id: "run-7".into(),
            execution: Some("e-1".into()),
        }
    );
    assert!(
        approve["value"].as_str().unwrap().len() <= 2_000,
        "Slack's limit for a value"
    );
    // Never the token: `channels::approval_tokens_appear_in_no_channel` holds the
    // buttons to it over recorded approvals that carry one.
}

#[test]
fn a_decision_recorded_in_slack_replaces_the_buttons_with_its_outcome() {
    let mut content = content(2, 1, "InProgress");
    let progress = content.executions[0].progress.as_mut().unwrap();
    progress.stages[1].awaiting_approval = true;
    progress.stages[1].action_execution_id = Some("run-7".into());
    let asked = Options {
        approve_in_slack: true,
        ..Options::default()
    };
    let [target] = buttons_for(&content, asked).try_into().unwrap();
    assert_eq!(target.action_execution_id, "run-7");
    assert!(buttons_for(&content, Options::default()).is_empty());

    let approved = "Approved in Slack by Maria Silva (U024BE7LH): looks good";
    let decided = Decisions::from([(target.decision_key(), approved.to_owned())]);
    let message = render_decided(&content, asked, &decided).living[0]
        .message
        .to_string();
    assert!(!message.contains(interaction::APPROVE) && !message.contains(interaction::REJECT));
    assert!(!message.contains("Review approval"), "{message}");
    assert!(message.contains(&format!("✅ {approved}")), "{message}");

    let rejected = Decisions::from([(target.decision_key(), "Rejected in Slack by U1".to_owned())]);
    let message = render_decided(&content, asked, &rejected).living[0]
        .message
        .to_string();
    assert!(message.contains("⛔ Rejected in Slack by U1"), "{message}");

    // A decision of an earlier run of the approval leaves the new run's buttons.
    let earlier = Target {
        action_execution_id: "run-6".into(),
        ..target
    };
    let other = Decisions::from([(earlier.decision_key(), approved.to_owned())]);
    assert_eq!(
        render_decided(&content, asked, &other),
        render(&content, asked)
    );
}

#[test]
fn the_run_between_two_stages_is_in_progress_and_a_stopped_one_says_how_it_ended() {
    let between = render(&content(3, 1, "Succeeded"), Options::default());
    let text = between.living[0].message["text"]
        .as_str()
        .unwrap()
        .to_owned();
    assert!(text.contains("in progress: Stage01 done"), "{text}");
    for (status, words) in [
        ("Stopped", "stopped at Stage01"),
        ("Abandoned", "abandoned at Stage01"),
        ("Superseded", "superseded at Stage01"),
        ("Cancelled", "cancelled at Stage01"),
    ] {
        let rendered = render(&content(3, 1, status), Options::default());
        let text = rendered.living[0].message["text"]
            .as_str()
            .unwrap()
            .to_owned();
        assert!(text.contains(words), "{status}: {text}");
    }
}

#[test]
fn a_retry_is_told_in_the_thread_when_it_starts_not_again_when_it_ends() {
    let state = state(
        json!({"pipelineName": "web", "stageStates": [{"stageName": "Build",
        "latestExecution": {"pipelineExecutionId": "e-1", "status": "InProgress"}}]}),
    );
    let retried = |status: &str| crate::change::Change::Stage {
        stage: "Build".into(),
        execution_id: "e-1".into(),
        status: crate::state::Status::new(status),
        previous_status: Some(crate::state::Status::new("Failed")),
        previous_execution_id: None,
        execution_type: None,
        retry: Some(crate::change::StageRetry {
            automatic: false,
            attempt: 1,
        }),
    };
    let context = Context {
        state: Some(&state),
        revision: Some(3),
        ..Context::default()
    };
    let keys = |status: &str| {
        let built = Content::build("web", &[retried(status)], &context, "web/3/1", (1, 1));
        render(&built, Options::default())
            .replies
            .iter()
            .map(|r| r.key.clone())
            .collect::<Vec<_>>()
    };
    assert_eq!(keys("InProgress"), ["retry/Build/manual/1"]);
    assert!(
        keys("Succeeded").is_empty(),
        "its end is the living message's to tell"
    );
}

/// A change of a kind a newer pipewatch knows is told once in the thread when it needs
/// attention, keyed by its words; one that is only progress is left to the message.
#[test]
fn an_unknown_kind_is_a_thread_reply_only_when_it_needs_attention() {
    let mut content = content(2, 1, "InProgress");
    let known = content.changes[0].clone();
    let unknown = |severity: Severity, what: &str| {
        let mut change = known.clone();
        change.record.detail = Detail::Other;
        change.severity = severity;
        change.what = what.into();
        change
    };
    content.changes = vec![
        unknown(Severity::Info, "rollout wave 1 started"),
        unknown(Severity::Warning, "rollout wave 2 halted"),
        unknown(Severity::Failure, "rollout wave 3 rolled back"),
    ];
    let keys: Vec<String> = render(&content, Options::default())
        .replies
        .iter()
        .map(|r| r.key.clone())
        .collect();
    assert_eq!(keys.len(), 2, "{keys:?}");
    assert!(keys.iter().all(|k| k.starts_with("other/")), "{keys:?}");
    assert_ne!(keys[0], keys[1], "each by its own words");
}
