//! Where the forwarder posts: destinations read from a webhook secret, each with the
//! pipelines and the least severity it wants.
//!
//! A secret holds one of:
//! - a webhook URL (everything goes there);
//! - `{"webhook_url": "..."}` or `{"url": "..."}`, optionally with `pipelines`, `severity`
//!   and `format`;
//! - a list of those: `[{"url": "...", "pipelines": ["payments-*"], "severity": "failure"}]`.
//!
//! `pipelines` are names or patterns (`*`, `?`), default all; `severity` is the least
//! severity sent (`info`, `warning`, `approval`, `failure`), default `info` (everything);
//! `format` is `slack` or `teams`, default the secret's own (Slack's secret, Teams' secret).
//! No error message ever repeats a value from the secret, as it may hold a URL.

use serde::Deserialize;

use crate::ports::WebhookUrl;
use pipewatch_core::config::Audience;
use pipewatch_core::render::content::Severity;

/// The message format a destination takes.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum Format {
    /// Slack Block Kit, for Slack incoming webhooks.
    Slack,
    /// An Adaptive Card, for Microsoft Teams Workflows webhooks.
    Teams,
}

impl Format {
    pub fn as_str(self) -> &'static str {
        match self {
            Self::Slack => "slack",
            Self::Teams => "teams",
        }
    }
}

/// A document's template for a destination: the document's templates, and which.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Shaped {
    pub templates: std::sync::Arc<pipewatch_core::config::template::Templates>,
    pub name: String,
}

/// One webhook and what it wants.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Destination {
    /// For logs and errors, never the URL: `slack #2`.
    pub label: String,
    pub url: WebhookUrl,
    pub format: Format,
    /// The pipelines heard about: the secret's names or patterns, or the document's.
    pub pipelines: Audience,
    /// The least severity sent here.
    pub severity: Severity,
    /// The document's template that shapes its messages; `None`: the built-in ones.
    pub template: Option<Shaped>,
}

impl Destination {
    /// Whether a message about the pipeline keyed `pipeline` (`None`: not about a
    /// pipeline, such as one of the stack's alarms) with `severity` goes here. Alarms go
    /// to every destination whose severity they reach, whatever its pipelines.
    pub fn wants(&self, pipeline: Option<&str>, severity: Severity) -> bool {
        wanted(self.severity, &self.pipelines, pipeline, severity)
    }
}

/// The forwarder's one rule for every destination, webhook or topic: a message goes where
/// its severity reaches `floor` and `audience` hears its pipeline; one about no pipeline
/// (an alarm) wherever its severity reaches.
pub fn wanted(
    floor: Severity,
    audience: &Audience,
    pipeline: Option<&str>,
    severity: Severity,
) -> bool {
    severity >= floor && pipeline.is_none_or(|key| audience.hears(key))
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct Entry {
    #[serde(alias = "webhook_url")]
    url: String,
    #[serde(default)]
    pipelines: Option<Vec<String>>,
    #[serde(default)]
    severity: Option<String>,
    #[serde(default)]
    format: Option<Format>,
}

/// The destinations a secret holds. `name` (`slack`, `teams`) labels them and
/// `default_format` is the format of entries that do not say.
pub fn parse(secret: &str, name: &str, default_format: Format) -> Result<Vec<Destination>, String> {
    let secret = secret.trim();
    let entries: Vec<Entry> = match serde_json::from_str::<serde_json::Value>(secret) {
        Err(_) => vec![Entry {
            url: secret.to_owned(),
            pipelines: None,
            severity: None,
            format: None,
        }],
        Ok(value @ serde_json::Value::Array(_)) => serde_json::from_value(value)
            .map_err(|e| format!("the {name} secret is a list, but {}", describe(&e)))?,
        Ok(value @ serde_json::Value::Object(_)) => vec![
            serde_json::from_value(value)
                .map_err(|e| format!("the {name} secret is JSON, but {}", describe(&e)))?,
        ],
        Ok(_) => {
            return Err(format!(
                "the {name} secret is JSON, but neither an object nor a list"
            ));
        }
    };
    if entries.is_empty() {
        return Err(format!("the {name} secret lists no destination"));
    }
    entries
        .into_iter()
        .enumerate()
        .map(|(i, entry)| {
            let label = format!("{name} #{}", i + 1);
            let url = WebhookUrl::parse(&entry.url).map_err(|e| format!("{label}: {e}"))?;
            let pipelines = entry.pipelines.unwrap_or_else(|| vec!["*".to_owned()]);
            if pipelines.is_empty() {
                return Err(format!(
                    "{label}: \"pipelines\" is empty; leave it out for all"
                ));
            }
            if let Some(bad) = pipelines.iter().find(|p| !valid_pattern(p)) {
                return Err(format!(
                    "{label}: {bad:?} is not a pipeline name or pattern (A-Z a-z 0-9 . @ - _ * ?)"
                ));
            }
            let severity = match entry.severity.as_deref() {
                None => Severity::Info,
                Some(s) => Severity::parse(s).ok_or_else(|| {
                    format!(
                        "{label}: severity {s:?} is not one of info, warning, approval, failure"
                    )
                })?,
            };
            Ok(Destination {
                label,
                url,
                format: entry.format.unwrap_or(default_format),
                pipelines: Audience::Names(pipelines),
                severity,
                template: None,
            })
        })
        .collect()
}

/// A webhook secret of the stack's: its ARN, its name (`slack`, `teams`), what it lists.
pub type Listed<'a> = (&'a str, &'static str, Vec<Destination>);

/// The stack's webhook secrets' destinations (`SLACK_WEBHOOK_SECRET_ARN`, then
/// `TEAMS_WEBHOOK_SECRET_ARN`), each secret's value taken from `secrets` by ARN: for each
/// secret given, its ARN, its name (`slack`, `teams`) and what it lists.
pub fn of_stack<'a>(
    forwarder: &'a crate::config::ForwarderConfig,
    secrets: &std::collections::HashMap<String, String>,
) -> Result<Vec<Listed<'a>>, String> {
    let mut listed = Vec::new();
    for (arn, name, format) in [
        (&forwarder.slack_secret, "slack", Format::Slack),
        (&forwarder.teams_secret, "teams", Format::Teams),
    ] {
        let Some(arn) = arn else { continue };
        let value = secrets
            .get(arn)
            .ok_or_else(|| format!("the {name} webhook secret was not read"))?;
        listed.push((arn.as_str(), name, parse(value, name, format)?));
    }
    Ok(listed)
}

