//! A pipeline's identity: its name, and where it lives when that is not where pipewatch
//! runs. Every other floor speaks of pipelines through [`PipelineRef`], and its
//! [`PipelineRef::key`] keys the pipeline's stored record.

use std::fmt;

use crate::glob;

/// Where a pipeline lives, when it is not where pipewatch runs.
#[derive(Debug, Clone, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub struct Location {
    pub partition: String,
    pub region: String,
    pub account: String,
}

/// A watched pipeline: a name, in the home account and region unless `location` says.
///
/// Its [`PipelineRef::key`] keys its stored record: a home pipeline's key is its name (as
/// before other accounts existed, so no record moves), another's its ARN, so two
/// pipelines of one name in two accounts never meet.
#[derive(Debug, Clone, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub struct PipelineRef {
    pub location: Option<Location>,
    pub name: String,
}

impl PipelineRef {
    pub fn home(name: impl Into<String>) -> Self {
        Self {
            location: None,
            name: name.into(),
        }
    }

    /// The record key: the name at home, the ARN elsewhere.
    pub fn key(&self) -> String {
        match &self.location {
            None => self.name.clone(),
            Some(l) => format!(
                "arn:{}:codepipeline:{}:{}:{}",
                l.partition, l.region, l.account, self.name
            ),
        }
    }

    /// The pipeline a record key names ([`PipelineRef::key`]): a name, or an ARN.
    pub fn from_key(key: &str) -> Result<Self, String> {
        let Entry { location, name } = Entry::parse(key)?;
        if glob::is_pattern(&name) {
            return Err(format!("{key:?} is a pattern, not a pipeline"));
        }
        Ok(Self { location, name })
    }
}

impl fmt::Display for PipelineRef {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.key())
    }
}

/// One entry of a selection: a pipeline name or pattern, at `location` (home when `None`).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Entry {
    pub location: Option<Location>,
    pub name: String,
}

impl Entry {
    /// A name (`web-app`), a pattern (`payments-*`) or a pipeline ARN whose name may be a
    /// pattern. The error names the entry and what it should be.
    pub fn parse(entry: &str) -> Result<Self, String> {
        let Some(rest) = entry.strip_prefix("arn:") else {
            check_name_or_pattern(entry).map_err(|problem| format!("has {entry:?}: {problem}"))?;
            return Ok(Self {
                location: None,
                name: entry.to_owned(),
            });
        };
        let parts: Vec<&str> = rest.splitn(5, ':').collect();
        let [partition, service, region, account, name] = parts[..] else {
            return Err(format!(
                "has {entry:?}, which is not a pipeline ARN (arn:PARTITION:codepipeline:REGION:ACCOUNT:NAME)"
            ));
        };
        let region_ok = !region.is_empty()
            && region
                .chars()
                .all(|c| c.is_ascii_lowercase() || c.is_ascii_digit() || c == '-');
        let account_ok = account.len() == 12 && account.chars().all(|c| c.is_ascii_digit());
        if service != "codepipeline" || !partition.starts_with("aws") || !region_ok || !account_ok {
            return Err(format!(
                "has {entry:?}, which is not a pipeline ARN (arn:PARTITION:codepipeline:REGION:ACCOUNT:NAME; patterns only in the name)"
            ));
        }
        check_name_or_pattern(name).map_err(|problem| format!("has {entry:?}: {problem}"))?;
        Ok(Self {
            location: Some(Location {
                partition: partition.to_owned(),
                region: region.to_owned(),
                account: account.to_owned(),
            }),
            name: name.to_owned(),
        })
    }
}

/// CodePipeline's rule for names (1-100 of `A-Z a-z 0-9 . @ - _`), plus `*` and `?`.
fn check_name_or_pattern(name: &str) -> Result<(), String> {
    let allowed =
        |c: char| c.is_ascii_alphanumeric() || matches!(c, '.' | '@' | '-' | '_' | '*' | '?');
    if name.is_empty() || name.len() > 100 || !name.chars().all(allowed) {
        return Err(
            "not a pipeline name or pattern (1-100 of A-Z a-z 0-9 . @ - _, and * ?)".to_owned(),
        );
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_key_reads_back_as_its_pipeline() {
        for key in [
            "web",
            "arn:aws:codepipeline:us-west-2:222233334444:svc-orders",
        ] {
            let pipeline = PipelineRef::from_key(key).unwrap();
            assert_eq!(pipeline.key(), key);
            assert_eq!(pipeline.to_string(), key);
        }
        assert!(PipelineRef::from_key("web-*").is_err());
    }

    #[test]
    fn bad_entries_are_named_with_what_they_should_be() {
        let cases = [
            ("not ok", "has \"not ok\": not a pipeline name or pattern"),
            (
                "arn:aws:codepipeline:us-west-2:2222:svc",
                "which is not a pipeline ARN",
            ),
            (
                "arn:aws:codepipeline:*:222233334444:svc",
                "patterns only in the name",
            ),
            ("arn:aws:s3:::bucket", "which is not a pipeline ARN"),
            // Each part of an ARN wrong alone.
            (
                "arn:aws:s3:us-west-2:222233334444:svc",
                "patterns only in the name",
            ),
            (
                "arn:gcp:codepipeline:us-west-2:222233334444:svc",
                "patterns only in the name",
            ),
            (
                "arn:aws:codepipeline:US-WEST-2:222233334444:svc",
                "patterns only in the name",
            ),
            (
                "arn:aws:codepipeline:us-west-2:22223333444x:svc",
                "patterns only in the name",
            ),
            (&"x".repeat(101), "not a pipeline name or pattern"),
        ];
        for (entry, expected) in cases {
            let error = Entry::parse(entry).unwrap_err();
            assert!(error.contains(expected), "{entry}: {error}");
        }
        // CodePipeline's longest name, and ARNs of other partitions, are taken.
        assert_eq!(Entry::parse(&"x".repeat(100)).unwrap().name.len(), 100);
        let china = Entry::parse("arn:aws-cn:codepipeline:cn-north-1:222233334444:svc").unwrap();
        assert_eq!(china.location.unwrap().partition, "aws-cn");
    }
}
