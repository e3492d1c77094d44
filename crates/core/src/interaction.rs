//! A click on an approval's button in Slack, from the raw request to the decision a person
//! asked for — everything before the approval is touched, and pure, so every hostile
//! request is a table test:
//!
//! 1. [`verify`]: the request is Slack's. Its `v0` signature (HMAC-SHA256, keyed with the
//!    app's signing secret, over `v0:{X-Slack-Request-Timestamp}:{the raw body}`) is
//!    checked in constant time, before anything is parsed; a timestamp more than five
//!    minutes away and a body over [`MAX_BODY_BYTES`] are refused first.
//! 2. [`read`]: the form's `payload` is a `block_actions` click on one of our two buttons,
//!    from the installed workspace and app; the button names the approval it was rendered
//!    for (pipeline, stage, action, action execution id) — never its token.
//! 3. [`Approvers::allows`]: the person is allowed to decide that pipeline's (and stage's)
//!    approvals by configuration, by user id or as a member of a Slack user group (whose
//!    members the caller reads); by default nobody is.
//!
//! A [`Refusal`] says in words what was wrong, for the log; the caller answers Slack
//! without repeating it. Then [`in_state`] and [`in_history`] say whether the approval run
//! the button names is still waiting, and if not how it ended, and [`summary`] words the
//! decision CodePipeline keeps.

mod decision;

pub use decision::{
    Ending, MAX_SUMMARY, Seen, Standing, decided_in_slack, in_history, in_state, summary,
};

use std::collections::{BTreeMap, BTreeSet};

use hmac::{Hmac, KeyInit, Mac};
use serde::{Deserialize, Serialize};
use sha2::Sha256;

use crate::glob;

/// Slack's clicks are a few kilobytes (the message's blocks included); anything past this
/// is not one.
pub const MAX_BODY_BYTES: usize = 64 * 1024;

/// How far a request's timestamp may be from now, either way (Slack's advice).
pub const MAX_SKEW_S: i64 = 5 * 60;

/// The `action_id`s of the two buttons.
pub const APPROVE: &str = "pipewatch-approve";
pub const REJECT: &str = "pipewatch-reject";

/// What arrived, as the function URL gave it (its body already base64-decoded).
#[derive(Debug, Clone, Copy)]
pub struct Request<'a> {
    pub timestamp: Option<&'a str>,
    pub signature: Option<&'a str>,
    pub content_type: Option<&'a str>,
    pub body: &'a [u8],
}

/// Why a request changes nothing, in words for the log.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum Refusal {
    #[error("no X-Slack-Request-Timestamp or X-Slack-Signature header")]
    Unsigned,
    #[error("the body is {0} bytes, over the {MAX_BODY_BYTES} a click can be")]
    Oversized(usize),
    #[error("the timestamp {0:?} is not a number of seconds")]
    BadTimestamp(String),
    #[error("the timestamp is {0} s away from now, over {MAX_SKEW_S} s: stale or replayed")]
    Stale(i64),
    #[error("the signature does not match the body: not from Slack, or altered")]
    BadSignature,
    #[error("the body is not a form (content type {0:?})")]
    NotAForm(String),
    #[error("the form has no payload field")]
    NoPayload,
    #[error("the payload is not a click: {0}")]
    NotAClick(String),
    #[error("the click comes from workspace {0:?}, not the installed one")]
    OtherWorkspace(String),
    #[error("the click is for app {0:?}, not this one")]
    OtherApp(String),
    #[error("the button {0:?} is not one of pipewatch's")]
    UnknownButton(String),
    #[error("the click names an approval that the message it came from does not show")]
    NotInMessage,
}

