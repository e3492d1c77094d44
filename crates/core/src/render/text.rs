//! One readable line per change, for a terminal, and the cleaning every piece of free
//! text goes through before a person reads it.

use crate::change::Change;
use crate::render::words::words;

/// Free text from AWS longer than this is cut, so one change stays one line.
const MAX_FREE_TEXT: usize = 240;

/// `pipeline: what happened`, e.g.
/// `web: Build/Compile Failed (was InProgress): exit status 2` (the
/// [`crate::render::words::Words::line`] register).
pub fn line(pipeline: &str, change: &Change) -> String {
    format!("{}: {}", clean(pipeline), words(change).line)
}

/// Makes free text safe for one terminal line: control characters (newlines, escape
/// sequences) become spaces, runs of white space fold to one, and long text is cut.
pub fn clean(text: &str) -> String {
    let mut out = String::with_capacity(text.len().min(MAX_FREE_TEXT + 3));
    let mut chars = 0;
    for c in text.chars() {
        let c = if c.is_control() { ' ' } else { c };
        if c.is_whitespace() && (out.is_empty() || out.ends_with(' ')) {
            continue;
        }
        if chars == MAX_FREE_TEXT {
            out.push('…');
            break;
        }
        out.push(if c.is_whitespace() { ' ' } else { c });
        chars += 1;
    }
    out.truncate(out.trim_end().len());
    out
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::diff::diff;
    use crate::state::PipelineState;

    fn observed(status: &str, message: &str) -> PipelineState {
        serde_json::from_value(serde_json::json!({"pipelineName": "web", "stageStates": [
            {"stageName": "Build", "actionStates": [{"actionName": "Compile", "latestExecution": {
                "actionExecutionId": "a1", "status": status,
                "errorDetails": {"code": "JobFailed", "message": message}}}]}]}))
        .unwrap()
    }

    /// Every kind's words are in `words`' table; a line adds the pipeline and keeps one line.
    #[test]
    fn a_line_names_the_pipeline_and_keeps_a_reason_on_one_line() {
        let changes = diff(
            &observed("InProgress", ""),
            &observed(
                "Failed",
                "Error while executing command: make.\nReason: exit status 2",
            ),
        );
        assert_eq!(
            line("web", &changes[0]),
            "web: Build/Compile Failed (was InProgress): Error while executing command: make. Reason: exit status 2"
        );
    }

    #[test]
    fn free_text_is_made_safe_for_one_line() {
        assert_eq!(clean("a\n\n\tb\x1b[31mred"), "a b [31mred");
        assert_eq!(clean("  lead"), "lead");
        let long = "x".repeat(1000);
        assert_eq!(clean(&long).chars().count(), MAX_FREE_TEXT + 1);
    }
}
