//! Text from a pipeline is data in every channel. The `hostile-text` scenario puts Slack's
//! and Markdown's control sequences, links, mentions and template syntax into every field
//! a user can write (a failure reason, a transition's reason, an approval's comment, a
//! commit message, a revision's summary) and `javascript:` into the links a provider sends;
//! each channel must show that text as the characters it is, and make links only of its
//! own. Names, which AWS restricts, get the same treatment.

use pipewatch_core::diff::diff;
use pipewatch_core::render::console::Console;
use pipewatch_core::render::content::{Content, Context};
use pipewatch_core::render::message::messages;
use pipewatch_core::render::{chatbot, slack, slack_app, teams};
use pipewatch_core::state::PipelineState;
use serde_json::{Value, json};

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

/// Checks that `card` has pipeline text only in text runs, and returns their text.
fn teams_runs(card: &Value) -> String {
    let mut runs = String::new();
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
                assert_ne!(host(url), "evil.example", "{url}");
            }
            _ => {}
        }
    });
    runs
}

#[test]
fn a_teams_card_shows_pipeline_text_only_in_runs_that_render_no_markdown() {
    let cards = documents("teams");
    assert_eq!(cards.len(), 3, "one card a step");
    let runs: String = cards.iter().map(teams_runs).collect();
    for field in FIELDS {
        assert!(
            runs.contains(&format!("{field}{HOSTILE}")),
            "{field} shown as written"
        );
    }
}

/// The host a web link goes to; it must be one.
fn host(url: &str) -> &str {
    let rest = url.strip_prefix("https://").expect("a web link");
    rest.split(['/', '?', '#', '|']).next().unwrap()
}

/// In Slack's mrkdwn, `<` opens a link, a mention or `<!channel>`: every one left in a
/// text Slack parses must be pipewatch's own: a link (to a URL no text chose, whose own
/// `|`, `<` and `>` cannot end it early) or a date.
fn assert_only_our_links(text: &str, what: &str) {
    for (at, _) in text.match_indices('<') {
        let markup = &text[at..at + text[at..].find('>').unwrap_or(text.len() - at)];
        let link = markup.starts_with("<https://")
            && host(&markup[1..]) != "evil.example"
            && markup.matches('|').count() == 1
            && !markup[1..].contains('<');
        assert!(
            link || markup.starts_with("<!date^"),
            "{what}: {markup} in {text}"
        );
    }
}

/// Checks every text Slack parses in `document` (a Slack or Chatbot rendering) with
/// [`assert_only_our_links`], and returns those texts.
fn slack_texts(document: &Value, format: &str) -> String {
    let mut shown = String::new();
    objects(document, &mut |object| {
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
                ("url", Value::String(url)) => assert_ne!(host(url), "evil.example"),
                _ => {}
            }
        }
    });
    shown
}

#[test]
fn slack_and_chatbot_escape_pipeline_text_and_link_only_their_own_urls() {
    for format in ["slack", "slack-app", "chatbot"] {
        let shown: String = documents(format)
            .iter()
            .map(|d| slack_texts(d, format))
            .collect();
        for field in ["failure reason: ", "approval comment: ", "commit message: "] {
            let escaped = format!(
                "{field}[reset your password](https://evil.example/login) **urgent** &lt;!channel&gt;"
            );
            assert!(shown.contains(&escaped), "{format}: {field} escaped");
        }
    }
}

/// Names are AWS's to restrict, and pipewatch treats them as hostile anyway: a pipeline,
/// a stage and an action named with markup are shown as text in every channel.
#[test]
fn names_holding_markup_are_text_in_every_channel() {
    let name = "x<!channel>[a](https://evil.example)**b**";
    let state = |status: &str| {
        PipelineState::from_json(
            json!({"pipelineName": name, "stageStates": [{"stageName": name,
                "latestExecution": {"pipelineExecutionId": "e-1", "status": status},
                "actionStates": [{"actionName": name, "latestExecution": {
                    "actionExecutionId": "a-1", "status": status}}]}]})
            .to_string()
            .as_bytes(),
        )
        .unwrap()
    };
    let changes = diff(&state("InProgress"), &state("Failed"));
    let console = Console::new("eu-west-1", Some("123456789012")).unwrap();
    let context = Context {
        console: Some(&console),
        ..Context::default()
    };
    for message in messages(name, &changes, &context, "x/1") {
        let said = Content::from_body(&message.body).unwrap();
        let runs = teams_runs(&teams::render(&said));
        assert!(
            runs.contains(&format!("{name}: {name}/{name} Failed")),
            "{runs}"
        );
        let shown = slack_texts(&slack::render(&said), "slack");
        assert!(shown.contains("x&lt;!channel&gt;[a](https://evil.example)**b**"));
        slack_texts(&chatbot::render(&said), "chatbot");
        for rendered in slack_app::render(&said, slack_app::Options::default()).living {
            slack_texts(&rendered.message, "slack-app");
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