/// Checks that `request` is Slack's, signed with `secret`, at `now_s` (epoch seconds).
pub fn verify(request: &Request<'_>, secret: &[u8], now_s: i64) -> Result<(), Refusal> {
    let (Some(timestamp), Some(signature)) = (request.timestamp, request.signature) else {
        return Err(Refusal::Unsigned);
    };
    if request.body.len() > MAX_BODY_BYTES {
        return Err(Refusal::Oversized(request.body.len()));
    }
    let sent: i64 = timestamp
        .trim()
        .parse()
        .map_err(|_| Refusal::BadTimestamp(timestamp.chars().take(20).collect()))?;
    let skew = now_s.saturating_sub(sent);
    if skew.abs() > MAX_SKEW_S {
        return Err(Refusal::Stale(skew));
    }
    let tag = signature
        .strip_prefix("v0=")
        .and_then(|hex_digest| hex::decode(hex_digest).ok())
        .ok_or(Refusal::BadSignature)?;
    let mut mac = Hmac::<Sha256>::new_from_slice(secret).map_err(|_| Refusal::BadSignature)?;
    mac.update(b"v0:");
    mac.update(timestamp.as_bytes());
    mac.update(b":");
    mac.update(request.body);
    // Constant time: the comparison does not stop at the first byte that differs.
    mac.verify_slice(&tag).map_err(|_| Refusal::BadSignature)
}

/// The workspace and app this installation answers to.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Installed {
    pub team: String,
    pub app: String,
}

/// Approve or reject.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum Decision {
    Approve,
    Reject,
}

/// The approval a button was rendered for: the one it may decide, and no other.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Target {
    pub pipeline: String,
    /// The pipeline's ARN, when the notification knew it: the account and region the
    /// approval is decided in (another account's through the approver role there).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub arn: Option<String>,
    pub stage: String,
    pub action: String,
    /// The approval run the button was rendered for: a retried stage's new approval has
    /// another, so an earlier button cannot decide it.
    pub action_execution_id: String,
    /// The pipeline execution the run belongs to: where `ListActionExecutions` finds it
    /// when `GetPipelineState` does not show it (V2's PARALLEL execution mode).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub execution: Option<String>,
}

impl Target {
    /// The button's `value` (at most 2,000 characters, Slack's limit).
    pub fn to_value(&self) -> String {
        serde_json::to_string(self).unwrap_or_default()
    }
}

/// A verified click, read.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Click {
    pub decision: Decision,
    pub target: Target,
    /// The person's Slack user id (`U024BE7LH`) and, when Slack sent it, their name.
    pub user: String,
    pub user_name: Option<String>,
    /// Where the outcome is reported (valid 30 minutes).
    pub response_url: String,
    /// Opens the rejection's reason dialog (valid about 3 seconds).
    pub trigger_id: Option<String>,
    /// Why, for a rejection: typed in the reason dialog.
    #[serde(default)]
    pub reason: Option<String>,
}

/// The `callback_id` of the rejection's reason dialog.
pub const REASON_DIALOG: &str = "pipewatch-reject-reason";

/// What the reason dialog carries to its submission (its `private_metadata`, which only
/// this app can set): the approval and where to report.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
struct Pending {
    target: Target,
    response_url: String,
}

/// The dialog a Reject opens (`views.open`'s `view`): a reason is asked for, required,
/// and the submission decides the approval the button named.
pub fn reason_dialog(click: &Click) -> serde_json::Value {
    let pending = Pending {
        target: click.target.clone(),
        response_url: click.response_url.clone(),
    };
    let what = format!("{}/{}", click.target.stage, click.target.action);
    serde_json::json!({
        "type": "modal",
        "callback_id": REASON_DIALOG,
        "private_metadata": serde_json::to_string(&pending).unwrap_or_default(),
        "title": {"type": "plain_text", "text": "Reject"},
        "submit": {"type": "plain_text", "text": "Reject"},
        "close": {"type": "plain_text", "text": "Cancel"},
        "blocks": [{
            "type": "input",
            "block_id": "reason",
            "label": {"type": "plain_text", "text": format!("Why reject {what}?").chars().take(2_000).collect::<String>()},
            "element": {"type": "plain_text_input", "action_id": "reason", "multiline": true,
                "max_length": 400}
        }]
    })
}

