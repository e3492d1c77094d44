//! The approver's front door: a click on an approval's button, as the function URL hands
//! it over, answered within Slack's 3 seconds with no call to CodePipeline or DynamoDB on
//! the way. [`acknowledge`] verifies, reads and authorizes the click
//! ([`pipewatch_core::interaction`]) and says what to hand on to the work that runs after
//! the answer (a Lambda is frozen once it has answered): a decision to take, or a person
//! to tell that they may not take it.
//!
//! A refused request is answered with a bare status and logged in words; nothing in the
//! answer helps a forger.

use base64::Engine as _;
use serde::{Deserialize, Serialize};

use pipewatch_core::interaction::{self, Approvers, Click, Installed, Request};

/// What the approver knows at cold start.
pub struct Keys {
    /// The Slack app's signing secret.
    pub signing_secret: Vec<u8>,
    pub installed: Installed,
    pub approvers: Approvers,
}

/// A function URL request, the parts read.
#[derive(Debug, Clone, Default, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct UrlRequest {
    #[serde(default)]
    pub headers: std::collections::HashMap<String, String>,
    #[serde(default)]
    pub body: Option<String>,
    #[serde(default)]
    pub is_base64_encoded: bool,
}

/// Work handed on past the answer.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(tag = "kind", rename_all = "snake_case")]
pub enum Handoff {
    /// Take this decision, if the approval still waits.
    Decide(Click),
    /// Tell the person (ephemerally, through `response_url`) that they may not.
    Refuse { response_url: String, text: String },
}

/// The answer to the function URL, and the work to hand on.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Acknowledged {
    pub status: u16,
    pub handoff: Option<Handoff>,
}

impl Acknowledged {
    fn refused(status: u16) -> Self {
        Self {
            status,
            handoff: None,
        }
    }
}

/// Decides the answer to one request at `now_s` (epoch seconds).
pub fn acknowledge(request: &UrlRequest, keys: &Keys, now_s: i64) -> Acknowledged {
    let header = |name: &str| {
        request
            .headers
            .iter()
            .find(|(n, _)| n.eq_ignore_ascii_case(name))
            .map(|(_, v)| v.as_str())
    };
    let text = request.body.as_deref().unwrap_or_default();
    // Slack signs the body it sent; the function URL may have base64-encoded it.
    let body = if request.is_base64_encoded {
        let Ok(bytes) = base64::engine::general_purpose::STANDARD.decode(text) else {
            tracing::warn!("refused a click: its body is not the base64 the function URL said");
            return Acknowledged::refused(400);
        };
        bytes
    } else {
        text.as_bytes().to_vec()
    };
    let request = Request {
        timestamp: header("x-slack-request-timestamp"),
        signature: header("x-slack-signature"),
        content_type: header("content-type"),
        body: &body,
    };
    if let Err(refusal) = interaction::verify(&request, &keys.signing_secret, now_s) {
        tracing::warn!(refusal = %refusal, "refused a request");
        return Acknowledged::refused(401);
    }
    let click = match interaction::read(&request, &keys.installed) {
        Ok(click) => click,
        Err(refusal) => {
            tracing::warn!(refusal = %refusal, "refused a signed request");
            return Acknowledged::refused(400);
        }
    };
    if !keys.approvers.allows(&click.user, &click.target) {
        tracing::warn!(user = %click.user, pipeline = %click.target.pipeline, stage = %click.target.stage,
            "a click by someone not allowed to decide this approval");
        return Acknowledged {
            status: 200,
            handoff: Some(Handoff::Refuse {
                response_url: click.response_url,
                text: format!(
                    "You may not approve or reject {}/{} of {}: ask the people this pipeline's approvers list names.",
                    click.target.stage, click.target.action, click.target.pipeline
                ),
            }),
        };
    }
    tracing::info!(user = %click.user, pipeline = %click.target.pipeline, stage = %click.target.stage,
        decision = ?click.decision, "a decision to take");
    Acknowledged {
        status: 200,
        handoff: Some(Handoff::Decide(click)),
    }
}
