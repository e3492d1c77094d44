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
    use crate::change::{Approval, ConditionKind};
    use crate::state::{ErrorDetails, Status};

    fn action(status: &str, previous: Option<&str>) -> Change {
        Change::Action {
            stage: "Build".into(),
            action: "Compile".into(),
            execution_id: Some("a1".into()),
            status: Some(Status::new(status)),
            previous_status: previous.map(Status::new),
            previous_execution_id: previous.map(|_| "a1".into()),
            summary: None,
            error: None,
            external_url: None,
            entity_url: None,
            last_updated_by: None,
            approval: None,
            started_at: None,
            finished_at: None,
            pipeline_execution_id: None,
            recovered: false,
        }
    }

    #[test]
    fn a_failed_action_reads_with_its_reason() {
        let mut change = action("Failed", Some("InProgress"));
        if let Change::Action { error, .. } = &mut change {
            *error = Some(ErrorDetails {
                code: Some("JobFailed".into()),
                message: Some("Error while executing command: make.\nReason: exit status 2".into()),
            });
        }
        assert_eq!(
            line("web", &change),
            "web: Build/Compile Failed (was InProgress): Error while executing command: make. Reason: exit status 2"
        );
    }

    #[test]
    fn a_pending_approval_says_so() {
        let mut change = action("InProgress", None);
        if let Change::Action { approval, .. } = &mut change {
            *approval = Some(Approval::Waiting);
        }
        assert_eq!(
            line("web", &change),
            "web: Build/Compile InProgress, waiting for approval"
        );
    }

    #[test]
    fn every_kind_reads_as_a_sentence() {
        let cases = [
            (
                Change::Transition {
                    stage: "Deploy".into(),
                    enabled: false,
                    changed_by: Some("ana".into()),
                    reason: Some("freeze".into()),
                    changed_at: None,
                },
                "web: transition into Deploy disabled by ana: \"freeze\"",
            ),
            (
                Change::Inbound {
                    stage: "Deploy".into(),
                    execution_id: "e1".into(),
                    status: Some(Status::new("InProgress")),
                    previous_status: None,
                },
                "web: execution e1 queued before Deploy (InProgress)",
            ),
            (
                Change::Inbound {
                    stage: "Deploy".into(),
                    execution_id: "e1".into(),
                    status: None,
                    previous_status: Some(Status::new("InProgress")),
                },
                "web: execution e1 left the queue before Deploy",
            ),
            (
                Change::Stage {
                    stage: "Deploy".into(),
                    execution_id: "e1".into(),
                    status: Status::new("Failed"),
                    previous_status: Some(Status::new("InProgress")),
                    previous_execution_id: Some("e1".into()),
                    execution_type: None,
                },
                "web: stage Deploy Failed (was InProgress) (execution e1)",
            ),
            (
                Change::PipelineVersion {
                    version: Some(8),
                    previous_version: Some(7),
                },
                "web: pipeline definition edited (version 7 -> 8)",
            ),
            (
                Change::Condition {
                    stage: "Deploy".into(),
                    condition: ConditionKind::BeforeEntry,
                    status: Status::new("Succeeded"),
                    previous_status: Some(Status::new("InProgress")),
                    summary: None,
                    pipeline_execution_id: None,
                },
                "web: entry conditions of Deploy Succeeded (was InProgress)",
            ),
        ];
        for (change, expected) in cases {
            assert_eq!(line("web", &change), expected);
        }
    }

    #[test]
    fn free_text_is_made_safe_for_one_line() {
        assert_eq!(clean("a\n\n\tb\x1b[31mred"), "a b [31mred");
        assert_eq!(clean("  lead"), "lead");
        let long = "x".repeat(1000);
        assert_eq!(clean(&long).chars().count(), MAX_FREE_TEXT + 1);
    }
}
