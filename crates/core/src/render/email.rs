//! A notification as a plain-text email: the headline first, then one block per change
//! (the headline's change first) with its duration, reason, who and links on their own
//! lines — the first block of each pipeline execution also with its commits, what
//! started it and its timeline — then the id.
//!
//! Plain text because SNS email is plain text; links stay whole on their own lines so a
//! mail client makes them tappable. Free text keeps its line breaks, indented.

use std::fmt::Write as _;

use crate::render::content::Content;
use crate::render::text;

/// The `email` body of a message.
pub fn render(content: &Content) -> String {
    let mut out = String::new();
    let _ = writeln!(out, "{}\n", one_line(content.title()));
    if content.changes.is_empty() {
        let _ = writeln!(out, "{}\n", content.text.trim_end());
    }
    let mut introduced: Vec<&str> = Vec::new();
    for change in content.changes_lead_first() {
        let _ = writeln!(out, "{}", one_line(&change.what_with_duration()));
        if let Some(why) = &change.why {
            field(&mut out, change.why_label(), why);
        }
        if let Some(who) = &change.who {
            let _ = writeln!(out, "  {}", capitalised(&one_line(who)));
        }
        if let Some(logs) = &change.links.logs {
            let _ = writeln!(out, "  Logs: {logs}");
        }
        // What the execution is (commits, trigger, timeline) is told once, at its first change.
        if let Some(execution) = content.execution_of(change)
            && !introduced.contains(&execution.id.as_str())
        {
            introduced.push(&execution.id);
            for revision in &execution.revisions {
                field(&mut out, "Commit", &revision.line());
                if let Some(url) = &revision.url {
                    let _ = writeln!(out, "          {url}");
                }
            }
            if let Some(trigger) = &execution.trigger {
                let _ = writeln!(out, "  {}", capitalised(&one_line(&trigger.summary)));
            }
            if let Some(target) = &execution.rollback_of {
                field(&mut out, "Rolls back to execution", target);
            }
            if let Some(link) = &execution.url {
                let _ = writeln!(out, "  Execution: {link}");
            }
        }
        out.push('\n');
    }
    if let Some(link) = &content.links.pipeline {
        let _ = writeln!(out, "Pipeline: {link}\n");
    }
    if let Some(link) = &content.links.alarm {
        let _ = writeln!(out, "Alarm: {link}\n");
    }
    let part = if content.parts > 1 {
        format!(" (part {} of {})", content.part, content.parts)
    } else {
        String::new()
    };
    let _ = writeln!(out, "-- \npipewatch notification {}{part}", content.id);
    out
}

/// `  Name: value`, continuation lines of multi-line values indented under the value.
fn field(out: &mut String, name: &str, value: &str) {
    let mut lines = value
        .lines()
        .map(one_line)
        .filter(|l| !l.is_empty())
        .peekable();
    let _ = write!(out, "  {name}:");
    if lines.peek().is_none() {
        out.push('\n');
    }
    let indent = " ".repeat(name.len() + 4);
    for (i, line) in lines.enumerate() {
        if i == 0 {
            let _ = writeln!(out, " {line}");
        } else {
            let _ = writeln!(out, "{indent}{line}");
        }
    }
}

fn one_line(value: &str) -> String {
    text::clean(value)
}

fn capitalised(value: &str) -> String {
    let mut chars = value.chars();
    chars.next().map_or_else(String::new, |first| {
        first.to_uppercase().chain(chars).collect()
    })
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::render::content::Context;

    #[test]
    fn a_value_of_several_lines_is_indented_under_itself() {
        let mut out = String::new();
        field(&mut out, "Reason", "first\nsecond\n\nthird");
        assert_eq!(out, "  Reason: first\n          second\n          third\n");
    }

    #[test]
    fn a_part_of_several_says_which_in_its_signature() {
        let stages = |status: &str| {
            serde_json::from_value::<crate::state::PipelineState>(serde_json::json!({
                "pipelineName": "web", "stageStates": [{"stageName": "Build",
                "latestExecution": {"pipelineExecutionId": "e-1", "status": status}}]}))
            .unwrap()
        };
        let changes = crate::diff::diff(&stages("InProgress"), &stages("Failed"));
        let context = Context::default();
        let one = render(&Content::build(
            "web",
            &changes,
            &context,
            "web/7/1",
            (1, 1),
        ));
        assert!(one.ends_with("pipewatch notification web/7/1\n"), "{one}");
        let second = render(&Content::build(
            "web",
            &changes,
            &context,
            "web/7/2",
            (2, 3),
        ));
        assert!(
            second.ends_with("pipewatch notification web/7/2 (part 2 of 3)\n"),
            "{second}"
        );
    }
}
