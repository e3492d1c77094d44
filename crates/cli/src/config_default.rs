//! `pipewatch config default`: the notifications document a stack's settings amount to,
//! read from its parameters or from its forwarder's environment, with the webhook secrets
//! read through the user's AWS credentials for their lists (never printed: the document
//! names each secret by ARN).

use std::collections::HashMap;
use std::path::{Path, PathBuf};

use anyhow::Context;
use pipewatch::config::ForwarderConfig;
use serde_json::Value;

/// The stack's parameters the forwarder's variables come from.
const PARAMETERS: [(&str, &str); 5] = [
    ("SlackWebhookSecretArn", "SLACK_WEBHOOK_SECRET_ARN"),
    ("TeamsWebhookSecretArn", "TEAMS_WEBHOOK_SECRET_ARN"),
    ("SlackAppTokenSecretArn", "SLACK_APP_SECRET_ARN"),
    ("SlackAppRoutes", "SLACK_APP_ROUTES"),
    ("OtherPipelineArns", "PIPELINES"),
];

/// Where the settings are read from.
pub enum From<'a> {
    /// A stack's parameters, as `aws cloudformation describe-stacks` prints them.
    Parameters(&'a Path),
    /// Functions' variables, as `aws lambda get-function-configuration` prints them (the
    /// forwarder's, and the watcher's for the pipelines it watches in other accounts).
    Environment(&'a [PathBuf]),
}

/// The document, as text.
pub fn document(from: &From<'_>) -> anyhow::Result<String> {
    let mut variables = HashMap::new();
    match from {
        From::Parameters(path) => variables.extend(
            parameters(&read(path)?)
                .with_context(|| format!("{} holds no stack parameters", path.display()))?,
        ),
        From::Environment(paths) => {
            for path in *paths {
                variables.extend(environment(&read(path)?).with_context(|| {
                    format!("{} holds no function environment", path.display())
                })?);
            }
        }
    }
    // Where the Slack app keeps its references does not change where messages go.
    variables
        .entry("TABLE_NAME".to_owned())
        .or_insert_with(|| "-".to_owned());
    let forwarder = ForwarderConfig::from_lookup(|name| variables.get(name).cloned())
        .map_err(|e| anyhow::anyhow!("these settings route nothing: {e}"))?;
    let runtime = tokio::runtime::Runtime::new().context("starting the async runtime")?;
    let secrets = runtime.block_on(async {
        let sdk = pipewatch::aws::load_sdk_config().await;
        let client = aws_sdk_secretsmanager::Client::new(&sdk);
        let mut values = HashMap::new();
        for arn in [&forwarder.slack_secret, &forwarder.teams_secret]
            .into_iter()
            .flatten()
        {
            let value = pipewatch::aws::secrets::secret_string(&client, arn)
                .await
                .map_err(|e| anyhow::anyhow!("reading the secret {arn}: {e}"))?;
            values.insert(arn.clone(), value);
        }
        anyhow::Ok(values)
    })?;
    let watched = variables.get("PIPELINES").map_or("", String::as_str);
    pipewatch::forward::stack::document(&forwarder, &secrets, watched)
        .map_err(|e| anyhow::anyhow!("{e}"))
}

fn read(path: &Path) -> anyhow::Result<Value> {
    let text =
        std::fs::read_to_string(path).with_context(|| format!("cannot read {}", path.display()))?;
    serde_json::from_str(&text).with_context(|| format!("{} is not JSON", path.display()))
}

/// `[{"ParameterKey", "ParameterValue"}]`, alone, as a stack's `Parameters`, or as
/// `describe-stacks` prints the whole stack; or an object of names and values.
fn parameters(json: &Value) -> Option<HashMap<String, String>> {
    let list = json
        .pointer("/Stacks/0/Parameters")
        .or_else(|| json.get("Parameters"))
        .unwrap_or(json);
    let pairs: Vec<(String, String)> = match list {
        Value::Array(items) => items
            .iter()
            .map(|p| {
                Some((
                    p.get("ParameterKey")?.as_str()?.to_owned(),
                    p.get("ParameterValue")?.as_str()?.to_owned(),
                ))
            })
            .collect::<Option<_>>()?,
        Value::Object(map) => map
            .iter()
            .map(|(k, v)| Some((k.clone(), v.as_str()?.to_owned())))
            .collect::<Option<_>>()?,
        _ => return None,
    };
    Some(
        PARAMETERS
            .iter()
            .filter_map(|(parameter, variable)| {
                let value = pairs.iter().find(|(k, _)| k == parameter)?.1.clone();
                Some(((*variable).to_owned(), value))
            })
            .collect(),
    )
}

/// `{"Environment": {"Variables": {...}}}`, its `Variables`, or the variables alone.
fn environment(json: &Value) -> Option<HashMap<String, String>> {
    let variables = json
        .pointer("/Environment/Variables")
        .or_else(|| json.get("Variables"))
        .unwrap_or(json)
        .as_object()?;
    variables
        .iter()
        .map(|(k, v)| Some((k.clone(), v.as_str()?.to_owned())))
        .collect()
}
