//! The Slack app's Web API client: `chat.postMessage` and `chat.update` with a bot token,
//! over the same hyper/rustls stack as the webhooks, every answer decided on Slack's
//! `error` code (Slack answers most refusals with HTTP 200 and `{"ok": false}`).
//!
//! Two calls do not justify `slack-morphism` and its second HTTP stack (see
//! `docs/slack-app.md`). The token lives only in [`BotToken`]; no error or log line
//! repeats it.

use std::fmt;
use std::time::Duration;

use http_body_util::{BodyExt, Full};
use hyper::body::Bytes;
use hyper_util::client::legacy::Client;
use hyper_util::client::legacy::connect::HttpConnector;
use hyper_util::rt::TokioExecutor;
use serde_json::Value;

use crate::ports::BoxError;

mod error;

pub use error::SlackError;

/// Slack's Web API. `SLACK_API_URL` points the app elsewhere (Slack for government's
/// `https://slack-gov.com/api/`, or a local fake in tests).
pub const DEFAULT_API_URL: &str = "https://slack.com/api/";

/// How long one call may take.
pub const CALL_TIMEOUT: Duration = Duration::from_secs(10);

/// A bot token (`xoxb-…`): shown nowhere, not even in `Debug`.
#[derive(Clone)]
pub struct BotToken(String);

impl BotToken {
    pub fn parse(token: &str) -> Result<Self, String> {
        let token = token.trim();
        if token.starts_with("xoxb-") && token.len() > 10 && token.is_ascii() {
            Ok(Self(token.to_owned()))
        } else {
            Err("the Slack app's secret is not a bot token (xoxb-…)".into())
        }
    }
}

impl fmt::Debug for BotToken {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("BotToken(…)")
    }
}

/// A form body's content type.
const FORM: &str = "application/x-www-form-urlencoded";

/// The Web API methods the app calls (`chat.postMessage`, `chat.update`, `views.open`,
/// `usergroups.users.list`) for one bot token.
pub struct SlackApi {
    client: Client<hyper_rustls::HttpsConnector<HttpConnector>, Full<Bytes>>,
    base: String,
    token: BotToken,
}

impl SlackApi {
    pub fn new(token: BotToken, base: Option<&str>) -> Result<Self, BoxError> {
        let connector = hyper_rustls::HttpsConnectorBuilder::new()
            .with_native_roots()?
            .https_or_http()
            .enable_http1()
            .build();
        let mut base = base.unwrap_or(DEFAULT_API_URL).to_owned();
        if !base.ends_with('/') {
            base.push('/');
        }
        Ok(Self {
            client: Client::builder(TokioExecutor::new()).build(connector),
            base,
            token,
        })
    }

    /// Posts `message` (`channel`, `text`, `blocks`, `thread_ts`…); Slack's `ts` for it.
    pub async fn post_message(&self, message: &Value) -> Result<String, SlackError> {
        let answer = self.call("chat.postMessage", message).await?;
        answer["ts"]
            .as_str()
            .map(str::to_owned)
            .ok_or_else(|| SlackError::Unavailable("chat.postMessage answered without a ts".into()))
    }

    /// Opens a dialog (`trigger_id`, `view`): the rejection's reason. Needs no scope.
    pub async fn open_view(&self, body: &Value) -> Result<(), SlackError> {
        self.call("views.open", body).await.map(drop)
    }

    /// Replaces the message `channel`/`ts` with `message`.
    pub async fn update(&self, message: &Value) -> Result<(), SlackError> {
        self.call("chat.update", message).await.map(drop)
    }

    /// The members of the user group `group` (`S0614TZR7`): user ids. Needs the
    /// `usergroups:read` scope; a read method, so its argument goes as a form.
    pub async fn usergroup_members(&self, group: &str) -> Result<Vec<String>, SlackError> {
        let form = form_urlencoded::Serializer::new(String::new())
            .append_pair("usergroup", group)
            .finish();
        let answer = self.send("usergroups.users.list", FORM, form).await?;
        answer["users"]
            .as_array()
            .map(|users| {
                users
                    .iter()
                    .filter_map(Value::as_str)
                    .map(str::to_owned)
                    .collect()
            })
            .ok_or_else(|| {
                SlackError::Unavailable("usergroups.users.list answered without users".into())
            })
    }

    async fn call(&self, method: &str, body: &Value) -> Result<Value, SlackError> {
        self.send(method, "application/json; charset=utf-8", body.to_string())
            .await
    }

    async fn send(
        &self,
        method: &str,
        content_type: &str,
        body: String,
    ) -> Result<Value, SlackError> {
        let request = hyper::Request::post(format!("{}{method}", self.base))
            .header("content-type", content_type)
            .header("authorization", format!("Bearer {}", self.token.0))
            .body(Full::new(Bytes::from(body)))
            .map_err(|e| SlackError::Unavailable(format!("{method} could not be built: {e}")))?;
        let response = tokio::time::timeout(CALL_TIMEOUT, self.client.request(request))
            .await
            .map_err(|_| {
                SlackError::Unavailable(format!(
                    "{method}: no answer within {} s",
                    CALL_TIMEOUT.as_secs()
                ))
            })?
            .map_err(|e| SlackError::Unavailable(format!("{method} failed: {e}")))?;
        let status = response.status().as_u16();
        let retry_after = crate::webhook::retry_after(response.headers());
        if status == 429 {
            return Err(SlackError::RateLimited { retry_after });
        }
        if status >= 500 || status == 408 {
            return Err(SlackError::Unavailable(format!(
                "{method} answered {status}"
            )));
        }
        let bytes = tokio::time::timeout(CALL_TIMEOUT, response.into_body().collect())
            .await
            .map_err(|_| SlackError::Unavailable(format!("{method}: the answer stalled")))?
            .map_err(|e| SlackError::Unavailable(format!("{method}: {e}")))?
            .to_bytes();
        let answer: Value = serde_json::from_slice(&bytes).map_err(|_| {
            SlackError::Unavailable(format!("{method} answered {status} without JSON"))
        })?;
        if answer["ok"] == Value::Bool(true) {
            return Ok(answer);
        }
        let code = answer["error"].as_str().unwrap_or("unknown_error");
        Err(match SlackError::from_code(code) {
            SlackError::RateLimited { .. } => SlackError::RateLimited { retry_after },
            other => other,
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_bot_token_is_checked_and_never_shown() {
        let token = BotToken::parse(" xoxb-1234-5678-SECRET ").unwrap();
        assert!(!format!("{token:?}").contains("SECRET"));
        let refused = BotToken::parse("xoxp-user-token-SECRET").unwrap_err();
        assert!(!refused.contains("SECRET"), "{refused}");
    }
}
