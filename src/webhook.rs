//! The Slack forwarder's webhook client: a JSON POST over HTTPS.
//!
//! The webhook URL is a secret (anyone holding it can post to the channel): it lives only
//! in [`WebhookUrl`], whose `Debug` hides it, and no error message includes it.

use std::fmt;

use http_body_util::{BodyExt, Full};
use hyper::body::Bytes;
use hyper_util::client::legacy::Client;
use hyper_util::client::legacy::connect::HttpConnector;
use hyper_util::rt::TokioExecutor;

use crate::error::BoxError;
use crate::ports::Webhook;

/// A webhook URL, validated and kept out of logs.
#[derive(Clone)]
pub struct WebhookUrl(hyper::Uri);

impl WebhookUrl {
    /// Accepts an `https://` URL (or `http://` for a local test server). The error never
    /// repeats the value.
    pub fn parse(url: &str) -> Result<Self, String> {
        let uri: hyper::Uri = url
            .trim()
            .parse()
            .map_err(|_| "the webhook secret is not a URL".to_owned())?;
        match (uri.scheme_str(), uri.host()) {
            (Some("https" | "http"), Some(_)) => Ok(Self(uri)),
            _ => Err("the webhook secret is not an http(s) URL with a host".to_owned()),
        }
    }
}

impl fmt::Debug for WebhookUrl {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("WebhookUrl([redacted])")
    }
}

/// Posts JSON to one webhook.
pub struct HttpsWebhook {
    url: WebhookUrl,
    client: Client<hyper_rustls::HttpsConnector<HttpConnector>, Full<Bytes>>,
}

impl HttpsWebhook {
    pub fn new(url: WebhookUrl) -> Result<Self, BoxError> {
        let connector = hyper_rustls::HttpsConnectorBuilder::new()
            .with_native_roots()?
            .https_or_http()
            .enable_http1()
            .build();
        Ok(Self {
            url,
            client: Client::builder(TokioExecutor::new()).build(connector),
        })
    }
}

impl Webhook for HttpsWebhook {
    async fn post(&self, body: &serde_json::Value) -> Result<(), BoxError> {
        let request = hyper::Request::post(self.url.0.clone())
            .header("content-type", "application/json")
            .body(Full::new(Bytes::from(body.to_string())))?;
        let response = tokio::time::timeout(
            std::time::Duration::from_secs(10),
            self.client.request(request),
        )
        .await
        .map_err(|_| "the webhook did not answer within 10 s")?
        // hyper's errors name no URL; keep only their kind.
        .map_err(|e| format!("the webhook request failed: {e}"))?;
        let status = response.status();
        if status.is_success() {
            return Ok(());
        }
        let detail = response
            .into_body()
            .collect()
            .await
            .map(|b| {
                String::from_utf8_lossy(&b.to_bytes())
                    .chars()
                    .take(200)
                    .collect::<String>()
            })
            .unwrap_or_default();
        Err(format!("the webhook answered {status}: {detail}").into())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_webhook_url_never_shows_in_debug_or_errors() {
        let url =
            WebhookUrl::parse("https://hooks.slack.com/services/T000/B000/XXXXSECRET").unwrap();
        assert!(!format!("{url:?}").contains("SECRET"));
        let error =
            WebhookUrl::parse("ftp://hooks.slack.com/services/T000/B000/XXXXSECRET").unwrap_err();
        assert!(!error.contains("SECRET"), "{error}");
        assert!(
            WebhookUrl::parse("not a url SECRET")
                .unwrap_err()
                .contains("not a URL")
        );
    }
}