/// A serde error without the value it quotes (which may be the URL).
fn describe(error: &serde_json::Error) -> String {
    let text = error.to_string();
    if text.contains("unknown field") {
        "an entry has a field other than url, webhook_url, pipelines, severity, format".into()
    } else if text.contains("missing field") {
        "an entry has no url".into()
    } else if text.contains("unknown variant") {
        "a format is not slack or teams".into()
    } else {
        "an entry is not {\"url\": ..., \"pipelines\": [...], \"severity\": ..., \"format\": ...}"
            .into()
    }
}

fn valid_pattern(pattern: &str) -> bool {
    !pattern.is_empty()
        && pattern.len() <= 100
        && pattern
            .chars()
            .all(|c| c.is_ascii_alphanumeric() || matches!(c, '.' | '@' | '-' | '_' | '*' | '?'))
}

#[cfg(test)]
mod tests {
    use super::*;

    const SECRET: &str = "XXSECRETXX";

    #[test]
    fn a_plain_url_or_object_sends_everything_there() {
        for secret in [
            format!("https://hooks.slack.com/services/T0/B0/{SECRET}"),
            format!(r#"{{"webhook_url": "https://hooks.slack.com/services/T0/B0/{SECRET}"}}"#),
            format!(r#"{{"url": "https://hooks.slack.com/services/T0/B0/{SECRET}"}}"#),
        ] {
            let destinations = parse(&secret, "slack", Format::Slack).unwrap();
            assert_eq!(destinations.len(), 1);
            let d = &destinations[0];
            assert_eq!(
                (d.label.as_str(), d.format, d.severity),
                ("slack #1", Format::Slack, Severity::Info)
            );
            assert!(d.wants(Some("anything"), Severity::Info));
        }
    }

    #[test]
    fn a_list_routes_by_pipeline_pattern_and_least_severity() {
        let secret = format!(
            r#"[{{"url": "https://hooks.slack.com/a/{SECRET}", "pipelines": ["payments-*"], "severity": "failure"}},
                {{"url": "https://example.webhook.office.com/b/{SECRET}", "format": "teams", "severity": "approval"}}]"#
        );
        let destinations = parse(&secret, "slack", Format::Slack).unwrap();
        let (payments, teams) = (&destinations[0], &destinations[1]);
        assert!(payments.wants(Some("payments-api"), Severity::Failure));
        assert!(!payments.wants(Some("payments-api"), Severity::Approval));
        assert!(!payments.wants(Some("web-app"), Severity::Failure));
        assert!(
            payments.wants(None, Severity::Failure),
            "alarms ignore pipeline patterns"
        );
        assert_eq!(teams.format, Format::Teams);
        assert!(teams.wants(Some("web-app"), Severity::Approval));
        assert!(!teams.wants(Some("web-app"), Severity::Warning));
    }

    #[test]
    fn a_bad_secret_is_named_without_its_value() {
        let cases = [
            (
                format!("ftp://x/{SECRET}"),
                "slack #1: the webhook secret is not an http(s) URL",
            ),
            (
                format!(r#"[{{"uri": "https://x/{SECRET}"}}]"#),
                "a field other than",
            ),
            (
                format!(r#"[{{"url": "https://x/{SECRET}", "severity": "loud"}}]"#),
                "severity \"loud\" is not one of",
            ),
            (
                format!(r#"[{{"url": "https://x/{SECRET}", "pipelines": ["no spaces"]}}]"#),
                "is not a pipeline name or pattern",
            ),
            (
                format!(r#"[{{"url": "https://x/{SECRET}", "format": "discord"}}]"#),
                "not slack or teams",
            ),
            ("[]".to_owned(), "lists no destination"),
            ("42".to_owned(), "neither an object nor a list"),
        ];
        for (secret, expected) in cases {
            let error = parse(&secret, "slack", Format::Slack).unwrap_err();
            assert!(error.contains(expected), "{secret}: {error}");
            assert!(!error.contains(SECRET), "{error}");
        }
    }
}
