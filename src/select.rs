//! Which pipelines are watched: names, patterns, ARNs (other regions and accounts) and
//! tags, resolved into [`PipelineRef`]s.
//!
//! - A name (`web-app-release`) is checked as it is, with no listing.
//! - A pattern (`release-*`, `*`) is resolved with `ListPipelines`, every page.
//! - An ARN (`arn:aws:codepipeline:us-west-2:222233334444:svc-*`, its name a name or a
//!   pattern) points at another region or account; another account is read through a role
//!   assumed there (see [`crate::aws::clients`]).
//! - Tags (`team=payments,tier=prod`) keep only the pipelines carrying all of them, found
//!   with the Resource Groups Tagging API in each region and account the selection reaches.
//!
//! Resolution is pure over a [`PipelineDirectory`]: the Lambda caches its result for
//! `DISCOVERY_SECONDS` (see [`Discovery`]).

use std::collections::BTreeSet;
use std::time::{Duration, Instant};

use pipewatch_core::glob;
use pipewatch_core::pipeline::{Entry, Location, PipelineRef};

use crate::ports::{PipelineDirectory, SourceError};

/// The watched pipelines as configured: entries and the tags they must all carry.
#[derive(Debug, Clone, PartialEq, Eq, Default)]
pub struct Selection {
    pub entries: Vec<Entry>,
    /// `(key, value)` pairs every selected pipeline carries.
    pub tags: Vec<(String, String)>,
}

/// The home account and region, to tell which ARNs point elsewhere.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Home {
    pub partition: String,
    pub region: String,
    pub account: Option<String>,
}

impl Selection {
    /// Parses comma-separated entries (`PIPELINES`): names, patterns and pipeline ARNs.
    /// Errors name the entry and what it should be. Tags are added with [`parse_tags`].
    pub fn parse(entries: &str) -> Result<Self, String> {
        let mut parsed: Vec<Entry> = Vec::new();
        for entry in entries.split(',').map(str::trim).filter(|e| !e.is_empty()) {
            let entry = Entry::parse(entry)?;
            if !parsed.contains(&entry) {
                parsed.push(entry);
            }
        }
        if parsed.is_empty() {
            return Err(
                "must list at least one pipeline name, pattern or ARN, separated by commas".into(),
            );
        }
        Ok(Self {
            entries: parsed,
            tags: Vec::new(),
        })
    }

    /// Whether resolving needs listing (a pattern) or tags (anything tagged).
    pub fn needs_discovery(&self) -> bool {
        !self.tags.is_empty()
            || self
                .entries
                .iter()
                .any(|Entry { name, .. }| glob::is_pattern(name))
    }

    /// Whether a pipeline in another account is selected (so a role is assumed).
    pub fn reaches_other_accounts(&self, home: &Home) -> bool {
        self.entries.iter().any(|Entry { location, .. }| {
            location
                .as_ref()
                .is_some_and(|l| home.account.as_deref() != Some(l.account.as_str()))
        })
    }

    /// Whether `pipeline` is one this selection could select, without listing: used to
    /// tell whether an event names a watched pipeline. Tags are not checked here.
    pub fn matches(&self, pipeline: &PipelineRef) -> bool {
        self.entries.iter().any(|Entry { location, name }| {
            location == &pipeline.location && glob::matches(name, &pipeline.name)
        })
    }
}

/// Why a selection could not be resolved.
#[derive(Debug, thiserror::Error)]
pub enum SelectError {
    #[error("listing pipelines in {scope} failed")]
    Listing {
        scope: String,
        #[source]
        source: SourceError,
    },
    #[error("the selection matches no pipeline: {0}")]
    Empty(String),
}

