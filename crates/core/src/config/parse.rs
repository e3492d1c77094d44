//! Reading a document: the limits and the text's guards first ([`super::scan`]), then the
//! YAML parser (which places what it refuses), then the checks that need the whole
//! document, each placed by [`locate`]. Every problem found is returned; nothing
//! half-read is.

use std::collections::BTreeMap;
use std::fmt;

use serde::Deserialize;
use serde::de::{MapAccess, Visitor};

use super::scan::{Guard, MAX_DEPTH, Step, guards, locate, place, secrets};
use super::template::Templates;
use super::{Destination, Document, Problem, Refused, Subscription, VERSION};
use crate::interaction::Approvers;
use crate::pipeline::Entry;
use crate::render::content::Severity;

/// The most a document may be: 50 destinations and 200 subscriptions take about 30 KB.
pub const MAX_BYTES: usize = 256 * 1024;

/// A destination's name: `[a-z0-9][a-z0-9_-]*`, at most this long.
const MAX_NAME: usize = 64;

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct Raw {
    version: u32,
    #[serde(default)]
    destinations: Names<RawDestination>,
    #[serde(default)]
    templates: Names<RawTemplate>,
    #[serde(default)]
    subscriptions: Vec<RawSubscription>,
    #[serde(default)]
    approvers: Option<serde_json::Value>,
}

/// A destination as written: one shape for every type (so that the parser places each
/// problem at its key); which keys a type takes is checked after.
#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct RawDestination {
    #[serde(rename = "type")]
    kind: Kind,
    #[serde(default)]
    channel: Option<String>,
    #[serde(default)]
    secret: Option<String>,
    #[serde(default)]
    entry: Option<u32>,
    #[serde(default)]
    topic: Option<String>,
    #[serde(default)]
    template: Option<String>,
    #[serde(default)]
    severity: Severity,
    #[serde(default)]
    broadcast_failures: Option<bool>,
    #[serde(default)]
    approvals: Option<bool>,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, Deserialize)]
#[serde(rename_all = "kebab-case")]
enum Kind {
    SlackApp,
    Slack,
    Teams,
    Email,
    Chatbot,
}

impl Kind {
    fn name(self) -> &'static str {
        match self {
            Self::SlackApp => "slack-app",
            Self::Slack => "slack",
            Self::Teams => "teams",
            Self::Email => "email",
            Self::Chatbot => "chatbot",
        }
    }

    /// Whether it is sent through an SNS topic (`topic`), rather than a webhook whose URL
    /// a secret holds (`secret`, `entry`) or the Slack app (`channel`, …).
    fn is_topic(self) -> bool {
        matches!(self, Self::Email | Self::Chatbot)
    }

    /// Whether a destination of this type takes `key`.
    fn takes(self, key: &str) -> bool {
        match key {
            "channel" | "broadcast_failures" | "approvals" => self == Self::SlackApp,
            "secret" | "entry" => matches!(self, Self::Slack | Self::Teams),
            "topic" => self.is_topic(),
            "template" => self != Self::SlackApp,
            _ => true,
        }
    }

    /// The keys `given` that this type does not take, each with the reason.
    fn refusals<'a>(self, given: &[(&'a str, bool)]) -> Vec<(&'a str, String)> {
        let article = if self == Self::Email { "an" } else { "a" };
        given
            .iter()
            .filter(|(key, given)| *given && !self.takes(key))
            .map(|(key, _)| {
                (
                    *key,
                    format!("{article} {} destination takes no {key}", self.name()),
                )
            })
            .collect()
    }
}

/// A template as written: its title and its text, either or both.
#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct RawTemplate {
    #[serde(default)]
    title: Option<String>,
    #[serde(default)]
    text: Option<String>,
}

/// What a map's entries are, for the message naming one declared twice.
trait Named {
    const WHAT: &'static str;
}

impl Named for RawDestination {
    const WHAT: &'static str = "destination";
}

