//! The optional forwarder: subscribed to the topics, posts each notification to the Slack
//! and Teams webhooks its secrets name and, when installed, through the Slack app. It
//! reads its secrets once per cold start.

use std::process::ExitCode;

use aws_lambda_events::sns::SnsEvent;
use lambda_runtime::{Diagnostic, LambdaEvent, service_fn};
use serde_json::Value;

use pipewatch::aws::slack_refs::SlackRefs;
use pipewatch::config::ForwarderConfig;
use pipewatch::forward::{
    App, AppTarget, DEFAULT_TIME, Destination, Format, app, deadline_from_epoch_ms, destination,
};
use pipewatch::slack::{BotToken, SlackApi};
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
    let mut labels: Vec<String> = destinations.iter().map(|d| d.label.clone()).collect();

    // The Slack app: its token, its channels, its store and the operator's topic.
    let mut installed = None;
    if let Some(settings) = &config.slack_app {
        let token = pipewatch::aws::secrets::secret_string(&secrets, &settings.token_secret)
            .await
            .map_err(|e| format!("reading the Slack app's secret: {e}"))?;
        let token = BotToken::parse(&token)?;
        let routes = app::parse_routes(&settings.routes)?;
        labels.extend(routes.iter().map(|r| format!("slack app {}", r.channel)));
        let api = SlackApi::new(token, settings.api_url.as_deref())?;
        let refs = SlackRefs::new(aws_sdk_dynamodb::Client::new(&sdk), &settings.table);
        let sns = aws_sdk_sns::Client::new(&sdk);
        installed = Some((api, refs, routes, sns, settings.alarm_topic.clone()));
    }
    tracing::info!(destinations = %labels.join(", "), "forwarder ready");
    let target = installed
        .as_ref()
        .map(|(api, refs, routes, sns, topic)| AppTarget {
            app: App { api, refs },
            routes,
            operator: topic.as_deref().map(|t| (sns, t)),
        });
    let webhook = HttpsWebhook::new()?;
    let (webhook, destinations, target) = (&webhook, destinations.as_slice(), target.as_ref());
    lambda_runtime::run(service_fn(move |event: LambdaEvent<Value>| async move {
        let deadline = deadline_from_epoch_ms(event.context.deadline)
            .unwrap_or_else(|| std::time::Instant::now() + DEFAULT_TIME);
        // An operator's redrive of a Slack channel's dead letters, else SNS's records.
        if let Some(channel) = event.payload["redrive_slack_channel"].as_str() {
            let refused = |message: String| Diagnostic {
                error_type: "pipewatch.RedriveFailed".into(),
                error_message: message,
            };
            let target = target.ok_or_else(|| {
                refused("the Slack app is not installed: no SLACK_APP_SECRET_ARN".into())
            })?;
            let redriven = pipewatch::forward::redrive_channel(target, channel, deadline)
                .await
                .map_err(refused)?;
            return Ok(serde_json::to_value(redriven).unwrap_or_default());
        }
        let sns: SnsEvent = serde_json::from_value(event.payload).map_err(|e| Diagnostic {
            error_type: "pipewatch.BadEvent".into(),
            error_message: format!("the event is neither SNS records nor a redrive: {e}"),
        })?;
        let forwarded =
            pipewatch::forward::forward(webhook, destinations, target, &sns, deadline).await?;
        tracing::info!(
            messages = forwarded.messages,
            posts = forwarded.posts,
            "forwarded"
        );
        Ok::<Value, Diagnostic>(Value::from(forwarded.posts))
    }))
    .await
}
