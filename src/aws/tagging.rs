//! The Resource Groups Tagging API: which pipelines carry a set of tags
//! (`GetResources`, resource type `codepipeline:pipeline`, every page).
//!
//! `GetResources` can also return resources whose tags were removed since (the API keeps
//! them for a while), so each answer's own tag list is checked again here.

use aws_config::SdkConfig;
use aws_sdk_resourcegroupstagging::Client;
use aws_sdk_resourcegroupstagging::types::TagFilter;

use crate::ports::SourceError;

/// The names of the pipelines, in `config`'s account and region, that carry every tag.
pub async fn tagged_pipelines(
    config: &SdkConfig,
    tags: &[(String, String)],
) -> Result<Vec<String>, SourceError> {
    let client = Client::from_conf(
        aws_sdk_resourcegroupstagging::config::Builder::from(config)
            .interceptor(crate::aws::interceptor::ApiMetrics)
            .build(),
    );
    let filters: Vec<TagFilter> = tags
        .iter()
        .map(|(key, value)| TagFilter::builder().key(key).values(value).build())
        .collect();
    let mut names = Vec::new();
    let mut pages = client
        .get_resources()
        .resource_type_filters("codepipeline:pipeline")
        .set_tag_filters(Some(filters))
        .into_paginator()
        .send();
    while let Some(page) = pages.next().await {
        let page = page.map_err(|error| SourceError::Api {
            operation: "GetResources",
            source: error.into(),
        })?;
        for mapping in page.resource_tag_mapping_list() {
            let carries_all = tags.iter().all(|(key, value)| {
                mapping
                    .tags()
                    .iter()
                    .any(|t| t.key() == key && t.value() == value)
            });
            // arn:aws:codepipeline:REGION:ACCOUNT:NAME
            let name = mapping
                .resource_arn()
                .and_then(|arn| arn.splitn(6, ':').nth(5));
            if let (true, Some(name)) = (carries_all, name) {
                names.push(name.to_owned());
            }
        }
    }
    Ok(names)
}
