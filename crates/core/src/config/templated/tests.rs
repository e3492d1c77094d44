//! Templates in each channel's place: escaped for it, within its limits, and the built-in
//! message whenever a template fails.

use super::*;
use crate::render::content::Severity;

fn content(text: &str) -> Content {
    let mut content = Content::note("web/3/1", "web: Deploy failed", text, Severity::Failure);
    content.pipeline = "web".into();
    content
}

fn templates(parts: &[(&str, &str)]) -> Templates {
    let mut templates = Templates::new();
    for (name, source) in parts {
        templates.add(name, source).unwrap();
    }
    templates
}

/// What a commit message may hold: mentions, links, markup and template syntax.
const HOSTILE: &str = "<!channel> <@U024BE7LH> <https://evil.example|docs> & {{ 7 * 7 }} [x](https://evil.example) **bold**";

#[test]
fn slack_and_chatbot_get_pipeline_text_escaped_and_the_authors_mentions_kept() {
    let templates = templates(&[
        ("t.title", "<!here> {{ pipeline }} failed"),
        ("t.text", "{{ text }}"),
    ]);
    let (message, failed) = webhook(&templates, Some("t"), Channel::Slack, &content(HOSTILE));
    assert_eq!(failed, None);
    assert_eq!(
        message,
        json!({"text": "<!here> web failed\n&lt;!channel&gt; &lt;@U024BE7LH&gt; &lt;https://evil.example|docs&gt; &amp; {{ 7 * 7 }} [x](https://evil.example) **bold**"})
    );
    let (published, _) = topic(&templates, Some("t"), Reader::Chatbot, &content(HOSTILE));
    let notification: Value = serde_json::from_str(&published.message).unwrap();
    assert_eq!(notification["content"]["title"], "<!here> web failed");
    assert!(
        notification["content"]["description"]
            .as_str()
            .unwrap()
            .starts_with("&lt;!channel&gt;")
    );
    assert_eq!(
        notification["metadata"],
        chatbot::render(&content(HOSTILE))["metadata"],
        "the rest is the built-in notification's"
    );
}

#[test]
fn teams_gets_plain_runs_and_keeps_the_cards_links() {
    let templates = templates(&[("t.title", "{{ headline }}"), ("t.text", "{{ text }}")]);
    let (card, failed) = webhook(&templates, Some("t"), Channel::Teams, &content(HOSTILE));
    assert_eq!(failed, None);
    let body = &card["attachments"][0]["content"]["body"];
    assert_eq!(body[0]["inlines"][0]["text"], "web: Deploy failed");
    assert_eq!(body[1]["type"], "RichTextBlock");
    assert_eq!(
        body[1]["inlines"][0]["text"], HOSTILE,
        "a run renders no Markdown"
    );
    assert_eq!(
        card["attachments"][0]["content"]["actions"],
        teams::render(&content(HOSTILE))["attachments"][0]["content"]["actions"]
    );
    // Seven times the longest value: past the card's room, within a rendering's.
    let long = self::templates(&[("t.text", &"{{ text }}".repeat(7))]);
    let (card, _) = webhook(
        &long,
        Some("t"),
        Channel::Teams,
        &content(&"x".repeat(MAX_VALUE)),
    );
    let text = card["attachments"][0]["content"]["body"][0]["inlines"][0]["text"]
        .as_str()
        .unwrap();
    assert_eq!(
        text.chars().count(),
        MAX_TEAMS_TEXT,
        "cut to the card's room"
    );
}

#[test]
fn email_gets_its_subject_by_snss_rules_and_its_body() {
    let templates = templates(&[
        ("t.title", "FAILED — {{ pipeline }}\n{{ headline }}"),
        ("t.text", "{{ text }}\n-- pipewatch"),
    ]);
    let (published, failed) = topic(&templates, Some("t"), Reader::Email, &content(HOSTILE));
    assert_eq!(failed, None);
    assert_eq!(
        published.subject.as_deref(),
        Some("FAILED ? web web: Deploy failed")
    );
    assert_eq!(published.message, format!("{HOSTILE}\n-- pipewatch"));
    assert_eq!(
        published.attributes,
        topic::publish(Reader::Email, &content(HOSTILE)).attributes
    );
    // A template of a title alone keeps the built-in body.
    let title = self::templates(&[("t.title", "{{ pipeline }}")]);
    let (published, _) = topic(&title, Some("t"), Reader::Email, &content("x"));
    assert_eq!(
        published.message,
        topic::publish(Reader::Email, &content("x")).message
    );
}

#[test]
fn a_template_that_fails_sends_the_built_in_message_and_says_why() {
    let templates = templates(&[("t.title", "ok"), ("t.text", "line\n{{ change.what }}")]);
    let message = content("x");
    let (body, failed) = webhook(&templates, Some("t"), Channel::Slack, &message);
    assert_eq!(body, crate::render::slack::render(&message));
    let failed = failed.unwrap();
    assert!(failed.starts_with("templates.t.text: line 2: "), "{failed}");
    let (published, failed) = topic(&templates, Some("t"), Reader::Chatbot, &message);
    assert_eq!(published, topic::publish(Reader::Chatbot, &message));
    assert!(failed.is_some());
    let (body, failed) = webhook(&templates, None, Channel::Teams, &message);
    assert_eq!((body, failed), (teams::render(&message), None));
}

#[test]
fn the_contexts_strings_are_cut() {
    let context = context(&content(&"é".repeat(MAX_VALUE + 10)), Channel::Email);
    assert_eq!(context["text"].as_str().unwrap().chars().count(), MAX_VALUE);
    assert_eq!(context["pipeline"], "web");
    assert_eq!(context["severity"], "failure");
}

#[test]
fn every_string_is_escaped_in_lists_and_maps_alike() {
    let mut value = json!({"changes": [{"why": "<!channel>"}], "n": 3, "ok": true});
    prepare(&mut value, Channel::Slack);
    assert_eq!(
        value,
        json!({"changes": [{"why": "&lt;!channel&gt;"}], "n": 3, "ok": true})
    );
    let mut value = json!(["<a & b>"]);
    prepare(&mut value, Channel::Email);
    assert_eq!(value, json!(["<a & b>"]), "email is plain text");
}
