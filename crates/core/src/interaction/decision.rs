//! What a verified, allowed click may still do, decided from the pipeline as it is now:
//! whether the approval run the button names is still waiting ([`standing`]), the key that
//! lets a decision be taken once ([`Target::decision_key`]), and the words CodePipeline
//! keeps with it ([`summary`]) — which the messages read back to name the person in Slack
//! rather than the role that wrote it ([`decided_in_slack`]).

use super::{Decision, Target};
use crate::state::{KnownStatus, PipelineState};

/// `PutApprovalResult` takes a summary of at most this many characters.
pub const MAX_SUMMARY: usize = 512;

/// Where the approval a button names stands now.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Standing {
    /// That very run is waiting: its current token may be used.
    Waiting,
    /// That run was decided (in the console, or by another click), or ended otherwise.
    Ended { status: String },
    /// The action has run again since (a retried stage's new approval, a newer
    /// execution): the button is from an earlier attempt.
    Superseded,
    /// The pipeline has no such stage or action (renamed, edited).
    Gone,
}

impl Standing {
    /// What the person who clicked is told, when the approval is not waiting.
    pub fn words(&self, target: &Target) -> Option<String> {
        let what = format!("{}/{}", target.stage, target.action);
        match self {
            Self::Waiting => None,
            Self::Ended { status } => Some(format!(
                "{what} is no longer waiting: it {}",
                match status.as_str() {
                    "Succeeded" => "was approved".to_owned(),
                    "Failed" => "was rejected".to_owned(),
                    other => format!("ended ({other})"),
                }
            )),
            Self::Superseded => Some(format!(
                "this button is from an earlier run of {what}; use the newest message's"
            )),
            Self::Gone => Some(format!("{} has no {what} any more", target.pipeline)),
        }
    }
}

/// Where `target` stands in `state`.
pub fn standing(state: &PipelineState, target: &Target) -> Standing {
    let Some(run) = state
        .stage(&target.stage)
        .and_then(|s| {
            s.action_states
                .iter()
                .find(|a| a.action_name == target.action)
        })
        .map(|a| a.latest_execution.clone().unwrap_or_default())
    else {
        return Standing::Gone;
    };
    if run.action_execution_id.as_deref() != Some(target.action_execution_id.as_str()) {
        return Standing::Superseded;
    }
    let status = run.status.as_ref();
    if run.token_present
        && status.and_then(crate::state::Status::known) == Some(KnownStatus::InProgress)
    {
        Standing::Waiting
    } else {
        Standing::Ended {
            status: status.map_or_else(|| "unknown".to_owned(), |s| s.as_str().to_owned()),
        }
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

    fn state(run: &serde_json::Value) -> PipelineState {
        serde_json::from_value(json!({"pipelineName": "payments-release", "stageStates": [
            {"stageName": "Prod", "actionStates": [{"actionName": "Approve", "latestExecution": run}]}]}))
        .unwrap()
    }

    #[test]
    fn only_the_very_run_the_button_names_while_it_waits_may_be_decided() {
        let t = target();
        let waiting = state(
            &json!({"actionExecutionId": "run-2", "status": "InProgress", "token": "secret"}),
        );
        assert_eq!(standing(&waiting, &t), Standing::Waiting);
        let retried =
            state(&json!({"actionExecutionId": "run-3", "status": "InProgress", "token": "other"}));
        assert_eq!(standing(&retried, &t), Standing::Superseded);
        let decided = state(&json!({"actionExecutionId": "run-2", "status": "Succeeded"}));
        assert_eq!(
            standing(&decided, &t),
            Standing::Ended {
                status: "Succeeded".into()
            }
        );
        let no_token = state(&json!({"actionExecutionId": "run-2", "status": "InProgress"}));
        assert!(matches!(standing(&no_token, &t), Standing::Ended { .. }));
        let renamed = Target {
            action: "Review".into(),
            ..t.clone()
        };
        assert_eq!(standing(&waiting, &renamed), Standing::Gone);
        assert_eq!(
            Standing::Superseded.words(&t).unwrap(),
            "this button is from an earlier run of Prod/Approve; use the newest message's"
        );
        assert_eq!(
            standing(&decided, &t).words(&t).unwrap(),
            "Prod/Approve is no longer waiting: it was approved"
        );
        assert_eq!(Standing::Waiting.words(&t), None);
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
        assert_eq!(decided_in_slack("LGTM"), None, "a console decision");
        assert_eq!(
            target().decision_key(),
            "approval/payments-release/Prod/Approve/run-2"
        );
    }
}
