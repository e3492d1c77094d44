//! What a verified, allowed click may still do, decided from the pipeline as it is now:
//! whether the approval run the button names is still waiting, and if not how it ended,
//! from the state ([`in_state`]) and, when the state shows another run, from the run's
//! execution's history ([`in_history`]: V2's PARALLEL mode, a retried stage); the key that
//! lets a decision be taken once ([`Target::decision_key`]), and the words CodePipeline
//! keeps with it ([`summary`]) — which the messages read back to name the person in Slack
//! rather than the role that wrote it ([`decided_in_slack`]).

use super::{Decision, Target};
use crate::state::{ActionRun, KnownStatus, PipelineState, Timestamp};

/// `PutApprovalResult` takes a summary of at most this many characters.
pub const MAX_SUMMARY: usize = 512;

/// Where the approval a button names stands now.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Standing {
    /// That very run is waiting: its current token may be used.
    Waiting,
    /// That run ended: decided (in the console, by another click), expired or abandoned.
    Ended(Ending),
    /// The stage ran the action again in the button's own pipeline execution (a retry):
    /// the button is from an earlier attempt, whose ending is told when it is known. The
    /// execution's own message carries the newest buttons.
    Retried(Option<Ending>),
    /// Another execution's run shows, and this run is not in its execution's history (or
    /// the button names no execution): it no longer waits, how it ended is unknown.
    NotWaiting,
    /// The pipeline has no such stage or action (renamed, edited).
    Gone,
}

/// How an approval run ended, as the state or the history tells it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Ending {
    /// `Succeeded` (approved), `Failed` (rejected, or expired), `Abandoned`, as AWS spells it.
    pub status: String,
    /// Who last changed the run: the decider's principal (an approver role for a decision
    /// taken in Slack, whose summary names the person).
    pub by: Option<String>,
    pub at: Option<Timestamp>,
    /// The decider's comment: for a decision taken in Slack, who and why.
    pub summary: Option<String>,
}

/// What the state alone says of the run a button names.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Seen {
    /// Settled by the state: the run waits with its token, ended, or is gone.
    Settled(Standing),
    /// The state shows another run (or this one waiting without its token): the run's
    /// execution's history tells ([`in_history`]). `retried` when the run the state shows
    /// is another of the button's own execution: its stage was run again.
    InHistory { retried: bool },
}

/// What `state` says of the run `target` names.
pub fn in_state(state: &PipelineState, target: &Target) -> Seen {
    let Some(its_stage) = state.stage(&target.stage) else {
        return Seen::Settled(Standing::Gone);
    };
    let Some(action) = its_stage
        .action_states
        .iter()
        .find(|a| a.action_name == target.action)
    else {
        return Seen::Settled(Standing::Gone);
    };
    let run = action.latest_execution.clone().unwrap_or_default();
    let waiting =
        run.status.as_ref().and_then(crate::state::Status::known) == Some(KnownStatus::InProgress);
    if run.action_execution_id.as_deref() == Some(target.action_execution_id.as_str()) {
        return match (waiting, run.token_present) {
            (true, true) => Seen::Settled(Standing::Waiting),
            (true, false) => Seen::InHistory { retried: false },
            (false, _) => Seen::Settled(Standing::Ended(Ending {
                status: run
                    .status
                    .map_or_else(|| "unknown".to_owned(), |s| s.as_str().to_owned()),
                by: run.last_updated_by,
                at: run.last_status_change,
                summary: run.summary,
            })),
        };
    }
    let shown = its_stage
        .latest_execution
        .as_ref()
        .map(|e| e.pipeline_execution_id.as_str());
    Seen::InHistory {
        retried: target.execution.is_some() && shown == target.execution.as_deref(),
    }
}

