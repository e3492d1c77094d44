//! The Slack webhook URL from Secrets Manager, read once per cold start.

use aws_sdk_secretsmanager::Client;

use crate::error::BoxError;
use crate::webhook::WebhookUrl;

/// Reads the secret: either the URL itself, or JSON with a `url` or `webhook_url` field.
pub async fn webhook_url(client: &Client, secret_id: &str) -> Result<WebhookUrl, BoxError> {
    let output = client
        .get_secret_value()
        .secret_id(secret_id)
        .send()
        .await?;
    let value = output
        .secret_string()
        .ok_or("the webhook secret has no string value")?;
    let url = match serde_json::from_str::<serde_json::Value>(value) {
        Ok(json) => json["webhook_url"]
            .as_str()
            .or_else(|| json["url"].as_str())
            .ok_or("the webhook secret is JSON without a url or webhook_url field")?
            .to_owned(),
        Err(_) => value.to_owned(),
    };
    Ok(WebhookUrl::parse(&url)?)
}
