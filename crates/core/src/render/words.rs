//! The words for a change, in one table: [`words`] has one arm per kind of change, and
//! each arm says the change in the three registers a message needs, side by side, so a
//! change is worded in one place and the registers cannot drift apart:
//!
//! | register | for | says |
//! |---|---|---|
//! | [`Words::line`] | the terminal, the body's `text`, Chatbot's fallback | every fact on one line: ids whole, the status before, who, the reason |
//! | [`Words::what`] | headlines, email, Slack, Teams, Chatbot (`what` in the body) | what happened, for a person on a phone: short ids, no reason (that is [`why`]) |
//! | [`Words::subject`] | the SNS subject (email) | the shortest; unchanged since the first release, as filters and mail rules match it |
//!
//! Beside it, [`why`] (the reason, as AWS or a person worded it) and [`who`] (who did
//! it), and the short forms of principals, ids and durations every channel shares.
//! Statuses are spelled as AWS spells them; free text passes through [`crate::render::text::clean`].

use std::time::Duration;

use crate::change::{Approval, Change, ConditionKind, StageRetry};
use crate::interaction::decided_in_slack;
use crate::render::text::clean;
use crate::state::{KnownStatus, Status};

/// One change, worded in each register.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Words {
    pub line: String,
    pub what: String,
    pub subject: String,
}

/// The table: a change in every register.
#[allow(clippy::too_many_lines)] // one arm per kind of change, three registers each
pub fn words(change: &Change) -> Words {
    // The status as the registers show it: cleaned for people, raw for the subject
    // (whose own rules make it ASCII), "(no status)" where AWS sent none.
    let status = change
        .status()
        .map_or_else(|| "(no status)".to_owned(), |s| clean(s.as_str()));
    let raw_status = change.status().map_or("", Status::as_str);
    match change {
        Change::Action { .. } => action_words(change, &status, raw_status),
        Change::Stage {
            stage,
            execution_id,
            previous_status,
            execution_type,
            retry,
            ..
        } => {
            let rollback = execution_type.as_deref() == Some("ROLLBACK");
            let name = clean(stage);
            // Which attempt this is, in every register: "manual retry 1".
            let (retry, retry_line) = retry.map_or_else(Default::default, |r| {
                let retry = retry_words(r);
                (format!(" ({retry})"), format!(", {retry}"))
            });
            let what = if rollback {
                match change.status().and_then(Status::known) {
                    Some(KnownStatus::InProgress) => format!("stage {name} rolling back"),
                    Some(KnownStatus::Succeeded) => format!("stage {name} rolled back"),
                    _ => format!("stage {name} rollback {status}"),
                }
            } else {
                format!("stage {name} {status}{retry}")
            };
            Words {
                line: format!(
                    "stage {name} {status}{}{}{retry_line} (execution {})",
                    was(previous_status.as_ref().filter(|_| change.same_execution())),
                    if rollback { ", rollback" } else { "" },
                    clean(execution_id)
                ),
                what,
                subject: format!("stage {stage} {raw_status}{retry}"),
            }
        }
        Change::Inbound {
            stage,
            execution_id,
            status: now,
            previous_status,
        } => {
            let (id, short, name) = (clean(execution_id), short_id(execution_id), clean(stage));
            match (now, previous_status) {
                (Some(now), None) => Words {
                    line: format!("execution {id} queued before {name} ({now})"),
                    what: format!("execution {short} queued before {name}"),
                    subject: format!("execution queued before {stage}"),
                },
                (Some(now), Some(previous)) => Words {
                    line: format!("execution {id} queued before {name} is {now} (was {previous})"),
                    what: format!("queued execution {short} before {name} {status}"),
                    subject: format!("queued execution before {stage} {raw_status}"),
                },
                (None, _) => Words {
                    line: format!("execution {id} left the queue before {name}"),
                    what: format!("execution {short} left the queue before {name}"),
                    subject: format!("execution left the queue before {stage}"),
                },
            }
        }
        Change::Transition {
            stage,
            enabled,
            changed_by,
            reason,
            ..
        } => {
            let state = if *enabled { "enabled" } else { "disabled" };
            Words {
                line: format!(
                    "transition into {} {state}{}{}",
                    clean(stage),
                    by(changed_by.as_deref()),
                    reason
                        .as_deref()
                        .filter(|_| !enabled)
                        .map_or_else(String::new, |t| format!(": \"{}\"", clean(t)))
                ),
                what: format!("transition into {} {state}", clean(stage)),
                subject: format!("transition into {stage} {state}"),
            }
        }
        Change::PipelineVersion {
            version,
            previous_version,
        } => {
            let v = |v: &Option<i64>| v.map_or_else(|| "?".to_owned(), |v| v.to_string());
            Words {
                line: format!(
                    "pipeline definition edited (version {} -> {})",
                    v(previous_version),
                    v(version)
                ),
                what: format!(
                    "pipeline definition edited (version {} → {})",
                    v(previous_version),
                    v(version)
                ),
                subject: match version {
                    Some(v) => format!("definition edited (version {v})"),
                    None => "definition edited".to_owned(),
                },
            }
        }
        Change::Condition {
            stage,
            condition,
            previous_status,
            summary,
            ..
        } => {
            let set = match condition {
                ConditionKind::BeforeEntry => "entry",
                ConditionKind::OnSuccess => "on-success",
                ConditionKind::OnFailure => "on-failure",
            };
            let what = format!("{set} conditions of {} {status}", clean(stage));
            Words {
                line: format!(
                    "{what}{}{}",
                    was(previous_status.as_ref()),
                    colon(summary.as_deref())
                ),
                what,
                subject: format!("{} conditions of {stage} {raw_status}", condition.as_str()),
            }
        }
        Change::Access {
            readable: false,
            failed_checks,
            since,
            error,
        } => Words {
            line: format!(
                "pipewatch cannot read the pipeline ({failed_checks} checks in a row){}",
                colon(error.as_deref())
            ),
            what: format!(
                "pipewatch cannot read the pipeline: {failed_checks} checks in a row failed{}",
                since.map_or_else(String::new, |t| format!(" since {t}"))
            ),
            subject: "pipewatch cannot read it".to_owned(),
        },
        Change::Access {
            readable: true,
            failed_checks,
            ..
        } => Words {
            line: "pipewatch reads the pipeline again".to_owned(),
            what: format!(
                "pipewatch reads the pipeline again, after {failed_checks} failed checks"
            ),
            subject: "pipewatch reads it again".to_owned(),
        },
        Change::Execution { execution_id, .. } => Words {
            line: format!(
                "execution {} {status} (between checks)",
                clean(execution_id)
            ),
            what: format!(
                "execution {} {status} between checks",
                short_id(execution_id)
            ),
            subject: format!(
                "execution {} {raw_status} between checks",
                short_id(execution_id)
            ),
        },
    }
}

