//! Selections: parsing, and resolution over an in-memory directory.

use std::collections::HashMap;
use std::sync::Mutex;

use super::*;

/// A pipeline's name and its tags.
type Tagged = (&'static str, Vec<(&'static str, &'static str)>);

/// Pipelines by place, with their tags; counts the listings asked for.
#[derive(Default)]
struct Directory {
    pipelines: HashMap<Option<Location>, Vec<Tagged>>,
    listings: Mutex<usize>,
}

impl PipelineDirectory for Directory {
    async fn list_pipelines(
        &self,
        location: Option<&Location>,
    ) -> Result<Vec<String>, SourceError> {
        *self.listings.lock().unwrap() += 1;
        Ok(self
            .pipelines
            .get(&location.cloned())
            .map(|ps| ps.iter().map(|(n, _)| (*n).to_owned()).collect())
            .unwrap_or_default())
    }

    async fn tagged_pipelines(
        &self,
        location: Option<&Location>,
        tags: &[(String, String)],
    ) -> Result<Vec<String>, SourceError> {
        Ok(self
            .pipelines
            .get(&location.cloned())
            .into_iter()
            .flatten()
            .filter(|(_, carried)| {
                tags.iter()
                    .all(|(k, v)| carried.iter().any(|(ck, cv)| ck == k && cv == v))
            })
            .map(|(n, _)| (*n).to_owned())
            .collect())
    }
}

fn home() -> Home {
    Home {
        partition: "aws".into(),
        region: "eu-west-1".into(),
        account: Some("111122223333".into()),
    }
}

fn other() -> Location {
    Location {
        partition: "aws".into(),
        region: "us-west-2".into(),
        account: "222233334444".into(),
    }
}

fn directory() -> Directory {
    let mut pipelines = HashMap::new();
    pipelines.insert(
        None,
        vec![
            ("release-web", vec![("team", "web")]),
            ("release-api", vec![("team", "payments"), ("tier", "prod")]),
            ("nightly", vec![("team", "payments")]),
        ],
    );
    pipelines.insert(
        Some(other()),
        vec![
            ("svc-orders", vec![("tier", "prod")]),
            ("svc-billing", vec![]),
            ("release-web", vec![]),
        ],
    );
    Directory {
        pipelines,
        listings: Mutex::new(0),
    }
}

async fn keys(entries: &str, tags: &str) -> Result<Vec<String>, SelectError> {
    let mut selection = Selection::parse(entries).unwrap();
    selection.tags = parse_tags(tags).unwrap();
    resolve(&selection, &home(), &directory())
        .await
        .map(|ps| ps.iter().map(PipelineRef::key).collect())
}

#[tokio::test]
async fn names_patterns_and_arns_resolve_together_each_once() {
    let found = keys(
        "release-*, nightly, arn:aws:codepipeline:us-west-2:222233334444:svc-*, release-web",
        "",
    )
    .await
    .unwrap();
    assert_eq!(
        found,
        [
            "nightly",
            "release-api",
            "release-web",
            "arn:aws:codepipeline:us-west-2:222233334444:svc-billing",
            "arn:aws:codepipeline:us-west-2:222233334444:svc-orders",
        ]
    );
}

#[tokio::test]
async fn two_pipelines_of_one_name_in_two_accounts_never_meet() {
    let found = keys(
        "release-web, arn:aws:codepipeline:us-west-2:222233334444:release-web",
        "",
    )
    .await
    .unwrap();
    assert_eq!(
        found,
        [
            "release-web",
            "arn:aws:codepipeline:us-west-2:222233334444:release-web"
        ]
    );
}

#[tokio::test]
async fn an_arn_at_home_keeps_the_home_key() {
    let found = keys("arn:aws:codepipeline:eu-west-1:111122223333:nightly", "")
        .await
        .unwrap();
    assert_eq!(found, ["nightly"], "no record moves when written as an ARN");
}

#[tokio::test]
async fn tags_keep_only_the_pipelines_carrying_all_of_them() {
    let found = keys(
        "*, arn:aws:codepipeline:us-west-2:222233334444:*",
        "tier=prod",
    )
    .await
    .unwrap();
    assert_eq!(
        found,
        [
            "release-api",
            "arn:aws:codepipeline:us-west-2:222233334444:svc-orders"
        ]
    );
    let found = keys("*", "team=payments,tier=prod").await.unwrap();
    assert_eq!(found, ["release-api"]);
}

#[tokio::test]
async fn a_selection_matching_nothing_is_an_error_naming_it() {
    let error = keys("missing-*", "").await.unwrap_err();
    assert_eq!(
        error.to_string(),
        "the selection matches no pipeline: missing-*"
    );
    let error = keys("*", "team=nobody").await.unwrap_err();
    assert!(
        error.to_string().ends_with("* tagged team=nobody"),
        "{error}"
    );
}

#[tokio::test]
async fn names_need_no_listing_and_each_place_is_listed_once() {
    let directory = directory();
    let names = Selection::parse("a, b, c").unwrap();
    assert!(!names.needs_discovery());
    resolve(&names, &home(), &directory).await.unwrap();
    assert_eq!(*directory.listings.lock().unwrap(), 0);
    let patterns = Selection::parse("release-*, night*, *").unwrap();
    resolve(&patterns, &home(), &directory).await.unwrap();
    assert_eq!(*directory.listings.lock().unwrap(), 1);
}

#[test]
fn bad_entries_and_tags_are_named_with_what_they_should_be() {
    let cases = [
        (
            "ok, not ok",
            "has \"not ok\": not a pipeline name or pattern",
        ),
        (
            "arn:aws:codepipeline:us-west-2:2222:svc",
            "which is not a pipeline ARN",
        ),
        (
            "arn:aws:codepipeline:*:222233334444:svc",
            "patterns only in the name",
        ),
        ("arn:aws:s3:::bucket", "which is not a pipeline ARN"),
        (" , ", "must list at least one pipeline"),
    ];
    for (entries, expected) in cases {
        let error = Selection::parse(entries).unwrap_err();
        assert!(error.contains(expected), "{entries}: {error}");
    }
    assert!(parse_tags("team").unwrap_err().contains("not key=value"));
    assert_eq!(
        parse_tags(" team = web , tier=prod ").unwrap(),
        [
            ("team".into(), "web".into()),
            ("tier".into(), "prod".into())
        ]
    );
}

#[test]
fn the_selection_tells_what_it_needs() {
    let selection =
        Selection::parse("web, arn:aws:codepipeline:us-west-2:222233334444:svc").unwrap();
    assert!(selection.reaches_other_accounts(&home()));
    assert!(
        !Selection::parse("web")
            .unwrap()
            .reaches_other_accounts(&home())
    );
    assert!(selection.matches(&PipelineRef {
        location: Some(other()),
        name: "svc".into()
    }));
    assert!(!selection.matches(&PipelineRef::home("svc")));
}

#[test]
fn a_discovery_is_fresh_for_its_period_only() {
    let mut discovery = Discovery::new(Duration::from_mins(5));
    assert!(discovery.fresh().is_none());
    discovery.remember(vec![PipelineRef::home("web")]);
    assert_eq!(discovery.fresh().unwrap().len(), 1);
    let mut never = Discovery::new(Duration::ZERO);
    never.remember(vec![PipelineRef::home("web")]);
    assert!(never.fresh().is_none(), "0 s: list every time");
}
