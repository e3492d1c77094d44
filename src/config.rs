//! The Lambda's configuration: environment variables parsed once, at cold start, into
//! types. A missing or malformed value stops the cold start with an error that names the
//! variable and what it should hold.

use std::time::Duration;

use crate::select::{Selection, parse_tags};

mod approver;
mod forwarder;

pub use approver::ApproverConfig;
pub use forwarder::{DocumentConfig, ForwarderConfig, SlackAppConfig};

/// Everything the Lambda reads from its environment.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Config {
    /// `PIPELINES`: names, patterns (`release-*`, `*`) and pipeline ARNs, comma-separated;
    /// with `PIPELINE_TAGS` (`key=value,...`): only the pipelines carrying all of them.
    pub selection: Selection,
    /// `DISCOVERY_SECONDS`: how long a warm container keeps the resolved selection before
    /// listing again (default 300; only patterns and tags need listing).
    pub discovery: Duration,
    /// `ASSUME_ROLE_NAME` (default `pipewatch-reader`) and `ASSUME_ROLE_EXTERNAL_ID`: the
    /// role assumed in other accounts.
    pub role: RoleSettings,
    /// `SHARD_SIZE`: the most pipelines one invocation checks (default 500); a larger
    /// selection is split into shards sent to `SHARD_QUEUE_URL`.
    pub shard_size: usize,
    /// `SHARD_QUEUE_URL`: the SQS queue shards go to, which the function itself consumes.
    /// Without it every pipeline is checked by the scheduled invocation.
    pub shard_queue_url: Option<String>,
    /// `RETENTION_DAYS`: a record no check has written for this long expires (DynamoDB
    /// TTL): a pipeline that stopped being watched leaves no record behind (default 90).
    pub retention: Duration,
    /// `TABLE_NAME`: the DynamoDB table holding one snapshot item per pipeline.
    pub table_name: String,
    /// `TOPIC_ARN`: the SNS topic notifications are published to.
    pub topic_arn: String,
    /// `MAX_CONCURRENCY`: pipelines checked at once (default 8).
    pub max_concurrency: usize,
    /// `LEASE_SECONDS`: how long a tick owns the messages it claimed before another tick
    /// may publish them (default 120; keep it above the function's timeout).
    pub lease: Duration,
    /// `DEAD_LETTER_QUEUE_URL`: the SQS queue for messages SNS refused for good, or
    /// `MAX_PUBLISH_ATTEMPTS` times, or that an outbox past its bound let go.
    pub dead_letter_queue_url: String,
    /// `MAX_PUBLISH_ATTEMPTS`: refused publishes before a message is dead-lettered
    /// (default 10).
    pub max_publish_attempts: u32,
    /// `REPORT_FAILURES_AFTER`: failed reads of a pipeline in a row before one "cannot
    /// read" message is published (default 5).
    pub report_failures_after: u32,
    /// `METRICS_NAMESPACE`: the CloudWatch namespace of the tick's metrics (default
    /// `pipewatch`).
    pub metrics_namespace: String,
    /// `DETAILED_METRICS`: `yes` adds the metrics the logs already hold (pipelines
    /// checked, the tick's duration, each AWS API's calls, throttles and latency), each
    /// billed by the hour; `no` (the default) leaves them to the logs.
    pub detailed_metrics: bool,
    /// `LOG_LEVEL`: a `tracing` filter such as `info` or `pipewatch=debug` (default `info`).
    pub log_level: String,
}

/// The role name assumed in other accounts, unless configured.
pub const DEFAULT_ROLE_NAME: &str = "pipewatch-reader";

/// How pipewatch reaches other accounts.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct RoleSettings {
    /// The role's name in every other account (its ARN is built per account).
    pub name: String,
    /// Passed to `AssumeRole` when the role's trust policy asks for one.
    pub external_id: Option<String>,
}

impl Default for RoleSettings {
    fn default() -> Self {
        Self {
            name: DEFAULT_ROLE_NAME.to_owned(),
            external_id: None,
        }
    }
}

