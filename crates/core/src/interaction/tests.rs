use std::collections::BTreeSet;

use hmac::{Hmac, KeyInit, Mac};
use serde_json::json;
use sha2::Sha256;

use super::*;

const SECRET: &[u8] = b"8f742231b10e8888abcd99yyyzzz85a5";
const NOW: i64 = 1_764_000_000;

fn installed() -> Installed {
    Installed {
        team: "T0PIPEWATCH".into(),
        app: "A0PIPEWATCH".into(),
    }
}

fn target() -> Target {
    Target {
        pipeline: "payments-release".into(),
        arn: Some("arn:aws:codepipeline:eu-west-1:123456789012:payments-release".into()),
        stage: "Prod".into(),
        action: "Approve".into(),
        action_execution_id: "5a6b7c8d-0000-4000-8000-000000000001".into(),
        execution: Some("e-1".into()),
    }
}

/// A click's form body as Slack sends it, with `change` applied to the payload first.
fn form(change: impl Fn(&mut serde_json::Value)) -> Vec<u8> {
    let mut payload = json!({
        "type": "block_actions",
        "team": {"id": "T0PIPEWATCH", "domain": "acme"},
        "api_app_id": "A0PIPEWATCH",
        "user": {"id": "U024BE7LH", "username": "maria", "name": "Maria Silva", "team_id": "T0PIPEWATCH"},
        "container": {"type": "message", "message_ts": "1700000000.000100", "channel_id": "C0RELEASES1"},
        "trigger_id": "123.456.abc",
        "response_url": "https://hooks.slack.com/actions/T0PIPEWATCH/1/secret",
        "actions": [{"type": "button", "action_id": APPROVE, "block_id": "b", "value": target().to_value(),
            "action_ts": "1764000000.1"}],
        "message": {"ts": "1700000000.000100", "blocks": [{"type": "actions", "elements": [
            {"type": "button", "action_id": APPROVE, "value": target().to_value()},
            {"type": "button", "action_id": REJECT, "value": target().to_value()}]}]}
    });
    change(&mut payload);
    form_urlencoded::Serializer::new(String::new())
        .append_pair("payload", &payload.to_string())
        .finish()
        .into_bytes()
}

fn sign(timestamp: &str, body: &[u8]) -> String {
    let mut mac = Hmac::<Sha256>::new_from_slice(SECRET).unwrap();
    mac.update(format!("v0:{timestamp}:").as_bytes());
    mac.update(body);
    format!("v0={}", hex::encode(mac.finalize().into_bytes()))
}

fn request<'a>(timestamp: &'a str, signature: &'a str, body: &'a [u8]) -> Request<'a> {
    Request {
        timestamp: Some(timestamp),
        signature: Some(signature),
        content_type: Some("application/x-www-form-urlencoded"),
        body,
    }
}

/// Verifies then reads, as the approver does.
fn click_of(request: &Request<'_>) -> Result<Click, Refusal> {
    verify(request, SECRET, NOW)?;
    read(request, &installed())
}

#[test]
fn a_signed_click_from_the_installed_app_is_read_with_who_and_which_approval() {
    let body = form(|_| {});
    let ts = NOW.to_string();
    let signature = sign(&ts, &body);
    let click = click_of(&request(&ts, &signature, &body)).unwrap();
    assert_eq!(click.decision, Decision::Approve);
    assert_eq!(click.target, target());
    assert_eq!(
        (click.user.as_str(), click.user_name.as_deref()),
        ("U024BE7LH", Some("Maria Silva"))
    );
    assert_eq!(click.trigger_id.as_deref(), Some("123.456.abc"));
}

/// Slack's own bounds are taken up to their edge: a timestamp exactly five minutes away,
/// either way, and a body of exactly 64 KiB (one more is refused: below).
#[test]
fn a_request_at_the_edge_of_slacks_bounds_is_taken() {
    assert_eq!(MAX_SKEW_S, 300, "Slack's five minutes");
    assert_eq!(MAX_BODY_BYTES, 65_536);
    let body = form(|_| {});
    for at in [NOW - MAX_SKEW_S, NOW + MAX_SKEW_S] {
        let ts = at.to_string();
        let signature = sign(&ts, &body);
        assert_eq!(
            verify(&request(&ts, &signature, &body), SECRET, NOW),
            Ok(()),
            "{at}"
        );
    }
    let full = vec![b'a'; MAX_BODY_BYTES];
    let ts = NOW.to_string();
    let signature = sign(&ts, &full);
    assert_eq!(
        verify(&request(&ts, &signature, &full), SECRET, NOW),
        Ok(())
    );
}

