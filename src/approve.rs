//! The approver's front door: a click on an approval's button, as the function URL hands
//! it over, answered within Slack's 3 seconds with no call to CodePipeline or DynamoDB on
//! the way. [`receive`] verifies and reads the click ([`pipewatch_core::interaction`]) and
//! checks its pipeline is one decided here; [`authorize`] checks the person against the
//! approvers — by id, or as a member of a Slack user group, whose members [`GroupCache`]
//! reads only for a verified click that [`needs_groups`] — and says what to hand on to the
//! work that runs after the answer (a Lambda is frozen once it has answered): a decision
//! to take, or a person to tell that they may not take it. [`acknowledge`] is both, for a
//! caller that has the groups at hand.
//!
//! A refused request is answered with a bare status and logged in words; nothing in the
//! answer helps a forger.
//!
//! [`take`] is that work: it finds the very approval run the button names still waiting,
//! takes the decision once (a conditional write on the decision, not on the click, so a
//! click that failed on throttling can be tried again), calls `PutApprovalResult` with a
//! summary naming the person, records the outcome where the living message reads it, and
//! tells the person through `response_url`.

use std::collections::BTreeSet;
use std::time::{Duration, Instant};

use base64::Engine as _;
use serde::{Deserialize, Serialize};
use serde_json::json;

use crate::aws::approvals::{ApprovalError, CodePipelineApprovals, place};
use crate::aws::slack_refs::{DECISIONS, SlackRefs};
use crate::ports::{Webhook, WebhookUrl};
use crate::select::{Home, Selection};
use crate::slack::SlackApi;
use pipewatch_core::interaction::{
    self, Approvers, Click, Decision, Installed, Request, Standing, UserGroups,
};
use pipewatch_core::render::answer;
use pipewatch_core::state::Timestamp;

/// What the approver knows: read at cold start, but for the document's narrowing.
#[derive(Clone)]
pub struct Keys {
    /// The Slack app's signing secret.
    pub signing_secret: Vec<u8>,
    pub installed: Installed,
    /// The stack's approvers (`SLACK_APPROVERS`).
    pub approvers: Approvers,
    /// The notifications document's rules, which only narrow the stack's: a click is
    /// decided only when both allow it. `None`: no document, or one without rules.
    pub narrowing: Option<Approvers>,
    /// The pipelines whose approvals may be decided.
    pub watched: Selection,
    /// Where the approver runs: a button's ARN at home names a pipeline here.
    pub home: Home,
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
    Decide(Box<Click>),
    /// Tell the person (ephemerally, through `response_url`) that they may not.
    Refuse { response_url: String, text: String },
}

/// The answer to the function URL, and the work to hand on.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Acknowledged {
    pub status: u16,
    pub handoff: Option<Handoff>,
    /// A dialog to open before answering (`views.open`'s body): a Reject asks why first,
    /// within the 3 seconds its `trigger_id` lives.
    pub dialog: Option<serde_json::Value>,
}

impl Acknowledged {
    fn refused(status: u16) -> Self {
        Self {
            status,
            handoff: None,
            dialog: None,
        }
    }

    fn handing_on(handoff: Handoff) -> Self {
        Self {
            status: 200,
            handoff: Some(handoff),
            dialog: None,
        }
    }
}

/// Decides the answer to one request at `now_s` (epoch seconds), with the members of the
/// approvers' user groups as last read (`None`: they could not be read): [`receive`],
/// then [`authorize`].
pub fn acknowledge(
    request: &UrlRequest,
    keys: &Keys,
    now_s: i64,
    groups: Option<&UserGroups>,
) -> Acknowledged {
    match receive(request, keys, now_s) {
        Ok(click) => authorize(click, keys, groups),
        Err(answer) => answer,
    }
}

impl Keys {
    /// Whether `user` (with the members of `groups` read) may decide `target`: the stack's
    /// approvers allow it, and the document's rules, when it has any.
    pub fn allows(&self, user: &str, groups: &UserGroups, target: &interaction::Target) -> bool {
        self.approvers.allows(user, groups, target)
            && self
                .narrowing
                .as_ref()
                .is_none_or(|rules| rules.allows(user, groups, target))
    }

    /// These keys, narrowed by a document's approver rules when it has any.
    pub fn narrowed_by(&self, rules: Option<&Approvers>) -> std::borrow::Cow<'_, Self> {
        match rules {
            None => std::borrow::Cow::Borrowed(self),
            Some(rules) => std::borrow::Cow::Owned(Self {
                narrowing: Some(rules.clone()),
                ..self.clone()
            }),
        }
    }

    /// The user groups any rule names, the stack's and the document's.
    pub fn groups(&self) -> BTreeSet<&str> {
        let mut groups = self.approvers.groups();
        if let Some(rules) = &self.narrowing {
            groups.extend(rules.groups());
        }
        groups
    }
}

/// Whether deciding `click` needs the members of the approvers' user groups: the person
/// is not allowed by id alone, and some rule names a group.
pub fn needs_groups(click: &Click, keys: &Keys) -> bool {
    !keys.groups().is_empty() && !keys.allows(&click.user, &UserGroups::new(), &click.target)
}

