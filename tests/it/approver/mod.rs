//! The approver's front door: requests signed as Slack signs them (with a test secret), as
//! a function URL hands them over, plain or base64-encoded. Every forged, stale, foreign or
//! unauthorized one hands nothing on to the work that decides approvals; an allowed click
//! hands on exactly its decision.

use base64::Engine as _;
use pipewatch::approve::{Acknowledged, Handoff, Keys, UrlRequest, acknowledge};
use pipewatch::select::{Home, Selection};
use pipewatch_core::interaction::{APPROVE, Approvers, Decision, Installed, Target, UserGroups};
use pipewatch_testkit::fake_slack::sign;
use serde_json::json;

const SECRET: &[u8] = b"test-signing-secret-0123456789ab";
const NOW: i64 = 1_764_000_000;

/// No user group read: the approvers in these tests name people by id.
const NO_GROUPS: Option<&UserGroups> = Some(&UserGroups::new());

fn keys() -> Keys {
    Keys {
        signing_secret: SECRET.to_vec(),
        installed: Installed {
            team: "T0PIPEWATCH".into(),
            app: "A0PIPEWATCH".into(),
        },
        approvers: Approvers::parse(
            r#"[{"users": ["U024BE7LH"], "pipelines": ["payments-*"], "stages": ["Prod"]},
                {"users": ["U0WEBTEAM1"], "pipelines": ["web-*"]}]"#,
        )
        .unwrap(),
        narrowing: None,
        watched: Selection::parse("payments-*,web-*").unwrap(),
        home: home(),
    }
}

/// Where the approver runs in these tests: moto's account.
fn home() -> Home {
    Home {
        partition: "aws".into(),
        region: "us-east-1".into(),
        account: Some("123456789012".into()),
    }
}

fn target() -> Target {
    Target {
        pipeline: "payments-release".into(),
        arn: Some("arn:aws:codepipeline:us-east-1:123456789012:payments-release".into()),
        stage: "Prod".into(),
        action: "Approve".into(),
        action_execution_id: "5a6b7c8d-0000-4000-8000-000000000001".into(),
        execution: Some("e-1".into()),
    }
}

/// A click's form body, by `user`.
fn form(user: &str) -> String {
    form_for(user, &target())
}

/// A click's form body, by `user`, on a button naming `target`.
fn form_for(user: &str, target: &Target) -> String {
    let payload = json!({
        "type": "block_actions",
        "team": {"id": "T0PIPEWATCH"},
        "api_app_id": "A0PIPEWATCH",
        "user": {"id": user, "name": "Maria Silva"},
        "response_url": "https://hooks.slack.com/actions/T0PIPEWATCH/1/response",
        "trigger_id": "1.2.3",
        "actions": [{"action_id": APPROVE, "value": target.to_value()}],
        "message": {"blocks": [{"type": "actions", "elements": [
            {"type": "button", "action_id": APPROVE, "value": target.to_value()}]}]}
    });
    pipewatch_testkit::fake_slack::form(&payload)
}

/// The function URL's request for `body`, signed at `timestamp` over `signed`.
fn url_request(body: &str, base64: bool, timestamp: i64, signed: &[u8]) -> UrlRequest {
    let ts = timestamp.to_string();
    UrlRequest {
        headers: [
            ("x-slack-request-timestamp", ts.clone()),
            ("x-slack-signature", sign(SECRET, &ts, signed)),
            (
                "content-type",
                "application/x-www-form-urlencoded".to_owned(),
            ),
        ]
        .into_iter()
        .map(|(k, v)| (k.to_owned(), v))
        .collect(),
        body: Some(if base64 {
            base64::engine::general_purpose::STANDARD.encode(body)
        } else {
            body.to_owned()
        }),
        is_base64_encoded: base64,
    }
}

#[test]
fn an_allowed_click_is_acknowledged_and_its_decision_handed_on_plain_or_base64() {
    for encoded in [false, true] {
        let body = form("U024BE7LH");
        let answer = acknowledge(
            &url_request(&body, encoded, NOW, body.as_bytes()),
            &keys(),
            NOW,
            NO_GROUPS,
        );
        assert_eq!(answer.status, 200);
        let Some(Handoff::Decide(click)) = answer.handoff else {
            panic!("a decision to take: {answer:?}");
        };
        assert_eq!(
            (click.decision, click.target),
            (Decision::Approve, target())
        );
        assert_eq!(click.user, "U024BE7LH");
    }
}

