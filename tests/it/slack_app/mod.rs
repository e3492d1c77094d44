//! The Slack app's route against real parts: the real Web API client talking to a
//! wire-level fake of Slack ([`FakeSlack`]), message references in DynamoDB Local, the
//! operator's topic in moto. The run of notifications is one release told in 20
//! notifications, a failure and a manual retry among them ([`release`]).

use std::time::{Duration, Instant};

use pipewatch::aws::slack_refs::SlackRefs;
use pipewatch::forward::{App, AppRoute};
use pipewatch::slack::{BotToken, SlackApi};
use pipewatch_core::render::content::{Content, Severity};
use pipewatch_core::render::slack_app;
use pipewatch_testkit::fake_slack::{FakeSlack, TOKEN};
use pipewatch_testkit::release::{EXECUTION, release, shuffled};
use pipewatch_testkit::services::{create_table, sdk_config};
use serde_json::{Value, json};

const CHANNEL: &str = "C0RELEASES1";

/// What the test's route asks for (see [`route`]).
const OPTIONS: slack_app::Options = slack_app::Options {
    broadcast_failures: true,
    approve_in_slack: false,
};

/// What the living message should say at `content`: its rendering, in the channel.
fn expected(content: &Content) -> Value {
    let mut message = slack_app::render(content, OPTIONS).living[0]
        .message
        .clone();
    message["channel"] = json!(CHANNEL);
    message
}

struct Setup {
    slack: FakeSlack,
    api: SlackApi,
    refs: SlackRefs,
    table: String,
    dynamodb: aws_sdk_dynamodb::Client,
}

async fn setup() -> Setup {
    let config = sdk_config().await;
    let dynamodb = aws_sdk_dynamodb::Client::new(&config);
    let table = create_table(&dynamodb).await;
    let slack = FakeSlack::start();
    let api = SlackApi::new(BotToken::parse(TOKEN).unwrap(), Some(&slack.url())).unwrap();
    let refs = SlackRefs::new(dynamodb.clone(), &table);
    Setup {
        slack,
        api,
        refs,
        table,
        dynamodb,
    }
}

impl Setup {
    /// The app over the fake Slack and the table.
    fn app(&self) -> App<'_> {
        App {
            api: &self.api,
            refs: &self.refs,
        }
    }

    /// Writes the stored claim's lease as already passed, as if it were that old.
    async fn expire_claim(&self) {
        self.expire("claimed_until").await;
    }

    /// Writes the lease of the newest recorded rendering's sender as already passed.
    async fn expire_sending(&self) {
        self.expire("sending_until").await;
    }

    async fn expire(&self, lease: &str) {
        let past = pipewatch_core::state::Timestamp::now().unix_millis()
            - pipewatch_core::living::CLAIM_LEASE_MS
            - 1;
        self.dynamodb
            .update_item()
            .table_name(&self.table)
            .key(
                pipewatch::aws::dynamodb::KEY,
                aws_sdk_dynamodb::types::AttributeValue::S(format!("slack/{CHANNEL}/{EXECUTION}")),
            )
            .update_expression("SET #lease = :past")
            .condition_expression("attribute_exists(#lease)")
            .expression_attribute_names("#lease", lease)
            .expression_attribute_values(
                ":past",
                aws_sdk_dynamodb::types::AttributeValue::N(past.to_string()),
            )
            .send()
            .await
            .unwrap();
    }
}

fn route() -> AppRoute {
    AppRoute {
        channel: CHANNEL.into(),
        pipelines: pipewatch_core::config::Audience::Names(vec!["shop-*".into()]),
        severity: Severity::Info,
        broadcast_failures: true,
        approvals: false,
    }
}

