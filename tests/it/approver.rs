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

// The decision path: the fake CodePipeline serving the recorded release with its approval
// waiting (step 4 of `release-retry-approval`), DynamoDB Local for the decision's claim,
// the fake Slack for `response_url`.

mod decision {
    use std::time::{Duration, Instant};

    use pipewatch::approve::{Deciders, Handoff, Outcome, take};
    use pipewatch::aws::approvals::CodePipelineApprovals;
    use pipewatch::aws::slack_refs::SlackRefs;
    use pipewatch::forward::{App, AppRoute};
    use pipewatch::slack::{BotToken, SlackApi};
    use pipewatch::webhook::HttpsWebhook;
    use pipewatch_core::interaction::APPROVE as APPROVE_BUTTON;
    use pipewatch_core::interaction::{Click, Decision, Target};
    use pipewatch_core::render::console::Console;
    use pipewatch_core::render::content::{Content, Severity};
    use pipewatch_core::render::slack_app;
    use pipewatch_core::replay::Recording;
    use pipewatch_testkit::fake_codepipeline::{FakeCodePipeline, Fault};
    use pipewatch_testkit::fake_slack::FakeSlack;
    use pipewatch_testkit::fake_slack::TOKEN as SLACK_TOKEN;
    use pipewatch_testkit::fixtures::scenario;
    use pipewatch_testkit::fixtures::scenario_files;
    use pipewatch_testkit::services::{create_table, sdk_config};
    use serde_json::{Value, json};

    /// The waiting approval's run and token in the recording.
    const RUN: &str = "5a6b7c8d-9e0f-4a1b-8c2d-3e4f5a6b7c8d";
    const TOKEN: &str = "7e8f9a0b-1c2d-4e3f-8a4b-5c6d7e8f9a0b";

    struct World {
        fake: FakeCodePipeline,
        slack: FakeSlack,
        approvals: CodePipelineApprovals,
        refs: SlackRefs,
        webhook: HttpsWebhook,
    }

    async fn world() -> World {
        let config = sdk_config().await;
        let fake = FakeCodePipeline::start();
        fake.set_state(&scenario("release-retry-approval")[4]);
        let approvals = CodePipelineApprovals::new(
            fake.approver_clients(&config, "pipewatch-approver"),
            super::home(),
        );
        let dynamodb = aws_sdk_dynamodb::Client::new(&config);
        let table = create_table(&dynamodb).await;
        World {
            fake,
            slack: FakeSlack::start(),
            approvals,
            refs: SlackRefs::new(dynamodb, table),
            webhook: HttpsWebhook::new().unwrap(),
        }
    }

    impl World {
        fn click(&self, decision: Decision, run: &str) -> Handoff {
            Handoff::Decide(Box::new(Click {
                decision,
                target: Target {
                    pipeline: "web-app-release".into(),
                    arn: None,
                    stage: "Approve".into(),
                    action: "ReleaseApproval".into(),
                    action_execution_id: run.into(),
                    execution: None,
                },
                user: "U024BE7LH".into(),
                user_name: Some("Maria Silva".into()),
                response_url: self.slack.response_url(),
                trigger_id: None,
                reason: None,
            }))
        }

        async fn take(&self, handoff: &Handoff) -> Result<Outcome, String> {
            let deciders = Deciders {
                approvals: &self.approvals,
                refs: &self.refs,
                slack: &self.webhook,
            };
            take(handoff, &deciders).await
        }

        fn told(&self) -> Vec<String> {
            self.slack
                .responses()
                .iter()
                .map(|r| {
                    assert_eq!(r["response_type"], "ephemeral");
                    r["text"].as_str().unwrap().to_owned()
                })
                .collect()
        }
    }

