//! The forwarder's webhook client: a JSON POST over HTTPS, with the answer classified so
//! the caller knows whether trying again can help ([`PostError`]).
//!
//! A webhook URL is a secret (anyone holding it can post to the channel): it lives only in
//! [`WebhookUrl`], whose `Debug` hides it, and no error message includes it — not even
//! when the server's own error text repeats parts of it.

use std::fmt;
use std::time::Duration;

use http_body_util::{BodyExt, Full};
use hyper::body::Bytes;
use hyper_util::client::legacy::Client;
use hyper_util::client::legacy::connect::HttpConnector;
use hyper_util::rt::TokioExecutor;

use crate::error::BoxError;
use crate::ports::Webhook;

/// How long one post may take.
pub const POST_TIMEOUT: Duration = Duration::from_secs(10);

/// A webhook URL, validated and kept out of logs.
#[derive(Clone, PartialEq, Eq)]
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

    /// The URL's host, which is not secret (`hooks.slack.com`): for error messages.
    pub fn host(&self) -> &str {
        self.0.host().unwrap_or("the webhook")
    }

    /// Removes any piece of this URL's path and query from `text` (a server's error body
    /// may echo the request).
    fn redact(&self, text: &str) -> String {
        let secret_parts = self
            .0
            .path_and_query()
            .map(hyper::http::uri::PathAndQuery::as_str)
            .unwrap_or_default()
            .split(['/', '?', '&', '='])
            .filter(|part| part.len() >= 6)
            .collect::<Vec<_>>();
        let mut text = text.to_owned();
        for part in secret_parts {
            text = text.replace(part, "[redacted]");
        }
        text
    }
}

impl fmt::Debug for WebhookUrl {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("WebhookUrl([redacted])")
    }
}

/// Why a post did not go through.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum PostError {
    /// The webhook refused the message, and would again: retrying cannot help (400, 401,
    /// 403, 404, 410, 413, ...).
    #[error("{host} refused the message with {status}: {meaning}{detail}")]
    Refused {
        host: String,
        status: u16,
        meaning: &'static str,
        detail: String,
    },
    /// 429: too many messages; try again after `retry_after` when the server said.
    #[error("{host} is rate limiting (429){}", retry_after.map_or_else(String::new, |d| format!(", retry after {} s", d.as_secs())))]
    RateLimited {
        host: String,
        retry_after: Option<Duration>,
    },
    /// 5xx, 408, a timeout or a connection failure: trying again later may work.
    #[error("{host} is unavailable: {detail}")]
    Unavailable { host: String, detail: String },
}

impl PostError {
    /// Whether trying again (later) could succeed.
    pub fn is_permanent(&self) -> bool {
        matches!(self, Self::Refused { .. })
    }
}

/// What a refusal means, for the statuses Slack and Teams use.
fn meaning(status: u16) -> &'static str {
    match status {
        400 => "the message was not accepted (malformed or too long)",
        401 | 403 => "the webhook is not allowed to post (revoked, or the channel is archived?)",
        404 => "the webhook does not exist (deleted, or a wrong URL)",
        410 => "the webhook is gone (its channel was deleted or archived)",
        413 => "the message is too large",
        _ => "the request was refused",
    }
}

/// Posts JSON to webhooks over one shared HTTPS client.
pub struct HttpsWebhook {
    client: Client<hyper_rustls::HttpsConnector<HttpConnector>, Full<Bytes>>,
}

impl HttpsWebhook {
    pub fn new() -> Result<Self, BoxError> {
        let connector = hyper_rustls::HttpsConnectorBuilder::new()
            .with_native_roots()?
            .https_or_http()
            .enable_http1()
            .build();
        Ok(Self {
            client: Client::builder(TokioExecutor::new()).build(connector),
        })
    }
}

impl Webhook for HttpsWebhook {
    async fn post(&self, url: &WebhookUrl, body: &serde_json::Value) -> Result<(), PostError> {
        let host = url.host().to_owned();
        let unavailable = |detail: String| PostError::Unavailable {
            host: host.clone(),
            detail,
        };
        let request = hyper::Request::post(url.0.clone())
            .header("content-type", "application/json")
            .body(Full::new(Bytes::from(body.to_string())))
            .map_err(|e| unavailable(format!("the request could not be built: {e}")))?;
        let response = tokio::time::timeout(POST_TIMEOUT, self.client.request(request))
            .await
            .map_err(|_| unavailable(format!("no answer within {} s", POST_TIMEOUT.as_secs())))?
            // hyper's errors name no URL; keep only their kind.
            .map_err(|e| unavailable(format!("the request failed: {e}")))?;
        let status = response.status();
        if status.is_success() {
            return Ok(());
        }
        let retry_after = response
            .headers()
            .get(hyper::header::RETRY_AFTER)
            .and_then(|v| v.to_str().ok())
            .and_then(|v| v.trim().parse::<u64>().ok())
            .map(Duration::from_secs);
        let detail = tokio::time::timeout(POST_TIMEOUT, response.into_body().collect())
            .await
            .ok()
            .and_then(Result::ok)
            .map(|b| {
                let text: String = String::from_utf8_lossy(&b.to_bytes())
                    .chars()
                    .take(200)
                    .collect();
                url.redact(text.trim())
            })
            .unwrap_or_default();
        Err(classify(status.as_u16(), &host, retry_after, &detail))
    }
}

/// A failed status as a [`PostError`].
fn classify(status: u16, host: &str, retry_after: Option<Duration>, detail: &str) -> PostError {
    let host = host.to_owned();
    match status {
        429 => PostError::RateLimited { host, retry_after },
        408 | 500..=599 => PostError::Unavailable {
            host,
            detail: if detail.is_empty() {
                format!("{status}")
            } else {
                format!("{status}: {detail}")
            },
        },
        _ => PostError::Refused {
            host,
            status,
            meaning: meaning(status),
            detail: if detail.is_empty() {
                String::new()
            } else {
                format!(" ({detail})")
            },
        },
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
        assert_eq!(url.host(), "hooks.slack.com");
    }

    #[test]
    fn a_server_echoing_the_url_is_redacted() {
        let url = WebhookUrl::parse(
            "https://prod-01.westus.logic.azure.com/workflows/abc123def456/triggers/manual?sig=SECRETSIG123",
        )
        .unwrap();
        let echoed =
            url.redact("bad request to /workflows/abc123def456/triggers/manual?sig=SECRETSIG123");
        assert!(!echoed.contains("SECRETSIG123"), "{echoed}");
        assert!(!echoed.contains("abc123def456"), "{echoed}");
    }

    #[test]
    fn statuses_are_classified_by_whether_a_retry_can_help() {
        let cases = [
            (400, true),
            (403, true),
            (404, true),
            (410, true),
            (413, true),
            (408, false),
            (429, false),
            (500, false),
            (503, false),
        ];
        for (status, permanent) in cases {
            let error = classify(status, "hooks.slack.com", None, "no_service");
            assert_eq!(error.is_permanent(), permanent, "{status}: {error}");
        }
        let refused = classify(404, "hooks.slack.com", None, "no_service");
        assert_eq!(
            refused.to_string(),
            "hooks.slack.com refused the message with 404: the webhook does not exist (deleted, or a wrong URL) (no_service)"
        );
        let limited = classify(429, "hooks.slack.com", Some(Duration::from_secs(3)), "");
        assert_eq!(
            limited.to_string(),
            "hooks.slack.com is rate limiting (429), retry after 3 s"
        );
    }
}
