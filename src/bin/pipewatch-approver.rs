//! The approver: the Slack app's interactivity URL (a Lambda function URL). A click is
//! answered at once — verified, read and authorized without calling CodePipeline or
//! DynamoDB — and its decision handed to a queue this same function consumes, because a
//! Lambda is frozen once it has answered: work left running after the answer never happens.

use std::process::ExitCode;
use std::sync::Arc;

use lambda_runtime::{Diagnostic, LambdaEvent, service_fn};
use serde_json::{Value, json};

use pipewatch::approve::{
    Deciders, GroupCache, Handoff, Keys, UrlRequest, authorize, needs_groups, receive, take,
};
use pipewatch::aws::approvals::CodePipelineApprovals;
use pipewatch::aws::clients::Clients;
use pipewatch::aws::live::{Live, Source};
use pipewatch::aws::slack_refs::SlackRefs;
use pipewatch::config::ApproverConfig;
use pipewatch::select::Home;
use pipewatch::slack::{BotToken, SlackApi};
use pipewatch::webhook::HttpsWebhook;
use pipewatch_core::interaction::UserGroups;
use pipewatch_core::render::console::Console;
use pipewatch_core::state::Timestamp;

#[tokio::main]
async fn main() -> ExitCode {
    match Box::pin(run()).await {
        Ok(()) => ExitCode::SUCCESS,
        Err(error) => {
            eprintln!("pipewatch-approver: {error}");
            ExitCode::FAILURE
        }
    }
}

async fn run() -> Result<(), lambda_runtime::Error> {
    let config = ApproverConfig::from_env()?;
    pipewatch::lambda::init_logging(&config.log_level);
    let sdk = pipewatch::aws::load_sdk_config().await;
    let secrets = aws_sdk_secretsmanager::Client::new(&sdk);
    let signing_secret = pipewatch::aws::secrets::secret_string(&secrets, &config.signing_secret)
        .await
        .map_err(|e| format!("reading the Slack app's signing secret: {e}"))?;
    let region = sdk.region().map(ToString::to_string).unwrap_or_default();
    let home = Home {
        partition: Console::new(&region, None)
            .map_or("aws", |c| c.partition())
            .to_owned(),
        region,
        account: Some(config.account.clone()),
    };
    let keys = Keys {
        signing_secret: signing_secret.trim().as_bytes().to_vec(),
        installed: config.installed.clone(),
        approvers: config.approvers.clone(),
        narrowing: None,
        watched: config.watched.clone(),
        home: home.clone(),
    };
    let token = pipewatch::aws::secrets::secret_string(&secrets, &config.token_secret)
        .await
        .map_err(|e| format!("reading the Slack app's bot token: {e}"))?;
    let slack = SlackApi::new(BotToken::parse(&token)?, config.api_url.as_deref())?;
    let sqs = aws_sdk_sqs::Client::new(&sdk);
    // Every pipeline given by its ARN is decided through the approver role in its account
    // (no home account given to the clients: this account's other regions too), so the
    // approver's own role stays within this account and region.
    let clients = Clients::new(sdk.clone(), None, config.role.clone().unwrap_or_default());
    let approvals = CodePipelineApprovals::new(Arc::new(clients), home);
    let refs = SlackRefs::new(aws_sdk_dynamodb::Client::new(&sdk), &config.table);
    let webhook = HttpsWebhook::new()?;
    tracing::info!("approver ready");
    let groups = &GroupCache::default();
    // The notifications document's approvers narrow the stack's, once it has any.
    let s3 = aws_sdk_s3::Client::new(&sdk);
    // The forwarder tells the operator of a refused document.
    let source = config
        .document
        .as_ref()
        .map(|document| Source::new(&s3, document, None));
    let (source, live) = (&source, &tokio::sync::Mutex::new(Live::new(None)));
    let (keys, sqs, queue, slack) = (&keys, &sqs, config.queue_url.as_str(), &slack);
    let deciders = &Deciders {
        approvals: &approvals,
        refs: &refs,
        slack: &webhook,
    };
    Box::pin(lambda_runtime::run(service_fn(move |event: LambdaEvent<Value>| async move {
        // The queue's records: decisions to take, after Slack was answered.
        if let Some(records) = event.payload["Records"].as_array() {
            return Ok::<Value, Diagnostic>(decide(records, deciders).await);
        }
        // A click, from the function URL.
        let request: UrlRequest = serde_json::from_value(event.payload).unwrap_or_default();
        let now = Timestamp::now().unix_millis() / 1000;
        let narrowing = live
            .lock()
            .await
            .current(source.as_ref(), &mut async |document| {
                Ok(Ok(document.narrowing().cloned()))
            })
            .await;
        let keys = &*keys.narrowed_by(narrowing.as_ref().as_ref());
        let answer = match receive(&request, keys, now) {
            Err(answer) => answer,
            Ok(click) => {
                // Only a verified click by someone not named by id reads the groups.
                let groups = if needs_groups(&click, keys) {
                    groups.members(slack, &keys.groups()).await
                } else {
                    Some(UserGroups::new())
                };
                authorize(click, keys, groups.as_ref())
            }
        };
        let mut status = answer.status;
        if let Some(dialog) = &answer.dialog
            && let Err(error) = slack.open_view(dialog).await
        {
            tracing::error!(error = %error, "could not open the rejection's reason dialog");
            status = 500;
        }
        if let Some(handoff) = &answer.handoff {
            let body = serde_json::to_string(handoff).unwrap_or_default();
            if let Err(error) = sqs.send_message().queue_url(queue).message_body(body).send().await {
                tracing::error!(error = %pipewatch::aws::describe(&error), "could not hand a click on");
                status = 500;
            }
        }
        Ok(json!({"statusCode": status, "headers": {"content-type": "text/plain"}, "body": ""}))
    })))
    .await
}

/// Takes the decisions the queue's records hand on; the ones to try again, as Lambda's
/// partial batch response names them.
async fn decide(records: &[Value], deciders: &Deciders<'_, HttpsWebhook>) -> Value {
    let mut failures = Vec::new();
    for record in records {
        let id = record["messageId"].as_str().unwrap_or_default();
        let handoff: Result<Handoff, _> =
            serde_json::from_str(record["body"].as_str().unwrap_or_default());
        let result = match handoff {
            Ok(handoff) => Box::pin(take(&handoff, deciders)).await,
            Err(e) => Err(format!("not a handoff: {e}")),
        };
        if let Err(error) = result {
            tracing::warn!(message = %id, error = %error, "a decision to try again");
            failures.push(json!({"itemIdentifier": id}));
        }
    }
    json!({"batchItemFailures": failures})
}