/// Where `target` stands given its execution's `runs` (`ListActionExecutions` filtered by
/// the button's execution; none when the button names no execution) and whether the state
/// showed another run of that execution (`retried`). A newer run of the same action in
/// the execution means the stage was retried; else the run itself tells how it ended.
pub fn in_history(target: &Target, runs: &[ActionRun], retried: bool) -> Standing {
    let runs: Vec<(usize, &ActionRun)> = runs
        .iter()
        .enumerate()
        .filter(|(_, r)| r.stage == target.stage && r.action == target.action)
        .collect();
    let clicked = runs
        .iter()
        .find(|(_, r)| r.action_execution_id == target.action_execution_id);
    let ending = clicked.map(|(_, r)| Ending {
        status: r.status.as_str().to_owned(),
        by: r.updated_by.clone(),
        at: r.updated_at,
        summary: r.summary.clone(),
    });
    if clicked.is_some_and(|(_, r)| r.status.known() == Some(KnownStatus::InProgress)) {
        return Standing::Waiting;
    }
    // Newer: started later, or listed before it (the history lists the newest first).
    let newer = runs.iter().any(|(i, r)| match clicked {
        None => true,
        Some((at, c)) => {
            r.action_execution_id != c.action_execution_id
                && match (r.started_at, c.started_at) {
                    (Some(a), Some(b)) => a > b,
                    _ => i < at,
                }
        }
    });
    match ending {
        _ if newer || retried => Standing::Retried(ending),
        Some(ending) => Standing::Ended(ending),
        None => Standing::NotWaiting,
    }
}

impl Target {
    /// The key of the one decision this approval run may get: a second click, or the same
    /// click delivered again, finds it taken.
    pub fn decision_key(&self) -> String {
        format!(
            "approval/{}/{}/{}/{}",
            self.pipeline, self.stage, self.action, self.action_execution_id
        )
    }
}

/// The summary `PutApprovalResult` records: `Approved in Slack by Maria Silva (U024BE7LH):
/// looks good`, cut to [`MAX_SUMMARY`] characters.
pub fn summary(decision: Decision, name: Option<&str>, user: &str, reason: Option<&str>) -> String {
    let verb = match decision {
        Decision::Approve => "Approved",
        Decision::Reject => "Rejected",
    };
    let who = match name.map(str::trim).filter(|n| !n.is_empty()) {
        Some(name) => format!("{} ({user})", clean(name)),
        None => user.to_owned(),
    };
    let mut text = format!("{verb} in Slack by {who}");
    if let Some(reason) = reason.map(str::trim).filter(|r| !r.is_empty()) {
        text.push_str(": ");
        text.push_str(&clean(reason));
    }
    if text.chars().count() > MAX_SUMMARY {
        text = text.chars().take(MAX_SUMMARY - 1).collect();
        text.push('…');
    }
    text
}

/// The person a [`summary`] names, when a decision was taken in Slack: `Maria Silva
/// (U024BE7LH)`. The messages show this rather than the approver role CodePipeline
/// reports as `lastUpdatedBy`.
pub fn decided_in_slack(summary: &str) -> Option<&str> {
    let rest = summary
        .strip_prefix("Approved in Slack by ")
        .or_else(|| summary.strip_prefix("Rejected in Slack by "))?;
    // The name ends at the user id's closing parenthesis, or at the reason's colon.
    let end = rest
        .find("): ")
        .map(|i| i + 1)
        .or_else(|| rest.find(": "))
        .unwrap_or(rest.len());
    Some(&rest[..end])
}

/// One line, no control characters: a name or reason typed in Slack.
fn clean(text: &str) -> String {
    text.split_whitespace()
        .collect::<Vec<_>>()
        .join(" ")
        .chars()
        .filter(|c| !c.is_control())
        .collect()
}

#[cfg(test)]
mod tests {
    use serde_json::json;

    use super::*;

    fn target() -> Target {
        Target {
            pipeline: "payments-release".into(),
            arn: None,
            stage: "Prod".into(),
            action: "Approve".into(),
            action_execution_id: "run-2".into(),
            execution: None,
        }
    }

    fn with_execution(execution: &str) -> Target {
        Target {
            execution: Some(execution.into()),
            ..target()
        }
    }

