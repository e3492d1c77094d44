//! One readable line per change, for a terminal.

use crate::diff::{Approval, Change, ConditionKind};
use crate::state::Status;

/// Free text from AWS longer than this is cut, so one change stays one line.
const MAX_FREE_TEXT: usize = 240;

/// `pipeline: what happened`, e.g.
/// `web: Build/Compile Failed (was InProgress): exit status 2`.
pub fn line(pipeline: &str, change: &Change) -> String {
    format!("{}: {}", clean(pipeline), what_happened(change))
}

fn what_happened(change: &Change) -> String {
    match change {
        Change::PipelineVersion {
            version,
            previous_version,
        } => format!(
            "pipeline definition edited (version {} -> {})",
            version_text(*previous_version),
            version_text(*version)
        ),
        Change::Transition {
            stage,
            enabled,
            changed_by,
            reason,
            ..
        } => format!(
            "transition into {} {}{}{}",
            clean(stage),
            if *enabled { "enabled" } else { "disabled" },
            by(changed_by.as_deref()),
            quoted(reason.as_deref().filter(|_| !enabled))
        ),
        Change::Inbound {
            stage,
            execution_id,
            status,
            previous_status,
        } => {
            let (id, stage) = (clean(execution_id), clean(stage));
            match (status, previous_status) {
                (Some(status), None) => format!("execution {id} queued before {stage} ({status})"),
                (Some(status), Some(previous)) => {
                    format!("execution {id} queued before {stage} is {status} (was {previous})")
                }
                (None, _) => format!("execution {id} left the queue before {stage}"),
            }
        }
        Change::Stage {
            stage,
            execution_id,
            status,
            previous_status,
            execution_type,
            ..
        } => format!(
            "stage {} {}{}{} (execution {})",
            clean(stage),
            clean(status.as_str()),
            was(previous_status.as_ref().filter(|_| change.same_execution())),
            if execution_type.as_deref() == Some("ROLLBACK") {
                ", rollback"
            } else {
                ""
            },
            clean(execution_id)
        ),
        Change::Condition {
            stage,
            condition,
            status,
            previous_status,
            summary,
            ..
        } => format!(
            "{} conditions of {} {}{}{}",
            match condition {
                ConditionKind::BeforeEntry => "entry",
                ConditionKind::OnSuccess => "on-success",
                ConditionKind::OnFailure => "on-failure",
            },
            clean(stage),
            clean(status.as_str()),
            was(previous_status.as_ref()),
            colon(summary.as_deref())
        ),
        Change::Action { .. } => action_text(change),
        Change::Access {
            readable: false,
            failed_checks,
            error,
            ..
        } => format!(
            "pipewatch cannot read the pipeline ({failed_checks} checks in a row){}",
            colon(error.as_deref())
        ),
        Change::Access { readable: true, .. } => "pipewatch reads the pipeline again".to_owned(),
        Change::Execution {
            execution_id,
            status,
            ..
        } => format!(
            "execution {} {} (between checks)",
            clean(execution_id),
            clean(status.as_str())
        ),
    }
}

fn action_text(change: &Change) -> String {
    let Change::Action {
        stage,
        action,
        status,
        previous_status,
        summary,
        error,
        last_updated_by,
        approval,
        recovered,
        ..
    } = change
    else {
        unreachable!("called for actions only")
    };
    let waiting = *approval == Some(Approval::Waiting);
    // A provider's error message says more than its summary, when there is one.
    let reason = error
        .as_ref()
        .and_then(|e| e.message.as_deref())
        .or(summary.as_deref());
    let decided = match approval {
        Some(Approval::Approved) => Some("approved"),
        Some(Approval::Rejected) => Some("rejected"),
        _ => None,
    };
    format!(
        "{}/{} {}{}{}{}{}{}",
        clean(stage),
        clean(action),
        decided.map_or_else(
            || status
                .as_ref()
                .map_or("(no status)".into(), |s| clean(s.as_str())),
            str::to_owned
        ),
        was(previous_status
            .as_ref()
            .filter(|_| change.same_execution() && decided.is_none())),
        if *recovered { " (between checks)" } else { "" },
        if waiting {
            ", waiting for approval"
        } else {
            ""
        },
        by(last_updated_by.as_deref().filter(|_| !waiting)),
        colon(reason)
    )
}

fn version_text(version: Option<i64>) -> String {
    version.map_or_else(|| "?".to_owned(), |v| v.to_string())
}

fn was(previous: Option<&Status>) -> String {
    previous.map_or_else(String::new, |p| format!(" (was {})", clean(p.as_str())))
}

fn by(who: Option<&str>) -> String {
    who.map_or_else(String::new, |w| format!(" by {}", clean(w)))
}

fn quoted(text: Option<&str>) -> String {
    text.map_or_else(String::new, |t| format!(": \"{}\"", clean(t)))
}

fn colon(text: Option<&str>) -> String {
    text.map_or_else(String::new, |t| format!(": {}", clean(t)))
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
    use crate::state::ErrorDetails;

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
