//! Slack's `mrkdwn` markup, which both Slack (the forwarder's Block Kit) and AWS Chatbot
//! (`client-markdown`, posted to Slack) render: escaping, cutting within limits, links,
//! and the line that tells one change.

use std::fmt::Write as _;

use crate::change::Approval;
use crate::render::content::{ChangeContent, ExecutionContent};
use crate::render::text;
use crate::render::words::duration_text;

/// One change: `❌ *Build/UnitTests Failed* after 4m12s — rejected by jdoe`, then its
/// reason or comment quoted on the next line, cut to `max_reason` characters.
pub fn change_line(change: &ChangeContent, max_reason: usize) -> String {
    let mut line = format!("{} *{}*", change.icon(), escape(&change.what));
    if let Some(seconds) = change.duration_seconds {
        let _ = write!(
            line,
            " after {}",
            duration_text(std::time::Duration::from_secs(seconds))
        );
    }
    if let Some(who) = &change.who {
        // "rejected — rejected by ana" says it twice: a decision keeps only who.
        let decided = matches!(
            change.approval(),
            Some(Approval::Approved | Approval::Rejected)
        );
        let who = match who.split_once(" by ") {
            Some((_, by)) if decided => format!("by {by}"),
            _ => who.clone(),
        };
        let _ = write!(line, " — {}", escape(&text::clean(&who)));
    }
    if let Some(why) = &change.why {
        let _ = write!(line, "\n> {}", escape_within(&text::clean(why), max_reason));
    }
    line
}

/// What a message says of an execution: up to two commits (linked when they can be) and
/// what started it, each escaped.
pub fn execution_facts(execution: &ExecutionContent) -> Vec<String> {
    let mut facts = Vec::new();
    for revision in execution.revisions.iter().take(2) {
        let line = escape_within(&revision.line(), 200);
        facts.push(match (&revision.url, &revision.short_id) {
            (Some(url), Some(id)) => {
                let message = line.strip_prefix(&escape(id)).unwrap_or(&line).trim();
                format!("Commit <{url}|{}> {message}", escape(id))
            }
            _ => format!("Commit {line}"),
        });
    }
    if let Some(trigger) = &execution.trigger {
        facts.push(escape(&trigger.summary));
    }
    facts
}

/// Slack's link markup: `<url|label>`. A `|`, `<` or `>` in the URL (which a provider
/// chooses: an action's `externalExecutionUrl`, a commit's page) would end the link early
/// and start markup of its own (`…|x><!channel>`); none is valid in a URL unencoded, so
/// each is percent-encoded.
pub fn link(url: &str, label: &str) -> String {
    let url = url
        .replace('|', "%7C")
        .replace('<', "%3C")
        .replace('>', "%3E");
    format!("<{url}|{}>", escape(label))
}

/// Slack's mrkdwn treats `&`, `<` and `>` as control characters.
pub fn escape(text: &str) -> String {
    text.replace('&', "&amp;")
        .replace('<', "&lt;")
        .replace('>', "&gt;")
}

/// [`escape`]d, and at most `max` characters once escaped: cut before an entity, never
/// through one, the last character an ellipsis when cut.
pub fn escape_within(text: &str, max: usize) -> String {
    let escaped = escape(text);
    if escaped.chars().count() <= max {
        return escaped;
    }
    let mut out = String::new();
    let mut length = 0;
    for c in text.chars() {
        let piece = escape(c.encode_utf8(&mut [0; 4]));
        let width = piece.chars().count();
        if length + width + 1 > max {
            break;
        }
        out.push_str(&piece);
        length += width;
    }
    out.push('…');
    out
}

/// At most `max` characters, the last one an ellipsis when cut.
pub fn cut(text: &str, max: usize) -> String {
    if text.chars().count() <= max {
        text.to_owned()
    } else {
        let mut cut: String = text.chars().take(max.saturating_sub(1)).collect();
        cut.push('…');
        cut
    }
}

/// At most `max` characters of already-[`escape`]d mrkdwn, cut before an `&amp;`-style
/// entity, never through one; the last character an ellipsis when cut.
pub fn cut_escaped(text: &str, max: usize) -> String {
    if text.chars().count() <= max {
        return text.to_owned();
    }
    let mut cut: String = text.chars().take(max - 1).collect();
    if let Some(amp) = cut.rfind('&')
        && !cut[amp..].contains(';')
    {
        cut.truncate(amp);
    }
    cut.push('…');
    cut
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn escaped_text_is_cut_to_fit_before_an_entity_never_through_it() {
        let cases = [
            ("a<b", 10, "a&lt;b"),
            ("abcdef", 6, "abcdef"),
            ("abcdef", 4, "abc…"),
            ("ab<cd", 7, "ab&lt;…"),
            ("ab<cd", 6, "ab…"),
            ("ab<cd", 5, "ab…"),
        ];
        for (text, max, expected) in cases {
            let got = escape_within(text, max);
            assert_eq!(got, expected, "{text:?} within {max}");
            assert!(got.chars().count() <= max);
        }
    }

    #[test]
    fn escaped_text_is_cut_without_splitting_an_entity() {
        let cases = [
            ("abcdef", 6, "abcdef"),
            ("abcdef", 4, "abc…"),
            ("ab&amp;cd", 6, "ab…"),
            ("a&amp;bcdef", 8, "a&amp;b…"),
        ];
        for (text, max, expected) in cases {
            assert_eq!(cut_escaped(text, max), expected, "{text} within {max}");
        }
    }
}
