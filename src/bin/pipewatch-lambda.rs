//! The Lambda bootstrap: configuration and clients once per cold start, then one tick
//! per invocation. All logic lives in the library (`pipewatch::lambda`, `pipewatch::tick`).

use std::process::ExitCode;

use lambda_runtime::{LambdaEvent, service_fn};
use serde_json::Value;

use pipewatch::aws::{CodePipelineSource, DynamoStore, SnsNotifier};
use pipewatch::config::Config;
use pipewatch::render::content::Console;
use pipewatch::tick::{Settings, Watcher};

#[tokio::main]
async fn main() -> ExitCode {
    match run().await {
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
    let watcher = Watcher {
        source: CodePipelineSource::new(aws_sdk_codepipeline::Client::new(&sdk)),
        store: DynamoStore::new(aws_sdk_dynamodb::Client::new(&sdk), &config.table_name),
        notifier: SnsNotifier::new(aws_sdk_sns::Client::new(&sdk), &config.topic_arn),
        settings: Settings {
            lease: config.lease,
            max_concurrency: config.max_concurrency,
            // Links point at the region the function reads pipelines in; the topic's ARN
            // names the account.
            console: sdk
                .region()
                .and_then(|region| Console::new(region.as_ref(), config.topic_account())),
        },
    };
    let (watcher, pipelines) = (&watcher, config.pipelines.as_slice());
    lambda_runtime::run(service_fn(move |event: LambdaEvent<Value>| async move {
        pipewatch::lambda::handle(watcher, pipelines, &event.payload).await
    }))
    .await
}
