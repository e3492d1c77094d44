//! The optional forwarder: subscribed to the topics, posts each notification to the Slack
//! and Teams webhooks its secrets name and, when installed, through the Slack app; or, once
//! the stack's bucket holds a notifications document, where the document says (read again
//! at most once a minute, src/forward/live.rs). It reads each secret once per cold start.

use std::process::ExitCode;

use aws_lambda_events::sns::SnsEvent;
use lambda_runtime::{Diagnostic, LambdaEvent, service_fn};
use serde_json::Value;

use pipewatch::aws::live::{Live, Operator, Source};
use pipewatch::aws::slack_refs::SlackRefs;
use pipewatch::config::ForwarderConfig;
use pipewatch::forward::live::{Compiler, Reach, Routes};
use pipewatch::forward::{App, AppTarget, DEFAULT_TIME, Topics, deadline_from_epoch_ms};
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

/// The stack's routes: its webhook secrets, each read once, and `SLACK_APP_ROUTES`.
async fn stack_routes(
    config: &ForwarderConfig,
    secrets: &aws_sdk_secretsmanager::Client,
) -> Result<Routes, lambda_runtime::Error> {
    let mut values = std::collections::HashMap::new();
    for (secret, name) in [
        (&config.slack_secret, "slack"),
        (&config.teams_secret, "teams"),
    ] {
        let Some(secret) = secret else { continue };
        let value = pipewatch::aws::secrets::secret_string(secrets, secret)
            .await
            .map_err(|e| format!("reading the {name} webhook secret: {e}"))?;
        values.insert(secret.clone(), value);
    }
    Ok(Routes::from_stack(config, &values)?)
}

/// Tells the operator that a template of the document's `version` failed, once per
/// template and version (a claim in the table); a failure to tell is logged, as the
/// message itself went.
async fn tell_template_failed(
    operator: &Operator<'_>,
    version: &str,
    failed: &pipewatch::forward::FailedTemplate,
) {
    let now = pipewatch_core::state::Timestamp::now().unix_millis() / 1000;
    let key = format!("{version}/template/{}", failed.template);
    let told = async {
        if pipewatch::aws::once::first_to_tell(operator.dynamodb, operator.table, &key, now).await?
        {
            let message = format!(
                "The template {} of pipewatch's notifications document (version {version}) \
                 failed: {}.\n\nThe built-in message was sent instead, and is until the \
                 template is mended. You are told once per template and document version.",
                failed.template, failed.error
            );
            let subject = format!("pipewatch's template {} failed", failed.template);
            pipewatch::aws::operator::tell(operator.sns, operator.topic, &subject, &message)
                .await?;
        }
        Ok::<(), pipewatch::ports::BoxError>(())
    };
    if let Err(error) = told.await {
        tracing::error!(error = %error, "could not tell the operator that a template failed");
    }
}

/// The Slack app, when installed: its client, its store and the operator's topic.
async fn slack_app(
    config: &ForwarderConfig,
    secrets: &aws_sdk_secretsmanager::Client,
    dynamodb: &aws_sdk_dynamodb::Client,
) -> Result<Option<(SlackApi, SlackRefs, Option<String>)>, lambda_runtime::Error> {
    let Some(settings) = &config.slack_app else {
        return Ok(None);
    };
    let token = pipewatch::aws::secrets::secret_string(secrets, &settings.token_secret)
        .await
        .map_err(|e| format!("reading the Slack app's secret: {e}"))?;
    let token = BotToken::parse(&token)?;
    let api = SlackApi::new(token, settings.api_url.as_deref())?;
    let refs = SlackRefs::new(dynamodb.clone(), &settings.table);
    Ok(Some((api, refs, config.alarm_topic.clone())))
}

async fn run() -> Result<(), lambda_runtime::Error> {
    let config = ForwarderConfig::from_env()?;
    pipewatch::lambda::init_logging(&config.log_level);
    let sdk = pipewatch::aws::load_sdk_config().await;
    let secrets = aws_sdk_secretsmanager::Client::new(&sdk);
    let sns = aws_sdk_sns::Client::new(&sdk);
    let dynamodb = aws_sdk_dynamodb::Client::new(&sdk);
    let stack = stack_routes(&config, &secrets).await?;

    let installed = slack_app(&config, &secrets, &dynamodb).await?;
    tracing::info!(destinations = %stack.labels(), "forwarder ready");
    // The notifications document, when the stack keeps one: read at the first event.
    let s3 = aws_sdk_s3::Client::new(&sdk);
    let source = config.document.as_ref().map(|document| {
        let operator = config.alarm_topic.as_deref().map(|topic| Operator {
            sns: &sns,
            topic,
            dynamodb: &dynamodb,
            table: &document.table,
        });
        Source::new(&s3, document, operator)
    });
    let live = tokio::sync::Mutex::new((
        Live::new(stack),
        Compiler::new(
            &secrets,
            Reach {
                app_installed: installed.is_some(),
                topics: config.document_topics.clone(),
            },
        ),
    ));
    let webhook = HttpsWebhook::new()?;
    let (webhook, installed, source, live, sns) = (&webhook, &installed, &source, &live, &sns);
    lambda_runtime::run(service_fn(move |event: LambdaEvent<Value>| async move {
        let deadline = deadline_from_epoch_ms(event.context.deadline)
            .unwrap_or_else(|| std::time::Instant::now() + DEFAULT_TIME);
        let (routes, version) = {
            let (live, compiler) = &mut *live.lock().await;
            let routes = live
                .current(source.as_ref(), &mut async |document| {
                    compiler.routes(document).await
                })
                .await;
            (routes, live.version().map(str::to_owned))
        };
        let target = installed.as_ref().map(|(api, refs, topic)| AppTarget {
            app: App { api, refs },
            routes: &routes.channels,
            operator: topic.as_deref().map(|t| (sns, t)),
        });
        let target = target.as_ref();
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
        let event: SnsEvent = serde_json::from_value(event.payload).map_err(|e| Diagnostic {
            error_type: "pipewatch.BadEvent".into(),
            error_message: format!("the event is neither SNS records nor a redrive: {e}"),
        })?;
        let topics = Topics {
            sns,
            routes: &routes.topics,
        };
        let forwarded = pipewatch::forward::forward(
            webhook,
            &routes.webhooks,
            Some(&topics),
            target,
            &event,
            deadline,
        )
        .await?;
        tracing::info!(
            messages = forwarded.messages,
            posts = forwarded.posts,
            "forwarded"
        );
        if let (Some(version), Some(operator)) =
            (&version, source.as_ref().and_then(|s| s.operator.as_ref()))
        {
            for failed in &forwarded.failed_templates {
                tell_template_failed(operator, version, failed).await;
            }
        }
        Ok::<Value, Diagnostic>(Value::from(forwarded.posts))
    }))
    .await
}
