//! Links into the AWS console, for one region and, when known, the account: the
//! pipeline's page, an execution's timeline, an alarm, and the pipeline's ARN.

use percent_encoding::{AsciiSet, NON_ALPHANUMERIC, utf8_percent_encode};

/// Where the AWS console is for one region, and the account when known (for ARNs).
///
/// Links are partition-aware: `console.aws.amazon.com`, `console.amazonaws.cn` for China
/// regions, `console.amazonaws-us-gov.com` for `GovCloud`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Console {
    region: String,
    account: Option<String>,
}

impl Console {
    /// `None` unless `region` looks like a region code, so a link never carries junk.
    pub fn new(region: &str, account: Option<&str>) -> Option<Self> {
        let valid_region = !region.is_empty()
            && region.len() <= 30
            && region
                .chars()
                .all(|c| c.is_ascii_lowercase() || c.is_ascii_digit() || c == '-');
        let account = account.filter(|a| a.len() == 12 && a.chars().all(|c| c.is_ascii_digit()));
        valid_region.then(|| Self {
            region: region.to_owned(),
            account: account.map(str::to_owned),
        })
    }

    pub fn partition(&self) -> &'static str {
        if self.region.starts_with("cn-") {
            "aws-cn"
        } else if self.region.starts_with("us-gov-") {
            "aws-us-gov"
        } else {
            "aws"
        }
    }

    fn base(&self) -> String {
        let domain = match self.partition() {
            "aws-cn" => "console.amazonaws.cn",
            "aws-us-gov" => "console.amazonaws-us-gov.com",
            _ => "console.aws.amazon.com",
        };
        format!("https://{}.{domain}", self.region)
    }

    /// The pipeline's page, where approvals are reviewed.
    pub fn pipeline_url(&self, pipeline: &str) -> String {
        format!(
            "{}/codesuite/codepipeline/pipelines/{}/view?region={}",
            self.base(),
            encode(pipeline),
            self.region
        )
    }

    /// One execution's timeline.
    pub fn execution_url(&self, pipeline: &str, execution: &str) -> String {
        format!(
            "{}/codesuite/codepipeline/pipelines/{}/executions/{}/timeline?region={}",
            self.base(),
            encode(pipeline),
            encode(execution),
            self.region
        )
    }

    /// A CloudWatch alarm's page.
    pub fn alarm_url(&self, alarm: &str) -> String {
        format!(
            "{}/cloudwatch/home?region={}#alarmsV2:alarm/{}",
            self.base(),
            self.region,
            encode(alarm)
        )
    }

    /// `arn:PARTITION:codepipeline:REGION:ACCOUNT:NAME`, when the account is known.
    pub fn pipeline_arn(&self, pipeline: &str) -> Option<String> {
        self.account.as_ref().map(|account| {
            format!(
                "arn:{}:codepipeline:{}:{account}:{pipeline}",
                self.partition(),
                self.region
            )
        })
    }
}

/// Everything but RFC 3986's unreserved characters (`A-Z a-z 0-9 - . _ ~`).
const PATH_SEGMENT: &AsciiSet = &NON_ALPHANUMERIC
    .remove(b'-')
    .remove(b'.')
    .remove(b'_')
    .remove(b'~');

/// Percent-encodes a URL path segment.
fn encode(segment: &str) -> String {
    utf8_percent_encode(segment, PATH_SEGMENT).to_string()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn path_segments_keep_only_unreserved_characters() {
        assert_eq!(encode("web-app_1.2~x"), "web-app_1.2~x");
        assert_eq!(encode("a b/c?d#é"), "a%20b%2Fc%3Fd%23%C3%A9");
    }
}