#[test]
#[allow(clippy::too_many_lines)] // one table: every hostile request the issue names
fn every_forged_stale_or_foreign_request_is_refused_in_words() {
    let body = form(|_| {});
    let ts = NOW.to_string();
    let good = sign(&ts, &body);
    let old = (NOW - MAX_SKEW_S - 1).to_string();
    let old_signed = sign(&old, &body);
    let future = (NOW + MAX_SKEW_S + 1).to_string();
    let future_signed = sign(&future, &body);
    let big = vec![b'a'; MAX_BODY_BYTES + 1];
    let big_signed = sign(&ts, &big);
    // A base64 body whose signature was made over the encoded text, not the body Slack sent.
    let encoded = base64::Engine::encode(&base64::engine::general_purpose::STANDARD, &body);
    let over_encoded = sign(&ts, encoded.as_bytes());
    let json_body = br#"{"payload": {"type": "block_actions"}}"#.to_vec();
    let json_signed = sign(&ts, &json_body);
    let with = |change: &dyn Fn(&mut serde_json::Value)| form(change);
    let other_team = with(&|p| p["team"]["id"] = json!("T0ELSEWHERE"));
    let other_app = with(&|p| p["api_app_id"] = json!("A0OTHERAPP"));
    let other_button = with(&|p| p["actions"][0]["action_id"] = json!("pipewatch-link-0"));
    let no_target = with(&|p| p["actions"][0]["value"] = json!("{\"pipeline\": \"x\"}"));
    let not_a_click = with(&|p| p["type"] = json!("view_submission"));
    let other_action = with(&|p| {
        p["actions"][0]["value"] = json!(
            Target {
                action: "DeployProd".into(),
                ..target()
            }
            .to_value()
        );
    });
    let no_message = with(&|p| {
        p.as_object_mut().unwrap().remove("message");
    });
    // The message shows Reject alone: an Approve with the same approval is none of its.
    let reject_only = with(&|p| {
        p["message"]["blocks"][0]["elements"] = json!([
            {"type": "button", "action_id": REJECT, "value": target().to_value()}]);
    });
    let s_reject_only = sign(&ts, &reject_only);
    let signed = |b: &[u8]| sign(&ts, b);
    let (s_other, s_none) = (signed(&other_action), signed(&no_message));
    let (s_team, s_app, s_button, s_target, s_type) = (
        signed(&other_team),
        signed(&other_app),
        signed(&other_button),
        signed(&no_target),
        signed(&not_a_click),
    );
    let v1 = good.replace("v0=", "v1=");
    let near = (NOW - 10).to_string();
    let tampered = {
        let mut b = body.clone();
        *b.last_mut().unwrap() ^= 1;
        b
    };
    let cases: Vec<(&str, Request<'_>, Refusal)> = vec![
        (
            "no headers",
            Request {
                timestamp: None,
                signature: None,
                ..request(&ts, &good, &body)
            },
            Refusal::Unsigned,
        ),
        (
            "a bad signature",
            request(&ts, "v0=00ff", &body),
            Refusal::BadSignature,
        ),
        (
            "not hex",
            request(&ts, "v0=zz", &body),
            Refusal::BadSignature,
        ),
        (
            "another scheme",
            request(&ts, &v1, &body),
            Refusal::BadSignature,
        ),
        (
            "a tampered body",
            request(&ts, &good, &tampered),
            Refusal::BadSignature,
        ),
        (
            "a signature made for another timestamp",
            request(&near, &good, &body),
            Refusal::BadSignature,
        ),
        (
            "a stale (replayed) click",
            request(&old, &old_signed, &body),
            Refusal::Stale(MAX_SKEW_S + 1),
        ),
        (
            "a future timestamp",
            request(&future, &future_signed, &body),
            Refusal::Stale(-MAX_SKEW_S - 1),
        ),
        (
            "a timestamp that is not one",
            request("soon", &good, &body),
            Refusal::BadTimestamp("soon".into()),
        ),
        (
            "an oversized body",
            request(&ts, &big_signed, &big),
            Refusal::Oversized(MAX_BODY_BYTES + 1),
        ),
        (
            "signed over the base64 text",
            request(&ts, &over_encoded, &body),
            Refusal::BadSignature,
        ),
        (
            "JSON where a form is expected",
            Request {
                content_type: Some("application/json"),
                ..request(&ts, &json_signed, &json_body)
            },
            Refusal::NotAForm("application/json".into()),
        ),
        (
            "JSON in a form's clothes",
            request(&ts, &json_signed, &json_body),
            Refusal::NoPayload,
        ),
        (
            "another workspace",
            request(&ts, &s_team, &other_team),
            Refusal::OtherWorkspace("T0ELSEWHERE".into()),
        ),
        (
            "another app",
            request(&ts, &s_app, &other_app),
            Refusal::OtherApp("A0OTHERAPP".into()),
        ),
        (
            "a link button",
            request(&ts, &s_button, &other_button),
            Refusal::UnknownButton("pipewatch-link-0".into()),
        ),
        (
            "a button naming no approval",
            request(&ts, &s_target, &no_target),
            Refusal::NotAClick("the button names no approval".into()),
        ),
        (
            "a modal's submission",
            request(&ts, &s_type, &not_a_click),
            Refusal::NotAClick("a dialog that is not the reason's".into()),
        ),
        (
            "a payload naming another action than its message",
            request(&ts, &s_other, &other_action),
            Refusal::NotInMessage,
        ),
        (
            "a click without its message",
            request(&ts, &s_none, &no_message),
            Refusal::NotInMessage,
        ),
        (
            "a button the message does not show",
            request(&ts, &s_reject_only, &reject_only),
            Refusal::NotInMessage,
        ),
    ];
    for (what, request, refusal) in cases {
        assert_eq!(click_of(&request), Err(refusal), "{what}");
    }
}

