//! What each of Slack's answers means for a message: every `error` code Slack documents for
//! the methods the app calls, decided by name ([`SlackError::from_code`]). Codes Slack adds
//! later fall to the destination's dead letters with the operator told, the one decision
//! that loses nothing.

use std::time::Duration;

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
    /// `msg_too_long`, `msg_blocks_too_long`, `invalid_blocks`…: the rendering was
    /// refused; send a plainer one.
    #[error("Slack refused the message's content ({0})")]
    Content(String),
    /// `expired_trigger_id`, `exchanged_trigger_id`, `invalid_trigger_id`: a click's
    /// `trigger_id` can no longer open a dialog (it lives 3 seconds, once); the person
    /// clicks again.
    #[error("the click can no longer open a dialog ({0})")]
    TriggerGone(String),
    /// The destination cannot take messages until a person acts: kept as a dead letter
    /// for it, and the operator is told.
    #[error("{words} ({code})")]
    Destination { code: String, words: &'static str },
}

/// A rate limit, or a channel's or a workspace's message limit, which passes like one.
/// `rate_limited` is the spelling of Slack's 2021 specification.
const RATE_LIMITED: &[&str] = &[
    "ratelimited",
    "rate_limited",
    "accesslimited",
    "message_limit_exceeded",
];

/// Slack's own failures, and a workspace or channel being migrated ("platform operations
/// will be intermittently unavailable until the transition is complete").
const UNAVAILABLE: &[&str] = &[
    "internal_error",
    "fatal_error",
    "service_unavailable",
    "request_timeout",
    "update_failed",
    "streaming_state_conflict",
    "team_added_to_org",
    "external_channel_migrating",
];

const CANNOT_EDIT: &[&str] = &["cant_update_message", "edit_window_closed"];

const TRIGGER_GONE: &[&str] = &[
    "expired_trigger_id",
    "exchanged_trigger_id",
    "invalid_trigger_id",
];

/// The message or the request's form: a plainer message is tried once; refused again,
/// the destination keeps it as a dead letter. Files, canvases and drafts too: nothing the
/// app sends has them, and a message that somehow did is sent plainer.
const CONTENT: &[&str] = &[
    "msg_too_long",
    "msg_blocks_too_long",
    "invalid_blocks",
    "invalid_blocks_format",
    "block_mismatch",
    "markdown_text_conflict",
    "invalid_attachments",
    "too_many_attachments",
    "attachment_payload_limit_exceeded",
    "too_many_contact_cards",
    "invalid_metadata_format",
    "invalid_metadata_schema",
    "metadata_too_large",
    "metadata_must_be_sent_from_app",
    "no_dual_broadcast_content_update",
    "cant_broadcast_message",
    "view_too_large",
    "duplicate_external_id",
    "no_text",
    "invalid_arguments",
    "invalid_arg_name",
    "invalid_array_arg",
    "invalid_charset",
    "missing_charset",
    "superfluous_charset",
    "invalid_form_data",
    "invalid_post_type",
    "missing_post_type",
    "invalid_json",
    "json_not_object",
    "invalid_cursor",
    "blocked_file_type",
    "file_deleted",
    "file_is_deleted",
    "file_not_found",
    "file_share_limit_reached",
    "max_file_sharing_exceeded",
    "missing_file_data",
    "unable_to_share_files",
    "slack_connect_blocked_file_type",
    "slack_connect_canvas_sharing_blocked",
    "slack_connect_clip_sharing_blocked",
    "slack_connect_file_link_sharing_blocked",
    "slack_connect_file_upload_sharing_blocked",
    "slack_connect_lists_sharing_blocked",
    "draft_already_deleted",
    "draft_already_sent",
    "draft_has_conflict",
    "draft_not_found",
];

/// Destinations that cannot take messages until a person acts, in words for the operator.
const DESTINATIONS: &[(&[&str], &str)] = &[
    (
        &["channel_not_found", "duplicate_channel_not_found"],
        "the channel does not exist, or the app cannot see it",
    ),
    (
        &["not_in_channel"],
        "the app is not in the channel: invite it (/invite @pipewatch)",
    ),
    (&["is_archived"], "the channel is archived"),
    (
        &[
            "invalid_auth",
            "not_authed",
            "not_allowed_token_type",
            "is_bot",
            "user_is_bot",
            "user_is_restricted",
        ],
        "the bot token is not valid",
    ),
    (
        &["token_revoked", "token_expired"],
        "the bot token was revoked",
    ),
    (
        &["account_inactive", "team_not_found"],
        "the app's bot user or workspace is deactivated",
    ),
    (
        &["missing_scope"],
        "the app lacks a scope it needs (chat:write)",
    ),
    (
        &[
            "restricted_action",
            "restricted_action_read_only_channel",
            "restricted_action_thread_only_channel",
            "restricted_action_non_threadable_channel",
            "restricted_action_thread_locked",
            "no_permission",
            "posting_to_channel_denied",
            "access_denied",
            "app_access_restricted",
            "ekm_access_denied",
            "enterprise_is_restricted",
            "messages_tab_disabled",
            "send_on_behalf_not_allowed",
            "as_user_not_supported",
            "cannot_reply_to_message",
            "duplicate_message_not_found",
        ],
        "the workspace does not let the app post there",
    ),
    (
        &[
            "org_login_required",
            "two_factor_setup_required",
            "plan_upgrade_required",
        ],
        "the workspace asks an administrator to act first",
    ),
    (&["is_inactive"], "the channel or workspace is inactive"),
    (
        &[
            "upgrade_required",
            "upgrade_require",
            "deprecated_endpoint",
            "method_deprecated",
            "unknown_method",
        ],
        "Slack asks for a newer client: upgrade pipewatch",
    ),
    (&["no_such_subteam"], "the user group does not exist"),
];

impl SlackError {
    /// The decision for a Web API `error` code.
    pub fn from_code(code: &str) -> Self {
        let is = |codes: &[&str]| codes.contains(&code);
        if is(RATE_LIMITED) {
            Self::RateLimited { retry_after: None }
        } else if is(UNAVAILABLE) {
            Self::Unavailable(code.to_owned())
        } else if code == "message_not_found" {
            Self::MessageGone
        } else if is(CANNOT_EDIT) {
            Self::CannotEdit(code.to_owned())
        } else if is(TRIGGER_GONE) {
            Self::TriggerGone(code.to_owned())
        } else if is(CONTENT) {
            Self::Content(code.to_owned())
        } else {
            let words = DESTINATIONS.iter().find(|(codes, _)| is(codes)).map_or(
                "Slack refused the call for a reason pipewatch does not know",
                |(_, words)| words,
            );
            Self::Destination {
                code: code.to_owned(),
                words,
            }
        }
    }

    /// Whether trying the same call again later can succeed.
    pub fn is_transient(&self) -> bool {
        matches!(self, Self::RateLimited { .. } | Self::Unavailable(_))
    }
}

#[cfg(test)]
mod tests;
