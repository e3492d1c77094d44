//! The Lambda bootstrap: configuration and clients once per cold start, then one
//! invocation per event. All logic lives in the library (`pipewatch::lambda`,
//! `pipewatch::tick`).

use std::process::ExitCode;
use std::sync::Arc;

use lambda_runtime::{LambdaEvent, service_fn};
use serde_json::Value;

use pipewatch::aws::clients::Clients;
use pipewatch::aws::sqs::SqsShardQueue;
use pipewatch::aws::{CodePipelineSource, DynamoStore, SnsNotifier};
use pipewatch::config::Config;
use pipewatch::forward::deadline_from_epoch_ms;
use pipewatch::lambda::Function;
use pipewatch::render::content::Console;
use pipewatch::select::Home;
use pipewatch::tick::{Settings, Watcher};

/// One thread: a Lambda function has at most a few vCPUs, and a fraction of one at the
/// usual memory sizes. Waiting on the network is all a tick does in parallel, and handing
/// tasks between worker threads cost a quarter of a quiet tick's CPU (BENCHMARKS.md).
#[tokio::main(flavor = "current_thread")]
async fn main() -> ExitCode {
    match Box::pin(run()).await {
        Ok(()) => ExitCode::SUCCESS,
        Err(error) => {
            // Lambda shows this line with the init error; it names the bad variable.
            eprintln!("pipewatch-lambda: {error}");
            ExitCode::FAILURE
        }
    }
}

async fn run() -> Result<(), lambda_runtime::Error> {
    // A bad configuration fails the cold start, before any client is built.
    let config = Config::from_env()?;
    pipewatch::lambda::init_logging(&config.log_level);

    let sdk = pipewatch::aws::load_sdk_config().await;
    // Home is where the function runs; the topic's ARN names the account and partition.
    let home = Home {
        partition: config.topic_partition().to_owned(),
        region: sdk.region().map(ToString::to_string).unwrap_or_default(),
        account: config.topic_account().map(str::to_owned),
    };
    let clients = Arc::new(Clients::new(
        sdk.clone(),
        home.account.clone(),
        config.role.clone(),
    ));
    let watcher = Watcher {
        source: CodePipelineSource::new(clients),
        store: DynamoStore::new(aws_sdk_dynamodb::Client::new(&sdk), &config.table_name),
        notifier: SnsNotifier::new(aws_sdk_sns::Client::new(&sdk), &config.topic_arn),
        settings: Settings {
            lease: config.lease,
            max_concurrency: config.max_concurrency,
            console: Console::new(&home.region, home.account.as_deref()),
            retention: Some(config.retention),
        },
    };
    let shards = config
        .shard_queue_url
        .as_ref()
        .map(|url| SqsShardQueue::new(aws_sdk_sqs::Client::new(&sdk), url));
    let function = Function::new(
        watcher,
        config.selection,
        home,
        config.discovery,
        shards,
        config.shard_size,
    );
    let function = &function;
    lambda_runtime::run(service_fn(move |event: LambdaEvent<Value>| async move {
        let deadline = deadline_from_epoch_ms(event.context.deadline);
        function.handle(&event.payload, deadline).await
    }))
    .await
}
