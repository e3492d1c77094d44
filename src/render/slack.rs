//! A notification as a Slack incoming-webhook message (Block Kit): the subject as a
//! header, the change lines as sections. Pure; the forwarder posts what this returns.

use serde_json::{Value, json};

/// Slack's limits: a header's text, a section's text, blocks per message.
const MAX_HEADER: usize = 150;
const MAX_SECTION: usize = 3000;
const MAX_SECTIONS: usize = 45;

/// The webhook body for a notification with `subject` and one change per line of `text`.
pub fn webhook_message(subject: &str, text: &str) -> Value {
    let mut blocks = vec![json!({
        "type": "header",
        "text": {"type": "plain_text", "text": cut(subject, MAX_HEADER)},
    })];
    let mut sections: Vec<String> = Vec::new();
    let mut omitted = 0;
    for line in text.lines().filter(|l| !l.trim().is_empty()) {
        let line = format!("• {}", escape(&cut(line, MAX_SECTION - 10)));
        let fits = sections
            .last()
            .is_some_and(|s| s.len() + line.len() < MAX_SECTION);
        if let Some(section) = sections.last_mut().filter(|_| fits) {
            section.push('\n');
            section.push_str(&line);
        } else if sections.len() < MAX_SECTIONS {
            sections.push(line);
        } else {
            omitted += 1;
        }
    }
    blocks.extend(
        sections
            .into_iter()
            .map(|text| json!({"type": "section", "text": {"type": "mrkdwn", "text": text}})),
    );
    if omitted > 0 {
        blocks.push(json!({"type": "context", "elements": [
            {"type": "mrkdwn", "text": format!("… and {omitted} more lines")}]}));
    }
    // `text` is what notifications and old clients show.
    json!({"text": subject, "blocks": blocks})
}

/// Slack's mrkdwn treats these three as control characters.
fn escape(text: &str) -> String {
    text.replace('&', "&amp;")
        .replace('<', "&lt;")
        .replace('>', "&gt;")
}

fn cut(text: &str, max: usize) -> String {
    if text.chars().count() <= max {
        text.to_owned()
    } else {
        let mut cut: String = text.chars().take(max - 1).collect();
        cut.push('…');
        cut
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_subject_heads_and_each_change_is_a_bullet() {
        let message = webhook_message(
            "web: Build/UnitTests Failed (+1 more)",
            "web: Build/UnitTests Failed: exit <1> & more\nweb: stage Build Failed",
        );
        assert_eq!(message["text"], "web: Build/UnitTests Failed (+1 more)");
        assert_eq!(message["blocks"][0]["type"], "header");
        assert_eq!(
            message["blocks"][1]["text"]["text"],
            "• web: Build/UnitTests Failed: exit &lt;1&gt; &amp; more\n• web: stage Build Failed"
        );
    }

    #[test]
    fn slack_limits_are_kept_however_long_the_text() {
        let line = format!("line {}\n", "x".repeat(200));
        let lines = line.repeat(5000);
        let message = webhook_message(&"s".repeat(500), &lines);
        let blocks = message["blocks"].as_array().unwrap();
        assert!(blocks.len() <= 50);
        assert!(
            message["blocks"][0]["text"]["text"]
                .as_str()
                .unwrap()
                .chars()
                .count()
                <= MAX_HEADER
        );
        for block in &blocks[1..blocks.len() - 1] {
            assert!(block["text"]["text"].as_str().unwrap().len() <= MAX_SECTION);
        }
        let last = blocks.last().unwrap();
        assert!(
            last["elements"][0]["text"]
                .as_str()
                .unwrap()
                .contains("more lines")
        );
    }
}
