//! Hostile input: every file in `tests/hostile/` (and the fuzz corpus, when present) either
//! parses sensibly or fails with an error that says what is wrong. None may panic.

use std::path::Path;

use pipewatch_core::diff::diff;
use pipewatch_core::error::chain;
use pipewatch_core::render::text;
use pipewatch_core::state::PipelineState;

use crate::exercise::exercise;

/// Each corpus file and what must come of it: `Ok` or an error containing the text.
const EXPECTED: &[(&str, Result<(), &str>)] = &[
    ("empty.json", Err("the file is empty")),
    ("whitespace-only.json", Err("the file is empty")),
    ("truncated.json", Err("EOF while parsing")),
    (
        "html-error-page.json",
        Err("expected value at line 1 column 1"),
    ),
    (
        "top-level-array.json",
        Err("expected a JSON object, found an array"),
    ),
    (
        "missing-stage-states.json",
        Err("missing field `stageStates`"),
    ),
    (
        "stage-states-null.json",
        Err("invalid type: null, expected a sequence"),
    ),
    (
        "version-as-string.json",
        Err("invalid type: string \"7\", expected i64"),
    ),
    ("enabled-as-string.json", Err("expected a boolean")),
    ("non-utf8-bytes.json", Err("invalid unicode code point")),
    ("unknown-enum-values.json", Ok(())),
    (
        "duplicate-stage-names.json",
        Err("stage `Build` appears more than once"),
    ),
    (
        "duplicate-action-names.json",
        Err("action `Compile` appears more than once in stage `Build`"),
    ),
    (
        "stage-execution-without-status.json",
        Err("missing field `status`"),
    ),
    ("deeply-nested-unknown-field.json", Ok(())),
    (
        "timestamp-out-of-range.json",
        Err("timestamp 1e300 is out of range"),
    ),
    (
        "timestamp-not-a-date.json",
        Err("invalid timestamp \"last tuesday\""),
    ),
    ("number-overflow.json", Err("invalid type")),
    (
        "token-not-a-string.json",
        Err("expected an approval token string or a boolean"),
    ),
    ("trailing-garbage.json", Err("trailing characters")),
    ("byte-order-mark.json", Ok(())),
    ("nulls-for-optional-fields.json", Ok(())),
    ("never-run-pipeline.json", Ok(())),
    ("unknown-fields-everywhere.json", Ok(())),
    ("control-characters-in-text.json", Ok(())),
    ("wire-form-exponent-timestamps.json", Ok(())),
    (
        "percent-complete-fractional.json",
        Err("invalid type: floating point `42.5`, expected i64"),
    ),
];

fn corpus_dir() -> &'static Path {
    Path::new(concat!(env!("CARGO_MANIFEST_DIR"), "/tests/hostile"))
}

#[test]
fn every_corpus_file_parses_sensibly_or_fails_with_a_clear_error() {
    for (name, expected) in EXPECTED {
        let bytes = std::fs::read(corpus_dir().join(name)).unwrap();
        let outcome = exercise(&bytes).map(drop).map_err(|e| chain(&e));
        match (expected, &outcome) {
            (Ok(()), Ok(())) => {}
            (Err(wanted), Err(message)) => {
                assert!(message.contains(wanted), "{name}: {message}");
                assert_eq!(message.lines().count(), 1, "{name}: one line: {message}");
            }
            _ => panic!("{name}: expected {expected:?}, got {outcome:?}"),
        }
    }
}

#[test]
fn the_corpus_has_no_file_without_an_expectation() {
    let mut names: Vec<String> = std::fs::read_dir(corpus_dir())
        .unwrap()
        .map(|e| e.unwrap().file_name().to_string_lossy().into_owned())
        .collect();
    names.sort();
    let mut known: Vec<&str> = EXPECTED.iter().map(|(n, _)| *n).collect();
    known.sort_unstable();
    assert_eq!(names, known);
    assert!(names.len() >= 15);
}

