//! The Lambda bootstrap: configuration and clients once per cold start, then one
//! invocation per event. All logic lives in the library (`pipewatch::lambda`,
//! `pipewatch::tick`).

use std::process::ExitCode;
use std::sync::Arc;

use lambda_runtime::{LambdaEvent, service_fn};
use serde_json::Value;

use pipewatch::aws::clients::Clients;
use pipewatch::aws::sqs::{SqsDeadLetters, SqsShardQueue};
use pipewatch::aws::{CodePipelineSource, DynamoStore, SnsNotifier};
use pipewatch::config::Config;
use pipewatch::forward::deadline_from_epoch_ms;
use pipewatch::lambda::Function;
use pipewatch::metrics::Emf;
use pipewatch::select::Home;
use pipewatch::tick::{Clock, Settings, Watcher};
use pipewatch_core::render::console::Console;

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
    let sqs = pipewatch::aws::sqs_client(&sdk);
    let watcher = Watcher {
        source: CodePipelineSource::new(clients),
        store: DynamoStore::new(pipewatch::aws::dynamodb_client(&sdk), &config.table_name),
        notifier: SnsNotifier::new(pipewatch::aws::sns_client(&sdk), &config.topic_arn),
        dead_letters: SqsDeadLetters::new(sqs.clone(), &config.dead_letter_queue_url),
        settings: Settings {
            lease: config.lease,
            max_concurrency: config.max_concurrency,
            console: Console::new(&home.region, home.account.as_deref()),
            retention: Some(config.retention),
            max_publish_attempts: config.max_publish_attempts,
            report_failures_after: config.report_failures_after,
            clock: Clock::default(),
        },
    };
    let shards = config
        .shard_queue_url
        .as_ref()
        .map(|url| SqsShardQueue::new(sqs.clone(), url));
    let function_name =
        std::env::var("AWS_LAMBDA_FUNCTION_NAME").unwrap_or_else(|_| "pipewatch".to_owned());
    let emf = Emf::init(
        &config.metrics_namespace,
        &function_name,
        config.detailed_metrics,
    )?;
    let function = Function::new(
        watcher,
        config.selection,
        home,
        config.discovery,
        shards,
        config.shard_size,
    );
    let (function, emf) = (&function, &emf);
    lambda_runtime::run(service_fn(move |event: LambdaEvent<Value>| async move {
        let deadline = deadline_from_epoch_ms(event.context.deadline);
        let result = function.handle(&event.payload, deadline).await;
        // Metrics for every tick that ran, failed pipelines or not.
        let summary = match &result {
            Ok(summary) => Some(summary),
            Err(pipewatch::lambda::InvocationError::PipelinesFailed { summary, .. }) => {
                Some(&**summary)
            }
            Err(_) => None,
        };
        if let Some(summary) = summary
            && let Err(e) = emf.emit(summary, std::io::stdout().lock())
        {
            tracing::error!(error = %e, "writing the tick's metrics failed");
        }
        result
    }))
    .await
}