/// A verified click from the installed workspace and app, on a pipeline decided here; or
/// the answer, when it is not one.
pub fn receive(request: &UrlRequest, keys: &Keys, now_s: i64) -> Result<Click, Acknowledged> {
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
            return Err(Acknowledged::refused(400));
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
        return Err(Acknowledged::refused(401));
    }
    let click = match interaction::read(&request, &keys.installed) {
        Ok(click) => click,
        Err(refusal) => {
            tracing::warn!(refusal = %refusal, "refused a signed request");
            return Err(Acknowledged::refused(400));
        }
    };
    let target = &click.target;
    let pipeline = match place(target, &keys.home) {
        Ok(pipeline) => pipeline,
        Err(problem) => {
            tracing::warn!(problem = %problem, "refused a signed click");
            return Err(Acknowledged::refused(400));
        }
    };
    if !keys.watched.matches(&pipeline) {
        tracing::warn!(pipeline = %pipeline, "a click on a pipeline not watched here");
        return Err(Acknowledged::handing_on(Handoff::Refuse {
            response_url: click.response_url.clone(),
            text: format!(
                "{} is not a pipeline pipewatch watches here.",
                target.pipeline
            ),
        }));
    }
    Ok(click)
}

/// The answer to a received click: refused unless the approvers allow the person (by id,
/// or as a member of one of `groups`), a dialog first for a Reject, else the decision
/// handed on.
pub fn authorize(click: Click, keys: &Keys, groups: Option<&UserGroups>) -> Acknowledged {
    let Some(groups) = groups else {
        tracing::warn!(user = %click.user, "the approvers' user groups could not be read");
        return Acknowledged::handing_on(Handoff::Refuse {
            response_url: click.response_url,
            text: "pipewatch could not read the Slack user groups that may decide this just now: nothing was decided; try again in a minute.".into(),
        });
    };
    if !keys.allows(&click.user, groups, &click.target) {
        tracing::warn!(user = %click.user, pipeline = %click.target.pipeline, stage = %click.target.stage,
            "a click by someone not allowed to decide this approval");
        return Acknowledged::handing_on(Handoff::Refuse {
            response_url: click.response_url,
            text: format!(
                "You may not approve or reject {}/{} of {}: ask the people this pipeline's approvers list names.",
                click.target.stage, click.target.action, click.target.pipeline
            ),
        });
    }
    // A Reject asks why before anything is decided: the dialog's submission decides.
    if click.decision == Decision::Reject && click.reason.is_none() {
        let Some(trigger_id) = click.trigger_id.clone() else {
            tracing::warn!("a Reject without a trigger_id: no dialog can ask why");
            return Acknowledged::refused(400);
        };
        return Acknowledged {
            status: 200,
            handoff: None,
            dialog: Some(json!({
                "trigger_id": trigger_id,
                "view": interaction::reason_dialog(&click),
            })),
        };
    }
    tracing::info!(user = %click.user, pipeline = %click.target.pipeline, stage = %click.target.stage,
        decision = ?click.decision, "a decision to take");
    Acknowledged::handing_on(Handoff::Decide(Box::new(click)))
}

/// How long the members of the approvers' user groups are trusted once read: someone
/// removed from a group may still decide for this long.
pub const GROUPS_TTL: Duration = Duration::from_mins(2);

/// How long reading them may take, leaving time to answer Slack within its 3 seconds.
pub const GROUPS_TIMEOUT: Duration = Duration::from_millis(1_500);

/// The members of the approvers' user groups, read from Slack (`usergroups.users.list`,
/// one call per group, all at once) at most once per [`GROUPS_TTL`], and only for a
/// verified click that needs them ([`needs_groups`]).
pub struct GroupCache {
    last: tokio::sync::Mutex<Option<(Instant, UserGroups)>>,
    /// How long a reading is trusted: [`GROUPS_TTL`], but for tests.
    ttl: Duration,
}

impl Default for GroupCache {
    fn default() -> Self {
        Self::trusted_for(GROUPS_TTL)
    }
}

impl GroupCache {
    /// A cache whose readings are trusted for `ttl`.
    pub fn trusted_for(ttl: Duration) -> Self {
        Self {
            last: tokio::sync::Mutex::default(),
            ttl,
        }
    }

    /// The members of `groups`, or `None` when Slack did not tell them in time (nothing
    /// is then decided by group; the last reading is not trusted past its time).
    pub async fn members(&self, api: &SlackApi, groups: &BTreeSet<&str>) -> Option<UserGroups> {
        let mut last = self.last.lock().await;
        if let Some((at, members)) = last.as_ref()
            && at.elapsed() < self.ttl
        {
            return Some(members.clone());
        }
        let reads = groups
            .iter()
            .map(|group| async move { (*group, api.usergroup_members(group).await) });
        let Ok(read) =
            tokio::time::timeout(GROUPS_TIMEOUT, futures_util::future::join_all(reads)).await
        else {
            tracing::warn!(
                timeout_ms = GROUPS_TIMEOUT.as_millis(),
                "Slack did not tell the user groups' members in time"
            );
            return None;
        };
        let mut members = UserGroups::new();
        for (group, result) in read {
            match result {
                Ok(users) => {
                    members.insert(group.to_owned(), users.into_iter().collect());
                }
                Err(error) => {
                    tracing::warn!(group = %group, error = %error, "could not read a user group's members");
                    return None;
                }
            }
        }
        *last = Some((Instant::now(), members.clone()));
        Some(members)
    }
}