#[test]
fn the_fuzz_corpus_replays_without_panicking() {
    let dir = crate::fixtures::repository().join("fuzz/corpus/parse_state");
    let entries = std::fs::read_dir(dir).expect("fuzz/corpus/parse_state is committed");
    let (mut accepted, mut refused) = (0, 0);
    for entry in entries {
        let bytes = std::fs::read(entry.unwrap().path()).unwrap();
        // Whatever parses goes through every check; what does not is refused in words.
        match exercise(&bytes) {
            Ok(_) => accepted += 1,
            Err(error) => {
                assert!(!pipewatch_core::error::chain(&error).is_empty());
                refused += 1;
            }
        }
    }
    println!("fuzz corpus: {accepted} observations accepted and checked, {refused} refused");
    // The committed corpus holds 138 inputs that parse and 1,606 that do not (most of what
    // the fuzzer found new paths through is the parser's refusals). If the parser refused
    // everything, the checks above would have checked nothing: this says they did not.
    assert!(
        accepted >= 100,
        "only {accepted} accepted, {refused} refused"
    );
    assert!(
        refused >= 1_000,
        "only {refused} refused, {accepted} accepted"
    );
}

#[test]
fn an_unknown_status_is_kept_exactly_as_sent() {
    let bytes = std::fs::read(corpus_dir().join("unknown-enum-values.json")).unwrap();
    let state = exercise(&bytes).unwrap();
    let build = &state.stage_states[0];
    assert_eq!(
        build.latest_execution.as_ref().unwrap().status.as_str(),
        "Paused"
    );
    let action = build.action_states[0].latest_execution.as_ref().unwrap();
    assert_eq!(action.status.as_ref().unwrap().as_str(), "Throttled");
}

#[test]
fn control_characters_never_reach_a_text_line() {
    let bytes = std::fs::read(corpus_dir().join("control-characters-in-text.json")).unwrap();
    let state = exercise(&bytes).unwrap();
    let baseline = PipelineState {
        stage_states: vec![],
        ..state.clone()
    };
    let changes = diff(&baseline, &state);
    let line = text::line(&state.pipeline_name, &changes[0]);
    assert!(!line.chars().any(char::is_control), "{line:?}");
    assert!(line.contains("line one line two"), "{line}");
}

/// A pipeline with one stage of `actions` actions, each succeeded once.
fn wide_pipeline(actions: usize, summary: &str) -> String {
    let actions: Vec<serde_json::Value> = (0..actions)
        .map(|i| {
            serde_json::json!({"actionName": format!("Action{i}"), "latestExecution": {
                "actionExecutionId": format!("x{i}"), "status": "Succeeded", "summary": summary}})
        })
        .collect();
    serde_json::json!({"pipelineName": "wide", "stageStates": [
        {"stageName": "Fan", "actionStates": actions}]})
    .to_string()
}

#[test]
fn five_thousand_actions_parse_and_diff_to_exactly_what_changed() {
    let before = exercise(wide_pipeline(5_000, "ok").as_bytes()).unwrap();
    let mut after = before.clone();
    let target = &mut after.stage_states[0].action_states[4_321];
    target
        .latest_execution
        .as_mut()
        .unwrap()
        .action_execution_id = Some("new".into());
    let changes = diff(&before, &after);
    assert_eq!(changes.len(), 1);
    assert!(text::line("wide", &changes[0]).contains("Fan/Action4321"));
}

#[test]
fn very_long_strings_parse_and_are_cut_in_text() {
    let summary = "é".repeat(1_000_000);
    let state = exercise(wide_pipeline(1, &summary).as_bytes()).unwrap();
    let baseline = PipelineState {
        stage_states: vec![],
        ..state.clone()
    };
    let line = text::line("wide", &diff(&baseline, &state)[0]);
    assert!(line.chars().count() < 400, "{} chars", line.chars().count());
}