/// An action's run, or a manual approval's step.
fn action_words(change: &Change, status: &str, raw_status: &str) -> Words {
    let Change::Action {
        stage,
        action,
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
    let name = format!("{}/{}", clean(stage), clean(action));
    let waiting = *approval == Some(Approval::Waiting);
    let decided = match approval {
        Some(Approval::Approved) => Some("approved"),
        Some(Approval::Rejected) => Some("rejected"),
        _ => None,
    };
    // A provider's error message says more than its summary, when there is one.
    let reason = error
        .as_ref()
        .and_then(|e| e.message.as_deref())
        .or(summary.as_deref());
    let line = format!(
        "{name} {}{}{}{}{}{}",
        decided.unwrap_or(status),
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
    );
    let what = match (approval, decided) {
        (Some(Approval::Waiting), _) => format!("{name} is waiting for approval"),
        (_, Some(decided)) => format!("{name} {decided}"),
        _ if *recovered => format!("{name} {status} (between checks)"),
        _ => format!("{name} {status}"),
    };
    let subject = if waiting {
        format!("approval waiting at {stage}/{action}")
    } else {
        format!("{stage}/{action} {raw_status}")
    };
    Words {
        line,
        what,
        subject,
    }
}

/// Why it happened, as AWS or a person worded it.
pub fn why(change: &Change) -> Option<String> {
    let text = match change {
        // A provider's error message says more than its summary, when there is one; for
        // an approval the summary is the reviewer's comment.
        Change::Action { error, summary, .. } => error
            .as_ref()
            .and_then(|e| e.message.clone())
            .or_else(|| summary.as_deref().map(reason_of)),
        Change::Transition {
            enabled: false,
            reason,
            ..
        } => reason.clone(),
        Change::Condition { summary, .. } => summary.clone(),
        Change::Access {
            readable: false,
            error,
            ..
        } => error.clone(),
        _ => None,
    }?;
    let trimmed = text.trim();
    (!trimmed.is_empty()).then(|| trimmed.to_owned())
}

/// Who did it, in words.
pub fn who(change: &Change) -> Option<String> {
    match change {
        // Decided in Slack: the person, not the approver role that wrote it.
        Change::Action {
            approval: Some(decided @ (Approval::Approved | Approval::Rejected)),
            summary: Some(summary),
            ..
        } if decided_in_slack(summary).is_some() => Some(format!(
            "{} in Slack by {}",
            if *decided == Approval::Approved {
                "approved"
            } else {
                "rejected"
            },
            clean(decided_in_slack(summary).unwrap_or_default())
        )),
        Change::Action {
            approval,
            last_updated_by: Some(by),
            ..
        } => Some(match approval {
            Some(Approval::Approved) => format!("approved by {}", short_principal(by)),
            Some(Approval::Rejected) => format!("rejected by {}", short_principal(by)),
            Some(Approval::Waiting) => return None,
            None => format!("updated by {}", short_principal(by)),
        }),
        Change::Transition {
            enabled,
            changed_by: Some(by),
            ..
        } => Some(format!(
            "{} by {}",
            if *enabled { "enabled" } else { "disabled" },
            short_principal(by)
        )),
        _ => None,
    }
}

/// An IAM principal for people: `maria.silva (ReleaseManager)` for an assumed role's
/// session, `jdoe` for a user; anything else as it is (cleaned).
pub fn short_principal(principal: &str) -> String {
    let resource = principal
        .strip_prefix("arn:")
        .and_then(|rest| rest.splitn(5, ':').nth(4));
    let short = match resource.map(|r| r.split('/').collect::<Vec<_>>()) {
        Some(parts) if parts.first() == Some(&"assumed-role") && parts.len() >= 3 => {
            format!("{} ({})", parts[parts.len() - 1], parts[1])
        }
        Some(parts) if parts.first() == Some(&"user") && parts.len() >= 2 => {
            parts[parts.len() - 1].to_owned()
        }
        Some(parts) if parts.first() == Some(&"role") && parts.len() >= 2 => {
            format!("role {}", parts[parts.len() - 1])
        }
        Some(parts) if parts == ["root"] => "the account root user".to_owned(),
        _ => principal.to_owned(),
    };
    clean(&short)
}

/// A Git commit id (40 or 64 hex digits) as its first 7; other ids whole up to 16
/// characters, else their first 12 and an ellipsis.
pub fn short_revision(id: &str) -> String {
    let id = id.trim();
    let hex = id.chars().all(|c| c.is_ascii_hexdigit());
    if hex && (id.len() == 40 || id.len() == 64) {
        id[..7].to_owned()
    } else if id.chars().count() <= 16 {
        id.to_owned()
    } else {
        format!("{}…", id.chars().take(12).collect::<String>())
    }
}

/// An execution id for people: a UUID's first block.
pub fn short_id(id: &str) -> String {
    let first = id.split('-').next().unwrap_or(id);
    clean(if first.len() >= 8 { first } else { id })
}

/// `45s`, `4m12s`, `1h02m`, `3d4h`.
pub fn duration_text(duration: Duration) -> String {
    let seconds = duration.as_secs();
    match seconds {
        0..60 => format!("{seconds}s"),
        60..3_600 => format!("{}m{:02}s", seconds / 60, seconds % 60),
        3_600..86_400 => format!("{}h{:02}m", seconds / 3_600, seconds % 3_600 / 60),
        _ => format!("{}d{}h", seconds / 86_400, seconds % 86_400 / 3_600),
    }
}

fn was(previous: Option<&Status>) -> String {
    previous.map_or_else(String::new, |p| format!(" (was {})", clean(p.as_str())))
}

fn by(who: Option<&str>) -> String {
    who.map_or_else(String::new, |w| format!(" by {}", clean(w)))
}

fn colon(text: Option<&str>) -> String {
    text.map_or_else(String::new, |t| format!(": {}", clean(t)))
}

#[cfg(test)]
mod tests;

/// A summary without the "Approved in Slack by …: " that names who decided (told by
/// [`who`]): the reason alone, or nothing.
fn reason_of(summary: &str) -> String {
    match decided_in_slack(summary) {
        Some(who) => summary
            .split_once(who)
            .map(|(_, rest)| rest.trim_start_matches(':').trim().to_owned())
            .unwrap_or_default(),
        None => summary.to_owned(),
    }
}

/// Which attempt a retried stage is on: `manual retry 1`, `automatic retry 2`.
pub fn retry_words(retry: StageRetry) -> String {
    let how = if retry.automatic {
        "automatic"
    } else {
        "manual"
    };
    format!("{how} retry {}", retry.attempt)
}