impl Named for RawTemplate {
    const WHAT: &'static str = "template";
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct RawSubscription {
    pipelines: Vec<String>,
    to: Vec<String>,
}

/// A map whose keys may not repeat (YAML would let the last one win, silently).
struct Names<T>(Vec<(String, T)>);

impl<T> Default for Names<T> {
    fn default() -> Self {
        Self(Vec::new())
    }
}

impl<'de, T: Deserialize<'de> + Named> Deserialize<'de> for Names<T> {
    fn deserialize<D: serde::Deserializer<'de>>(deserializer: D) -> Result<Self, D::Error> {
        struct Entries<T>(std::marker::PhantomData<T>);
        impl<'de, T: Deserialize<'de> + Named> Visitor<'de> for Entries<T> {
            type Value = Names<T>;
            fn expecting(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
                write!(f, "{}s by name", T::WHAT)
            }
            fn visit_map<A: MapAccess<'de>>(self, mut map: A) -> Result<Names<T>, A::Error> {
                let mut entries: Vec<(String, T)> = Vec::new();
                while let Some(name) = map.next_key::<String>()? {
                    if entries.iter().any(|(n, _)| *n == name) {
                        return Err(serde::de::Error::custom(format!(
                            "the {} {name:?} is declared twice",
                            T::WHAT
                        )));
                    }
                    entries.push((name, map.next_value()?));
                }
                Ok(Names(entries))
            }
        }
        deserializer.deserialize_map(Entries(std::marker::PhantomData))
    }
}

/// Reads and checks a whole document.
pub(super) fn document(bytes: &[u8]) -> Result<Document, Refused> {
    if bytes.len() > MAX_BYTES {
        return Err(one(
            1,
            1,
            format!(
                "the document is {} bytes, over the {MAX_BYTES} a document may be",
                bytes.len()
            ),
        ));
    }
    let text = std::str::from_utf8(bytes).map_err(|e| {
        let (line, column) = place(bytes, e.valid_up_to());
        one(line, column, "the document is not UTF-8 text".into())
    })?;
    match guards(text) {
        Some((line, column, Guard::Anchor)) => {
            return Err(one(
                line,
                column,
                "anchors and aliases (&name, *name) are not taken: write each value out (a \
                 pattern starting with * is quoted: \"*-prod\")"
                    .into(),
            ));
        }
        Some((line, column, Guard::Deep)) => {
            return Err(one(
                line,
                column,
                format!("the document nests deeper than {MAX_DEPTH} levels"),
            ));
        }
        None => {}
    }
    let mut problems = secrets(text);
    let raw = match serde_norway::from_str::<Raw>(text) {
        Ok(raw) => raw,
        Err(error) => {
            let (line, column) = error.location().map_or((1, 1), |l| (l.line(), l.column()));
            problems.push(Problem {
                line,
                column,
                reason: without_location(&error.to_string()),
            });
            problems.sort_by_key(|p| (p.line, p.column));
            return Err(Refused(problems));
        }
    };
    let document = check(text, raw, &mut problems);
    if problems.is_empty() {
        Ok(document)
    } else {
        problems.sort_by_key(|p| (p.line, p.column));
        Err(Refused(problems))
    }
}

fn one(line: usize, column: usize, reason: String) -> Refused {
    Refused(vec![Problem {
        line,
        column,
        reason,
    }])
}

/// The parser's message without the position it ends with (given apart).
fn without_location(message: &str) -> String {
    message
        .find(" at line ")
        .map_or(message, |at| &message[..at])
        .to_owned()
}

