//! Text from a pipeline is data in every channel. The `hostile-text` scenario puts Slack's
//! and Markdown's control sequences, links, mentions and template syntax into every field
//! a user can write (a failure reason, a transition's reason, an approval's comment, a
//! commit message, a revision's summary) and `javascript:` into the links a provider sends;
//! each channel must show that text as the characters it is, and make links only of its
//! own.

use serde_json::Value;

use crate::channels::replay;

const SCENARIO: &str = "hostile-text";

/// The fields that carry hostile text, by the words each starts with.
const FIELDS: [&str; 5] = [
    "failure reason: ",
    "transition reason: ",
    "approval comment: ",
    "commit message: ",
    "revision summary: ",
];

/// What the scenario's hostile text holds, as each field has it.
const HOSTILE: &str = "[reset your password](https://evil.example/login) **urgent** <!channel>";

/// Every JSON document `replay --format FORMAT` prints, one a line.
fn documents(format: &str) -> Vec<Value> {
    replay(SCENARIO, format)
        .lines()
        .map(|line| serde_json::from_str(line).unwrap_or_else(|e| panic!("{format}: {e}: {line}")))
        .collect()
}

/// Calls `visit(object)` on every object inside `value`.
fn objects<'a>(value: &'a Value, visit: &mut impl FnMut(&'a serde_json::Map<String, Value>)) {
    match value {
        Value::Object(object) => {
            visit(object);
            object.values().for_each(|v| objects(v, visit));
        }
        Value::Array(items) => items.iter().for_each(|v| objects(v, visit)),
        _ => {}
    }
}

#[test]
fn a_teams_card_shows_pipeline_text_only_in_runs_that_render_no_markdown() {
    let cards = documents("teams");
    assert_eq!(cards.len(), 3, "one card a step");
    let mut runs = String::new();
    for card in &cards {
        objects(card, &mut |object| {
            let text = object
                .get("text")
                .and_then(Value::as_str)
                .unwrap_or_default();
            match object.get("type").and_then(Value::as_str) {
                // A TextBlock renders Markdown: only pipewatch's own words go there.
                Some("TextBlock") => assert!(
                    text.starts_with("…and ") && text.ends_with(" more"),
                    "pipeline text in a TextBlock: {text}"
                ),
                Some("TextRun") => runs.push_str(text),
                Some("FactSet" | "Fact") => panic!("a fact's value renders Markdown: {object:?}"),
                Some("Action.OpenUrl") => {
                    let url = object["url"].as_str().unwrap();
                    assert!(url.starts_with("https://"), "{url}");
                    assert!(!url.contains("evil.example"), "{url}");
                }
                _ => {}
            }
        });
    }
    for field in FIELDS {
        assert!(
            runs.contains(&format!("{field}{HOSTILE}")),
            "{field} shown as written"
        );
    }
}

/// In Slack's mrkdwn, `<` opens a link, a mention or `<!channel>`: every one left in a
/// text Slack parses must be pipewatch's own: a link (to a URL no text chose, whose own
/// `|`, `<` and `>` cannot end it early) or a date.
fn assert_only_our_links(text: &str, what: &str) {
    for (at, _) in text.match_indices('<') {
        let markup = &text[at..at + text[at..].find('>').unwrap_or(text.len() - at)];
        let link = markup.starts_with("<https://")
            && !markup.contains("evil.example")
            && markup.matches('|').count() == 1
            && !markup[1..].contains('<');
        assert!(
            link || markup.starts_with("<!date^"),
            "{what}: {markup} in {text}"
        );
    }
}

#[test]
fn slack_and_chatbot_escape_pipeline_text_and_link_only_their_own_urls() {
    for format in ["slack", "slack-app", "chatbot"] {
        let mut shown = String::new();
        for document in documents(format) {
            objects(&document, &mut |object| {
                if object.get("type").and_then(Value::as_str) == Some("plain_text") {
                    return; // Slack parses no markup in plain text.
                }
                for (key, value) in object {
                    match (key.as_str(), value) {
                        ("text" | "title" | "description", Value::String(text)) => {
                            assert_only_our_links(text, format);
                            shown.push_str(text);
                        }
                        ("nextSteps", Value::Array(steps)) => {
                            for step in steps.iter().filter_map(Value::as_str) {
                                assert_only_our_links(step, format);
                            }
                        }
                        ("url", Value::String(url)) => assert!(url.starts_with("https://")),
                        _ => {}
                    }
                }
            });
        }
        for field in ["failure reason: ", "approval comment: ", "commit message: "] {
            let escaped = format!(
                "{field}[reset your password](https://evil.example/login) **urgent** &lt;!channel&gt;"
            );
            assert!(shown.contains(&escaped), "{format}: {field} escaped");
        }
    }
}

#[test]
fn no_channel_links_what_a_provider_sends_as_a_script() {
    for format in ["email", "chatbot", "slack", "slack-app", "teams"] {
        let out = replay(SCENARIO, format);
        assert!(!out.contains("javascript:"), "{format}");
    }
    // The JSON body keeps what AWS sent, as data, for programs that want it whole.
    assert!(replay(SCENARIO, "body").contains("javascript:alert(document.cookie)"));
}

#[test]
fn template_syntax_in_pipeline_text_is_printed_never_evaluated() {
    for format in [
        "text",
        "email",
        "chatbot",
        "slack",
        "slack-app",
        "teams",
        "body",
    ] {
        let out = replay(SCENARIO, format);
        assert!(
            out.contains("{{ 7*7 }} {% if true %}x{% endif %}"),
            "{format}"
        );
    }
}
