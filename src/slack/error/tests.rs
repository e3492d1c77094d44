//! Slack's answers, decided: every code Slack documents for the methods the app calls,
//! and what the ones that matter most lead to.

use super::*;

/// The `error` codes Slack documents for each method the app calls: each method's
/// reference page ("Errors"), as `slack-ruby/slack-api-ref` keeps them (commit f4837c0,
/// August 2026), with those of Slack's own `OpenAPI` specification
/// (`slackapi/slack-api-specs`, version 1.7.0, 2021), which lists a few the pages no
/// longer do.
const DOCUMENTED: &[(&str, &[&str])] = &[
    (
        "chat.postMessage",
        &[
            "access_denied",
            "accesslimited",
            "account_inactive",
            "app_access_restricted",
            "as_user_not_supported",
            "attachment_payload_limit_exceeded",
            "cannot_reply_to_message",
            "channel_not_found",
            "deprecated_endpoint",
            "draft_already_deleted",
            "draft_already_sent",
            "draft_has_conflict",
            "draft_not_found",
            "duplicate_channel_not_found",
            "duplicate_message_not_found",
            "ekm_access_denied",
            "enterprise_is_restricted",
            "fatal_error",
            "invalid_arg_name",
            "invalid_array_arg",
            "invalid_auth",
            "invalid_blocks",
            "invalid_blocks_format",
            "invalid_charset",
            "invalid_form_data",
            "invalid_metadata_format",
            "invalid_metadata_schema",
            "invalid_post_type",
            "is_archived",
            "is_bot",
            "markdown_text_conflict",
            "message_limit_exceeded",
            "messages_tab_disabled",
            "metadata_must_be_sent_from_app",
            "metadata_too_large",
            "method_deprecated",
            "missing_file_data",
            "missing_post_type",
            "missing_scope",
            "msg_blocks_too_long",
            "msg_too_long",
            "no_permission",
            "no_text",
            "not_allowed_token_type",
            "not_authed",
            "not_in_channel",
            "org_login_required",
            "rate_limited",
            "ratelimited",
            "request_timeout",
            "restricted_action",
            "restricted_action_non_threadable_channel",
            "restricted_action_read_only_channel",
            "restricted_action_thread_locked",
            "restricted_action_thread_only_channel",
            "send_on_behalf_not_allowed",
            "service_unavailable",
            "slack_connect_canvas_sharing_blocked",
            "slack_connect_file_link_sharing_blocked",
            "slack_connect_lists_sharing_blocked",
            "team_added_to_org",
            "team_not_found",
            "token_expired",
            "token_revoked",
            "too_many_attachments",
            "too_many_contact_cards",
            "two_factor_setup_required",
            "unknown_method",
        ],
    ),
    (
        "chat.update",
        &[
            "access_denied",
            "accesslimited",
            "account_inactive",
            "as_user_not_supported",
            "block_mismatch",
            "blocked_file_type",
            "cant_broadcast_message",
            "cant_update_message",
            "channel_not_found",
            "deprecated_endpoint",
            "edit_window_closed",
            "ekm_access_denied",
            "enterprise_is_restricted",
            "external_channel_migrating",
            "fatal_error",
            "file_deleted",
            "file_is_deleted",
            "file_not_found",
            "file_share_limit_reached",
            "invalid_arg_name",
            "invalid_array_arg",
            "invalid_attachments",
            "invalid_auth",
            "invalid_blocks",
            "invalid_blocks_format",
            "invalid_charset",
            "invalid_form_data",
            "invalid_json",
            "invalid_metadata_format",
            "invalid_metadata_schema",
            "invalid_post_type",
            "is_bot",
            "is_inactive",
            "json_not_object",
            "markdown_text_conflict",
            "max_file_sharing_exceeded",
            "message_limit_exceeded",
            "message_not_found",
            "metadata_must_be_sent_from_app",
            "metadata_too_large",
            "method_deprecated",
            "missing_post_type",
            "missing_scope",
            "msg_too_long",
            "no_dual_broadcast_content_update",
            "no_permission",
            "no_text",
            "not_allowed_token_type",
            "not_authed",
            "org_login_required",
            "posting_to_channel_denied",
            "rate_limited",
            "ratelimited",
            "request_timeout",
            "service_unavailable",
            "slack_connect_blocked_file_type",
            "slack_connect_canvas_sharing_blocked",
            "slack_connect_clip_sharing_blocked",
            "slack_connect_file_link_sharing_blocked",
            "slack_connect_file_upload_sharing_blocked",
            "streaming_state_conflict",
            "team_added_to_org",
            "team_not_found",
            "token_expired",
            "token_revoked",
            "too_many_attachments",
            "two_factor_setup_required",
            "unable_to_share_files",
            "unknown_method",
            "update_failed",
            "upgrade_required",
        ],
    ),
    (
        "views.open",
        &[
            "access_denied",
            "accesslimited",
            "account_inactive",
            "deprecated_endpoint",
            "duplicate_external_id",
            "ekm_access_denied",
            "enterprise_is_restricted",
            "exchanged_trigger_id",
            "expired_trigger_id",
            "fatal_error",
            "invalid_arg_name",
            "invalid_array_arg",
            "invalid_charset",
            "invalid_form_data",
            "invalid_post_type",
            "invalid_trigger_id",
            "is_bot",
            "method_deprecated",
            "missing_post_type",
            "missing_scope",
            "no_permission",
            "not_allowed_token_type",
            "not_authed",
            "org_login_required",
            "ratelimited",
            "request_timeout",
            "service_unavailable",
            "team_added_to_org",
            "token_expired",
            "token_revoked",
            "two_factor_setup_required",
            "unknown_method",
            "view_too_large",
        ],
    ),
    (
        "usergroups.users.list",
        &[
            "access_denied",
            "accesslimited",
            "account_inactive",
            "deprecated_endpoint",
            "ekm_access_denied",
            "enterprise_is_restricted",
            "fatal_error",
            "invalid_arg_name",
            "invalid_array_arg",
            "invalid_auth",
            "invalid_charset",
            "invalid_cursor",
            "invalid_form_data",
            "invalid_json",
            "invalid_post_type",
            "is_bot",
            "json_not_object",
            "method_deprecated",
            "missing_charset",
            "missing_post_type",
            "missing_scope",
            "no_permission",
            "no_such_subteam",
            "not_allowed_token_type",
            "not_authed",
            "org_login_required",
            "plan_upgrade_required",
            "ratelimited",
            "request_timeout",
            "service_unavailable",
            "superfluous_charset",
            "team_added_to_org",
            "token_expired",
            "token_revoked",
            "two_factor_setup_required",
            "unknown_method",
            "upgrade_require",
            "user_is_bot",
            "user_is_restricted",
        ],
    ),
];

