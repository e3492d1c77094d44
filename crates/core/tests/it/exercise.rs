//! Everything the core does with one untrusted document, with its invariants asserted.
//!
//! Shared by the hostile-input test and the fuzz target (`fuzz/`), so that what the fuzzer
//! explores and what CI replays from the corpus is the same code path.

use pipewatch_core::diff::diff;
use pipewatch_core::render::console::Console;
use pipewatch_core::render::content::{Content, Context};
use pipewatch_core::render::message::{messages, sns_payload};
use pipewatch_core::render::{chatbot, email, slack, teams};
use pipewatch_core::render::{record::ChangeRecord, text};
use pipewatch_core::state::PipelineState;

/// Parses `bytes`; when they parse, diffs, renders and round-trips the observation,
/// panicking if an invariant breaks. Returns the parse result for the caller to judge.
pub fn exercise(bytes: &[u8]) -> Result<PipelineState, pipewatch_core::error::ParseError> {
    let state = PipelineState::from_json(bytes)?;
    assert!(
        diff(&state, &state).is_empty(),
        "an observation differs from itself"
    );

    let serialised = serde_json::to_vec(&state).expect("a parsed observation serialises");
    let reparsed = PipelineState::from_json(&serialised).expect("what we serialise parses");
    assert_eq!(reparsed, state, "round trip changed the observation");

    let never_ran = PipelineState {
        stage_states: Vec::new(),
        ..state.clone()
    };
    let console = Console::new("eu-west-1", Some("123456789012"));
    let context = Context {
        console: console.as_ref(),
        executions: &[],
        ..Context::default()
    };
    for (before, after) in [(&never_ran, &state), (&state, &never_ran)] {
        let changes = diff(before, after);
        for change in &changes {
            let line = text::line(&state.pipeline_name, change);
            assert!(!line.contains('\n'), "a text line spans lines: {line:?}");
            serde_json::to_string(&ChangeRecord::new(&state.pipeline_name, change))
                .expect("a change record serialises");
        }
        // Every channel renders whatever parses, within its limits.
        for message in messages(&state.pipeline_name, &changes, &context, "fuzz/1") {
            // SNS takes 262,144 bytes with subject and attributes (see channels.rs).
            assert!(sns_payload(&message).len() <= 250_000);
            let said = Content::from_body(&message.body).expect("a body reads back");
            assert!(!email::render(&said).is_empty());
            assert!(chatbot::render(&said).is_object());
            assert!(slack::render(&said)["attachments"][0]["blocks"].is_array());
            // Teams refuses a message over 28 KB (see channels.rs).
            assert!(teams::render(&said).to_string().len() <= 27_000);
        }
    }
    Ok(state)
}
