//! The forwarder's configuration (the optional second function): its webhook secrets and
//! the Slack app's settings, parsed once at cold start like the watcher's.

use super::{ConfigError, log_level, required, value};

/// The forwarder's configuration (the optional second function): the secrets holding its
/// webhook destinations, at least one of them.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ForwarderConfig {
    /// `SLACK_WEBHOOK_SECRET_ARN`: a secret with Slack incoming-webhook destinations.
    pub slack_secret: Option<String>,
    /// `TEAMS_WEBHOOK_SECRET_ARN`: a secret with Teams Workflows webhook destinations.
    pub teams_secret: Option<String>,
    /// `LOG_LEVEL`, as for the watcher.
    pub log_level: String,
    /// The Slack app, when `SLACK_APP_SECRET_ARN` (its bot token) is set.
    pub slack_app: Option<SlackAppConfig>,
    /// The notifications document, when `DOCUMENT_BUCKET` is set.
    pub document: Option<DocumentConfig>,
    /// `ALARM_TOPIC_ARN`: where the operator is told that a Slack channel cannot take
    /// messages, or that a document was refused.
    pub alarm_topic: Option<String>,
    /// `DOCUMENT_TOPICS`: the SNS topics a document's email and Chatbot destinations may
    /// name, as an ARN pattern (`arn:aws:sns:eu-west-1:123456789012:pipewatch-*`), the
    /// one the forwarder's IAM policy allows; unset: none.
    pub document_topics: Option<String>,
}

/// Where the notifications document is kept, and how often it is read again.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct DocumentConfig {
    /// `DOCUMENT_BUCKET`: the stack's versioned bucket.
    pub bucket: String,
    /// `DOCUMENT_KEY`: the object (default `notifications.yaml`).
    pub key: String,
    /// `DOCUMENT_CACHE_SECONDS`: how long a read document is used before S3 is asked
    /// whether it changed (default 60, at most 3600).
    pub cache: std::time::Duration,
    /// `TABLE_NAME`: where "the operator was told" is kept for a refused document.
    pub table: String,
}

/// The Slack app's settings.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct SlackAppConfig {
    /// `SLACK_APP_SECRET_ARN`: a secret holding the bot token (`xoxb-…`).
    pub token_secret: String,
    /// `SLACK_APP_ROUTES`: the channels, as JSON (parsed by the forwarder); with a
    /// document, optional (`[]`).
    pub routes: String,
    /// `TABLE_NAME`: where message references are kept.
    pub table: String,
    /// `SLACK_API_URL`: Slack's Web API elsewhere (Slack for government, a local fake).
    pub api_url: Option<String>,
}

impl ForwarderConfig {
    pub fn from_env() -> Result<Self, ConfigError> {
        Self::from_lookup(|name| std::env::var(name).ok())
    }

    pub fn from_lookup(lookup: impl Fn(&str) -> Option<String>) -> Result<Self, ConfigError> {
        let secret = |name: &'static str| match value(&lookup, name) {
            Some(arn) if !arn.starts_with("arn:") || !arn.contains(":secretsmanager:") => {
                Err(ConfigError {
                    name,
                    problem: format!("must be a Secrets Manager secret ARN, not {arn:?}"),
                })
            }
            other => Ok(other),
        };
        let slack_secret = secret("SLACK_WEBHOOK_SECRET_ARN")?;
        let teams_secret = secret("TEAMS_WEBHOOK_SECRET_ARN")?;
        let document = DocumentConfig::from_lookup(&lookup)?;
        let slack_app = match secret("SLACK_APP_SECRET_ARN")? {
            None => None,
            Some(token_secret) => Some(SlackAppConfig {
                token_secret,
                routes: match (value(&lookup, "SLACK_APP_ROUTES"), &document) {
                    (None, Some(_)) => "[]".to_owned(),
                    _ => required(&lookup, "SLACK_APP_ROUTES")?,
                },
                table: required(&lookup, "TABLE_NAME")?,
                api_url: value(&lookup, "SLACK_API_URL"),
            }),
        };
        if slack_secret.is_none()
            && teams_secret.is_none()
            && slack_app.is_none()
            && document.is_none()
        {
            return Err(ConfigError {
                name: "SLACK_WEBHOOK_SECRET_ARN",
                problem:
                    "is not set, nor is TEAMS_WEBHOOK_SECRET_ARN, SLACK_APP_SECRET_ARN or DOCUMENT_BUCKET: the forwarder needs at least one"
                        .into(),
            });
        }
        Ok(Self {
            slack_secret,
            teams_secret,
            log_level: log_level(&lookup)?,
            slack_app,
            document,
            alarm_topic: value(&lookup, "ALARM_TOPIC_ARN"),
            document_topics: match value(&lookup, "DOCUMENT_TOPICS") {
                Some(pattern) if !pattern.starts_with("arn:") || !pattern.contains(":sns:") => {
                    return Err(ConfigError {
                        name: "DOCUMENT_TOPICS",
                        problem: format!(
                            "must be an SNS topic ARN pattern (arn:aws:sns:REGION:ACCOUNT:PREFIX*), not {pattern:?}"
                        ),
                    });
                }
                other => other,
            },
        })
    }
}

