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
}

/// The Slack app's settings.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct SlackAppConfig {
    /// `SLACK_APP_SECRET_ARN`: a secret holding the bot token (`xoxb-…`).
    pub token_secret: String,
    /// `SLACK_APP_ROUTES`: the channels, as JSON (parsed by the forwarder).
    pub routes: String,
    /// `TABLE_NAME`: where message references are kept.
    pub table: String,
    /// `ALARM_TOPIC_ARN`: where the operator is told that a channel cannot take messages.
    pub alarm_topic: Option<String>,
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
        let slack_app = match secret("SLACK_APP_SECRET_ARN")? {
            None => None,
            Some(token_secret) => Some(SlackAppConfig {
                token_secret,
                routes: required(&lookup, "SLACK_APP_ROUTES")?,
                table: required(&lookup, "TABLE_NAME")?,
                alarm_topic: value(&lookup, "ALARM_TOPIC_ARN"),
                api_url: value(&lookup, "SLACK_API_URL"),
            }),
        };
        if slack_secret.is_none() && teams_secret.is_none() && slack_app.is_none() {
            return Err(ConfigError {
                name: "SLACK_WEBHOOK_SECRET_ARN",
                problem:
                    "is not set, nor is TEAMS_WEBHOOK_SECRET_ARN or SLACK_APP_SECRET_ARN: the forwarder needs at least one"
                        .into(),
            });
        }
        Ok(Self {
            slack_secret,
            teams_secret,
            log_level: log_level(&lookup)?,
            slack_app,
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_forwarder_needs_at_least_one_secret_arn() {
        let missing = ForwarderConfig::from_lookup(|_| None).unwrap_err();
        assert_eq!(
            missing.to_string(),
            "environment variable SLACK_WEBHOOK_SECRET_ARN is not set, nor is TEAMS_WEBHOOK_SECRET_ARN or SLACK_APP_SECRET_ARN: the forwarder needs at least one"
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
        assert_eq!((app.alarm_topic, app.api_url), (None, None));
    }
}