#[test]
fn nobody_may_decide_unless_configured_and_only_where_configured() {
    let target = target();
    assert!(
        !Approvers::default().allows("U024BE7LH", &UserGroups::new(), &target),
        "default nobody"
    );
    let none = UserGroups::new();
    let approvers = Approvers::parse(
        r#"[{"users": ["U024BE7LH"], "pipelines": ["payments-*"], "stages": ["Prod"]},
            {"users": ["U0OTHER01"], "pipelines": ["web-*"]}]"#,
    )
    .unwrap();
    assert!(approvers.allows("U024BE7LH", &none, &target));
    assert!(
        !approvers.allows("U0OTHER01", &none, &target),
        "allowed elsewhere, not here"
    );
    assert!(!approvers.allows("U0STRANGER", &none, &target));
    let staging = Target {
        stage: "Staging".into(),
        ..target.clone()
    };
    assert!(
        !approvers.allows("U024BE7LH", &none, &staging),
        "another stage"
    );
    assert_eq!(
        Approvers::parse(r#"[{"users": ["maria"], "pipelines": ["*"]}]"#).unwrap_err(),
        "\"maria\" is not a Slack user id (U024BE7LH)"
    );
    assert!(Approvers::parse(r#"[{"users": ["U1"], "pipelines": []}]"#).is_err());
    for not_a_user in ["U1", "W", "U0release", "S0614TZR7", "maria"] {
        let rule = format!(r#"[{{"users": ["{not_a_user}"], "pipelines": ["*"]}}]"#);
        assert!(Approvers::parse(&rule).is_err(), "{not_a_user}");
    }
    assert!(Approvers::parse(r#"[{"users": ["W0ENTERPRISE1"], "pipelines": ["*"]}]"#).is_ok());
    assert!(Approvers::parse(r#"[{"users": ["U024BE7LH"], "pipeline": ["*"]}]"#).is_err());
    assert!(
        Approvers::parse(r#"[{"pipelines": ["*"]}]"#).is_err(),
        "nobody named"
    );
    assert_eq!(
        Approvers::parse(r#"[{"groups": ["release-managers"], "pipelines": ["*"]}]"#).unwrap_err(),
        "\"release-managers\" is not a Slack user group id (S0614TZR7)"
    );
    for not_a_group in ["U024BE7LH", "S0release", "S"] {
        let rule = format!(r#"[{{"groups": ["{not_a_group}"], "pipelines": ["*"]}}]"#);
        assert!(Approvers::parse(&rule).is_err(), "{not_a_group}");
    }
    assert!(Approvers::parse(r#"[{"groups": ["S0614TZR7"], "pipelines": ["*"]}]"#).is_ok());
}

/// A rule may name Slack user groups: their members, as last read from Slack, may decide.
#[test]
fn the_members_of_a_named_user_group_may_decide_and_no_one_else_through_it() {
    let target = target();
    let approvers = Approvers::parse(
        r#"[{"groups": ["S0RELEASE1"], "pipelines": ["payments-*"], "stages": ["Prod"]},
            {"groups": ["S0WEBTEAM1"], "users": ["U0OTHER01"], "pipelines": ["web-*"]}]"#,
    )
    .unwrap();
    assert_eq!(
        approvers.groups(),
        BTreeSet::from(["S0RELEASE1", "S0WEBTEAM1"])
    );
    let groups = UserGroups::from([
        (
            "S0RELEASE1".to_owned(),
            BTreeSet::from(["U024BE7LH".to_owned()]),
        ),
        (
            "S0WEBTEAM1".to_owned(),
            BTreeSet::from(["U0WEBDEV01".to_owned()]),
        ),
    ]);
    assert!(approvers.allows("U024BE7LH", &groups, &target), "a member");
    assert!(
        !approvers.allows("U024BE7LH", &UserGroups::new(), &target),
        "not without the group's members"
    );
    assert!(
        !approvers.allows("U0WEBDEV01", &groups, &target),
        "a member of a group allowed elsewhere"
    );
    assert!(!approvers.allows("U0STRANGER", &groups, &target));
}

/// Reject asks why first: the dialog carries the approval, its submission the reason.
#[test]
fn a_rejections_reason_comes_back_with_the_approval_its_dialog_was_opened_for() {
    let ts = NOW.to_string();
    let click = Click {
        decision: Decision::Reject,
        target: target(),
        user: "U024BE7LH".into(),
        user_name: Some("Maria Silva".into()),
        response_url: "https://hooks.slack.com/actions/T0PIPEWATCH/1/secret".into(),
        trigger_id: Some("1.2.3".into()),
        reason: None,
    };
    let dialog = reason_dialog(&click);
    assert_eq!(dialog["callback_id"], REASON_DIALOG);
    let submission = |reason: &str, callback: &str| {
        let payload = json!({
            "type": "view_submission",
            "team": {"id": "T0PIPEWATCH"},
            "api_app_id": "A0PIPEWATCH",
            "user": {"id": "U024BE7LH", "name": "Maria Silva"},
            "view": {"callback_id": callback, "private_metadata": dialog["private_metadata"],
                "state": {"values": {"reason": {"reason": {"type": "plain_text_input", "value": reason}}}}}
        });
        form_urlencoded::Serializer::new(String::new())
            .append_pair("payload", &payload.to_string())
            .finish()
            .into_bytes()
    };
    let submitted = submission(" the plan deletes the database ", REASON_DIALOG);
    let signature = sign(&ts, &submitted);
    let read = click_of(&request(&ts, &signature, &submitted)).unwrap();
    assert_eq!(
        read,
        Click {
            trigger_id: None,
            reason: Some("the plan deletes the database".into()),
            ..click.clone()
        }
    );
    let empty = submission("  ", REASON_DIALOG);
    let signature = sign(&ts, &empty);
    assert_eq!(
        click_of(&request(&ts, &signature, &empty)),
        Err(Refusal::NotAClick("the dialog holds no reason".into()))
    );
    let other = submission("why not", "someone-elses-dialog");
    let signature = sign(&ts, &other);
    assert_eq!(
        click_of(&request(&ts, &signature, &other)),
        Err(Refusal::NotAClick(
            "a dialog that is not the reason's".into()
        ))
    );
}