/// The checks that need the whole document; what they find goes to `problems`.
fn check(text: &str, raw: Raw, problems: &mut Vec<Problem>) -> Document {
    let mut problem = |steps: &[Step<'_>], reason: String| {
        let (line, column) = locate(text, steps);
        problems.push(Problem {
            line,
            column,
            reason,
        });
    };
    if raw.version != VERSION {
        problem(
            &[Step::Key("version")],
            format!(
                "version {}: this pipewatch reads version {VERSION}",
                raw.version
            ),
        );
    }
    let declared: Vec<String> = raw.templates.0.iter().map(|(n, _)| n.clone()).collect();
    let templates = compile_templates(raw.templates.0, &mut problem);
    let mut destinations = BTreeMap::new();
    for (name, destination) in raw.destinations.0 {
        let destination = check_destination(&name, destination, &declared, &mut problem);
        destinations.insert(name, destination);
    }
    let mut subscriptions = Vec::new();
    for (i, subscription) in raw.subscriptions.into_iter().enumerate() {
        let here = |key| [Step::Key("subscriptions"), Step::Item(i), Step::Key(key)];
        if subscription.pipelines.is_empty() {
            problem(
                &here("pipelines"),
                "a subscription names no pipeline".into(),
            );
        }
        for pipeline in &subscription.pipelines {
            if let Err(error) = Entry::parse(pipeline) {
                let mut steps = here("pipelines").to_vec();
                steps.push(Step::Text(pipeline));
                problem(&steps, format!("the subscription {error}"));
            }
        }
        if subscription.to.is_empty() {
            problem(&here("to"), "a subscription names no destination".into());
        }
        for name in &subscription.to {
            if !destinations.contains_key(name) {
                let mut steps = here("to").to_vec();
                steps.push(Step::Text(name));
                problem(&steps, unknown_destination(name, &destinations));
            }
        }
        subscriptions.push(Subscription {
            entries: subscription
                .pipelines
                .iter()
                .filter_map(|p| Entry::parse(p).ok())
                .collect(),
            pipelines: subscription.pipelines,
            to: subscription.to,
        });
    }
    let approvers = raw.approvers.and_then(|rules| {
        Approvers::parse(&rules.to_string())
            .map_err(|error| problem(&[Step::Key("approvers")], format!("approvers: {error}")))
            .ok()
    });
    Document {
        destinations,
        subscriptions,
        approvers,
        templates,
    }
}