    /// The stage's latest execution is `execution`, its approval's latest run `run`.
    fn shown(execution: &str, run: &serde_json::Value) -> PipelineState {
        serde_json::from_value(json!({"pipelineName": "payments-release", "stageStates": [
            {"stageName": "Prod", "latestExecution": {"pipelineExecutionId": execution,
                "status": "InProgress"},
             "actionStates": [{"actionName": "Approve", "latestExecution": run}]}]}))
        .unwrap()
    }

    #[test]
    fn the_state_settles_the_run_it_shows_and_sends_any_other_to_the_history() {
        let t = with_execution("exec-1");
        let waiting = json!({"actionExecutionId": "run-2", "status": "InProgress", "token": "s"});
        assert_eq!(
            in_state(&shown("exec-1", &waiting), &t),
            Seen::Settled(Standing::Waiting)
        );
        let decided = json!({"actionExecutionId": "run-2", "status": "Succeeded",
            "summary": "LGTM", "lastStatusChange": "2026-11-30T11:20:00Z",
            "lastUpdatedBy": "arn:aws:sts::123456789012:assumed-role/Release/ana"});
        assert_eq!(
            in_state(&shown("exec-1", &decided), &t),
            Seen::Settled(Standing::Ended(Ending {
                status: "Succeeded".into(),
                by: Some("arn:aws:sts::123456789012:assumed-role/Release/ana".into()),
                at: Some("2026-11-30T11:20:00Z".parse().unwrap()),
                summary: Some("LGTM".into()),
            }))
        );
        let no_token = json!({"actionExecutionId": "run-2", "status": "InProgress"});
        let another = json!({"actionExecutionId": "run-3", "status": "InProgress", "token": "o"});
        let cases = [
            (shown("exec-1", &no_token), t.clone(), false),
            (shown("exec-1", &another), t.clone(), true),
            (shown("exec-2", &another), t.clone(), false),
            (shown("exec-1", &another), target(), false),
        ];
        for (state, target, retried) in cases {
            assert_eq!(in_state(&state, &target), Seen::InHistory { retried });
        }
        let renamed = Target {
            action: "Review".into(),
            ..t.clone()
        };
        assert_eq!(
            in_state(&shown("exec-1", &waiting), &renamed),
            Seen::Settled(Standing::Gone)
        );
        let moved = Target {
            stage: "Staging".into(),
            ..t
        };
        assert_eq!(
            in_state(&shown("exec-1", &waiting), &moved),
            Seen::Settled(Standing::Gone)
        );
    }

    /// One run of `Prod/Approve` (or of `action`) in the history.
    fn run(id: &str, status: &str, started: Option<&str>) -> ActionRun {
        ActionRun {
            pipeline_execution_id: "exec-1".into(),
            action_execution_id: id.into(),
            stage: "Prod".into(),
            action: "Approve".into(),
            status: crate::state::Status::new(status),
            started_at: started.map(|s| s.parse().unwrap()),
            updated_at: Some("2026-11-30T12:00:00Z".parse().unwrap()),
            updated_by: Some("arn:aws:sts::1:assumed-role/R/li".into()),
            summary: Some("no".into()),
            external_url: None,
            error: None,
        }
    }