/// Reads a verified request's form as a click on one of pipewatch's buttons, from the
/// `installed` workspace and app.
pub fn read(request: &Request<'_>, installed: &Installed) -> Result<Click, Refusal> {
    let content_type = request.content_type.unwrap_or_default();
    if !content_type
        .to_ascii_lowercase()
        .starts_with("application/x-www-form-urlencoded")
    {
        return Err(Refusal::NotAForm(content_type.chars().take(60).collect()));
    }
    let payload = form_urlencoded::parse(request.body)
        .find(|(name, _)| name == "payload")
        .map(|(_, value)| value.into_owned())
        .ok_or(Refusal::NoPayload)?;
    let payload: Payload = serde_json::from_str(&payload)
        .map_err(|e| Refusal::NotAClick(e.to_string().chars().take(120).collect::<String>()))?;
    if payload.kind != "block_actions" && payload.kind != "view_submission" {
        return Err(Refusal::NotAClick(format!("type {:?}", payload.kind)));
    }
    if payload.team.id != installed.team {
        return Err(Refusal::OtherWorkspace(payload.team.id));
    }
    if payload.api_app_id != installed.app {
        return Err(Refusal::OtherApp(payload.api_app_id));
    }
    if payload.kind == "view_submission" {
        return read_reason(payload);
    }
    let Some(response_url) = payload.response_url.clone() else {
        return Err(Refusal::NotAClick("no response_url".into()));
    };
    let [action] = payload.actions.as_slice() else {
        return Err(Refusal::NotAClick(format!(
            "{} actions",
            payload.actions.len()
        )));
    };
    let decision = match action.action_id.as_str() {
        APPROVE => Decision::Approve,
        REJECT => Decision::Reject,
        other => return Err(Refusal::UnknownButton(other.chars().take(60).collect())),
    };
    let target: Target = action
        .value
        .as_deref()
        .and_then(|v| serde_json::from_str(v).ok())
        .ok_or_else(|| Refusal::NotAClick("the button names no approval".into()))?;
    // The button clicked is one the message shows, with the same approval: a payload
    // naming another action than its message's is not a click on that message.
    let shown = payload.message.as_ref().is_some_and(|message| {
        message["blocks"]
            .as_array()
            .into_iter()
            .flatten()
            .flat_map(|block| block["elements"].as_array().into_iter().flatten())
            .any(|element| {
                element["action_id"] == action.action_id.as_str()
                    && element["value"].as_str() == action.value.as_deref()
            })
    });
    if !shown {
        return Err(Refusal::NotInMessage);
    }
    Ok(Click {
        decision,
        target,
        user: payload.user.id,
        user_name: payload.user.name.or(payload.user.username),
        response_url,
        trigger_id: payload.trigger_id,
        reason: None,
    })
}

/// A submitted reason dialog: the rejection it was opened for, with its reason.
fn read_reason(payload: Payload) -> Result<Click, Refusal> {
    let view = payload.view.unwrap_or_default();
    if view["callback_id"] != REASON_DIALOG {
        return Err(Refusal::NotAClick(
            "a dialog that is not the reason's".into(),
        ));
    }
    let pending: Pending = view["private_metadata"]
        .as_str()
        .and_then(|m| serde_json::from_str(m).ok())
        .ok_or_else(|| Refusal::NotAClick("the dialog names no approval".into()))?;
    let reason = view["state"]["values"]["reason"]["reason"]["value"]
        .as_str()
        .map(str::trim)
        .filter(|r| !r.is_empty())
        .ok_or_else(|| Refusal::NotAClick("the dialog holds no reason".into()))?;
    Ok(Click {
        decision: Decision::Reject,
        target: pending.target,
        user: payload.user.id,
        user_name: payload.user.name.or(payload.user.username),
        response_url: pending.response_url,
        trigger_id: None,
        reason: Some(reason.to_owned()),
    })
}

/// The parts of a `block_actions` payload that are read.
#[derive(Deserialize)]
struct Payload {
    #[serde(rename = "type")]
    kind: String,
    team: Team,
    api_app_id: String,
    user: User,
    #[serde(default)]
    actions: Vec<Action>,
    /// Absent from a dialog's submission.
    #[serde(default)]
    response_url: Option<String>,
    /// A dialog, for its submission.
    #[serde(default)]
    view: Option<serde_json::Value>,
    #[serde(default)]
    trigger_id: Option<String>,
    /// The message the button is on, as Slack sends it back.
    #[serde(default)]
    message: Option<serde_json::Value>,
}

