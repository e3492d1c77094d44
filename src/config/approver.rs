//! The approver's configuration (the function behind the Slack app's interactivity URL),
//! parsed once at cold start like the others'.

use super::{ConfigError, RoleSettings, log_level, required, valid_role_name, value};
use crate::select::Selection;
use pipewatch_core::interaction::{Approvers, Installed};

/// Everything the approver reads from its environment.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ApproverConfig {
    /// `SLACK_SIGNING_SECRET_ARN`: a secret holding the Slack app's signing secret.
    pub signing_secret: String,
    /// `SLACK_APP_SECRET_ARN`: the app's bot token, to open the rejection's reason dialog.
    pub token_secret: String,
    /// `SLACK_API_URL`: Slack's Web API elsewhere (blank: Slack's own).
    pub api_url: Option<String>,
    /// `SLACK_TEAM_ID` and `SLACK_APP_ID`: the workspace and app clicks must come from.
    pub installed: Installed,
    /// `APPROVERS`: who may decide which approvals, as JSON; unset: nobody.
    pub approvers: Approvers,
    /// `APPROVAL_QUEUE_URL`: where a click's decision is handed on, for this function to
    /// take after it has answered Slack.
    pub queue_url: String,
    /// `TABLE_NAME`: where a decision is claimed once.
    pub table: String,
    /// `PIPELINES`: the pipelines whose approvals may be decided, comma-separated: names
    /// and patterns here, ARNs (their names may be patterns) elsewhere. No other may be.
    pub watched: Selection,
    /// `ACCOUNT_ID`: the account the approver runs in.
    pub account: String,
    /// The notifications document, whose approvers narrow `APPROVERS` (`DOCUMENT_BUCKET`,
    /// as the forwarder's).
    pub document: Option<super::DocumentConfig>,
    /// `APPROVER_ROLE_NAME` and `ASSUME_ROLE_EXTERNAL_ID`: the role assumed to decide a
    /// pipeline given by its ARN (`templates/approver-role.yaml`); unset, only the
    /// pipelines here may be decided.
    pub role: Option<RoleSettings>,
    pub log_level: String,
}

impl ApproverConfig {
    pub fn from_env() -> Result<Self, ConfigError> {
        Self::from_lookup(|name| std::env::var(name).ok())
    }

    pub fn from_lookup(lookup: impl Fn(&str) -> Option<String>) -> Result<Self, ConfigError> {
        let signing_secret = required(&lookup, "SLACK_SIGNING_SECRET_ARN")?;
        if !signing_secret.starts_with("arn:") || !signing_secret.contains(":secretsmanager:") {
            return Err(ConfigError {
                name: "SLACK_SIGNING_SECRET_ARN",
                problem: "must be a Secrets Manager secret ARN".into(),
            });
        }
        let approvers = match value(&lookup, "APPROVERS") {
            None => Approvers::default(),
            Some(text) => Approvers::parse(&text).map_err(|problem| ConfigError {
                name: "APPROVERS",
                problem: format!("is not valid: {problem}"),
            })?,
        };
        let external_id = value(&lookup, "ASSUME_ROLE_EXTERNAL_ID");
        let role = match value(&lookup, "APPROVER_ROLE_NAME") {
            None => None,
            Some(name) if valid_role_name(&name) => Some(RoleSettings { name, external_id }),
            Some(name) => {
                return Err(ConfigError {
                    name: "APPROVER_ROLE_NAME",
                    problem: format!("must be an IAM role name, not {name:?}"),
                });
            }
        };
        let watched =
            Selection::parse(&required(&lookup, "PIPELINES")?).map_err(|problem| ConfigError {
                name: "PIPELINES",
                problem,
            })?;
        if role.is_none() && watched.entries.iter().any(|e| e.location.is_some()) {
            return Err(ConfigError {
                name: "PIPELINES",
                problem: "names pipelines by ARN, which are decided through the approver role: set APPROVER_ROLE_NAME".into(),
            });
        }
        let account = required(&lookup, "ACCOUNT_ID")?;
        if account.len() != 12 || !account.chars().all(|c| c.is_ascii_digit()) {
            return Err(ConfigError {
                name: "ACCOUNT_ID",
                problem: format!("must be a 12-digit account id, not {account:?}"),
            });
        }
        Ok(Self {
            signing_secret,
            token_secret: required(&lookup, "SLACK_APP_SECRET_ARN")?,
            api_url: value(&lookup, "SLACK_API_URL"),
            installed: Installed {
                team: required(&lookup, "SLACK_TEAM_ID")?,
                app: required(&lookup, "SLACK_APP_ID")?,
            },
            approvers,
            queue_url: required(&lookup, "APPROVAL_QUEUE_URL")?,
            table: required(&lookup, "TABLE_NAME")?,
            watched,
            account,
            document: super::DocumentConfig::from_lookup(&lookup)?,
            role,
            log_level: log_level(&lookup)?,
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn nobody_may_approve_unless_the_approvers_say_so_and_a_bad_map_is_named() {
        let arn = "arn:aws:secretsmanager:us-east-1:123456789012:secret:signing-AbCdEf";
        let with = |approvers: Option<&'static str>| {
            ApproverConfig::from_lookup(move |name| match name {
                "SLACK_SIGNING_SECRET_ARN" | "SLACK_APP_SECRET_ARN" => Some(arn.into()),
                "SLACK_TEAM_ID" => Some("T0PIPEWATCH".into()),
                "SLACK_APP_ID" => Some("A0PIPEWATCH".into()),
                "APPROVAL_QUEUE_URL" => Some("https://sqs.us-east-1.amazonaws.com/1/q".into()),
                "TABLE_NAME" => Some("t".into()),
                "PIPELINES" => Some("web-*, payments-release".into()),
                "ACCOUNT_ID" => Some("123456789012".into()),
                "APPROVERS" => approvers.map(str::to_owned),
                _ => None,
            })
        };
        assert_eq!(with(None).unwrap().approvers, Approvers::default());
        assert_eq!(
            with(None).unwrap().watched,
            Selection::parse("web-*,payments-release").unwrap()
        );
        assert_eq!(
            with(None).unwrap().role,
            None,
            "no other account unless asked"
        );
        let bad = with(Some(r#"[{"users": ["maria"], "pipelines": ["*"]}]"#)).unwrap_err();
        assert_eq!(
            bad.to_string(),
            "environment variable APPROVERS is not valid: \"maria\" is not a Slack user id (U024BE7LH)"
        );
        let missing = ApproverConfig::from_lookup(|_| None).unwrap_err();
        assert_eq!(
            missing.to_string(),
            "environment variable SLACK_SIGNING_SECRET_ARN is not set"
        );
    }
}