/// The templates as written, compiled as `NAME.title` and `NAME.text`; what the sandbox
/// or the parser refuses is placed at its part.
fn compile_templates(
    raw: Vec<(String, RawTemplate)>,
    problem: &mut impl FnMut(&[Step<'_>], String),
) -> Templates {
    let mut templates = Templates::new();
    for (name, template) in raw {
        let here = [Step::Key("templates"), Step::Key(&name)];
        if !is_name(&name) {
            problem(
                &here,
                format!("the template name {name:?} is not 1-{MAX_NAME} of a-z, 0-9, - and _"),
            );
        }
        if template.title.is_none() && template.text.is_none() {
            problem(&here, "a template has a title, a text or both".into());
        }
        for (part, source) in [("title", template.title), ("text", template.text)] {
            let Some(source) = source else { continue };
            if let Err(reason) = templates.add(&format!("{name}.{part}"), &source) {
                problem(
                    &[Step::Key("templates"), Step::Key(&name), Step::Key(part)],
                    format!("templates.{name}.{part}: {reason}"),
                );
            }
        }
    }
    templates
}

/// One destination as written, checked: its name, and the keys its type takes.
fn check_destination(
    name: &str,
    destination: RawDestination,
    templates: &[String],
    problem: &mut impl FnMut(&[Step<'_>], String),
) -> Destination {
    let here = [Step::Key("destinations"), Step::Key(name)];
    if !is_name(name) {
        problem(
            &here,
            format!(
                "the destination name {name:?} is not 1-{MAX_NAME} of a-z, 0-9, - and _ \
                 (ASCII, so that no two names differ by a look-alike letter)"
            ),
        );
    }
    let at = |key| [Step::Key("destinations"), Step::Key(name), Step::Key(key)];
    let RawDestination {
        kind,
        channel,
        secret,
        entry,
        topic,
        template,
        severity,
        broadcast_failures,
        approvals,
    } = destination;
    let app = kind == Kind::SlackApp;
    for (key, reason) in kind.refusals(&[
        ("channel", channel.is_some()),
        ("broadcast_failures", broadcast_failures.is_some()),
        ("approvals", approvals.is_some()),
        ("secret", secret.is_some()),
        ("entry", entry.is_some()),
        ("topic", topic.is_some()),
        ("template", template.is_some()),
    ]) {
        problem(&at(key), reason);
    }
    if let Some(wanted) = &template
        && !templates.contains(wanted)
    {
        problem(
            &at("template"),
            format!("no template named {wanted:?} is declared under templates"),
        );
    }
    if entry == Some(0) {
        problem(
            &at("entry"),
            "entry counts the secret's webhooks from 1".into(),
        );
    }
    if kind.is_topic() {
        let arn = topic.unwrap_or_default();
        if let Err(reason) = check_topic(&arn) {
            problem(&at("topic"), reason);
        }
        let topic = super::Topic {
            arn,
            severity,
            template,
        };
        return if kind == Kind::Email {
            Destination::Email(topic)
        } else {
            Destination::Chatbot(topic)
        };
    }
    if app {
        let channel = channel.unwrap_or_default();
        if !is_channel(&channel) {
            problem(
                &at("channel"),
                format!("{channel:?} is not a Slack channel id (C0123456789)"),
            );
        }
        Destination::SlackApp {
            channel,
            severity,
            broadcast_failures: broadcast_failures.unwrap_or(true),
            approvals: approvals.unwrap_or(false),
        }
    } else {
        let secret = secret.unwrap_or_default();
        if !is_secret_arn(&secret) {
            problem(&at("secret"), NOT_AN_ARN.into());
        }
        let webhook = super::Webhook {
            secret,
            entry,
            severity,
            template,
        };
        if kind == Kind::Teams {
            Destination::TeamsWebhook(webhook)
        } else {
            Destination::SlackWebhook(webhook)
        }
    }
}

const NOT_AN_ARN: &str = "a destination's secret is the ARN of the Secrets Manager secret \
    that holds its URL (arn:aws:secretsmanager:REGION:ACCOUNT:secret:NAME), never the URL";

/// Whether `arn` is an SNS topic a destination can name: a standard topic's ARN (a FIFO
/// topic takes no email subscriber, nor Chatbot).
fn check_topic(arn: &str) -> Result<(), String> {
    let parts: Vec<&str> = arn.split(':').collect();
    let sound = matches!(parts[..], ["arn", partition, "sns", region, account, name]
        if partition.starts_with("aws") && !region.is_empty()
            && account.len() == 12 && account.chars().all(|c| c.is_ascii_digit())
            && (1..=256).contains(&name.len())
            && name.chars().all(|c| c.is_ascii_alphanumeric() || c == '-' || c == '_' || c == '.'));
    if !sound {
        return Err(format!(
            "{arn:?} is not an SNS topic's ARN (arn:aws:sns:REGION:ACCOUNT:NAME)"
        ));
    }
    if arn
        .rsplit_once('.')
        .is_some_and(|(_, suffix)| suffix.eq_ignore_ascii_case("fifo"))
    {
        return Err(format!(
            "{arn:?} is a FIFO topic, which takes neither email nor Chatbot subscribers: name a standard topic"
        ));
    }
    Ok(())
}

/// "no destination named …", with the declared name it is likely a typo of.
fn unknown_destination(name: &str, declared: &BTreeMap<String, Destination>) -> String {
    let near = declared
        .keys()
        .filter(|d| distance(d, name) <= 2)
        .min_by_key(|d| distance(d, name));
    match near {
        Some(near) => format!("no destination named {name:?} (did you mean {near:?}?)"),
        None => format!("no destination named {name:?} is declared"),
    }
}

/// The edit distance of two short names (Levenshtein).
pub(super) fn distance(a: &str, b: &str) -> usize {
    let b: Vec<char> = b.chars().collect();
    let mut row: Vec<usize> = (0..=b.len()).collect();
    for (i, ca) in a.chars().enumerate() {
        let mut previous = row[0];
        row[0] = i + 1;
        for (j, cb) in b.iter().enumerate() {
            let current = row[j + 1];
            row[j + 1] = (previous + usize::from(ca != *cb))
                .min(row[j] + 1)
                .min(current + 1);
            previous = current;
        }
    }
    row[b.len()]
}

pub(super) fn is_name(name: &str) -> bool {
    name.len() <= MAX_NAME
        && name
            .chars()
            .next()
            .is_some_and(|c| c.is_ascii_lowercase() || c.is_ascii_digit())
        && name
            .chars()
            .all(|c| c.is_ascii_lowercase() || c.is_ascii_digit() || c == '-' || c == '_')
}

pub(super) fn is_channel(channel: &str) -> bool {
    channel.len() >= 9
        && channel.starts_with(['C', 'G'])
        && channel
            .chars()
            .all(|c| c.is_ascii_uppercase() || c.is_ascii_digit())
}

fn is_secret_arn(arn: &str) -> bool {
    let parts: Vec<&str> = arn.splitn(7, ':').collect();
    matches!(parts[..], ["arn", partition, "secretsmanager", region, account, "secret", name]
        if partition.starts_with("aws") && !region.is_empty()
            && account.len() == 12 && account.chars().all(|c| c.is_ascii_digit())
            && !name.is_empty())
}