#[test]
fn every_code_slack_documents_for_the_apps_methods_is_decided_by_name() {
    let unknown = "for a reason pipewatch does not know";
    assert!(
        SlackError::from_code("no_such_code_yet")
            .to_string()
            .contains(unknown)
    );
    for (method, codes) in DOCUMENTED {
        for code in *codes {
            let decided = SlackError::from_code(code).to_string();
            assert!(!decided.contains(unknown), "{method}: {code}: {decided}");
        }
    }
    let counted: usize = DOCUMENTED.iter().map(|(_, codes)| codes.len()).sum();
    assert!(counted > 150, "{counted}");
}

#[test]
fn each_kind_of_answer_leads_to_its_decision() {
    type Decided = fn(&SlackError) -> bool;
    let content: Decided = |e| matches!(e, SlackError::Content(_));
    let destination: Decided = |e| matches!(e, SlackError::Destination { .. });
    let unavailable: Decided = |e| matches!(e, SlackError::Unavailable(_));
    let limited: Decided = |e| matches!(e, SlackError::RateLimited { .. });
    let cases: &[(&str, Decided)] = &[
        ("ratelimited", limited),
        ("rate_limited", limited),
        ("message_limit_exceeded", limited),
        ("internal_error", unavailable),
        ("fatal_error", unavailable),
        ("service_unavailable", unavailable),
        ("team_added_to_org", unavailable),
        ("message_not_found", |e| *e == SlackError::MessageGone),
        ("cant_update_message", |e| {
            matches!(e, SlackError::CannotEdit(_))
        }),
        ("edit_window_closed", |e| {
            matches!(e, SlackError::CannotEdit(_))
        }),
        ("msg_too_long", content),
        ("msg_blocks_too_long", content),
        ("invalid_blocks", content),
        ("invalid_blocks_format", content),
        ("markdown_text_conflict", content),
        ("no_text", content),
        ("expired_trigger_id", |e| {
            matches!(e, SlackError::TriggerGone(_))
        }),
        ("exchanged_trigger_id", |e| {
            matches!(e, SlackError::TriggerGone(_))
        }),
        ("channel_not_found", destination),
        ("not_in_channel", destination),
        ("is_archived", destination),
        ("invalid_auth", destination),
        ("token_revoked", destination),
        ("account_inactive", destination),
        ("missing_scope", destination),
        ("restricted_action_read_only_channel", destination),
        ("no_such_subteam", destination),
        ("no_such_code_yet", destination),
    ];
    for (code, decided) in cases {
        let error = SlackError::from_code(code);
        assert!(decided(&error), "{code}: {error:?}");
    }
    for transient in ["ratelimited", "fatal_error"] {
        assert!(SlackError::from_code(transient).is_transient());
    }
    for lasting in [
        "msg_blocks_too_long",
        "token_revoked",
        "message_not_found",
        "expired_trigger_id",
    ] {
        assert!(!SlackError::from_code(lasting).is_transient(), "{lasting}");
    }
    assert_eq!(
        SlackError::from_code("token_revoked").to_string(),
        "the bot token was revoked (token_revoked)"
    );
}
