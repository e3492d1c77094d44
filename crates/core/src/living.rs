//! The rules that keep one living Slack message per (execution, channel) however SNS
//! delivers: twice, out of order, or to forwarders running at once. Pure; the forwarder
//! applies them with conditional writes in DynamoDB, and `replay --format slack-app` with
//! a map in memory ([`Simulation`]), so both follow the same rules.
//!
//! Per (execution, channel) a [`MessageRef`] is stored:
//! - none → **claim** it with a conditional put (one forwarder wins), post, store the `ts`;
//! - a claim with no `ts` → another forwarder is posting: record a newer rendering for it
//!   to send and **wait** for its `ts`; once the claim's lease has passed with no `ts`, the
//!   poster died: **take over** and post again;
//! - a `ts` and an older revision → **record** the newer revision and its rendering first
//!   (conditional on the revision read), then send what is recorded as newest; after
//!   sending, read again and send the newest recorded if it is newer than what was sent;
//! - an equal or newer revision, or the same rendering → **nothing**: never roll back,
//!   never send the same rendering twice — unless the newest recorded rendering was never
//!   sent and its sender is gone (its call failed, or it died after recording: the
//!   recording's sending lease passed) → **resend** it, or a redelivery could never show
//!   it.
//!
//! Because every sender reads the record after its call returns and sends again whenever
//! a newer rendering was recorded meanwhile, the last call Slack applies is the newest
//! recorded rendering, whichever sender's it is.
//!
//! The gap Slack leaves (it has no idempotency key): a forwarder that dies after Slack
//! took its post and before the `ts` was stored leaves a claim without a `ts`. After the
//! claim's lease, the next delivery posts again. So a channel gets **at least one** message
//! per execution, and a second one only when a forwarder dies in that window, at most once
//! per lease; the orphan is never updated again. The other choice, never posting after an
//! expired claim, could lose the run's only message.

use std::collections::{BTreeMap, BTreeSet};

use serde::{Deserialize, Serialize};
use serde_json::{Value, json};

use crate::render::content::Severity;
use crate::render::slack_app::{Living, Rendered};

/// How long a claim to post the first message is honoured: longer than a post takes,
/// shorter than SNS's first retry of the forwarder.
pub const CLAIM_LEASE_MS: i64 = 30_000;

/// What is stored per (execution, channel).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct MessageRef {
    pub channel: String,
    pub execution: String,
    /// The message's timestamp, Slack's id for it; `None` while the first post is claimed.
    pub ts: Option<String>,
    /// Until when (epoch ms) the claim to post is honoured, while `ts` is `None`.
    pub claimed_until: i64,
    /// The newest revision recorded.
    pub revision: u64,
    /// The digest of the newest rendering recorded.
    pub digest: String,
    /// The newest rendering recorded, as sent (`text`, `blocks`).
    pub message: String,
    /// The digest of the rendering Slack last accepted.
    pub sent: Option<String>,
    /// Until when (epoch ms) the forwarder that recorded the newest rendering is trusted
    /// to send it; 0 when it gave up. Past it, with `sent` not the newest, another
    /// delivery sends it.
    pub sending_until: i64,
}

/// What to do with a rendering, given what is stored.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Next {
    /// No message yet: claim it, post, store the `ts`.
    Claim,
    /// No message yet and the notification is below what the channel starts messages for.
    Skip,
    /// Another forwarder holds the claim: record this rendering if newer, then wait for
    /// the `ts`.
    Wait,
    /// A claim past its lease with no `ts`: post again, taking the claim over.
    TakeOver,
    /// Record this revision (conditional on the stored one), then update the message.
    Record,
    /// Older or equal revision, but the newest recorded rendering was never sent and no
    /// forwarder is sending it: send it.
    Resend,
    /// Older or equal revision, or the same rendering: nothing.
    Nothing,
}

/// The rule for `living` against `stored`, at `now` (epoch ms). `least` is the least
/// severity that starts a message in the channel.
pub fn next(stored: Option<&MessageRef>, living: &Living, least: Severity, now: i64) -> Next {
    match stored {
        None if living.severity < least => Next::Skip,
        None => Next::Claim,
        Some(stored) if stored.ts.is_none() && stored.claimed_until <= now => Next::TakeOver,
        Some(stored) if stored.ts.is_none() => Next::Wait,
        Some(stored) if stored.revision >= living.revision || stored.digest == living.digest => {
            let unsent = stored.sent.as_deref() != Some(stored.digest.as_str());
            if unsent && stored.sending_until <= now {
                Next::Resend
            } else {
                Next::Nothing
            }
        }
        Some(_) => Next::Record,
    }
}

/// After a call that sent the rendering with `sent_digest`, what to send next, read from
/// the record as it is now: the newest recorded rendering when it is not the one sent.
pub fn resend<'a>(now: &'a MessageRef, sent_digest: &str) -> Option<&'a str> {
    (now.digest != sent_digest).then_some(now.message.as_str())
}

/// `stored` with `living` recorded as the newest rendering, to be sent by the forwarder
/// recording it until `now` plus the lease.
pub fn recorded(stored: &MessageRef, living: &Living, now: i64) -> MessageRef {
    MessageRef {
        revision: living.revision,
        digest: living.digest.clone(),
        message: living.message.to_string(),
        sending_until: now.saturating_add(CLAIM_LEASE_MS),
        ..stored.clone()
    }
}