/// The watched pipelines, in a stable order (home first, then by account, region, name).
pub async fn resolve<D: PipelineDirectory>(
    selection: &Selection,
    home: &Home,
    directory: &D,
) -> Result<Vec<PipelineRef>, SelectError> {
    let mut found: BTreeSet<PipelineRef> = BTreeSet::new();
    // Each place a pattern or tags need listing, listed once.
    let mut listed: Vec<(Option<Location>, Vec<String>)> = Vec::new();
    for Entry { location, name } in &selection.entries {
        let location = normalise(location.as_ref(), home);
        if !glob::is_pattern(name) {
            found.insert(PipelineRef {
                location,
                name: name.clone(),
            });
            continue;
        }
        let at = if let Some(at) = listed.iter().position(|(l, _)| *l == location) {
            at
        } else {
            let names = directory
                .list_pipelines(location.as_ref())
                .await
                .map_err(|source| SelectError::Listing {
                    scope: scope(location.as_ref()),
                    source,
                })?;
            listed.push((location.clone(), names));
            listed.len() - 1
        };
        for candidate in listed[at].1.iter().filter(|n| glob::matches(name, n)) {
            found.insert(PipelineRef {
                location: location.clone(),
                name: candidate.clone(),
            });
        }
    }
    if !selection.tags.is_empty() {
        let mut tagged: BTreeSet<PipelineRef> = BTreeSet::new();
        let places: BTreeSet<Option<Location>> = found.iter().map(|p| p.location.clone()).collect();
        for location in places {
            let names = directory
                .tagged_pipelines(location.as_ref(), &selection.tags)
                .await
                .map_err(|source| SelectError::Listing {
                    scope: format!("{} (by tags)", scope(location.as_ref())),
                    source,
                })?;
            tagged.extend(names.into_iter().map(|name| PipelineRef {
                location: location.clone(),
                name,
            }));
        }
        found.retain(|p| tagged.contains(p));
    }
    if found.is_empty() {
        return Err(SelectError::Empty(describe(selection)));
    }
    Ok(found.into_iter().collect())
}

/// The resolved selection of a warm container, listed again at most every `every`.
#[derive(Debug)]
pub struct Discovery {
    every: Duration,
    last: Option<(Instant, Vec<PipelineRef>)>,
}

impl Discovery {
    pub fn new(every: Duration) -> Self {
        Self { every, last: None }
    }

    /// The cached selection when fresh, else `None` (resolve and [`Discovery::remember`]).
    pub fn fresh(&self) -> Option<&[PipelineRef]> {
        self.last
            .as_ref()
            .filter(|(at, _)| at.elapsed() < self.every)
            .map(|(_, pipelines)| pipelines.as_slice())
    }

    pub fn remember(&mut self, pipelines: Vec<PipelineRef>) {
        self.last = Some((Instant::now(), pipelines));
    }
}

impl Home {
    /// The pipeline `name` in `account` and `region` (as an event names it), the way the
    /// selection refers to it: by its name at home, by its place elsewhere. Without a known
    /// home account, the home region is home.
    pub fn pipeline(&self, region: &str, account: &str, name: &str) -> PipelineRef {
        let at_home = region == self.region && self.account.as_deref().is_none_or(|a| a == account);
        PipelineRef {
            location: (!at_home).then(|| Location {
                partition: self.partition.clone(),
                region: region.to_owned(),
                account: account.to_owned(),
            }),
            name: name.to_owned(),
        }
    }
}

/// An ARN at home reads as a home pipeline, so its record keeps the name as its key.
fn normalise(location: Option<&Location>, home: &Home) -> Option<Location> {
    location.cloned().filter(|l| {
        !(l.partition == home.partition
            && l.region == home.region
            && home.account.as_deref() == Some(l.account.as_str()))
    })
}

fn scope(location: Option<&Location>) -> String {
    location.map_or_else(
        || "this account and region".to_owned(),
        |l| format!("account {} in {}", l.account, l.region),
    )
}

fn describe(selection: &Selection) -> String {
    let entries: Vec<String> = selection
        .entries
        .iter()
        .map(|Entry { location, name }| match location {
            None => name.clone(),
            Some(l) => PipelineRef {
                location: Some(l.clone()),
                name: name.clone(),
            }
            .key(),
        })
        .collect();
    let mut text = entries.join(", ");
    if !selection.tags.is_empty() {
        let tags: Vec<String> = selection
            .tags
            .iter()
            .map(|(k, v)| format!("{k}={v}"))
            .collect();
        text.push_str(" tagged ");
        text.push_str(&tags.join(","));
    }
    text
}

/// `key=value,key2=value2` (`PIPELINE_TAGS`, the CLI's `--tag`).
pub fn parse_tags(tags: &str) -> Result<Vec<(String, String)>, String> {
    let mut parsed = Vec::new();
    for pair in tags.split(',').map(str::trim).filter(|p| !p.is_empty()) {
        let Some((key, value)) = pair.split_once('=') else {
            return Err(format!("has {pair:?}, which is not key=value"));
        };
        let (key, value) = (key.trim(), value.trim());
        if key.is_empty() || key.len() > 128 || value.len() > 256 {
            return Err(format!(
                "has {pair:?}: a tag key is 1-128 characters, a value at most 256"
            ));
        }
        parsed.push((key.to_owned(), value.to_owned()));
    }
    Ok(parsed)
}

#[cfg(test)]
mod tests;
