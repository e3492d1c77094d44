//! The Slack app's route: each notification's living messages, thread replies and
//! messages about no execution, posted and updated through the Web API under the rules of
//! [`pipewatch_core::living`], applied with the conditional writes of [`SlackRefs`].
//!
//! A route gets **every** notification of its pipelines; its `severity` decides only
//! whether a notification may *start* a message (a run that began quietly and failed gets
//! its message at the failure, and is then followed to its end).
//!
//! Slack's refusals, decided per call: a deleted message is posted afresh; one Slack no
//! longer lets the app edit is posted afresh saying it continues the old one; refused
//! content is sent again as plain text; rate limits and Slack's own failures are retried
//! within the invocation; a destination that cannot take messages (revoked token,
//! archived channel…) fails the route with [`AppError::Destination`], for the caller to
//! keep the message and tell the operator.

use std::time::{Duration, Instant};

use serde::Deserialize;
use serde_json::{Value, json};

use crate::aws::slack_refs::SlackRefs;
use crate::ports::StoreError;
use crate::slack::{SlackApi, SlackError};
use pipewatch_core::config::Audience;
use pipewatch_core::living::{self, MessageRef, Next};
use pipewatch_core::render::content::{Content, Severity};
use pipewatch_core::render::slack_app::{self, Living, Rendered};
use pipewatch_core::state::Timestamp;

/// Kept free before the deadline for one more call and the response.
const RESERVE: Duration = Duration::from_secs(5);

/// How often a forwarder waiting for another's first post reads the reference again.
const WAIT_STEP: Duration = Duration::from_millis(200);

/// One channel of the Slack app and what it wants.
#[derive(Debug, Clone, PartialEq, Eq, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct AppRoute {
    /// A channel id (`C0123456789`), as Slack's "copy link" shows it.
    pub channel: String,
    /// Names or patterns (in any account the stack watches); default all. A document's
    /// channel hears about its subscriptions' pipelines instead.
    #[serde(default = "Audience::all", deserialize_with = "names")]
    pub pipelines: Audience,
    /// The least severity that starts a message; default `info` (every run).
    #[serde(default)]
    pub severity: Severity,
    /// Failure replies are also shown in the channel; default true.
    #[serde(default = "yes")]
    pub broadcast_failures: bool,
    /// A waiting approval gets Approve and Reject buttons; default false. Needs the
    /// approver (`SlackAppSigningSecretArn`, docs/slack-app.md).
    #[serde(default)]
    pub approvals: bool,
}

/// `SLACK_APP_ROUTES`' `pipelines`: names or patterns.
fn names<'de, D: serde::Deserializer<'de>>(deserializer: D) -> Result<Audience, D::Error> {
    Vec::<String>::deserialize(deserializer).map(Audience::Names)
}

fn yes() -> bool {
    true
}

impl AppRoute {
    /// Whether the pipeline keyed `pipeline` (`None`: an alarm, heard everywhere) is
    /// heard about here.
    pub fn wants(&self, pipeline: Option<&str>) -> bool {
        pipeline.is_none_or(|key| self.pipelines.hears(key))
    }
}

/// Reads `SLACK_APP_ROUTES`: a JSON list of routes.
pub fn parse_routes(text: &str) -> Result<Vec<AppRoute>, String> {
    let routes: Vec<AppRoute> = serde_json::from_str(text).map_err(|e| {
        format!("SLACK_APP_ROUTES is not a list of {{\"channel\", \"pipelines\", \"severity\", \"broadcast_failures\"}}: {e}")
    })?;
    if let Some(bad) = routes
        .iter()
        .find(|r| r.channel.is_empty() || !r.channel.chars().all(|c| c.is_ascii_alphanumeric()))
    {
        return Err(format!(
            "SLACK_APP_ROUTES: {:?} is not a channel id (C0123456789)",
            bad.channel
        ));
    }
    Ok(routes)
}