/// What the decision path needs.
pub struct Deciders<'a, W: Webhook> {
    pub approvals: &'a CodePipelineApprovals,
    /// Where a decision is claimed once (the Slack app's references, `slack/decisions/…`).
    pub refs: &'a SlackRefs,
    /// Posts to `response_url`.
    pub slack: &'a W,
}

/// What became of a handoff.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Outcome {
    /// CodePipeline took the decision, with this summary.
    Decided(String),
    /// Nothing was decided; the person was told why.
    NotDecided(String),
}

/// Takes `handoff`. An error is worth trying again (the queue delivers it again); every
/// other outcome was told to the person who clicked.
pub async fn take<W: Webhook>(
    handoff: &Handoff,
    deciders: &Deciders<'_, W>,
) -> Result<Outcome, String> {
    let click = match handoff {
        Handoff::Refuse { response_url, text } => {
            tell(deciders.slack, response_url, text).await;
            return Ok(Outcome::NotDecided(text.clone()));
        }
        Handoff::Decide(click) => click,
    };
    let target = &click.target;
    let not_decided = |words: String| async move {
        tell(deciders.slack, &click.response_url, &words).await;
        Ok(Outcome::NotDecided(words))
    };
    let (standing, token) = match deciders.approvals.waiting(target).await {
        Ok(found) => found,
        Err(error) if error.is_transient() => return Err(error.to_string()),
        Err(error) => return not_decided(format!("Nothing was decided: {error}.")).await,
    };
    let (Standing::Waiting, Some(token)) = (&standing, token) else {
        let words = answer::not_waiting(&standing, target).unwrap_or_else(|| {
            format!("{}/{} shows no approval token", target.stage, target.action)
        });
        return not_decided(format!("Nothing was decided: {words}.")).await;
    };
    let key = target.decision_key();
    let now = Timestamp::now().unix_millis();
    if !deciders
        .refs
        .claim_once(DECISIONS, &key, now)
        .await
        .map_err(|e| e.to_string())?
    {
        return not_decided(format!(
            "Nothing was decided: {}/{} is being decided already.",
            target.stage, target.action
        ))
        .await;
    }
    let reason = click.reason.as_deref();
    let summary = interaction::summary(
        click.decision,
        click.user_name.as_deref(),
        &click.user,
        reason,
    );
    match deciders
        .approvals
        .decide(target, &token, click.decision, &summary)
        .await
    {
        Ok(()) => {
            // Where the living message is rendered from: its next rendering shows the
            // outcome, and no notification computed before the click brings the buttons
            // back.
            deciders
                .refs
                .decided(&key, &summary)
                .await
                .map_err(|e| e.to_string())?;
            let verb = match click.decision {
                Decision::Approve => "Approved",
                Decision::Reject => "Rejected",
            };
            tracing::info!(pipeline = %target.pipeline, stage = %target.stage, user = %click.user, "{verb}");
            tell(
                deciders.slack,
                &click.response_url,
                &format!(
                    "{verb} {}/{} of {}: CodePipeline recorded it.",
                    target.stage, target.action, target.pipeline
                ),
            )
            .await;
            Ok(Outcome::Decided(summary))
        }
        Err(error @ (ApprovalError::AlreadyDecided | ApprovalError::TokenInvalid)) => {
            deciders
                .refs
                .done(DECISIONS, &key)
                .await
                .map_err(|e| e.to_string())?;
            not_decided(format!(
                "Nothing was decided: {}/{}: {error}.",
                target.stage, target.action
            ))
            .await
        }
        Err(error) => {
            // Let the next delivery of the click take the decision.
            deciders
                .refs
                .release(DECISIONS, &key)
                .await
                .map_err(|e| e.to_string())?;
            Err(error.to_string())
        }
    }
}

/// Tells the person who clicked, and them alone. A failure to tell is logged: the decision
/// stands either way, and the living message shows it.
async fn tell<W: Webhook>(slack: &W, response_url: &str, text: &str) {
    let Ok(url) = WebhookUrl::parse(response_url) else {
        tracing::warn!("the click's response_url is not a URL");
        return;
    };
    // Slack reads the text as mrkdwn: names and comments in it are data.
    let text = pipewatch_core::render::mrkdwn::escape(text);
    let body = json!({"response_type": "ephemeral", "replace_original": false, "text": text});
    if let Err(error) = slack.post(&url, &body).await {
        tracing::warn!(error = %error, "could not tell the person who clicked");
    }
}