    #[tokio::test]
    async fn an_allowed_click_approves_that_run_once_with_its_fresh_token_and_names_the_person() {
        let world = world().await;
        let click = world.click(Decision::Approve, RUN);
        let outcome = world.take(&click).await.unwrap();
        assert_eq!(
            outcome,
            Outcome::Decided("Approved in Slack by Maria Silva (U024BE7LH)".into())
        );
        let approvals = world.fake.approvals();
        assert_eq!(approvals.len(), 1, "exactly one PutApprovalResult");
        assert_eq!(approvals[0]["token"], TOKEN);
        assert_eq!(approvals[0]["result"]["status"], "Approved");
        assert_eq!(approvals[0]["stageName"], "Approve");
        assert_eq!(
            world.told(),
            ["Approved Approve/ReleaseApproval of web-app-release: CodePipeline recorded it."]
        );
        // The same click again (Slack retried it, or a second person): decided already.
        let again = world.take(&click).await.unwrap();
        assert_eq!(
            again,
            Outcome::NotDecided(
                "Nothing was decided: Approve/ReleaseApproval is no longer waiting: it was approved."
                    .into()
            )
        );
        assert_eq!(world.fake.approvals().len(), 1);
        assert!(
            !format!("{:?}", world.told()).contains(TOKEN),
            "no token in Slack"
        );
    }

    /// The first notification of the recorded release that shows the approval waiting.
    fn waiting_notification() -> Content {
        let recording = Recording::load(&scenario_files("release-retry-approval")).unwrap();
        let console = Console::new("eu-west-1", Some("123456789012"));
        recording
            .steps()
            .iter()
            .flat_map(|step| recording.messages(step, console.as_ref()))
            .map(|m| Content::from_body(&m.body).unwrap())
            .find(|c| !slack_app::buttons_for(c, BUTTONS).is_empty())
            .unwrap()
    }

    const BUTTONS: slack_app::Options = slack_app::Options {
        broadcast_failures: false,
        approve_in_slack: true,
    };

    #[tokio::test]
    async fn a_decision_taken_in_slack_replaces_the_buttons_and_no_older_rendering_brings_them_back()
     {
        let world = world().await;
        let api = SlackApi::new(
            BotToken::parse(SLACK_TOKEN).unwrap(),
            Some(&world.slack.url()),
        )
        .unwrap();
        let app = App {
            api: &api,
            refs: &world.refs,
        };
        let route = AppRoute {
            channel: "C0RELEASES1".into(),
            pipelines: vec!["*".into()],
            severity: Severity::Info,
            broadcast_failures: false,
            approvals: true,
        };
        let soon = Instant::now() + Duration::from_mins(1);
        let waiting = waiting_notification();
        let buttons = |message: &Value| message.to_string().contains(APPROVE_BUTTON);
        app.deliver(&route, &waiting, soon).await.unwrap();
        assert!(buttons(&world.slack.top_level("C0RELEASES1")[0].1));

        world
            .take(&world.click(Decision::Approve, RUN))
            .await
            .unwrap();
        // A notification made before the click (a later revision, the approval still
        // waiting in it) arrives after the decision: the outcome shows, not the buttons.
        let late = Content {
            revision: waiting.revision.map(|r| r + 1),
            ..waiting.clone()
        };
        app.deliver(&route, &late, soon).await.unwrap();
        let shown = world.slack.top_level("C0RELEASES1");
        assert_eq!(shown.len(), 1, "one message, updated");
        let message = &shown[0].1;
        assert!(!buttons(message), "{message:#}");
        assert!(
            message
                .to_string()
                .contains("✅ Approved in Slack by Maria Silva (U024BE7LH)"),
            "{message:#}"
        );
        // The older notification again (SNS redelivers it): nothing goes back.
        let updates = world.slack.calls().len();
        app.deliver(&route, &waiting, soon).await.unwrap();
        assert!(!buttons(&world.slack.top_level("C0RELEASES1")[0].1));
        assert_eq!(world.slack.calls().len(), updates, "nothing sent");
    }