/// Why a route did not take a notification.
#[derive(Debug, thiserror::Error)]
pub enum AppError {
    /// Slack failed for now: Lambda delivers the event again.
    #[error("{0}")]
    Transient(SlackError),
    /// The destination cannot take messages until a person acts.
    #[error("{0}")]
    Destination(SlackError),
    #[error(transparent)]
    Store(#[from] StoreError),
    #[error("the first message of execution {0} is still being posted by another forwarder")]
    Waiting(String),
    /// Another forwarder is posting the message that replaces a lost one.
    #[error("another forwarder is posting the message that replaces a deleted or uneditable one")]
    Reposting,
}

impl AppError {
    pub fn is_transient(&self) -> bool {
        !matches!(self, Self::Destination(_))
    }
}

/// What a route sent for one notification.
#[derive(Debug, Default, Clone, Copy, PartialEq, Eq)]
pub struct Sent {
    pub posts: usize,
    pub updates: usize,
}

/// The app with its store, for one invocation.
pub struct App<'a> {
    pub api: &'a SlackApi,
    pub refs: &'a SlackRefs,
}

fn now_ms() -> i64 {
    Timestamp::now().unix_millis()
}

impl App<'_> {
    /// Delivers `content` to `route`.
    pub async fn deliver(
        &self,
        route: &AppRoute,
        content: &Content,
        deadline: Instant,
    ) -> Result<Sent, AppError> {
        let options = slack_app::Options {
            broadcast_failures: route.broadcast_failures,
            approve_in_slack: route.approvals,
        };
        // A decision taken in Slack shows instead of its buttons (the approver records it).
        let mut decided = slack_app::Decisions::new();
        for target in slack_app::buttons_for(content, options) {
            let key = target.decision_key();
            if let Some(summary) = self.refs.decision(&key).await? {
                decided.insert(key, summary);
            }
        }
        let rendered: Rendered = slack_app::render_decided(content, options, &decided);
        let mut sent = Sent::default();
        for living in &rendered.living {
            self.living(route, living, deadline, &mut sent).await?;
        }
        for reply in &rendered.replies {
            let Some(ts) = self.thread(route, &reply.execution, deadline).await? else {
                continue; // no message for the run in this channel: nothing to reply to
            };
            let key = format!("{}/{}", reply.execution, reply.key);
            let mut body = reply.message.clone();
            body["thread_ts"] = json!(ts);
            if reply.broadcast {
                body["reply_broadcast"] = json!(true);
            }
            self.once(route, &key, body, deadline).await?;
            sent.posts += 1;
        }
        if let Some(standalone) = &rendered.standalone
            && standalone.severity >= route.severity
        {
            let key = format!("post/{}", standalone.key);
            self.once(route, &key, standalone.message.clone(), deadline)
                .await?;
            sent.posts += 1;
        }
        Ok(sent)
    }

    /// The living message of one execution, by the rules.
    async fn living(
        &self,
        route: &AppRoute,
        living: &Living,
        deadline: Instant,
        sent: &mut Sent,
    ) -> Result<(), AppError> {
        let channel = &route.channel;
        loop {
            let stored = self.refs.get(channel, &living.execution).await?;
            let now = now_ms();
            match living::next(stored.as_ref(), living, route.severity, now) {
                Next::Skip | Next::Nothing => return Ok(()),
                Next::Claim | Next::TakeOver => {
                    let claim = living::claim_over(stored.as_ref(), channel, living, now);
                    if !self.refs.claim(&claim, now).await? {
                        continue; // another forwarder claimed it: read again
                    }
                    let message: Value =
                        serde_json::from_str(&claim.message).unwrap_or(Value::Null);
                    let ts = match self.post(channel, &message, deadline).await {
                        Ok(ts) => ts,
                        Err(error) => {
                            self.refs.unclaim(&claim).await?;
                            return Err(error);
                        }
                    };
                    sent.posts += 1;
                    if self
                        .refs
                        .store_ts(&claim, &ts, &claim.digest, now_ms())
                        .await?
                    {
                        self.newest(route, &living.execution, &claim.digest, deadline, sent)
                            .await?;
                    } else {
                        tracing::warn!(channel = %channel, execution = %living.execution, ts = %ts,
                            "the claim to post was taken over before the ts was stored: this message is left as it is");
                    }
                    return Ok(());
                }
                Next::Wait => {
                    let stored = stored.expect("Wait is decided on a stored reference");
                    if living.revision > stored.revision && living.digest != stored.digest {
                        let newer = living::recorded(&stored, living, now);
                        self.refs.record(&newer, stored.revision, now).await?;
                    }
                    if Instant::now() + WAIT_STEP + RESERVE > deadline {
                        return Err(AppError::Waiting(living.execution.clone()));
                    }
                    tokio::time::sleep(WAIT_STEP).await;
                }
                Next::Record => {
                    let stored = stored.expect("Record is decided on a stored reference");
                    let newer = living::recorded(&stored, living, now);
                    if !self.refs.record(&newer, stored.revision, now).await? {
                        continue; // another forwarder recorded one meanwhile: read again
                    }
                    let sent_before = stored.sent.clone().unwrap_or_default();
                    return self
                        .newest(route, &living.execution, &sent_before, deadline, sent)
                        .await;
                }
                // Recorded by a forwarder that did not send it: sent now, by one of us.
                Next::Resend => {
                    let stored = stored.expect("Resend is decided on a stored reference");
                    if !self.refs.take_sending(&stored, now).await? {
                        return Ok(());
                    }
                    let sent_before = stored.sent.clone().unwrap_or_default();
                    return self
                        .newest(route, &living.execution, &sent_before, deadline, sent)
                        .await;
                }
            }
        }
    }

    /// Sends the newest recorded rendering until the one Slack last took is the newest
    /// recorded: whoever sends last, sends the newest. While Slack rate-limits, a refused
    /// call is not repeated as it was: after the wait the newest is read again, and
    /// nothing is sent if another forwarder sent it meanwhile (safe only while none of
    /// this forwarder's own calls has landed, as one could land after the other's).
    async fn newest(
        &self,
        route: &AppRoute,
        execution: &str,
        sent_digest: &str,
        deadline: Instant,
        sent: &mut Sent,
    ) -> Result<(), AppError> {
        let channel = &route.channel;
        let mut last = sent_digest.to_owned();
        let mut landed = false;
        loop {
            let Some(current) = self.refs.get(channel, execution).await? else {
                return Ok(());
            };
            let Some(message) = living::resend(&current, &last) else {
                return Ok(());
            };
            if !landed && current.sent.as_deref() == Some(current.digest.as_str()) {
                return Ok(());
            }
            let message: Value = serde_json::from_str(message).unwrap_or(Value::Null);
            match self.update(&current, &message, deadline, sent).await {
                Ok(new_ts) => {
                    self.refs
                        .sent(&current, &current.digest, new_ts.as_deref())
                        .await?;
                    last.clone_from(&current.digest);
                    landed = true;
                }
                Err(AppError::Transient(SlackError::RateLimited { retry_after })) => {
                    let wait = retry_after.unwrap_or(Duration::from_secs(1));
                    if Instant::now() + wait + RESERVE > deadline {
                        return Err(AppError::Transient(SlackError::RateLimited { retry_after }));
                    }
                    tracing::warn!(channel = %channel, wait_s = wait.as_secs(), "rate limited: sending the newest rendering after the wait");
                    tokio::time::sleep(wait).await;
                }
                // The new message's ts is stored soon: then the newest goes there.
                Err(AppError::Reposting) => {
                    if Instant::now() + WAIT_STEP + RESERVE > deadline {
                        return Err(AppError::Reposting);
                    }
                    tokio::time::sleep(WAIT_STEP).await;
                }
                Err(error) => return Err(error),
            }
        }
    }

    /// `chat.update` of `reference`'s message; a new message when Slack has lost it or
    /// will not let it be edited (its `ts` returned).
    async fn update(
        &self,
        reference: &MessageRef,
        message: &Value,
        deadline: Instant,
        sent: &mut Sent,
    ) -> Result<Option<String>, AppError> {
        let channel = &reference.channel;
        let mut body = message.clone();
        body["channel"] = json!(channel);
        body["ts"] = json!(reference.ts);
        // A rate limit is waited out by the caller, which then sends the newest.
        let result = self
            .retrying(deadline, Limited::Return, || self.api.update(&body))
            .await;
        let result = match result {
            Err(SlackError::Content(code)) => {
                tracing::warn!(channel = %channel, code = %code, "Slack refused the blocks: sending plain text");
                let mut plain = slack_app::plain(message);
                plain["channel"] = json!(channel);
                plain["ts"] = json!(reference.ts);
                // chat.update keeps the blocks an update leaves out: an empty list removes
                // them, or the older rendering stays under the newer text.
                plain["blocks"] = json!([]);
                self.retrying(deadline, Limited::Return, || self.api.update(&plain))
                    .await
            }
            other => other,
        };
        match result {
            Ok(()) => {
                sent.updates += 1;
                Ok(None)
            }
            Err(SlackError::MessageGone) => {
                tracing::warn!(channel = %channel, execution = %reference.execution,
                    "the message was deleted: posting a new one");
                self.repost(reference, message, deadline, sent).await
            }
            Err(SlackError::CannotEdit(code)) => {
                tracing::warn!(channel = %channel, code = %code, "the message can no longer be edited: posting one that continues it");
                let continued = slack_app::continuing(message, None);
                self.repost(reference, &continued, deadline, sent).await
            }
            Err(error) => Err(decided(error)),
        }
    }

    /// Posts `message` in place of `reference`'s lost one, once: the forwarder that claims
    /// the repost posts; another that lost the same message waits for the new `ts`.
    async fn repost(
        &self,
        reference: &MessageRef,
        message: &Value,
        deadline: Instant,
        sent: &mut Sent,
    ) -> Result<Option<String>, AppError> {
        if !self.refs.claim_repost(reference, now_ms()).await? {
            return Err(AppError::Reposting);
        }
        match self.post(&reference.channel, message, deadline).await {
            Ok(ts) => {
                sent.posts += 1;
                Ok(Some(ts))
            }
            Err(error) => {
                self.refs.release_repost(reference).await?;
                Err(error)
            }
        }
    }

    /// `chat.postMessage`; plain text when Slack refuses the blocks.
    async fn post(
        &self,
        channel: &str,
        message: &Value,
        deadline: Instant,
    ) -> Result<String, AppError> {
        let mut body = message.clone();
        body["channel"] = json!(channel);
        match self
            .retrying(deadline, Limited::Wait, || self.api.post_message(&body))
            .await
        {
            Err(SlackError::Content(code)) => {
                tracing::warn!(channel = %channel, code = %code, "Slack refused the blocks: posting plain text");
                let mut plain = slack_app::plain(message);
                plain["channel"] = json!(channel);
                for key in ["thread_ts", "reply_broadcast"] {
                    if let Some(value) = message.get(key) {
                        plain[key] = value.clone();
                    }
                }
                self.retrying(deadline, Limited::Wait, || self.api.post_message(&plain))
                    .await
                    .map_err(decided)
            }
            other => other.map_err(decided),
        }
    }

    /// The `ts` of `execution`'s message in the route's channel, waiting while another
    /// forwarder posts it; `None` when the channel has no message for it.
    async fn thread(
        &self,
        route: &AppRoute,
        execution: &str,
        deadline: Instant,
    ) -> Result<Option<String>, AppError> {
        loop {
            match self.refs.get(&route.channel, execution).await? {
                None => return Ok(None),
                Some(MessageRef { ts: Some(ts), .. }) => return Ok(Some(ts)),
                Some(_) if Instant::now() + WAIT_STEP + RESERVE > deadline => {
                    return Err(AppError::Waiting(execution.to_owned()));
                }
                Some(_) => tokio::time::sleep(WAIT_STEP).await,
            }
        }
    }

    /// Posts `message` once under `key`, whatever the deliveries.
    async fn once(
        &self,
        route: &AppRoute,
        key: &str,
        message: Value,
        deadline: Instant,
    ) -> Result<(), AppError> {
        let channel = &route.channel;
        if !self.refs.claim_once(channel, key, now_ms()).await? {
            return Ok(());
        }
        match self.post(channel, &message, deadline).await {
            Ok(_) => Ok(self.refs.done(channel, key).await?),
            Err(error) => {
                self.refs.release(channel, key).await?;
                Err(error)
            }
        }
    }

    /// `call`, again after Slack's own failure (backing off) and, with [`Limited::Wait`],
    /// after a rate limit (as long as Slack asked), while the invocation has time.
    async fn retrying<T, F, Fut>(
        &self,
        deadline: Instant,
        limited: Limited,
        call: F,
    ) -> Result<T, SlackError>
    where
        F: Fn() -> Fut,
        Fut: Future<Output = Result<T, SlackError>>,
    {
        let mut attempt = 0_u32;
        loop {
            let error = match call().await {
                Err(error @ SlackError::RateLimited { .. }) if limited == Limited::Return => {
                    return Err(error);
                }
                Err(error) if error.is_transient() => error,
                other => return other,
            };
            attempt += 1;
            let wait = match &error {
                SlackError::RateLimited { retry_after } => {
                    retry_after.unwrap_or(Duration::from_secs(1))
                }
                _ => Duration::from_millis(250) * 2_u32.pow(attempt.min(5)),
            };
            if attempt >= 6 || Instant::now() + wait + RESERVE > deadline {
                return Err(error);
            }
            tracing::warn!(error = %error, wait_ms = u64::try_from(wait.as_millis()).unwrap_or(u64::MAX), "retrying a Slack call");
            tokio::time::sleep(wait).await;
        }
    }
}

