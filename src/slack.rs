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

/// What a refused or failed call means for the message, decided on Slack's `error`.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum SlackError {
    /// 429 or `ratelimited`: try again after `retry_after`.
    #[error("Slack is rate limiting{}", retry_after.map_or_else(String::new, |d| format!(", retry after {} s", d.as_secs())))]
    RateLimited { retry_after: Option<Duration> },
    /// `internal_error`, `fatal_error`, 5xx, a timeout, a connection failure: try again.
    #[error("Slack is unavailable: {0}")]
    Unavailable(String),
    /// `message_not_found`: the message was deleted; post a new one.
    #[error("the message is gone (message_not_found)")]
    MessageGone,
    /// `cant_update_message`, `edit_window_closed`: post a new one that says it continues.
    #[error("the message can no longer be edited ({0})")]
    CannotEdit(String),
    /// `msg_too_long`, `invalid_blocks`…: the rendering was refused; send a plainer one.
    #[error("Slack refused the message's content ({0})")]
    Content(String),
    /// The destination cannot take messages until a person acts: kept as a dead letter
    /// for it, and the operator is told.
    #[error("{words} ({code})")]
    Destination { code: String, words: &'static str },
}

impl SlackError {
    /// The decision for a Web API `error` code.
    pub fn from_code(code: &str) -> Self {
        let destination = |words| Self::Destination {
            code: code.to_owned(),
            words,
        };
        match code {
            // `rate_limited` is the spelling of Slack's 2021 specification.
            "ratelimited" | "rate_limited" => Self::RateLimited { retry_after: None },
            "internal_error" | "fatal_error" | "service_unavailable" | "request_timeout" => {
                Self::Unavailable(code.to_owned())
            }
            "message_not_found" => Self::MessageGone,
            "cant_update_message" | "edit_window_closed" => Self::CannotEdit(code.to_owned()),
            // The message or the request's form: a plainer message is tried once; refused
            // again, the destination keeps it as a dead letter.
            "msg_too_long"
            | "invalid_blocks"
            | "invalid_blocks_format"
            | "invalid_attachments"
            | "too_many_attachments"
            | "no_text"
            | "invalid_arguments"
            | "invalid_arg_name"
            | "invalid_array_arg"
            | "invalid_charset"
            | "invalid_form_data"
            | "invalid_post_type"
            | "missing_post_type"
            | "invalid_json"
            | "json_not_object" => Self::Content(code.to_owned()),
            "channel_not_found" => {
                destination("the channel does not exist, or the app cannot see it")
            }
            "not_in_channel" => {
                destination("the app is not in the channel: invite it (/invite @pipewatch)")
            }
            "is_archived" => destination("the channel is archived"),
            "invalid_auth" | "not_authed" => destination("the bot token is not valid"),
            "token_revoked" | "token_expired" => destination("the bot token was revoked"),
            "account_inactive" => destination("the app's bot user or workspace is deactivated"),
            "missing_scope" => destination("the app lacks a scope it needs (chat:write)"),
            "restricted_action" | "no_permission" => {
                destination("the workspace does not let the app post there")
            }
            "is_inactive" => destination("the channel or workspace is inactive"),
            "upgrade_required" => destination("Slack asks for a newer client: upgrade pipewatch"),
            _ => destination("Slack refused the call for a reason pipewatch does not know"),
        }
    }

    /// Whether trying the same call again later can succeed.
    pub fn is_transient(&self) -> bool {
        matches!(self, Self::RateLimited { .. } | Self::Unavailable(_))
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
    fn every_error_code_named_by_the_issue_has_its_decision() {
        type Decided = fn(&SlackError) -> bool;
        let cases: [(&str, Decided); 17] = [
            ("ratelimited", |e| {
                matches!(e, SlackError::RateLimited { .. })
            }),
            ("internal_error", |e| {
                matches!(e, SlackError::Unavailable(_))
            }),
            ("fatal_error", |e| matches!(e, SlackError::Unavailable(_))),
            ("message_not_found", |e| *e == SlackError::MessageGone),
            ("cant_update_message", |e| {
                matches!(e, SlackError::CannotEdit(_))
            }),
            ("edit_window_closed", |e| {
                matches!(e, SlackError::CannotEdit(_))
            }),
            ("msg_too_long", |e| matches!(e, SlackError::Content(_))),
            ("invalid_blocks", |e| matches!(e, SlackError::Content(_))),
            ("channel_not_found", |e| {
                matches!(e, SlackError::Destination { .. })
            }),
            ("not_in_channel", |e| {
                matches!(e, SlackError::Destination { .. })
            }),
            ("is_archived", |e| {
                matches!(e, SlackError::Destination { .. })
            }),
            ("invalid_auth", |e| {
                matches!(e, SlackError::Destination { .. })
            }),
            ("token_revoked", |e| {
                matches!(e, SlackError::Destination { .. })
            }),
            ("account_inactive", |e| {
                matches!(e, SlackError::Destination { .. })
            }),
            ("missing_scope", |e| {
                matches!(e, SlackError::Destination { .. })
            }),
            ("no_such_code_yet", |e| {
                matches!(e, SlackError::Destination { .. })
            }),
            ("service_unavailable", SlackError::is_transient),
        ];
        for (code, decided) in cases {
            let error = SlackError::from_code(code);
            assert!(decided(&error), "{code}: {error:?}");
        }
        // Every code Slack's specification lists for the two methods is decided by name,
        // none by the arm for codes pipewatch does not know.
        let unknown = "for a reason pipewatch does not know";
        assert!(
            SlackError::from_code("no_such_code_yet")
                .to_string()
                .contains(unknown)
        );
        for code in [
            "channel_not_found",
            "not_in_channel",
            "is_archived",
            "msg_too_long",
            "no_text",
            "too_many_attachments",
            "rate_limited",
            "not_authed",
            "invalid_auth",
            "account_inactive",
            "invalid_arg_name",
            "invalid_array_arg",
            "invalid_charset",
            "invalid_form_data",
            "invalid_post_type",
            "missing_post_type",
            "message_not_found",
            "cant_update_message",
            "edit_window_closed",
            "token_revoked",
            "no_permission",
            "request_timeout",
            "invalid_json",
            "json_not_object",
            "upgrade_required",
            "fatal_error",
            "is_inactive",
        ] {
            let decided = SlackError::from_code(code).to_string();
            assert!(!decided.contains(unknown), "{code}: {decided}");
        }
        assert_eq!(
            SlackError::from_code("token_revoked").to_string(),
            "the bot token was revoked (token_revoked)"
        );
    }

    #[test]
    fn a_bot_token_is_checked_and_never_shown() {
        let token = BotToken::parse(" xoxb-1234-5678-SECRET ").unwrap();
        assert!(!format!("{token:?}").contains("SECRET"));
        let refused = BotToken::parse("xoxp-user-token-SECRET").unwrap_err();
        assert!(!refused.contains("SECRET"), "{refused}");
    }
}
