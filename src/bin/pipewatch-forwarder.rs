//! The optional forwarder: subscribed to the topics, posts each notification to the Slack
//! and Teams webhooks its secrets name, which it reads once per cold start.

use std::process::ExitCode;

use aws_lambda_events::sns::SnsEvent;
use lambda_runtime::{LambdaEvent, service_fn};

use pipewatch::config::ForwarderConfig;
use pipewatch::forward::{DEFAULT_TIME, Destination, Format, deadline_from_epoch_ms, destination};
use pipewatch::webhook::HttpsWebhook;

#[tokio::main]
async fn main() -> ExitCode {
    match run().await {
        Ok(()) => ExitCode::SUCCESS,
        Err(error) => {
            eprintln!("pipewatch-forwarder: {error}");
            ExitCode::FAILURE
        }
    }
}

async fn run() -> Result<(), lambda_runtime::Error> {
    let config = ForwarderConfig::from_env()?;
    pipewatch::lambda::init_logging(&config.log_level);
    let sdk = pipewatch::aws::load_sdk_config().await;
    let secrets = aws_sdk_secretsmanager::Client::new(&sdk);
    let mut destinations: Vec<Destination> = Vec::new();
    for (secret, name, format) in [
        (&config.slack_secret, "slack", Format::Slack),
        (&config.teams_secret, "teams", Format::Teams),
    ] {
        let Some(secret) = secret else { continue };
        let value = pipewatch::aws::secrets::secret_string(&secrets, secret)
            .await
            .map_err(|e| format!("reading the {name} webhook secret: {e}"))?;
        destinations.extend(destination::parse(&value, name, format)?);
    }
    let labels: Vec<&str> = destinations.iter().map(|d| d.label.as_str()).collect();
    tracing::info!(destinations = %labels.join(", "), "forwarder ready");
    let webhook = HttpsWebhook::new()?;
    let (webhook, destinations) = (&webhook, destinations.as_slice());
    lambda_runtime::run(service_fn(move |event: LambdaEvent<SnsEvent>| async move {
        let deadline = deadline_from_epoch_ms(event.context.deadline)
            .unwrap_or_else(|| std::time::Instant::now() + DEFAULT_TIME);
        let forwarded =
            pipewatch::forward::forward(webhook, destinations, &event.payload, deadline).await?;
        tracing::info!(
            messages = forwarded.messages,
            posts = forwarded.posts,
            "forwarded"
        );
        Ok::<usize, pipewatch::forward::ForwardError>(forwarded.posts)
    }))
    .await
}
