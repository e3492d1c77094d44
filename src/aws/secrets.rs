//! The forwarder's webhook secrets from Secrets Manager, read once per cold start.

use aws_sdk_secretsmanager::Client;

use crate::ports::BoxError;

/// The secret's string value. It holds webhook URLs: callers never log or print it.
pub async fn secret_string(client: &Client, secret_id: &str) -> Result<String, BoxError> {
    let output = client
        .get_secret_value()
        .secret_id(secret_id)
        .send()
        .await?;
    Ok(output
        .secret_string()
        .ok_or("the webhook secret has no string value")?
        .to_owned())
}