/// A variable that is missing or does not hold what it should.
#[derive(Debug, thiserror::Error, PartialEq, Eq)]
#[error("environment variable {name} {problem}")]
pub struct ConfigError {
    pub name: &'static str,
    pub problem: String,
}

pub const DEFAULT_MAX_CONCURRENCY: usize = 8;
pub const DEFAULT_LEASE_SECONDS: u64 = 120;
pub const DEFAULT_DISCOVERY_SECONDS: u64 = 300;
pub const DEFAULT_SHARD_SIZE: u64 = 500;
pub const DEFAULT_RETENTION_DAYS: u64 = 90;
pub const DEFAULT_REPORT_FAILURES_AFTER: u64 = 5;
pub const DEFAULT_METRICS_NAMESPACE: &str = "pipewatch";

impl Config {
    pub fn from_env() -> Result<Self, ConfigError> {
        Self::from_lookup(|name| std::env::var(name).ok())
    }

    /// Parses configuration from any name → value lookup (the environment, or a table in tests).
    pub fn from_lookup(lookup: impl Fn(&str) -> Option<String>) -> Result<Self, ConfigError> {
        let pipelines = required(&lookup, "PIPELINES")?;
        let mut selection = Selection::parse(&pipelines).map_err(|problem| ConfigError {
            name: "PIPELINES",
            problem,
        })?;
        if let Some(tags) = value(&lookup, "PIPELINE_TAGS") {
            selection.tags = parse_tags(&tags).map_err(|problem| ConfigError {
                name: "PIPELINE_TAGS",
                problem,
            })?;
        }
        let discovery = number(
            &lookup,
            "DISCOVERY_SECONDS",
            DEFAULT_DISCOVERY_SECONDS,
            0..=86_400,
        )?;
        let role = RoleSettings {
            name: value(&lookup, "ASSUME_ROLE_NAME").unwrap_or_else(|| DEFAULT_ROLE_NAME.into()),
            external_id: value(&lookup, "ASSUME_ROLE_EXTERNAL_ID"),
        };
        if !valid_role_name(&role.name) {
            return Err(ConfigError {
                name: "ASSUME_ROLE_NAME",
                problem: format!(
                    "must be an IAM role name (1-64 of A-Z a-z 0-9 + = , . @ _ -), not {:?}",
                    role.name
                ),
            });
        }
        let shard_size = number(&lookup, "SHARD_SIZE", DEFAULT_SHARD_SIZE, 1..=10_000)?;
        let shard_queue_url = value(&lookup, "SHARD_QUEUE_URL");
        if let Some(url) = &shard_queue_url
            && !(url.starts_with("https://") || url.starts_with("http://"))
        {
            return Err(ConfigError {
                name: "SHARD_QUEUE_URL",
                problem: format!("must be an SQS queue URL, not {url:?}"),
            });
        }
        let retention = number(&lookup, "RETENTION_DAYS", DEFAULT_RETENTION_DAYS, 1..=3650)?;
        let table_name = required(&lookup, "TABLE_NAME")?;
        if !valid_table_name(&table_name) {
            return Err(ConfigError {
                name: "TABLE_NAME",
                problem: format!(
                    "must be a DynamoDB table name (3-255 of A-Z a-z 0-9 _ . -), not {table_name:?}"
                ),
            });
        }
        let topic_arn = required(&lookup, "TOPIC_ARN")?;
        if !valid_topic_arn(&topic_arn) {
            return Err(ConfigError {
                name: "TOPIC_ARN",
                problem: format!(
                    "must be an SNS topic ARN (arn:PARTITION:sns:REGION:ACCOUNT:NAME), not {topic_arn:?}"
                ),
            });
        }
        let max_concurrency = number(
            &lookup,
            "MAX_CONCURRENCY",
            DEFAULT_MAX_CONCURRENCY as u64,
            1..=64,
        )?;
        let lease = number(&lookup, "LEASE_SECONDS", DEFAULT_LEASE_SECONDS, 1..=3600)?;
        let delivery = Delivery::from_lookup(&lookup)?;
        let log_level = log_level(&lookup)?;
        Ok(Self {
            selection,
            discovery: Duration::from_secs(discovery),
            role,
            shard_size: usize::try_from(shard_size).unwrap_or(usize::MAX),
            shard_queue_url,
            retention: Duration::from_secs(retention * 86_400),
            table_name,
            topic_arn,
            max_concurrency: usize::try_from(max_concurrency).unwrap_or(DEFAULT_MAX_CONCURRENCY),
            lease: Duration::from_secs(lease),
            dead_letter_queue_url: delivery.dead_letter_queue_url,
            max_publish_attempts: delivery.max_publish_attempts,
            report_failures_after: delivery.report_failures_after,
            metrics_namespace: delivery.metrics_namespace,
            detailed_metrics: delivery.detailed_metrics,
            log_level,
        })
    }
}