#[test]
fn someone_not_allowed_here_is_told_and_nothing_is_decided() {
    for user in ["U0STRANGER", "U0WEBTEAM1"] {
        let body = form(user);
        let answer = acknowledge(
            &url_request(&body, false, NOW, body.as_bytes()),
            &keys(),
            NOW,
            NO_GROUPS,
        );
        assert_eq!(answer.status, 200, "{user}");
        let Some(Handoff::Refuse { text, response_url }) = answer.handoff else {
            panic!("{user}: told they may not: {answer:?}");
        };
        assert!(text.starts_with("You may not approve or reject Prod/Approve of payments-release"));
        assert!(response_url.starts_with("https://hooks.slack.com/actions/"));
    }
}

#[test]
fn a_pipeline_not_watched_here_is_not_decided_whoever_clicks() {
    let body = form("U024BE7LH");
    let keys = Keys {
        watched: Selection::parse("web-*").unwrap(),
        ..keys()
    };
    let answer = acknowledge(
        &url_request(&body, false, NOW, body.as_bytes()),
        &keys,
        NOW,
        NO_GROUPS,
    );
    let Some(Handoff::Refuse { text, .. }) = answer.handoff else {
        panic!("told, not decided: {answer:?}");
    };
    assert_eq!(
        text,
        "payments-release is not a pipeline pipewatch watches here."
    );
}

/// A button names its pipeline's ARN: a pipeline elsewhere is decided only when the
/// approver's pipelines name it (given the approver role), and an ARN that names another
/// pipeline than the button's is refused.
#[test]
fn a_pipeline_elsewhere_is_decided_only_when_named_by_its_arn() {
    let keys = Keys {
        watched: Selection::parse(
            "payments-*,arn:aws:codepipeline:us-west-2:222233334444:payments-*",
        )
        .unwrap(),
        ..keys()
    };
    let at = |arn: &str| Target {
        arn: Some(arn.into()),
        ..target()
    };
    let answer = |target: &Target| {
        let body = form_for("U024BE7LH", target);
        acknowledge(
            &url_request(&body, false, NOW, body.as_bytes()),
            &keys,
            NOW,
            NO_GROUPS,
        )
    };
    let there = answer(&at(
        "arn:aws:codepipeline:us-west-2:222233334444:payments-release",
    ));
    assert!(
        matches!(&there.handoff, Some(Handoff::Decide(click)) if click.target.arn.as_deref() == Some("arn:aws:codepipeline:us-west-2:222233334444:payments-release")),
        "{there:?}"
    );
    let elsewhere = answer(&at(
        "arn:aws:codepipeline:us-west-2:999999999999:payments-release",
    ));
    assert!(
        matches!(&elsewhere.handoff, Some(Handoff::Refuse { text, .. }) if text.contains("not a pipeline pipewatch watches here")),
        "{elsewhere:?}"
    );
    let mismatched = answer(&at(
        "arn:aws:codepipeline:us-west-2:222233334444:payments-other",
    ));
    assert_eq!(
        mismatched,
        Acknowledged {
            status: 400,
            handoff: None,
            dialog: None
        }
    );
    // No ARN (a message from before buttons named it): the pipeline here.
    let home = answer(&Target {
        arn: None,
        ..target()
    });
    assert!(matches!(home.handoff, Some(Handoff::Decide(_))), "{home:?}");
}

