//! The approver's front door: requests signed as Slack signs them (with a test secret), as
//! a function URL hands them over, plain or base64-encoded. Every forged, stale, foreign or
//! unauthorized one hands nothing on to the work that decides approvals; an allowed click
//! hands on exactly its decision.

use base64::Engine as _;
use pipewatch::approve::{Acknowledged, Handoff, Keys, UrlRequest, acknowledge};
use pipewatch_core::interaction::{APPROVE, Approvers, Decision, Installed, Target};
use pipewatch_testkit::fake_slack::sign;
use serde_json::json;

const SECRET: &[u8] = b"test-signing-secret-0123456789ab";
const NOW: i64 = 1_764_000_000;

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
    }
}

fn target() -> Target {
    Target {
        pipeline: "payments-release".into(),
        stage: "Prod".into(),
        action: "Approve".into(),
        action_execution_id: "5a6b7c8d-0000-4000-8000-000000000001".into(),
    }
}

/// A click's form body, by `user`.
fn form(user: &str) -> String {
    let payload = json!({
        "type": "block_actions",
        "team": {"id": "T0PIPEWATCH"},
        "api_app_id": "A0PIPEWATCH",
        "user": {"id": user, "name": "Maria Silva"},
        "response_url": "https://hooks.slack.com/actions/T0PIPEWATCH/1/response",
        "trigger_id": "1.2.3",
        "actions": [{"action_id": APPROVE, "value": target().to_value()}]
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
        let answer = acknowledge(&request, &keys(), NOW);
        assert_eq!(
            answer,
            Acknowledged {
                status,
                handoff: None
            },
            "{what}"
        );
    }
}
