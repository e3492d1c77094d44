//! A document's templates applied to a message: the template's `title` and `text`, each
//! rendered with the message as its context, placed where each channel shows a title and a
//! text, within the channel's limits.
//!
//! The context is the message's JSON body ([`Content`], documented by
//! `schema/notification.schema.json`), every string in it cut to [`MAX_VALUE`] characters
//! and escaped for the channel: Slack's and Chatbot's mrkdwn control characters (`&`, `<`,
//! `>`), so that `<!channel>` or `<https://evil|docs>` in a commit message stays text;
//! nothing for email (plain text) and Teams (whose runs render no Markdown). The template's
//! own words are not escaped: mentions and links come from its author.
//!
//! | channel | title | text |
//! |---|---|---|
//! | Slack webhook | the message's first line | the lines after it |
//! | Teams webhook | the card's heading | the card's body |
//! | email | the subject (SNS's rules) | the body |
//! | Chatbot | the notification's title | its description |
//!
//! Where a template leaves one out, email and Chatbot keep the built-in one.

use serde_json::{Value, json};

use crate::config::template::Templates;
use crate::render::content::{Content, sns_subject};
use crate::render::mrkdwn::{cut, escape};
use crate::render::topic::{self, Publish, Reader};
use crate::render::{chatbot, teams};

/// The longest a context's string may be, in characters.
pub const MAX_VALUE: usize = 2_000;

/// Where a template's text goes: it decides how the context's strings are escaped.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Channel {
    Slack,
    Teams,
    Email,
    Chatbot,
}

/// What a template made of a message.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Texts {
    pub title: Option<String>,
    pub text: Option<String>,
}

/// The template `name`'s title and text for `content`, as `channel` takes them. An error
/// names the part and its line: the caller then sends the built-in message.
pub fn texts(
    templates: &Templates,
    name: &str,
    channel: Channel,
    content: &Content,
) -> Result<Texts, String> {
    let values = context(content, channel);
    let part = |part: &str| -> Result<Option<String>, String> {
        let key = format!("{name}.{part}");
        if !templates.has(&key) {
            return Ok(None);
        }
        templates
            .render(&key, &values)
            .map(Some)
            .map_err(|error| format!("templates.{name}.{part}: {error}"))
    };
    Ok(Texts {
        title: part("title")?,
        text: part("text")?,
    })
}

/// `content` as a template sees it: its JSON body, each string cut and escaped for
/// `channel`.
pub fn context(content: &Content, channel: Channel) -> Value {
    let mut value = serde_json::to_value(content).unwrap_or_default();
    prepare(&mut value, channel);
    value
}

fn prepare(value: &mut Value, channel: Channel) {
    match value {
        Value::String(text) => {
            let cut = cut(text, MAX_VALUE);
            *text = match channel {
                Channel::Slack | Channel::Chatbot => escape(&cut),
                Channel::Teams | Channel::Email => cut,
            };
        }
        Value::Array(items) => items.iter_mut().for_each(|item| prepare(item, channel)),
        Value::Object(fields) => fields
            .values_mut()
            .for_each(|field| prepare(field, channel)),
        _ => {}
    }
}

/// A Slack webhook's message: the title, then the text, as mrkdwn.
pub fn slack(texts: &Texts) -> Value {
    let lines: Vec<&str> = [&texts.title, &texts.text]
        .into_iter()
        .flatten()
        .map(String::as_str)
        .collect();
    json!({ "text": lines.join("\n") })
}

/// The card's heading and body, each a run of plain text (a run renders no Markdown).
const MAX_TEAMS_TITLE: usize = 500;
const MAX_TEAMS_TEXT: usize = 12_000;

/// A Teams card: the title as its heading, the text as its body, and the built-in card's
/// links (the execution, the logs).
pub fn teams(texts: &Texts, content: &Content) -> Value {
    let mut card = teams::render(content);
    let mut body = Vec::new();
    if let Some(title) = &texts.title {
        body.push(
            json!({"type": "RichTextBlock", "inlines": [{"type": "TextRun",
            "text": cut(title, MAX_TEAMS_TITLE), "weight": "Bolder", "size": "Medium"}]}),
        );
    }
    if let Some(text) = &texts.text {
        body.push(
            json!({"type": "RichTextBlock", "inlines": [{"type": "TextRun",
            "text": cut(text, MAX_TEAMS_TEXT)}]}),
        );
    }
    card["attachments"][0]["content"]["body"] = Value::Array(body);
    card
}

/// What an email or Chatbot topic is published: the built-in publish, with the title and
/// text in place of the subject and body (email) or the title and description (Chatbot).
pub fn publish(reader: Reader, texts: &Texts, content: &Content) -> Publish {
    let mut published = topic::publish(reader, content);
    match reader {
        Reader::Email => {
            if let Some(title) = &texts.title {
                published.subject = Some(sns_subject(title));
            }
            if let Some(text) = &texts.text {
                published.message.clone_from(text);
            }
        }
        Reader::Chatbot => {
            let mut notification = chatbot::render(content);
            if let Some(title) = &texts.title {
                notification["content"]["title"] = cut(title, chatbot::MAX_TITLE).into();
            }
            if let Some(text) = &texts.text {
                notification["content"]["description"] = cut(text, chatbot::MAX_DESCRIPTION).into();
            }
            published.message = notification.to_string();
        }
    }
    published
}

/// What a webhook destination with `template` (`None`: the built-in message) is sent:
/// the Slack message or the Teams card, and why the template failed when it did (the
/// built-in message is sent instead: a message is never lost to a template).
pub fn webhook(
    templates: &Templates,
    template: Option<&str>,
    channel: Channel,
    content: &Content,
) -> (Value, Option<String>) {
    let built_in = || match channel {
        Channel::Teams => teams::render(content),
        _ => crate::render::slack::render(content),
    };
    let Some(name) = template else {
        return (built_in(), None);
    };
    match texts(templates, name, channel, content) {
        Ok(texts) if channel == Channel::Teams => (self::teams(&texts, content), None),
        Ok(texts) => (slack(&texts), None),
        Err(error) => (built_in(), Some(error)),
    }
}

/// What a topic destination with `template` is published, and why the template failed
/// when it did (the built-in publish is sent instead).
pub fn topic(
    templates: &Templates,
    template: Option<&str>,
    reader: Reader,
    content: &Content,
) -> (Publish, Option<String>) {
    let Some(name) = template else {
        return (topic::publish(reader, content), None);
    };
    let channel = match reader {
        Reader::Email => Channel::Email,
        Reader::Chatbot => Channel::Chatbot,
    };
    match texts(templates, name, channel, content) {
        Ok(texts) => (publish(reader, &texts, content), None),
        Err(error) => (topic::publish(reader, content), Some(error)),
    }
}

#[cfg(test)]
mod tests;
