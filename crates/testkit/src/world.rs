//! One test's world: its own DynamoDB Local table, moto topic and queues (an [`Inbox`]),
//! and wire-level CodePipeline fake; the real adapters over them (optionally through a
//! fault proxy), and the watcher and the Lambda's function built from those, at home in
//! us-east-1. Every integration test of the tick, selection, events and recovery starts
//! here.

use std::collections::HashMap;
use std::time::Duration;

use aws_config::SdkConfig;
use aws_sdk_dynamodb::types::AttributeValue;
use pipewatch_core::record::{Loaded, Record};
use serde_json::json;

use pipewatch::aws::sqs::{SqsDeadLetters, SqsShardQueue};
use pipewatch::aws::{CodePipelineSource, DynamoStore, SnsNotifier};
use pipewatch::lambda::Function;
use pipewatch::select::{Home, Selection, parse_tags};
use pipewatch::tick::{Clock, Settings, Watcher};

use crate::fake_codepipeline::{FakeCodePipeline, HOME_ACCOUNT};
use crate::fault_proxy::FaultProxy;
use crate::services::{Inbox, create_table, require, sdk_config};

/// One test's world, and functions over it.
pub struct World {
    pub config: SdkConfig,
    pub fake: FakeCodePipeline,
    pub table: String,
    pub inbox: Inbox,
}

pub type TestFunction =
    Function<CodePipelineSource, DynamoStore, SnsNotifier, SqsDeadLetters, SqsShardQueue>;

impl World {
    pub async fn new() -> Self {
        let config = sdk_config().await;
        let table = create_table(&aws_sdk_dynamodb::Client::new(&config)).await;
        let inbox = Inbox::create(&config).await;
        Self {
            config,
            fake: FakeCodePipeline::start(),
            table,
            inbox,
        }
    }

    /// The real CodePipeline source, talking to this world's fake.
    pub fn source(&self) -> CodePipelineSource {
        self.fake.source(&self.config)
    }

    pub fn store(&self) -> DynamoStore {
        DynamoStore::new(aws_sdk_dynamodb::Client::new(&self.config), &self.table)
    }

    /// A store whose requests pass through `url` (a fault proxy) instead.
    pub fn store_via(&self, url: &str) -> DynamoStore {
        let config = aws_sdk_dynamodb::config::Builder::from(&self.config)
            .endpoint_url(url)
            .build();
        DynamoStore::new(aws_sdk_dynamodb::Client::from_conf(config), &self.table)
    }

    pub fn notifier(&self) -> SnsNotifier {
        SnsNotifier::new(
            aws_sdk_sns::Client::new(&self.config),
            &self.inbox.topic_arn,
        )
    }

    /// A notifier whose requests pass through `url` (a fault proxy) instead.
    pub fn notifier_via(&self, url: &str) -> SnsNotifier {
        let config = aws_sdk_sns::config::Builder::from(&self.config)
            .endpoint_url(url)
            .build();
        SnsNotifier::new(
            aws_sdk_sns::Client::from_conf(config),
            &self.inbox.topic_arn,
        )
    }

    /// The Lambda's settings, checking `max_concurrency` pipelines at once.
    pub fn settings(max_concurrency: usize) -> Settings {
        Settings {
            lease: Duration::from_mins(2),
            max_concurrency,
            console: None,
            retention: Some(Duration::from_hours(90 * 24)),
            max_publish_attempts: 10,
            report_failures_after: 5,
            clock: Clock::default(),
        }
    }

    /// The watcher over this world's adapters, with [`World::settings`].
    pub fn watcher(
        &self,
        max_concurrency: usize,
    ) -> Watcher<CodePipelineSource, DynamoStore, SnsNotifier, SqsDeadLetters> {
        self.watcher_with(
            self.store(),
            self.notifier(),
            Self::settings(max_concurrency),
        )
    }

    /// A watcher with this `store`, `notifier` and `settings`.
    pub fn watcher_with<S, N>(
        &self,
        store: S,
        notifier: N,
        settings: Settings,
    ) -> Watcher<CodePipelineSource, S, N, SqsDeadLetters> {
        Watcher {
            source: self.source(),
            store,
            notifier,
            dead_letters: self.inbox.dead_letters(),
            settings,
        }
    }

    /// A watcher whose SNS calls go through a fault proxy, and the proxy.
    pub fn with_sns_proxy(
        &self,
        settings: Settings,
    ) -> (
        FaultProxy,
        Watcher<CodePipelineSource, DynamoStore, SnsNotifier, SqsDeadLetters>,
    ) {
        let proxy = FaultProxy::start(&require("AWS_ENDPOINT_URL_SNS"));
        let watcher = self.watcher_with(self.store(), self.notifier_via(&proxy.url()), settings);
        (proxy, watcher)
    }

    /// A watcher whose DynamoDB calls go through a fault proxy, and the proxy.
    pub fn with_dynamodb_proxy(
        &self,
        settings: Settings,
    ) -> (
        FaultProxy,
        Watcher<CodePipelineSource, DynamoStore, SnsNotifier, SqsDeadLetters>,
    ) {
        let proxy = FaultProxy::start(&require("AWS_ENDPOINT_URL_DYNAMODB"));
        let watcher = self.watcher_with(self.store_via(&proxy.url()), self.notifier(), settings);
        (proxy, watcher)
    }

    /// The raw snapshot item of `pipeline`.
    pub async fn item(&self, pipeline: &str) -> HashMap<String, AttributeValue> {
        aws_sdk_dynamodb::Client::new(&self.config)
            .get_item()
            .table_name(&self.table)
            .key("pipeline", AttributeValue::S(pipeline.into()))
            .consistent_read(true)
            .send()
            .await
            .unwrap()
            .item
            .expect("the pipeline has an item")
    }

    /// The record stored for `pipeline`, which must read.
    pub async fn stored(&self, pipeline: &str) -> Record {
        match pipewatch::aws::dynamodb::decode(&self.item(pipeline).await) {
            Loaded::Found(record) => record,
            other => panic!("{pipeline}: {other:?}"),
        }
    }

    /// The function watching `entries` (and `tags`), listing again on every tick.
    pub fn function(
        &self,
        entries: &str,
        tags: &str,
        shards: Option<(SqsShardQueue, usize)>,
    ) -> TestFunction {
        let mut selection = Selection::parse(entries).unwrap();
        selection.tags = parse_tags(tags).unwrap();
        let (queue, size) = shards.map_or((None, 500), |(q, s)| (Some(q), s));
        Function::new(
            self.watcher(8),
            selection,
            Home {
                partition: "aws".into(),
                region: "us-east-1".into(),
                account: Some(HOME_ACCOUNT.into()),
            },
            Duration::ZERO,
            queue,
            size,
        )
    }

    pub fn serve(&self, names: &[&str], run: usize) {
        for name in names {
            self.fake.set_state(&state(name, run));
        }
    }
}

/// A pipeline whose one action has run `run` times.
pub fn state(pipeline: &str, run: usize) -> String {
    json!({"pipelineName": pipeline, "pipelineVersion": 1, "stageStates": [
        {"stageName": "Build", "actionStates": [{"actionName": "Compile",
            "latestExecution": {"actionExecutionId": format!("{pipeline}-{run}"), "status": "Succeeded"}}]}]})
    .to_string()
}