impl Config {
    /// The account the topic (and so the stack) lives in: `arn:aws:sns:REGION:ACCOUNT:NAME`.
    pub fn topic_account(&self) -> Option<&str> {
        self.topic_arn.split(':').nth(4)
    }

    /// The partition the topic (and so the stack) lives in: `aws`, `aws-cn`, ...
    pub fn topic_partition(&self) -> &str {
        self.topic_arn.split(':').nth(1).unwrap_or("aws")
    }
}

/// The settings of what happens when things go wrong: dead letters, failure reports,
/// metrics.
struct Delivery {
    dead_letter_queue_url: String,
    max_publish_attempts: u32,
    report_failures_after: u32,
    metrics_namespace: String,
    detailed_metrics: bool,
}

impl Delivery {
    fn from_lookup(lookup: &impl Fn(&str) -> Option<String>) -> Result<Self, ConfigError> {
        let dead_letter_queue_url = required(lookup, "DEAD_LETTER_QUEUE_URL")?;
        if !(dead_letter_queue_url.starts_with("https://")
            || dead_letter_queue_url.starts_with("http://"))
        {
            return Err(ConfigError {
                name: "DEAD_LETTER_QUEUE_URL",
                problem: format!("must be an SQS queue URL, not {dead_letter_queue_url:?}"),
            });
        }
        let max_publish_attempts = number(
            lookup,
            "MAX_PUBLISH_ATTEMPTS",
            u64::from(pipewatch_core::record::MAX_PUBLISH_ATTEMPTS),
            1..=1000,
        )?;
        let report_failures_after = number(
            lookup,
            "REPORT_FAILURES_AFTER",
            DEFAULT_REPORT_FAILURES_AFTER,
            1..=10_000,
        )?;
        let metrics_namespace = value(lookup, "METRICS_NAMESPACE")
            .unwrap_or_else(|| DEFAULT_METRICS_NAMESPACE.to_owned());
        if metrics_namespace.len() > 255 || metrics_namespace.starts_with("AWS/") {
            return Err(ConfigError {
                name: "METRICS_NAMESPACE",
                problem: format!(
                    "must be a CloudWatch namespace of at most 255 characters, not under AWS/: {metrics_namespace:?}"
                ),
            });
        }
        let detailed_metrics = match value(lookup, "DETAILED_METRICS").as_deref() {
            None | Some("no") => false,
            Some("yes") => true,
            Some(other) => {
                return Err(ConfigError {
                    name: "DETAILED_METRICS",
                    problem: format!("must be yes or no, not {other:?}"),
                });
            }
        };
        Ok(Self {
            dead_letter_queue_url,
            max_publish_attempts: u32::try_from(max_publish_attempts).unwrap_or(u32::MAX),
            report_failures_after: u32::try_from(report_failures_after).unwrap_or(u32::MAX),
            metrics_namespace,
            detailed_metrics,
        })
    }
}

/// A variable's value, trimmed; blank counts as unset.
fn value(lookup: &impl Fn(&str) -> Option<String>, name: &str) -> Option<String> {
    lookup(name)
        .map(|v| v.trim().to_owned())
        .filter(|v| !v.is_empty())
}