    #[tokio::test]
    async fn a_button_from_an_earlier_run_or_a_decision_made_elsewhere_changes_nothing() {
        let world = world().await;
        let earlier = world.click(Decision::Approve, "an-earlier-run-of-the-approval");
        let outcome = world.take(&earlier).await.unwrap();
        assert!(
            matches!(&outcome, Outcome::NotDecided(words) if words.contains("earlier run")),
            "{outcome:?}"
        );
        // Decided in the console meanwhile.
        world.fake.set_state(&scenario("release-retry-approval")[5]);
        let late = world.click(Decision::Reject, RUN);
        let outcome = world.take(&late).await.unwrap();
        assert!(
            matches!(&outcome, Outcome::NotDecided(words) if words.contains("no longer waiting")),
            "{outcome:?}"
        );
        assert!(
            world.fake.approvals().is_empty(),
            "PutApprovalResult never called"
        );
    }

    /// V2's PARALLEL execution mode: the state shows another execution's approval run;
    /// the run the button names waits in its execution's history, whose
    /// `externalExecutionId` is its token.
    #[tokio::test]
    async fn in_parallel_mode_the_run_is_found_in_its_executions_history_and_decided_there() {
        let world = world().await;
        let run = json!({"pipelineExecutionId": "exec-2", "actionExecutionId": "parallel-run",
            "stageName": "Approve", "actionName": "ReleaseApproval", "status": "InProgress",
            "output": {"executionResult": {"externalExecutionId": "parallel-token"}}});
        world.fake.add_action_run("web-app-release", run);
        let Handoff::Decide(mut click) = world.click(Decision::Approve, "parallel-run") else {
            unreachable!()
        };
        // Without its execution the run cannot be looked up: an earlier button, in words.
        let outcome = world.take(&Handoff::Decide(click.clone())).await.unwrap();
        assert!(
            matches!(&outcome, Outcome::NotDecided(words) if words.contains("earlier run")),
            "{outcome:?}"
        );
        assert!(world.fake.approvals().is_empty());

        click.target.execution = Some("exec-2".into());
        let outcome = world.take(&Handoff::Decide(click.clone())).await.unwrap();
        assert_eq!(
            outcome,
            Outcome::Decided("Approved in Slack by Maria Silva (U024BE7LH)".into())
        );
        let approvals = world.fake.approvals();
        assert_eq!(approvals.len(), 1);
        assert_eq!(
            approvals[0]["token"], "parallel-token",
            "the history's token"
        );
        // The other execution's approval, which the state shows, still waits.
        let again = Handoff::Decide(click);
        assert!(matches!(
            world.take(&again).await.unwrap(),
            Outcome::NotDecided(_)
        ));
        assert_eq!(world.fake.approvals().len(), 1, "decided once");
    }

    /// A pipeline in another account is decided through the approver role there: the
    /// call is signed with the role's credentials from STS (moto), in the pipeline's region.
    #[tokio::test]
    async fn another_accounts_approval_is_decided_through_the_approver_role_in_its_region() {
        pipewatch_testkit::services::require("AWS_ENDPOINT_URL_STS");
        let world = world().await;
        world.fake.remove("web-app-release");
        world
            .fake
            .set_state_in("us-west-2", &scenario("release-retry-approval")[4]);
        let Handoff::Decide(mut click) = world.click(Decision::Approve, RUN) else {
            unreachable!()
        };
        click.target.arn =
            Some("arn:aws:codepipeline:us-west-2:222233334444:web-app-release".into());
        let outcome = world.take(&Handoff::Decide(click)).await.unwrap();
        assert!(matches!(outcome, Outcome::Decided(_)), "{outcome:?}");
        assert_eq!(world.fake.approvals().len(), 1);
        assert_eq!(world.fake.approvals()[0]["token"], TOKEN);
        let keys = world.fake.access_keys("us-west-2");
        assert!(
            !keys.is_empty() && !keys.contains("test"),
            "the role's credentials, not the approver's own: {keys:?}"
        );
        assert!(
            world.fake.access_keys("us-east-1").is_empty(),
            "nothing asked at home"
        );
    }