#[derive(Deserialize)]
struct Team {
    id: String,
}

#[derive(Deserialize)]
struct User {
    id: String,
    #[serde(default)]
    name: Option<String>,
    #[serde(default)]
    username: Option<String>,
}

#[derive(Deserialize)]
struct Action {
    action_id: String,
    #[serde(default)]
    value: Option<String>,
}

/// Who may decide which approvals: explicit configuration, default nobody.
#[derive(Debug, Clone, Default, PartialEq, Eq, Deserialize)]
#[serde(transparent)]
pub struct Approvers(Vec<Rule>);

/// One rule: these people, and the members of these Slack user groups, may decide the
/// approvals of these pipelines (and stages).
#[derive(Debug, Clone, PartialEq, Eq, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Rule {
    /// Slack user ids (`U024BE7LH`).
    #[serde(default)]
    pub users: Vec<String>,
    /// Slack user group ids (`S0614TZR7`), whose members are read from Slack
    /// (`usergroups.users.list`, the `usergroups:read` scope).
    #[serde(default)]
    pub groups: Vec<String>,
    /// Names or patterns.
    pub pipelines: Vec<String>,
    /// Stage names or patterns; absent: every stage.
    #[serde(default)]
    pub stages: Option<Vec<String>>,
}

/// The members of Slack user groups, by group id, as last read.
pub type UserGroups = BTreeMap<String, BTreeSet<String>>;

impl Approvers {
    /// Reads the approvers' map: `[{"users": [...], "groups": [...], "pipelines": [...],
    /// "stages": [...]}]`.
    pub fn parse(text: &str) -> Result<Self, String> {
        let approvers: Self = serde_json::from_str(text).map_err(|e| {
            format!("the approvers are not a list of {{\"users\", \"groups\", \"pipelines\", \"stages\"}}: {e}")
        })?;
        for rule in &approvers.0 {
            if let Some(bad) = rule.users.iter().find(|u| !is_user_id(u)) {
                return Err(format!("{bad:?} is not a Slack user id (U024BE7LH)"));
            }
            if let Some(bad) = rule.groups.iter().find(|g| !is_group_id(g)) {
                return Err(format!("{bad:?} is not a Slack user group id (S0614TZR7)"));
            }
            if rule.users.is_empty() && rule.groups.is_empty() {
                return Err("a rule names no user and no group".into());
            }
            if rule.pipelines.is_empty() {
                return Err("a rule names no pipeline; use [\"*\"] for every one".into());
            }
        }
        Ok(approvers)
    }

    /// The user groups the rules name: whose members are worth reading.
    pub fn groups(&self) -> BTreeSet<&str> {
        self.0
            .iter()
            .flat_map(|rule| rule.groups.iter().map(String::as_str))
            .collect()
    }

    /// Whether `user`, given the members of `groups`, may decide the approval `target`.
    pub fn allows(&self, user: &str, groups: &UserGroups, target: &Target) -> bool {
        self.0.iter().any(|rule| {
            (rule.users.iter().any(|u| u == user)
                || rule
                    .groups
                    .iter()
                    .any(|g| groups.get(g).is_some_and(|members| members.contains(user))))
                && rule
                    .pipelines
                    .iter()
                    .any(|p| glob::matches(p, &target.pipeline))
                && rule
                    .stages
                    .as_ref()
                    .is_none_or(|stages| stages.iter().any(|s| glob::matches(s, &target.stage)))
        })
    }
}

/// Slack's user group ids: `S` and upper-case letters and digits.
fn is_group_id(id: &str) -> bool {
    id.len() >= 3
        && id.starts_with('S')
        && id
            .chars()
            .all(|c| c.is_ascii_uppercase() || c.is_ascii_digit())
}

/// Slack's user ids: `U` or `W` and upper-case letters and digits.
fn is_user_id(id: &str) -> bool {
    id.len() >= 3
        && (id.starts_with('U') || id.starts_with('W'))
        && id
            .chars()
            .all(|c| c.is_ascii_uppercase() || c.is_ascii_digit())
}

#[cfg(test)]
mod tests;