/// The record a claim writes: `living`, or the newer rendering recorded under an expired
/// claim (by a delivery that waited for it), so a take-over never posts an older one.
pub fn claim_over(
    stored: Option<&MessageRef>,
    channel: &str,
    living: &Living,
    now: i64,
) -> MessageRef {
    let mut claim = claim(channel, living, now);
    if let Some(stored) = stored.filter(|s| s.revision > living.revision) {
        claim.revision = stored.revision;
        claim.digest.clone_from(&stored.digest);
        claim.message.clone_from(&stored.message);
    }
    claim
}

/// The record a claim writes.
pub fn claim(channel: &str, living: &Living, now: i64) -> MessageRef {
    MessageRef {
        channel: channel.to_owned(),
        execution: living.execution.clone(),
        ts: None,
        claimed_until: now.saturating_add(CLAIM_LEASE_MS),
        revision: living.revision,
        digest: living.digest.clone(),
        message: living.message.to_string(),
        sent: None,
        sending_until: 0,
    }
}

/// Where a channel's dead letter stands when they are sent again: per pipeline, oldest
/// revision first, then by part. A letter is kept under its notification's id,
/// `<pipeline>/<revision>/<part>` (a pipeline name cannot hold `/`), and the numbers are
/// compared as numbers, so revision 9 goes before 10 and part 2 before 10: sent the other
/// way, a newer rendering would go first and the rules above would then drop the older.
/// An id of another shape (a relayed message's SNS id) sorts by its text, before the
/// notifications.
pub fn redrive_order(id: &str) -> (Option<(&str, u64, u64)>, &str) {
    let mut parts = id.rsplitn(3, '/');
    let (part, revision, pipeline) = (parts.next(), parts.next(), parts.next());
    let notification = match (pipeline, revision.map(str::parse), part.map(str::parse)) {
        (Some(pipeline), Some(Ok(revision)), Some(Ok(part))) => Some((pipeline, revision, part)),
        _ => None,
    };
    (notification, id)
}

/// One Web API call, as `replay --format slack-app` prints it.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct Call {
    pub method: &'static str,
    /// For a post, the `ts` Slack answers with: the message's id, which its updates and
    /// thread replies then name.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub ts: Option<String>,
    pub body: Value,
}

/// The rules run in memory over notifications delivered one after another, recording the
/// Web API calls the app would make: what `replay --format slack-app` prints.
#[derive(Debug)]
pub struct Simulation {
    channel: String,
    least: Severity,
    refs: BTreeMap<String, MessageRef>,
    replies: BTreeSet<(String, String)>,
    posted: u64,
}

impl Simulation {
    pub fn new(channel: &str, least: Severity) -> Self {
        Self {
            channel: channel.to_owned(),
            least,
            refs: BTreeMap::new(),
            replies: BTreeSet::new(),
            posted: 0,
        }
    }

    /// The calls one notification's rendering makes.
    ///
    /// # Panics
    ///
    /// Never: an update is decided only on a stored reference.
    pub fn deliver(&mut self, rendered: &Rendered) -> Vec<Call> {
        let mut calls = Vec::new();
        for living in &rendered.living {
            let stored = self.refs.get(&living.execution);
            match next(stored, living, self.least, 0) {
                Next::Claim | Next::TakeOver => {
                    let ts = self.ts();
                    let mut body = living.message.clone();
                    body["channel"] = json!(self.channel);
                    calls.push(Call {
                        method: "chat.postMessage",
                        ts: Some(ts.clone()),
                        body,
                    });
                    let mut reference = claim(&self.channel, living, 0);
                    reference.ts = Some(ts);
                    reference.sent = Some(living.digest.clone());
                    self.refs.insert(living.execution.clone(), reference);
                }
                step @ (Next::Record | Next::Resend) => {
                    let stored = stored.expect("Record is decided on a stored reference");
                    // A resend sends the newest recorded, never this older rendering.
                    let mut reference = if step == Next::Record {
                        recorded(stored, living, 0)
                    } else {
                        stored.clone()
                    };
                    let mut body: Value =
                        serde_json::from_str(&reference.message).unwrap_or(Value::Null);
                    body["channel"] = json!(self.channel);
                    body["ts"] = json!(reference.ts);
                    calls.push(Call {
                        method: "chat.update",
                        ts: None,
                        body,
                    });
                    reference.sent = Some(reference.digest.clone());
                    self.refs.insert(living.execution.clone(), reference);
                }
                Next::Skip | Next::Wait | Next::Nothing => {}
            }
        }
        for reply in &rendered.replies {
            let Some(ts) = self.refs.get(&reply.execution).and_then(|r| r.ts.clone()) else {
                continue;
            };
            if !self
                .replies
                .insert((reply.execution.clone(), reply.key.clone()))
            {
                continue;
            }
            let mut body = reply.message.clone();
            body["channel"] = json!(self.channel);
            body["thread_ts"] = json!(ts);
            if reply.broadcast {
                body["reply_broadcast"] = json!(true);
            }
            calls.push(Call {
                method: "chat.postMessage",
                ts: Some(self.ts()),
                body,
            });
        }
        if let Some(standalone) = &rendered.standalone
            && standalone.severity >= self.least
            && self.replies.insert((String::new(), standalone.key.clone()))
        {
            let mut body = standalone.message.clone();
            body["channel"] = json!(self.channel);
            calls.push(Call {
                method: "chat.postMessage",
                ts: Some(self.ts()),
                body,
            });
        }
        calls
    }

    /// A message timestamp as Slack would give one: seconds and a sequence.
    fn ts(&mut self) -> String {
        self.posted += 1;
        format!("1700000000.{:06}", self.posted * 100)
    }
}

#[cfg(test)]
mod tests;