/// The notifications document's approvers narrow the stack's: a click both allow is
/// decided; one the document leaves out is refused, and so is one only the document names.
#[test]
fn the_documents_approvers_narrow_the_stacks_and_never_widen_them() {
    let decided = |keys: &Keys, user: &str| {
        let body = form(user);
        let request = url_request(&body, false, NOW, body.as_bytes());
        matches!(
            acknowledge(&request, keys, NOW, NO_GROUPS).handoff,
            Some(Handoff::Decide(_))
        )
    };
    let narrowed = |rules: &str| Keys {
        narrowing: Some(Approvers::parse(rules).unwrap()),
        ..keys()
    };
    assert!(decided(&keys(), "U024BE7LH"));
    let other = narrowed(r#"[{"users": ["U0SOMEONE1"], "pipelines": ["*"]}]"#);
    assert!(!decided(&other, "U024BE7LH"), "taken away by the document");
    assert!(!decided(&other, "U0SOMEONE1"), "never added by it");
    let same = narrowed(r#"[{"users": ["U024BE7LH"], "pipelines": ["payments-*"]}]"#);
    assert!(decided(&same, "U024BE7LH"));
    let elsewhere = narrowed(r#"[{"users": ["U024BE7LH"], "pipelines": ["web-*"]}]"#);
    assert!(!decided(&elsewhere, "U024BE7LH"), "fewer pipelines");

    // A group only the document names is read before deciding.
    let by_group = narrowed(r#"[{"groups": ["S0RELEASE1"], "pipelines": ["*"]}]"#);
    assert!(by_group.groups().contains("S0RELEASE1"));
    let body = form("U024BE7LH");
    let request = url_request(&body, false, NOW, body.as_bytes());
    let click = pipewatch::approve::receive(&request, &by_group, NOW).unwrap();
    assert!(pipewatch::approve::needs_groups(&click, &by_group));
    let read = UserGroups::from([(
        "S0RELEASE1".to_owned(),
        std::collections::BTreeSet::from(["U024BE7LH".to_owned()]),
    )]);
    let member = acknowledge(&request, &by_group, NOW, Some(&read));
    assert!(
        matches!(member.handoff, Some(Handoff::Decide(_))),
        "{member:?}"
    );
}

/// A rule naming a user group allows its members as last read; when they could not be
/// read, the person is told so and nothing is decided.
#[test]
fn a_groups_member_is_allowed_as_its_members_were_read_and_unread_groups_allow_no_one() {
    let by_group = Keys {
        approvers: Approvers::parse(r#"[{"groups": ["S0RELEASE1"], "pipelines": ["payments-*"]}]"#)
            .unwrap(),
        ..keys()
    };
    let body = form("U0RELEASE01");
    let request = url_request(&body, false, NOW, body.as_bytes());
    let read = UserGroups::from([(
        "S0RELEASE1".to_owned(),
        std::collections::BTreeSet::from(["U0RELEASE01".to_owned()]),
    )]);
    let member = acknowledge(&request, &by_group, NOW, Some(&read));
    assert!(
        matches!(member.handoff, Some(Handoff::Decide(_))),
        "{member:?}"
    );
    let click = pipewatch::approve::receive(&request, &by_group, NOW).unwrap();
    assert!(pipewatch::approve::needs_groups(&click, &by_group));

    let not_member = acknowledge(&request, &by_group, NOW, NO_GROUPS);
    assert!(
        matches!(&not_member.handoff, Some(Handoff::Refuse { text, .. }) if text.starts_with("You may not")),
        "{not_member:?}"
    );
    let unread = acknowledge(&request, &by_group, NOW, None);
    assert!(
        matches!(&unread.handoff, Some(Handoff::Refuse { text, .. }) if text.contains("could not read the Slack user groups")),
        "{unread:?}"
    );
    // Someone named by id needs no group read.
    let named = url_request(&form("U024BE7LH"), false, NOW, form("U024BE7LH").as_bytes());
    let click = pipewatch::approve::receive(&named, &keys(), NOW).unwrap();
    assert!(!pipewatch::approve::needs_groups(&click, &keys()));
}

#[test]
fn forged_stale_or_malformed_requests_hand_nothing_on() {
    let body = form("U024BE7LH");
    let bytes = body.as_bytes();
    let encoded = base64::engine::general_purpose::STANDARD.encode(&body);
    let cases: Vec<(&str, UrlRequest, u16)> = vec![
        (
            "signed with another secret",
            {
                let mut r = url_request(&body, false, NOW, bytes);
                r.headers.insert(
                    "x-slack-signature".into(),
                    sign(b"another-secret", &NOW.to_string(), bytes),
                );
                r
            },
            401,
        ),
        (
            "no signature headers",
            UrlRequest {
                body: Some(body.clone()),
                ..UrlRequest::default()
            },
            401,
        ),
        (
            "a stale timestamp",
            url_request(&body, false, NOW - 301, bytes),
            401,
        ),
        (
            "a future timestamp",
            url_request(&body, false, NOW + 301, bytes),
            401,
        ),
        (
            "signed over the base64 text",
            url_request(&body, true, NOW, encoded.as_bytes()),
            401,
        ),
        (
            "an oversized body",
            {
                let big = "a".repeat(70_000);
                url_request(&big, false, NOW, big.as_bytes())
            },
            401,
        ),
        (
            "not base64 as announced",
            UrlRequest {
                is_base64_encoded: true,
                body: Some("%%%".into()),
                ..url_request(&body, false, NOW, bytes)
            },
            400,
        ),
        (
            "JSON where a form is expected",
            {
                let json = r#"{"payload": {"type": "block_actions"}}"#;
                let mut r = url_request(json, false, NOW, json.as_bytes());
                r.headers
                    .insert("content-type".into(), "application/json".into());
                r
            },
            400,
        ),
        (
            "another workspace's click",
            {
                let other = body.replace("T0PIPEWATCH", "T0ELSEWHERE");
                url_request(&other, false, NOW, other.as_bytes())
            },
            400,
        ),
    ];
    for (what, request, status) in cases {
        let answer = acknowledge(&request, &keys(), NOW, NO_GROUPS);
        assert_eq!(
            answer,
            Acknowledged {
                status,
                handoff: None,
                dialog: None,
            },
            "{what}"
        );
    }
}

mod decision;
mod groups;
mod modes;
mod runtime;

/// The edges of what is taken: a timestamp exactly five minutes old (Slack's bound is
/// "more than five minutes"), a body of exactly 64 KiB; and what is not: a payload of
/// another type, a Reject that carries no `trigger_id` to ask why with.
#[test]
fn the_edges_of_what_the_front_door_takes() {
    let body = form("U024BE7LH");
    let five_minutes = acknowledge(
        &url_request(&body, false, NOW - 300, body.as_bytes()),
        &keys(),
        NOW,
        NO_GROUPS,
    );
    assert_eq!(five_minutes.status, 200, "exactly 300 s old: taken");
    let stale = acknowledge(
        &url_request(&body, false, NOW - 301, body.as_bytes()),
        &keys(),
        NOW,
        NO_GROUPS,
    );
    assert_eq!(stale.status, 401, "301 s: refused");

    // Padded to exactly the most a click may be, with a field Slack's forms may carry.
    let pad = pipewatch_core::interaction::MAX_BODY_BYTES - body.len() - "&pad=".len();
    let full = format!("{body}&pad={}", "x".repeat(pad));
    assert_eq!(full.len(), pipewatch_core::interaction::MAX_BODY_BYTES);
    let answer = acknowledge(
        &url_request(&full, false, NOW, full.as_bytes()),
        &keys(),
        NOW,
        NO_GROUPS,
    );
    assert_eq!(answer.status, 200, "exactly 64 KiB: taken");
    let over = format!("{full}x");
    let answer = acknowledge(
        &url_request(&over, false, NOW, over.as_bytes()),
        &keys(),
        NOW,
        NO_GROUPS,
    );
    assert_eq!((answer.status, answer.handoff.is_none()), (401, true));

    for kind in [
        "shortcut",
        "message_action",
        "block_suggestion",
        "view_closed",
    ] {
        let payload = json!({"type": kind, "team": {"id": "T0PIPEWATCH"},
            "api_app_id": "A0PIPEWATCH", "user": {"id": "U024BE7LH"}});
        let other = pipewatch_testkit::fake_slack::form(&payload);
        let answer = acknowledge(
            &url_request(&other, false, NOW, other.as_bytes()),
            &keys(),
            NOW,
            NO_GROUPS,
        );
        assert_eq!(answer.status, 400, "{kind}");
        assert!(
            answer.handoff.is_none() && answer.dialog.is_none(),
            "{kind}"
        );
    }

    let reject = |trigger: Option<&str>| {
        let button = json!({"action_id": pipewatch_core::interaction::REJECT,
            "value": target().to_value()});
        let mut payload = json!({"type": "block_actions", "team": {"id": "T0PIPEWATCH"},
            "api_app_id": "A0PIPEWATCH", "user": {"id": "U024BE7LH", "name": "Maria Silva"},
            "response_url": "https://hooks.slack.com/actions/T0PIPEWATCH/1/response",
            "actions": [button.clone()],
            "message": {"blocks": [{"type": "actions", "elements": [button]}]}});
        if let Some(trigger) = trigger {
            payload["trigger_id"] = json!(trigger);
        }
        let body = pipewatch_testkit::fake_slack::form(&payload);
        acknowledge(
            &url_request(&body, false, NOW, body.as_bytes()),
            &keys(),
            NOW,
            NO_GROUPS,
        )
    };
    let asked = reject(Some("1.2.3"));
    assert_eq!(asked.status, 200);
    assert!(
        asked.dialog.is_some() && asked.handoff.is_none(),
        "asks why first"
    );
    let without = reject(None);
    assert_eq!(
        without.status, 400,
        "no trigger_id: no dialog, nothing decided"
    );
    assert!(without.dialog.is_none() && without.handoff.is_none());
}