fn soon() -> Instant {
    Instant::now() + Duration::from_mins(1)
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn four_forwarders_given_a_shuffled_duplicated_run_post_one_message_ending_at_the_newest() {
    let setup = setup().await;
    let app = setup.app();
    let route = route();
    let run = release();
    // Calls overtake one another on the way, so a slow older update can land after a
    // newer one: the forwarder must put the newest back.
    setup.slack.jitter(Duration::from_millis(30));
    for seed in [7, 1_234, 99] {
        let channel_route = AppRoute {
            channel: format!("{CHANNEL}{seed}"),
            ..route.clone()
        };
        let deliveries = shuffled(run.iter().chain(&run).collect::<Vec<_>>(), seed);
        let shares: Vec<Vec<&Content>> = (0..4)
            .map(|f| deliveries.iter().skip(f).step_by(4).copied().collect())
            .collect();
        let forwarders = shares.iter().map(|share| {
            let (app, route) = (&app, &channel_route);
            async move {
                for content in share {
                    app.deliver(route, content, soon()).await.unwrap();
                }
            }
        });
        futures_util::future::join_all(forwarders).await;

        let top = setup.slack.top_level(&channel_route.channel);
        assert_eq!(
            top.len(),
            1,
            "seed {seed}: one message for the run: {top:#?}"
        );
        let posts = setup
            .slack
            .calls()
            .iter()
            .filter(|c| {
                c.ok && c.method == "chat.postMessage"
                    && c.body["channel"] == channel_route.channel.as_str()
                    && c.body.get("thread_ts").is_none()
            })
            .count();
        assert_eq!(
            posts, 1,
            "seed {seed}: exactly one top-level chat.postMessage"
        );
        let mut newest = expected(&run[19]);
        newest["channel"] = json!(channel_route.channel);
        assert_eq!(
            top[0].1, newest,
            "seed {seed}: the message ends at the newest revision"
        );
        let messages = setup.slack.messages(&channel_route.channel);
        let replies: Vec<&Value> = messages
            .iter()
            .map(|(_, m)| m)
            .filter(|m| m.get("thread_ts").is_some())
            .collect();
        let texts: Vec<&str> = replies
            .iter()
            .map(|m| m["text"].as_str().unwrap())
            .collect();
        assert_eq!(
            texts
                .iter()
                .filter(|t| t.contains("Stage3/Run Failed"))
                .count(),
            1,
            "seed {seed}: the failure is told once in the thread: {texts:#?}"
        );
        assert_eq!(
            texts
                .iter()
                .filter(|t| t.contains("manual retry 1"))
                .count(),
            1,
            "seed {seed}: the retry is told once: {texts:#?}"
        );
        assert!(
            replies.iter().all(|m| m["thread_ts"] == top[0].0.as_str()),
            "seed {seed}: every reply is in the run's thread"
        );
    }
}

#[tokio::test]
async fn an_older_update_that_lands_after_a_newer_one_is_put_right_by_its_sender() {
    let setup = setup().await;
    let app = setup.app();
    let run = release();
    for content in &run[..18] {
        app.deliver(&route(), content, soon()).await.unwrap();
    }
    // Step 19's update (Stage8 started) is held on the way; step 20's overtakes it.
    let slow = setup.slack.gate("Stage8/Run");
    let route = route();
    let older = app.deliver(&route, &run[18], soon());
    let newer = async {
        slow.until_arrived(1).await;
        let newer = app.deliver(&route, &run[19], soon()).await;
        slow.open();
        newer
    };
    let (older, newer) = tokio::join!(older, newer);
    older.unwrap();
    newer.unwrap();
    let updates: Vec<String> = setup
        .slack
        .calls()
        .iter()
        .filter(|c| c.method == "chat.update")
        .map(|c| c.body["text"].as_str().unwrap().to_owned())
        .collect();
    let landed = |needle: &str| updates.iter().position(|t| t.contains(needle)).unwrap();
    assert!(
        landed("Stage8/Run") > landed("succeeded"),
        "the slow older update landed after the newer one: {updates:#?}"
    );
    assert_eq!(
        setup.slack.top_level(CHANNEL)[0].1,
        expected(&run[19]),
        "and its sender sent the newest again"
    );
}

#[tokio::test]
async fn in_order_each_visible_change_is_one_update_and_a_repeat_sends_nothing() {
    let setup = setup().await;
    let app = setup.app();
    let run = release();
    for content in &run {
        app.deliver(&route(), content, soon()).await.unwrap();
    }
    let calls = setup.slack.calls();
    let top_posts = calls
        .iter()
        .filter(|c| c.method == "chat.postMessage" && c.body.get("thread_ts").is_none())
        .count();
    let updates = calls.iter().filter(|c| c.method == "chat.update").count();
    assert_eq!(
        (top_posts, updates),
        (1, 19),
        "one post, one update per visible change"
    );
    for content in &run {
        app.deliver(&route(), content, soon()).await.unwrap();
    }
    assert_eq!(
        setup.slack.calls().len(),
        calls.len(),
        "a second delivery sends nothing"
    );
}

/// The gap Slack leaves: a forwarder claims the first post, Slack takes it, and the
/// forwarder dies before the `ts` is stored. Within the claim's lease other deliveries
/// wait (and fail, to be delivered again); after it, the next one posts a second message
/// and follows the run there. The guarantee: never no message; a second one only after
/// such a death; the first is left as it was.
#[tokio::test]
async fn a_forwarder_killed_between_the_post_and_storing_its_ts_costs_at_most_one_more_message() {
    let setup = setup().await;
    let app = setup.app();
    let run = release();
    let first = &slack_app::render(&run[0], OPTIONS).living[0];
    let now = pipewatch_core::state::Timestamp::now().unix_millis();

    // The first forwarder: its claim, then Slack's answer, then nothing (killed).
    let claim = pipewatch_core::living::claim(CHANNEL, first, now);
    assert!(setup.refs.claim(&claim, now).await.unwrap());
    let mut post = first.message.clone();
    post["channel"] = json!(CHANNEL);
    let orphan = setup.api.post_message(&post).await.unwrap();

    // Within the lease: the next delivery waits for the ts, and gives up before its
    // deadline without posting, so that Lambda delivers it again later.
    let deadline = Instant::now() + Duration::from_secs(6);
    let waited = app.deliver(&route(), &run[1], deadline).await;
    assert!(
        matches!(waited, Err(pipewatch::forward::AppError::Waiting(_))),
        "{waited:?}"
    );
    assert_eq!(setup.slack.top_level(CHANNEL).len(), 1);

    // The lease passes (written as if the claim were that old).
    setup.expire_claim().await;
    for content in &run[1..] {
        app.deliver(&route(), content, soon()).await.unwrap();
    }
    let top = setup.slack.top_level(CHANNEL);
    assert_eq!(top.len(), 2, "one more message, and only one");
    assert_eq!(top[0].0, orphan);
    assert_eq!(top[0].1, post, "the orphan is left as it was");
    assert_eq!(
        top[1].1,
        expected(&run[19]),
        "the run is followed in the new one"
    );
}

/// While Slack rate-limits updates, the renderings recorded meanwhile are not sent one by
/// one after the wait: the newest is sent, once. Five forwarders, one after the other,
/// each record a newer rendering and call `chat.update`, held at a gate until all five are
/// there; then Slack refuses all five, asking the first it answers to wait 1 s and the
/// others 3 s. The first sends the newest; the others find it sent and send nothing.
#[tokio::test]
async fn while_rate_limited_only_the_newest_rendering_is_sent() {
    let setup = setup().await;
    let app = setup.app();
    let run = release();
    let route = route();
    app.deliver(&route, &run[0], soon()).await.unwrap();
    let updates = setup.slack.gate("chat.update");
    let forwarders = run[1..6].iter().enumerate().map(|(i, content)| {
        let (app, route, updates) = (&app, &route, &updates);
        async move {
            updates.until_arrived(i).await;
            app.deliver(route, content, soon()).await
        }
    });
    let all_held = async {
        updates.until_arrived(5).await;
        setup.slack.fail_next("chat.update", "429:1", 1);
        setup.slack.fail_next("chat.update", "429:3", 4);
        updates.open();
    };
    let (results, ()) = tokio::join!(futures_util::future::join_all(forwarders), all_held);
    for result in results {
        result.unwrap();
    }
    let landed: Vec<String> = setup
        .slack
        .calls()
        .iter()
        .filter(|c| c.ok && c.method == "chat.update")
        .map(|c| c.body["text"].as_str().unwrap().to_owned())
        .collect();
    let newest = expected(&run[5])["text"].as_str().unwrap().to_owned();
    assert_eq!(
        landed,
        [newest],
        "the newest once, not each one after the wait"
    );
    assert_eq!(setup.slack.top_level(CHANNEL)[0].1, expected(&run[5]));
}

/// The app asks for one scope, and the client calls only the methods it allows.
#[test]
fn the_manifest_asks_for_chat_write_alone_and_the_client_calls_only_what_it_allows() {
    let root = env!("CARGO_MANIFEST_DIR");
    let manifest: Value = serde_json::from_str(
        &std::fs::read_to_string(format!("{root}/docs/slack-app-manifest.json")).unwrap(),
    )
    .unwrap();
    assert_eq!(
        manifest["oauth_config"]["scopes"]["bot"],
        json!(["chat:write"])
    );
    assert!(
        manifest["oauth_config"]["scopes"].get("user").is_none(),
        "no user scopes"
    );
    assert!(
        manifest["features"]["bot_user"].is_object(),
        "a bot user posts"
    );
    let client = std::fs::read_to_string(format!("{root}/src/slack.rs")).unwrap();
    let mut called: Vec<&str> = ["self.call(\"", ".send(\""]
        .iter()
        .flat_map(|call| client.split(call).skip(1))
        .map(|rest| rest.split('"').next().unwrap())
        .collect();
    called.sort_unstable();
    // chat:write covers the chat methods; views.open needs no scope (Slack's method
    // reference, and its specification's `slackAuth: none`); usergroups.users.list needs
    // usergroups:read, asked for only by those whose approvers name user groups.
    assert_eq!(
        called,
        [
            "chat.postMessage",
            "chat.update",
            "usergroups.users.list",
            "views.open"
        ]
    );
    let docs = std::fs::read_to_string(format!("{root}/docs/slack-app.md")).unwrap();
    assert!(
        docs.contains("`usergroups:read`"),
        "the optional scope is documented"
    );
}

mod guarantees;
mod refusals;
