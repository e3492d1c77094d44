//! What the person who clicked Approve or Reject is told when the approval run the button
//! names is not waiting: how that very run ended (by whom, when), that the stage was run
//! again in the same execution, or that the run no longer waits. Never the advice to use
//! another message's buttons: in V2's PARALLEL mode the newest message belongs to another
//! execution, which the person has not looked at.

use crate::interaction::{Ending, Standing, Target, decided_in_slack};
use crate::render::text::clean;
use crate::render::words::short_principal;
use crate::state::Timestamp;

/// The sentence for `standing`, `None` while the run waits.
pub fn not_waiting(standing: &Standing, target: &Target) -> Option<String> {
    let what = format!("{}/{}", clean(&target.stage), clean(&target.action));
    Some(match standing {
        Standing::Waiting => return None,
        Standing::Ended(ending) => format!("{what} is no longer waiting: it {}", ended(ending)),
        Standing::Retried(ending) => format!(
            "this button is from an earlier run of {what}{}; the stage has run it again in the \
             same execution, whose message shows the new run's buttons",
            ending
                .as_ref()
                .map_or_else(String::new, |e| format!(", which {}", ended(e)))
        ),
        Standing::NotWaiting => format!("the run of {what} this button names is no longer waiting"),
        Standing::Gone => format!("{} has no {what} any more", clean(&target.pipeline)),
    })
}

/// `was approved by Maria Silva (U024BE7LH) at 2026-11-30 11:20 UTC`.
fn ended(ending: &Ending) -> String {
    let at = ending
        .at
        .map_or_else(String::new, |at| format!(" at {}", when(at)));
    // A decision taken in Slack names the person in its summary; the principal that wrote
    // it is the approver's role.
    let by = ending
        .summary
        .as_deref()
        .and_then(decided_in_slack)
        .map(clean)
        .or_else(|| ending.by.as_deref().map(short_principal))
        .map_or_else(String::new, |who| format!(" by {who}"));
    match ending.status.as_str() {
        "Succeeded" => format!("was approved{by}{at}"),
        "Failed" if !by.is_empty() => format!("was rejected{by}{at}"),
        "Failed" => format!("failed{at} with no decision (an approval expires after 7 days)"),
        "Abandoned" => format!("was abandoned{at}: its execution was stopped or superseded"),
        other => format!("ended ({}){at}", clean(other)),
    }
}

/// `2026-11-30 11:20 UTC`: to the minute, as people read it.
fn when(at: Timestamp) -> String {
    let text = at.to_string();
    match text.get(..16) {
        Some(minute) => format!("{} UTC", minute.replace('T', " ")),
        None => text,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn target() -> Target {
        Target {
            pipeline: "payments-release".into(),
            arn: None,
            stage: "Prod".into(),
            action: "Approve".into(),
            action_execution_id: "run-2".into(),
            execution: Some("exec-1".into()),
        }
    }

    fn ending(status: &str, by: Option<&str>, summary: Option<&str>) -> Ending {
        Ending {
            status: status.into(),
            by: by.map(str::to_owned),
            at: Some("2026-11-30T11:20:37.123Z".parse().unwrap()),
            summary: summary.map(str::to_owned),
        }
    }

    #[test]
    fn the_person_is_told_how_the_very_run_they_clicked_ended() {
        let role = "arn:aws:sts::123456789012:assumed-role/pipewatch-approver/approver";
        let person = "arn:aws:sts::123456789012:assumed-role/ReleaseManager/maria.silva";
        let slack = "Approved in Slack by Maria Silva (U024BE7LH): ship it";
        let cases = [
            (
                Standing::Ended(ending("Succeeded", Some(role), Some(slack))),
                "Prod/Approve is no longer waiting: it was approved by Maria Silva (U024BE7LH) \
                 at 2026-11-30 11:20 UTC",
            ),
            (
                Standing::Ended(ending("Failed", Some(person), Some("not today"))),
                "Prod/Approve is no longer waiting: it was rejected by maria.silva \
                 (ReleaseManager) at 2026-11-30 11:20 UTC",
            ),
            (
                Standing::Ended(ending("Failed", None, None)),
                "Prod/Approve is no longer waiting: it failed at 2026-11-30 11:20 UTC with no \
                 decision (an approval expires after 7 days)",
            ),
            (
                Standing::Ended(ending("Abandoned", None, None)),
                "Prod/Approve is no longer waiting: it was abandoned at 2026-11-30 11:20 UTC: \
                 its execution was stopped or superseded",
            ),
            (
                Standing::Ended(Ending {
                    at: None,
                    ..ending("Paused", None, None)
                }),
                "Prod/Approve is no longer waiting: it ended (Paused)",
            ),
            (
                Standing::Retried(Some(ending("Failed", Some(person), None))),
                "this button is from an earlier run of Prod/Approve, which was rejected by \
                 maria.silva (ReleaseManager) at 2026-11-30 11:20 UTC; the stage has run it \
                 again in the same execution, whose message shows the new run's buttons",
            ),
            (
                Standing::Retried(None),
                "this button is from an earlier run of Prod/Approve; the stage has run it again \
                 in the same execution, whose message shows the new run's buttons",
            ),
            (
                Standing::NotWaiting,
                "the run of Prod/Approve this button names is no longer waiting",
            ),
            (
                Standing::Gone,
                "payments-release has no Prod/Approve any more",
            ),
        ];
        for (standing, words) in cases {
            let said = not_waiting(&standing, &target()).unwrap();
            assert_eq!(said, words);
            assert!(!said.contains("newest message"), "{said}");
        }
        assert_eq!(not_waiting(&Standing::Waiting, &target()), None);
    }
}
