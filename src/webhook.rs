//! The forwarder's webhook client: a JSON POST over HTTPS, with the answer classified so
//! the caller knows whether trying again can help ([`PostError`]).
//!
//! A webhook URL is a secret: it lives only in [`WebhookUrl`], and no error message
//! includes it — not even when the server's own error text repeats parts of it.

use std::time::Duration;

use http_body_util::{BodyExt, Full};
use hyper::body::Bytes;
use hyper_util::client::legacy::Client;
use hyper_util::client::legacy::connect::HttpConnector;
use hyper_util::rt::TokioExecutor;

use crate::ports::{BoxError, PostError, Webhook, WebhookUrl};

/// How long one post may take.
pub const POST_TIMEOUT: Duration = Duration::from_secs(10);

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
        let request = hyper::Request::post(url.uri().clone())
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
        let retry_after = retry_after(response.headers());
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

/// The wait a `Retry-After` header asks for, in seconds (Slack's and Teams' form).
pub fn retry_after(headers: &hyper::HeaderMap) -> Option<Duration> {
    headers
        .get(hyper::header::RETRY_AFTER)
        .and_then(|v| v.to_str().ok())
        .and_then(|v| v.trim().parse::<u64>().ok())
        .map(Duration::from_secs)
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