    #[tokio::test]
    async fn a_click_that_failed_on_throttling_is_taken_when_tried_again() {
        let world = world().await;
        let click = world.click(Decision::Reject, RUN);
        // More throttles than the SDK's own retries absorb.
        world.fake.fail_next_approvals(3, Fault::Throttle);
        let failed = world.take(&click).await;
        assert!(failed.is_err(), "tried again later: {failed:?}");
        assert!(world.fake.approvals().is_empty());
        let outcome = world.take(&click).await.unwrap();
        assert_eq!(
            outcome,
            Outcome::Decided("Rejected in Slack by Maria Silva (U024BE7LH)".into())
        );
        assert_eq!(world.fake.approvals().len(), 1);
        assert_eq!(world.fake.approvals()[0]["result"]["status"], "Rejected");
    }

    #[tokio::test]
    async fn someone_not_allowed_is_told_so_and_nothing_is_called() {
        let world = world().await;
        let refuse = Handoff::Refuse {
            response_url: world.slack.response_url(),
            text: "You may not approve or reject Approve/ReleaseApproval of web-app-release".into(),
        };
        world.take(&refuse).await.unwrap();
        assert_eq!(world.told().len(), 1);
        assert_eq!(world.fake.operations("GetPipelineState"), 0);
        assert!(world.fake.approvals().is_empty());
    }
}

// The user groups' members, read from (a fake of) Slack's Web API by the real client.

mod groups {
    use std::collections::BTreeSet;
    use std::time::{Duration, Instant};

    use pipewatch::approve::{GROUPS_TIMEOUT, GroupCache};
    use pipewatch::slack::{BotToken, SlackApi};
    use pipewatch_testkit::fake_slack::{FakeSlack, TOKEN};

    fn api(slack: &FakeSlack) -> SlackApi {
        SlackApi::new(BotToken::parse(TOKEN).unwrap(), Some(&slack.url())).unwrap()
    }

    #[tokio::test]
    async fn members_are_read_once_per_while_and_an_unreadable_group_decides_nothing() {
        let slack = FakeSlack::start();
        slack.set_group("S0RELEASE1", &["U024BE7LH", "U0RELEASE01"]);
        slack.set_group("S0WEBTEAM1", &["U0WEBDEV01"]);
        let api = api(&slack);
        let groups = BTreeSet::from(["S0RELEASE1", "S0WEBTEAM1"]);
        let cache = GroupCache::default();
        let members = cache.members(&api, &groups).await.unwrap();
        assert_eq!(
            members["S0RELEASE1"],
            BTreeSet::from(["U024BE7LH".to_owned(), "U0RELEASE01".to_owned()])
        );
        assert_eq!(members["S0WEBTEAM1"].len(), 1);
        assert_eq!(cache.members(&api, &groups).await.unwrap(), members);
        let calls = slack.calls();
        assert_eq!(calls.len(), 2, "one call per group, once: {calls:?}");
        assert!(
            calls
                .iter()
                .all(|c| c.method == "usergroups.users.list" && c.ok)
        );

        // Slack refuses one group (a missing scope): nothing is known, nothing kept.
        let fresh = GroupCache::default();
        slack.fail_next("usergroups.users.list", "missing_scope", 1);
        assert_eq!(fresh.members(&api, &groups).await, None);
        assert!(
            fresh.members(&api, &groups).await.is_some(),
            "read again next time"
        );
        let unknown = BTreeSet::from(["S0NOSUCH01"]);
        assert_eq!(GroupCache::default().members(&api, &unknown).await, None);

        // Slack is slow: the answer to the click cannot wait.
        slack.hold("S0RELEASE1", Duration::from_secs(3));
        let started = Instant::now();
        assert_eq!(GroupCache::default().members(&api, &groups).await, None);
        assert!(started.elapsed() < GROUPS_TIMEOUT + Duration::from_millis(500));
    }
}

// The built `pipewatch-approver` on cargo-lambda's Runtime API: a click signed as Slack
// signs it, as a function URL delivers it; its decision through moto's SQS and back.

mod runtime {
    use std::path::Path;
    use std::time::Duration;

    use pipewatch_testkit::fake_codepipeline::FakeCodePipeline;
    use pipewatch_testkit::fake_slack::{FakeSlack, form, sign};
    use pipewatch_testkit::fixtures::scenario;
    use pipewatch_testkit::lambda::Lambda;
    use pipewatch_testkit::services::{
        create_secret, create_table, drain_queue, require, sdk_config, unique,
    };
    use serde_json::{Value, json};

