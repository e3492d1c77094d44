//! One test's world for the function's own dispatch ([`Function::handle`]): DynamoDB
//! Local, moto's SNS and SQS, the wire-level CodePipeline fake, and the function over
//! them, at home in us-east-1.

use std::time::Duration;

use aws_config::SdkConfig;
use serde_json::json;

use pipewatch::aws::sqs::{SqsDeadLetters, SqsShardQueue};
use pipewatch::aws::{CodePipelineSource, DynamoStore, SnsNotifier};
use pipewatch::lambda::Function;
use pipewatch::select::{Home, Selection, parse_tags};
use pipewatch::tick::{Settings, Watcher};

use crate::fake_codepipeline::{FakeCodePipeline, HOME_ACCOUNT};
use crate::services::{Inbox, create_table, sdk_config};

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

    pub fn watcher(
        &self,
        max_concurrency: usize,
    ) -> Watcher<CodePipelineSource, DynamoStore, SnsNotifier, SqsDeadLetters> {
        Watcher {
            source: self.fake.source(&self.config),
            store: DynamoStore::new(aws_sdk_dynamodb::Client::new(&self.config), &self.table),
            notifier: SnsNotifier::new(
                aws_sdk_sns::Client::new(&self.config),
                &self.inbox.topic_arn,
            ),
            dead_letters: self.inbox.dead_letters(),
            settings: Settings {
                lease: Duration::from_mins(2),
                max_concurrency,
                console: None,
                retention: Some(Duration::from_hours(90 * 24)),
                max_publish_attempts: 10,
                report_failures_after: 5,
            },
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