fn required(
    lookup: &impl Fn(&str) -> Option<String>,
    name: &'static str,
) -> Result<String, ConfigError> {
    value(lookup, name).ok_or(ConfigError {
        name,
        problem: "is not set".into(),
    })
}

/// `LOG_LEVEL`: a level or a `tracing` filter, `info` when unset.
fn log_level(lookup: &impl Fn(&str) -> Option<String>) -> Result<String, ConfigError> {
    let level = value(lookup, "LOG_LEVEL").unwrap_or_else(|| "info".to_owned());
    match tracing_subscriber::EnvFilter::try_new(&level) {
        Ok(_) => Ok(level),
        Err(e) => Err(ConfigError {
            name: "LOG_LEVEL",
            problem: format!(
                "must be a level (error, warn, info, debug, trace) or a tracing filter: {e}"
            ),
        }),
    }
}

fn valid_role_name(name: &str) -> bool {
    (1..=64).contains(&name.len())
        && name
            .chars()
            .all(|c| c.is_ascii_alphanumeric() || "+=,.@_-".contains(c))
}

fn valid_table_name(name: &str) -> bool {
    (3..=255).contains(&name.len())
        && name
            .chars()
            .all(|c| c.is_ascii_alphanumeric() || matches!(c, '_' | '.' | '-'))
}

fn valid_topic_arn(arn: &str) -> bool {
    let parts: Vec<&str> = arn.split(':').collect();
    parts.len() == 6
        && parts[0] == "arn"
        && !parts[1].is_empty()
        && parts[2] == "sns"
        && !parts[3].is_empty()
        && !parts[4].is_empty()
        && !parts[5].is_empty()
}

fn number(
    lookup: &impl Fn(&str) -> Option<String>,
    name: &'static str,
    default: u64,
    range: std::ops::RangeInclusive<u64>,
) -> Result<u64, ConfigError> {
    let Some(raw) = value(lookup, name) else {
        return Ok(default);
    };
    raw.parse::<u64>()
        .ok()
        .filter(|n| range.contains(n))
        .ok_or_else(|| ConfigError {
            name,
            problem: format!(
                "must be a whole number from {} to {}, not {raw:?}",
                range.start(),
                range.end()
            ),
        })
}

#[cfg(test)]
mod tests {
    use std::collections::HashMap;

    use super::*;

    const TOPIC: &str = "arn:aws:sns:eu-west-1:123456789012:pipewatch";

    fn config(vars: &[(&str, &str)]) -> Result<Config, ConfigError> {
        let vars: HashMap<String, String> = vars
            .iter()
            .map(|(k, v)| ((*k).to_owned(), (*v).to_owned()))
            .collect();
        Config::from_lookup(|name| vars.get(name).cloned())
    }

    fn valid() -> Vec<(&'static str, &'static str)> {
        vec![
            ("PIPELINES", " web-app , infra-prod,web-app,"),
            ("TABLE_NAME", "pipewatch-snapshots"),
            ("TOPIC_ARN", TOPIC),
            (
                "DEAD_LETTER_QUEUE_URL",
                "https://sqs.eu-west-1.amazonaws.com/123456789012/pipewatch-dead-letters",
            ),
        ]
    }

    #[test]
    fn a_minimal_environment_gets_the_defaults() {
        let config = config(&valid()).unwrap();
        let names: Vec<&str> = config
            .selection
            .entries
            .iter()
            .map(|e| e.name.as_str())
            .collect();
        assert_eq!(names, ["web-app", "infra-prod"]);
        assert!(config.selection.tags.is_empty());
        assert_eq!(config.discovery, Duration::from_mins(5));
        assert_eq!(config.role, RoleSettings::default());
        assert_eq!((config.shard_size, config.shard_queue_url), (500, None));
        assert_eq!(config.retention, Duration::from_hours(90 * 24));
        assert_eq!(config.max_concurrency, 8);
        assert_eq!(config.lease, Duration::from_mins(2));
        assert_eq!(config.max_publish_attempts, 10);
        assert_eq!(config.report_failures_after, 5);
        assert_eq!(config.metrics_namespace, "pipewatch");
        assert!(!config.detailed_metrics);
        assert_eq!(config.log_level, "info");
    }