/// What a call does when Slack rate-limits it.
#[derive(Clone, Copy, PartialEq, Eq)]
enum Limited {
    /// Wait as asked and make the same call: a post, which no newer one replaces.
    Wait,
    /// Return: an update, which the caller replaces with the newest after the wait.
    Return,
}

/// A Slack error that is not handled on the spot, as the route's failure.
fn decided(error: SlackError) -> AppError {
    if error.is_transient() {
        AppError::Transient(error)
    } else {
        AppError::Destination(error)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_route_defaults_to_every_pipeline_every_run_and_broadcast_failures() {
        let routes = parse_routes(r#"[{"channel": "C0123456789"},
            {"channel": "C0PAYMENTS1", "pipelines": ["payments-*"], "severity": "failure", "broadcast_failures": false}]"#)
        .unwrap();
        assert_eq!(routes[0].pipelines, Audience::all());
        assert_eq!(routes[0].severity, Severity::Info);
        assert!(routes[0].broadcast_failures);
        assert!(!routes[0].approvals, "no decision buttons unless asked");
        assert!(routes[1].wants(Some("payments-api")) && !routes[1].wants(Some("web")));
        assert!(
            routes[1].wants(None),
            "the stack's alarms go to every route"
        );
        assert_eq!(routes[1].severity, Severity::Failure);
    }

    #[test]
    fn a_route_that_is_not_one_is_refused_by_name() {
        let hash = parse_routes(r##"[{"channel": "#releases"}]"##).unwrap_err();
        assert_eq!(
            hash,
            "SLACK_APP_ROUTES: \"#releases\" is not a channel id (C0123456789)"
        );
        let unknown = parse_routes(r#"[{"channel": "C1", "chanel": "x"}]"#).unwrap_err();
        assert!(unknown.contains("unknown field `chanel`"), "{unknown}");
        assert!(parse_routes("C0123456789").is_err());
    }
}