    const SECRET: &str = "test-signing-secret-0123456789ab";

    struct Approver {
        lambda: Lambda,
        fake: FakeCodePipeline,
        slack: FakeSlack,
        sqs: aws_sdk_sqs::Client,
        queue: String,
    }

    async fn approver() -> Approver {
        require("AWS_ENDPOINT_URL_SECRETS_MANAGER");
        let config = sdk_config().await;
        let secret = create_secret("signing", SECRET).await;
        let token_secret = create_secret("bot-token", pipewatch_testkit::fake_slack::TOKEN).await;
        let slack = FakeSlack::start();
        let sqs = aws_sdk_sqs::Client::new(&config);
        let queue = sqs
            .create_queue()
            .queue_name(unique("approvals"))
            .send()
            .await
            .unwrap()
            .queue_url
            .unwrap();
        let table = create_table(&aws_sdk_dynamodb::Client::new(&config)).await;
        let fake = FakeCodePipeline::start();
        fake.set_state(&scenario("release-retry-approval")[4]);
        let environment = [
            ("SLACK_SIGNING_SECRET_ARN", secret),
            ("SLACK_TEAM_ID", "T0PIPEWATCH".to_owned()),
            ("SLACK_APP_ID", "A0PIPEWATCH".to_owned()),
            (
                "APPROVERS",
                r#"[{"users": ["U024BE7LH"], "pipelines": ["web-*"]},
                    {"groups": ["S0RELEASE1"], "pipelines": ["web-*"]}]"#
                    .to_owned(),
            ),
            ("APPROVAL_QUEUE_URL", queue.clone()),
            ("ACCOUNT_ID", "123456789012".to_owned()),
            ("PIPELINES", "web-*".to_owned()),
            ("SLACK_APP_SECRET_ARN", token_secret.clone()),
            ("SLACK_API_URL", slack.url()),
            ("TABLE_NAME", table),
            ("AWS_ENDPOINT_URL_CODEPIPELINE", fake.url()),
            ("LOG_LEVEL", "debug".to_owned()),
        ];
        let log =
            Path::new(env!("CARGO_TARGET_TMPDIR")).join(format!("{}.log", unique("approver")));
        let lambda = Lambda::start(env!("CARGO_BIN_EXE_pipewatch-approver"), &environment, log);
        Approver {
            lambda,
            fake,
            slack,
            sqs,
            queue,
        }
    }

    impl Approver {
        /// A function URL event carrying `user`'s click on Approve, signed with `secret`.
        fn click(&self, user: &str, secret: &str) -> Vec<u8> {
            let mut payload = json!({
                "type": "block_actions",
                "team": {"id": "T0PIPEWATCH"},
                "api_app_id": "A0PIPEWATCH",
                "user": {"id": user, "name": "Maria Silva"},
                "response_url": self.slack.response_url(),
                "actions": [{"action_id": "pipewatch-approve", "value": json!({
                    "pipeline": "web-app-release", "stage": "Approve", "action": "ReleaseApproval",
                    "action_execution_id": "5a6b7c8d-9e0f-4a1b-8c2d-3e4f5a6b7c8d"}).to_string()}]
            });
            payload["message"] = json!({"blocks": [{"type": "actions", "elements": [payload["actions"][0].clone()]}]});
            let body = form(&payload);
            let ts = (pipewatch_core::state::Timestamp::now().unix_millis() / 1000).to_string();
            json!({
                "version": "2.0",
                "rawPath": "/",
                "headers": {
                    "content-type": "application/x-www-form-urlencoded",
                    "x-slack-request-timestamp": ts,
                    "x-slack-signature": sign(secret.as_bytes(), &ts, body.as_bytes()),
                },
                "requestContext": {"http": {"method": "POST", "path": "/"}},
                "body": body,
                "isBase64Encoded": false
            })
            .to_string()
            .into_bytes()
        }

        async fn queued(&self) -> Vec<String> {
            drain_queue(&self.sqs, &self.queue).await
        }

        /// The queue's messages, delivered to the function as SQS delivers them.
        fn deliver(&self, bodies: &[String]) -> Value {
            let records: Vec<Value> = bodies
                .iter()
                .enumerate()
                .map(|(i, body)| json!({"messageId": format!("m-{i}"), "body": body, "eventSource": "aws:sqs"}))
                .collect();
            self.lambda
                .invoke_payload(json!({"Records": records}).to_string().as_bytes())
        }
    }

    #[tokio::test(flavor = "multi_thread")]
    async fn a_click_is_answered_without_codepipeline_and_its_decision_taken_from_the_queue() {
        let approver = approver().await;
        // CodePipeline stalls: the answer does not wait for it, as it never calls it.
        approver.fake.set_latency(Duration::from_secs(5));
        let answer = approver
            .lambda
            .invoke_payload(&approver.click("U024BE7LH", SECRET));
        assert_eq!(answer["statusCode"], 200, "{}", approver.lambda.logs());
        assert_eq!(approver.fake.operations("GetPipelineState"), 0);
        let queued = approver.queued().await;
        assert_eq!(queued.len(), 1, "the decision handed on");

        approver.fake.set_latency(Duration::ZERO);
        let taken = approver.deliver(&queued);
        assert_eq!(taken, json!({"batchItemFailures": []}));
        let approvals = approver.fake.approvals();
        assert_eq!(approvals.len(), 1, "exactly one PutApprovalResult");
        assert_eq!(
            approvals[0]["token"],
            "7e8f9a0b-1c2d-4e3f-8a4b-5c6d7e8f9a0b"
        );
        assert_eq!(
            approvals[0]["result"]["summary"],
            "Approved in Slack by Maria Silva (U024BE7LH)"
        );
        let told = approver.slack.responses();
        assert_eq!(told.len(), 1);
        assert!(
            told[0]["text"]
                .as_str()
                .unwrap()
                .starts_with("Approved Approve/ReleaseApproval")
        );
        // Delivered again by SQS: decided once.
        assert_eq!(approver.deliver(&queued), json!({"batchItemFailures": []}));
        assert_eq!(approver.fake.approvals().len(), 1);
        assert!(!approver.lambda.logs().contains(SECRET));
        assert!(
            !approver
                .lambda
                .logs()
                .contains("7e8f9a0b-1c2d-4e3f-8a4b-5c6d7e8f9a0b"),
            "no token in the logs"
        );
    }

    /// A rule naming a user group: its members (read from Slack, once for several clicks)
    /// decide; a person named by id reads no group; anyone else is told they may not.
    #[tokio::test(flavor = "multi_thread")]
    async fn a_user_groups_member_decides_and_the_groups_are_read_once_for_many_clicks() {
        let approver = approver().await;
        approver.slack.set_group("S0RELEASE1", &["U0RELEASE01"]);
        let reads = || {
            approver
                .slack
                .calls()
                .iter()
                .filter(|c| c.method == "usergroups.users.list")
                .count()
        };
        let answer = approver
            .lambda
            .invoke_payload(&approver.click("U024BE7LH", SECRET));
        assert_eq!(answer["statusCode"], 200);
        assert_eq!(reads(), 0, "named by id: no group read");
        approver.queued().await;

        let answer = approver
            .lambda
            .invoke_payload(&approver.click("U0RELEASE01", SECRET));
        assert_eq!(answer["statusCode"], 200, "{}", approver.lambda.logs());
        let stranger = approver
            .lambda
            .invoke_payload(&approver.click("U0STRANGER1", SECRET));
        assert_eq!(stranger["statusCode"], 200);
        assert_eq!(reads(), 1, "read once, kept for the next click");
        let queued = approver.queued().await;
        assert_eq!(queued.len(), 2);
        assert_eq!(approver.deliver(&queued), json!({"batchItemFailures": []}));
        let approvals = approver.fake.approvals();
        assert_eq!(approvals.len(), 1, "the member's decision alone");
        assert_eq!(
            approvals[0]["result"]["summary"],
            "Approved in Slack by Maria Silva (U0RELEASE01)"
        );
        let told: Vec<String> = approver
            .slack
            .responses()
            .iter()
            .map(|r| r["text"].as_str().unwrap().to_owned())
            .collect();
        assert!(
            told.iter()
                .any(|t| t.starts_with("You may not approve or reject")),
            "{told:?}"
        );
    }

    /// A function URL event carrying `payload`, signed as Slack signs it.
    fn signed(payload: &Value) -> Vec<u8> {
        let body = form(payload);
        let ts = (pipewatch_core::state::Timestamp::now().unix_millis() / 1000).to_string();
        json!({
            "headers": {
                "content-type": "application/x-www-form-urlencoded",
                "x-slack-request-timestamp": ts,
                "x-slack-signature": sign(SECRET.as_bytes(), &ts, body.as_bytes()),
            },
            "body": body,
            "isBase64Encoded": false
        })
        .to_string()
        .into_bytes()
    }

    #[tokio::test(flavor = "multi_thread")]
    async fn reject_asks_why_first_and_the_reason_is_recorded_with_the_decision() {
        let approver = approver().await;
        let button = json!({"action_id": "pipewatch-reject", "value": json!({
            "pipeline": "web-app-release", "stage": "Approve", "action": "ReleaseApproval",
            "action_execution_id": "5a6b7c8d-9e0f-4a1b-8c2d-3e4f5a6b7c8d"}).to_string()});
        let click = json!({
            "type": "block_actions", "team": {"id": "T0PIPEWATCH"}, "api_app_id": "A0PIPEWATCH",
            "user": {"id": "U024BE7LH", "name": "Maria Silva"}, "trigger_id": "12345.67890.abcdef",
            "response_url": approver.slack.response_url(), "actions": [button.clone()],
            "message": {"blocks": [{"type": "actions", "elements": [button]}]}
        });
        let answer = approver.lambda.invoke_payload(&signed(&click));
        assert_eq!(answer["statusCode"], 200, "{}", approver.lambda.logs());
        assert!(
            approver.queued().await.is_empty(),
            "nothing decided before the reason"
        );
        let opened: Vec<Value> = approver
            .slack
            .calls()
            .into_iter()
            .filter(|c| c.method == "views.open" && c.ok)
            .map(|c| c.body)
            .collect();
        assert_eq!(opened.len(), 1, "the reason dialog, at once");
        assert_eq!(opened[0]["trigger_id"], "12345.67890.abcdef");
        let view = &opened[0]["view"];

        let submission = json!({
            "type": "view_submission", "team": {"id": "T0PIPEWATCH"}, "api_app_id": "A0PIPEWATCH",
            "user": {"id": "U024BE7LH", "name": "Maria Silva"},
            "view": {"callback_id": view["callback_id"], "private_metadata": view["private_metadata"],
                "state": {"values": {"reason": {"reason": {"type": "plain_text_input",
                    "value": "the plan drops the orders table"}}}}}
        });
        let answer = approver.lambda.invoke_payload(&signed(&submission));
        assert_eq!(answer["statusCode"], 200);
        let queued = approver.queued().await;
        assert_eq!(queued.len(), 1);
        assert_eq!(approver.deliver(&queued), json!({"batchItemFailures": []}));
        let approvals = approver.fake.approvals();
        assert_eq!(approvals.len(), 1);
        assert_eq!(approvals[0]["result"]["status"], "Rejected");
        assert_eq!(
            approvals[0]["result"]["summary"],
            "Rejected in Slack by Maria Silva (U024BE7LH): the plan drops the orders table"
        );
    }

    #[tokio::test(flavor = "multi_thread")]
    async fn a_forged_click_is_refused_and_hands_nothing_on() {
        let approver = approver().await;
        let answer = approver
            .lambda
            .invoke_payload(&approver.click("U024BE7LH", "not-the-secret"));
        assert_eq!(answer["statusCode"], 401);
        assert!(approver.queued().await.is_empty());
        assert!(approver.fake.approvals().is_empty());
        assert!(
            approver
                .lambda
                .logs()
                .contains("the signature does not match the body")
        );
    }
}