    #[test]
    #[allow(clippy::too_many_lines)] // one table of cases
    fn every_bad_value_is_named_with_what_is_expected() {
        let cases: &[(&str, Option<&str>, &str)] = &[
            (
                "PIPELINES",
                None,
                "environment variable PIPELINES is not set",
            ),
            (
                "PIPELINES",
                Some(" , "),
                "PIPELINES must list at least one pipeline",
            ),
            (
                "PIPELINES",
                Some("ok,not ok"),
                "PIPELINES has \"not ok\": not a pipeline name or pattern",
            ),
            (
                "PIPELINE_TAGS",
                Some("team"),
                "PIPELINE_TAGS has \"team\", which is not key=value",
            ),
            (
                "ASSUME_ROLE_NAME",
                Some("no spaces allowed"),
                "ASSUME_ROLE_NAME must be an IAM role name",
            ),
            (
                "SHARD_SIZE",
                Some("0"),
                "SHARD_SIZE must be a whole number from 1 to 10000",
            ),
            (
                "SHARD_QUEUE_URL",
                Some("pipewatch-shards"),
                "SHARD_QUEUE_URL must be an SQS queue URL",
            ),
            (
                "DISCOVERY_SECONDS",
                Some("-1"),
                "DISCOVERY_SECONDS must be a whole number from 0 to 86400",
            ),
            ("TABLE_NAME", None, "TABLE_NAME is not set"),
            (
                "TABLE_NAME",
                Some("a"),
                "TABLE_NAME must be a DynamoDB table name",
            ),
            (
                "TOPIC_ARN",
                Some("pipewatch"),
                "TOPIC_ARN must be an SNS topic ARN",
            ),
            (
                "TOPIC_ARN",
                Some("arn:aws:sqs:eu-west-1:1:q"),
                "TOPIC_ARN must be an SNS topic ARN",
            ),
            (
                "MAX_CONCURRENCY",
                Some("0"),
                "MAX_CONCURRENCY must be a whole number from 1 to 64, not \"0\"",
            ),
            (
                "MAX_CONCURRENCY",
                Some("eight"),
                "MAX_CONCURRENCY must be a whole number",
            ),
            (
                "LEASE_SECONDS",
                Some("-5"),
                "LEASE_SECONDS must be a whole number from 1 to 3600",
            ),
            ("LOG_LEVEL", Some("loud=[["), "LOG_LEVEL must be a level"),
            (
                "DEAD_LETTER_QUEUE_URL",
                None,
                "DEAD_LETTER_QUEUE_URL is not set",
            ),
            (
                "DEAD_LETTER_QUEUE_URL",
                Some("dead-letters"),
                "DEAD_LETTER_QUEUE_URL must be an SQS queue URL",
            ),
            (
                "MAX_PUBLISH_ATTEMPTS",
                Some("0"),
                "MAX_PUBLISH_ATTEMPTS must be a whole number from 1 to 1000",
            ),
            (
                "REPORT_FAILURES_AFTER",
                Some("0"),
                "REPORT_FAILURES_AFTER must be a whole number from 1 to 10000",
            ),
            (
                "METRICS_NAMESPACE",
                Some("AWS/Lambda"),
                "METRICS_NAMESPACE must be a CloudWatch namespace",
            ),
            (
                "DETAILED_METRICS",
                Some("true"),
                "DETAILED_METRICS must be yes or no, not \"true\"",
            ),
        ];
        for (name, value, expected) in cases {
            let mut vars: Vec<(&str, &str)> =
                valid().into_iter().filter(|(n, _)| n != name).collect();
            if let Some(value) = value {
                vars.push((name, value));
            }
            let error = config(&vars).expect_err(name).to_string();
            assert!(error.contains(expected), "{name}: {error}");
        }
    }
}