    #[test]
    fn the_history_tells_a_wait_an_ending_or_a_retry_of_the_clicked_run() {
        let t = with_execution("exec-1");
        let ended = |status: &str| {
            Some(Ending {
                status: status.into(),
                by: Some("arn:aws:sts::1:assumed-role/R/li".into()),
                at: Some("2026-11-30T12:00:00Z".parse().unwrap()),
                summary: Some("no".into()),
            })
        };
        let (early, late) = (Some("2026-11-30T10:00:00Z"), Some("2026-11-30T11:00:00Z"));
        let other_action = ActionRun {
            action: "Review".into(),
            ..run("run-9", "InProgress", late)
        };
        let other_stage = ActionRun {
            stage: "Staging".into(),
            ..run("run-8", "InProgress", late)
        };
        let cases: Vec<(Vec<ActionRun>, bool, Standing)> = vec![
            (
                vec![run("run-2", "InProgress", early)],
                false,
                Standing::Waiting,
            ),
            (
                vec![run("run-2", "Succeeded", early)],
                false,
                Standing::Ended(ended("Succeeded").unwrap()),
            ),
            (
                vec![
                    run("run-3", "InProgress", late),
                    run("run-2", "Failed", early),
                ],
                false,
                Standing::Retried(ended("Failed")),
            ),
            // Listed newest first when no start times are known.
            (
                vec![
                    run("run-3", "InProgress", None),
                    run("run-2", "Failed", None),
                ],
                false,
                Standing::Retried(ended("Failed")),
            ),
            // An older run of the action is no retry of this one.
            (
                vec![run("run-2", "Failed", late), run("run-1", "Failed", early)],
                false,
                Standing::Ended(ended("Failed").unwrap()),
            ),
            // Start times decide over the listing's order; a run started at the same
            // moment is no newer.
            (
                vec![
                    run("run-2", "Failed", early),
                    run("run-3", "InProgress", late),
                ],
                false,
                Standing::Retried(ended("Failed")),
            ),
            (
                vec![run("run-2", "Failed", late), run("run-1", "Failed", late)],
                false,
                Standing::Ended(ended("Failed").unwrap()),
            ),
            (
                vec![run("run-2", "Failed", None), run("run-1", "Failed", None)],
                false,
                Standing::Ended(ended("Failed").unwrap()),
            ),
            (
                vec![run("run-3", "InProgress", late)],
                false,
                Standing::Retried(None),
            ),
            (Vec::new(), true, Standing::Retried(None)),
            (
                vec![run("run-2", "Abandoned", early)],
                true,
                Standing::Retried(ended("Abandoned")),
            ),
            (Vec::new(), false, Standing::NotWaiting),
            (
                vec![other_action.clone(), other_stage.clone()],
                false,
                Standing::NotWaiting,
            ),
        ];
        for (runs, retried, expected) in cases {
            let ids: Vec<&str> = runs
                .iter()
                .map(|r| r.action_execution_id.as_str())
                .collect();
            assert_eq!(
                in_history(&t, &runs, retried),
                expected,
                "{ids:?} {retried}"
            );
        }
    }

    #[test]
    fn the_summary_names_the_person_in_slack_and_the_messages_read_it_back() {
        let text = summary(
            Decision::Approve,
            Some("Maria Silva"),
            "U024BE7LH",
            Some(" looks good "),
        );
        assert_eq!(
            text,
            "Approved in Slack by Maria Silva (U024BE7LH): looks good"
        );
        assert_eq!(decided_in_slack(&text), Some("Maria Silva (U024BE7LH)"));
        let bare = summary(Decision::Reject, None, "U024BE7LH", None);
        assert_eq!(bare, "Rejected in Slack by U024BE7LH");
        assert_eq!(decided_in_slack(&bare), Some("U024BE7LH"));
        let long = summary(
            Decision::Reject,
            Some("Ana"),
            "U1",
            Some(&"no\n".repeat(400)),
        );
        assert_eq!(long.chars().count(), MAX_SUMMARY);
        assert!(long.ends_with('…') && !long.contains('\n'));
        // Exactly as long as CodePipeline takes: kept whole.
        let prefix = "Rejected in Slack by Ana (U1): ".chars().count();
        let exact = summary(
            Decision::Reject,
            Some("Ana"),
            "U1",
            Some(&"n".repeat(MAX_SUMMARY - prefix)),
        );
        assert_eq!(exact.chars().count(), MAX_SUMMARY);
        assert!(exact.ends_with('n'), "not cut");
        assert_eq!(decided_in_slack("LGTM"), None, "a console decision");
        assert_eq!(
            target().decision_key(),
            "approval/payments-release/Prod/Approve/run-2"
        );
    }
}
