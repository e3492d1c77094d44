//! The optional Slack forwarder: subscribed to the topic, posts each notification to an
//! incoming webhook whose URL it reads once from Secrets Manager.

use std::process::ExitCode;

use aws_lambda_events::sns::SnsEvent;
use lambda_runtime::{LambdaEvent, service_fn};

use pipewatch::config::ForwarderConfig;
use pipewatch::webhook::HttpsWebhook;

#[tokio::main]
async fn main() -> ExitCode {
    match run().await {
        Ok(()) => ExitCode::SUCCESS,
        Err(error) => {
            eprintln!("pipewatch-slack: {error}");
            ExitCode::FAILURE
        }
    }
}

async fn run() -> Result<(), lambda_runtime::Error> {
    let config = ForwarderConfig::from_env()?;
    pipewatch::lambda::init_logging(&config.log_level);
    let sdk = pipewatch::aws::load_sdk_config().await;
    let secrets = aws_sdk_secretsmanager::Client::new(&sdk);
    let url = pipewatch::aws::secrets::webhook_url(&secrets, &config.webhook_secret)
        .await
        .map_err(|e| format!("reading the webhook secret: {e}"))?;
    let webhook = HttpsWebhook::new(url)?;
    let webhook = &webhook;
    lambda_runtime::run(service_fn(move |event: LambdaEvent<SnsEvent>| async move {
        let posted = pipewatch::forward::forward(webhook, &event.payload).await?;
        tracing::info!(posted, "forwarded to Slack");
        Ok::<usize, pipewatch::forward::ForwardError>(posted)
    }))
    .await
}