impl DocumentConfig {
    /// The document's settings, when `DOCUMENT_BUCKET` is set.
    pub fn from_lookup(
        lookup: &impl Fn(&str) -> Option<String>,
    ) -> Result<Option<Self>, ConfigError> {
        let Some(bucket) = value(lookup, "DOCUMENT_BUCKET") else {
            return Ok(None);
        };
        Ok(Some(Self {
            bucket,
            key: value(lookup, "DOCUMENT_KEY").unwrap_or_else(|| "notifications.yaml".to_owned()),
            cache: std::time::Duration::from_secs(cache_seconds(lookup)?),
            table: required(lookup, "TABLE_NAME")?,
        }))
    }
}

/// `DOCUMENT_CACHE_SECONDS`: 0 to 3600, 60 when unset.
fn cache_seconds(lookup: &impl Fn(&str) -> Option<String>) -> Result<u64, ConfigError> {
    let Some(text) = value(lookup, "DOCUMENT_CACHE_SECONDS") else {
        return Ok(60);
    };
    text.parse::<u64>()
        .ok()
        .filter(|s| *s <= 3600)
        .ok_or_else(|| ConfigError {
            name: "DOCUMENT_CACHE_SECONDS",
            problem: format!("must be a number of seconds from 0 to 3600, not {text:?}"),
        })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_forwarder_needs_at_least_one_secret_arn() {
        let missing = ForwarderConfig::from_lookup(|_| None).unwrap_err();
        assert_eq!(
            missing.to_string(),
            "environment variable SLACK_WEBHOOK_SECRET_ARN is not set, nor is TEAMS_WEBHOOK_SECRET_ARN, SLACK_APP_SECRET_ARN or DOCUMENT_BUCKET: the forwarder needs at least one"
        );
        let wrong =
            ForwarderConfig::from_lookup(|_| Some("https://hooks.slack.com/x".into())).unwrap_err();
        assert!(
            wrong
                .to_string()
                .contains("must be a Secrets Manager secret ARN")
        );
        let arn = "arn:aws:secretsmanager:us-east-1:123456789012:secret:teams-AbCdEf";
        let config = ForwarderConfig::from_lookup(|name| {
            (name == "TEAMS_WEBHOOK_SECRET_ARN").then(|| arn.into())
        })
        .unwrap();
        assert_eq!(config.teams_secret.as_deref(), Some(arn));
        assert_eq!(config.slack_secret, None);
        assert_eq!(config.log_level, "info");
        assert_eq!(config.slack_app, None);
        assert_eq!(config.document, None);
    }

    #[test]
    fn a_document_alone_is_enough_and_its_cache_period_is_bounded() {
        let with = |pairs: &[(&str, &str)]| {
            let pairs: Vec<(String, String)> = pairs
                .iter()
                .map(|(n, v)| ((*n).to_owned(), (*v).to_owned()))
                .collect();
            ForwarderConfig::from_lookup(move |name| {
                pairs
                    .iter()
                    .find(|(n, _)| n == name)
                    .map(|(_, v)| v.clone())
            })
        };
        let config = with(&[("DOCUMENT_BUCKET", "b"), ("TABLE_NAME", "t")]).unwrap();
        let document = config.document.unwrap();
        assert_eq!(
            (
                document.bucket.as_str(),
                document.key.as_str(),
                document.table.as_str()
            ),
            ("b", "notifications.yaml", "t")
        );
        assert_eq!(document.cache.as_secs(), 60);
        assert_eq!(config.alarm_topic, None);
        let set = with(&[
            ("DOCUMENT_BUCKET", "b"),
            ("DOCUMENT_KEY", "k.yaml"),
            ("TABLE_NAME", "t"),
            ("DOCUMENT_CACHE_SECONDS", "3600"),
            (
                "ALARM_TOPIC_ARN",
                "arn:aws:sns:eu-west-1:123456789012:alarms",
            ),
            (
                "SLACK_APP_SECRET_ARN",
                "arn:aws:secretsmanager:eu-west-1:123456789012:secret:a-AbCdEf",
            ),
        ])
        .unwrap();
        assert_eq!(
            set.slack_app.unwrap().routes,
            "[]",
            "the document names the channels"
        );
        let document = set.document.unwrap();
        assert_eq!(
            (document.key.as_str(), document.cache.as_secs()),
            ("k.yaml", 3600)
        );
        assert!(set.alarm_topic.is_some());
        for (bad, wanted) in [
            ("3601", "from 0 to 3600, not \"3601\""),
            ("-1", "not \"-1\""),
            ("1m", "not \"1m\""),
        ] {
            let pairs = [
                ("DOCUMENT_BUCKET", "b"),
                ("TABLE_NAME", "t"),
                ("DOCUMENT_CACHE_SECONDS", bad),
            ];
            let error = with(&pairs).unwrap_err().to_string();
            assert!(error.contains(wanted), "{error}");
        }
        let topics = "arn:aws:sns:eu-west-1:123456789012:pipewatch-*";
        let pairs = [
            ("DOCUMENT_BUCKET", "b"),
            ("TABLE_NAME", "t"),
            ("DOCUMENT_TOPICS", topics),
        ];
        assert_eq!(
            with(&pairs).unwrap().document_topics.as_deref(),
            Some(topics)
        );
        let pairs = [
            ("DOCUMENT_BUCKET", "b"),
            ("TABLE_NAME", "t"),
            ("DOCUMENT_TOPICS", "pipewatch-*"),
        ];
        let error = with(&pairs).unwrap_err().to_string();
        assert!(
            error.contains("DOCUMENT_TOPICS") && error.contains("must be an SNS topic ARN pattern"),
            "{error}"
        );
        let no_table = with(&[("DOCUMENT_BUCKET", "b")]).unwrap_err();
        assert_eq!(
            no_table.to_string(),
            "environment variable TABLE_NAME is not set"
        );
    }

    #[test]
    fn the_slack_app_needs_its_channels_and_the_table() {
        let arn = "arn:aws:secretsmanager:us-east-1:123456789012:secret:slack-app-AbCdEf";
        let with = |pairs: &'static [(&'static str, &'static str)]| {
            ForwarderConfig::from_lookup(move |name| {
                if name == "SLACK_APP_SECRET_ARN" {
                    return Some(arn.into());
                }
                pairs
                    .iter()
                    .find(|(n, _)| *n == name)
                    .map(|(_, v)| (*v).to_owned())
            })
        };
        let missing = with(&[("TABLE_NAME", "t")]).unwrap_err();
        assert_eq!(
            missing.to_string(),
            "environment variable SLACK_APP_ROUTES is not set"
        );
        let config = with(&[("TABLE_NAME", "t"), ("SLACK_APP_ROUTES", "[]")]).unwrap();
        let app = config.slack_app.unwrap();
        assert_eq!((app.token_secret.as_str(), app.table.as_str()), (arn, "t"));
        assert_eq!(app.api_url, None);
    }
}
