//! The notifications document, live: the built forwarder on cargo-lambda's Runtime API
//! reads it from a versioned bucket in moto's S3, its webhooks' URLs from moto's Secrets
//! Manager, and posts where it says; a new version takes effect without a restart, a
//! refused one never does (the operator is told once, through the alarm topic), and with
//! no document the stack's parameters decide. Its email and Chatbot destinations are
//! topics of moto's SNS, read through subscribed queues.

use aws_sdk_s3::types::{BucketVersioningStatus, VersioningConfiguration};
use pipewatch_testkit::fault_proxy::FaultProxy;
use pipewatch_testkit::lambda::Lambda;
use pipewatch_testkit::services::{Inbox, create_table, sdk_config, unique};

use crate::forwarder::{Webhooks, assert_no_secret, secret, start_forwarder};

const KEY: &str = "notifications.yaml";

/// A versioned bucket in moto's S3.
async fn bucket(s3: &aws_sdk_s3::Client) -> String {
    pipewatch_testkit::services::require("AWS_ENDPOINT_URL_S3");
    let name = unique("documents");
    s3.create_bucket().bucket(&name).send().await.unwrap();
    s3.put_bucket_versioning()
        .bucket(&name)
        .versioning_configuration(
            VersioningConfiguration::builder()
                .status(BucketVersioningStatus::Enabled)
                .build(),
        )
        .send()
        .await
        .unwrap();
    name
}

/// Writes `text` as the document; its version id.
async fn put(s3: &aws_sdk_s3::Client, bucket: &str, text: &str) -> String {
    s3.put_object()
        .bucket(bucket)
        .key(KEY)
        .body(text.as_bytes().to_vec().into())
        .send()
        .await
        .unwrap()
        .version_id
        .expect("a versioned bucket names each version")
}

/// A document sending `web-app-*` to `to` (each a destination below) and nothing else.
fn document(webhooks: &str, teams: &str, to: &str) -> String {
    format!(
        "# yaml-language-server: $schema=../schema/notifications.schema.json\n\
         version: 1\n\
         destinations:\n  \
           second:\n    type: slack\n    secret: {webhooks}\n    entry: 2\n  \
           first:\n    type: slack\n    secret: {webhooks}\n    entry: 1\n  \
           teams:\n    type: teams\n    secret: {teams}\n    severity: approval\n\
         subscriptions:\n  \
           - pipelines: [\"web-app-*\"]\n    to: [{to}]\n"
    )
}

struct Setup {
    hooks: Webhooks,
    s3: aws_sdk_s3::Client,
    bucket: String,
    operator: Inbox,
    webhooks_secret: String,
    teams_secret: String,
    environment: Vec<(&'static str, String)>,
}

async fn setup() -> Setup {
    let config = sdk_config().await;
    let s3 = aws_sdk_s3::Client::new(&config);
    let hooks = Webhooks::start(Vec::new());
    let webhooks_secret = secret(
        &serde_json::json!([{"url": hooks.url("first")}, {"url": hooks.url("second")}]).to_string(),
    )
    .await;
    let teams_secret = secret(&hooks.url("teams")).await;
    let stack = secret(&hooks.url("stack")).await;
    let bucket = bucket(&s3).await;
    let operator = Inbox::create(&config).await;
    let table = create_table(&aws_sdk_dynamodb::Client::new(&config)).await;
    let environment = vec![
        ("SLACK_WEBHOOK_SECRET_ARN", stack),
        ("DOCUMENT_BUCKET", bucket.clone()),
        ("DOCUMENT_KEY", KEY.to_owned()),
        // Read at every invocation: the test needs no minute's wait.
        ("DOCUMENT_CACHE_SECONDS", "0".to_owned()),
        ("TABLE_NAME", table),
        ("ALARM_TOPIC_ARN", operator.topic_arn.clone()),
    ];
    Setup {
        hooks,
        s3,
        bucket,
        operator,
        webhooks_secret,
        teams_secret,
        environment,
    }
}

/// Invokes with the sample failure of `web-app-release`; the number of posts.
fn failure(forwarder: &Lambda) -> u64 {
    let output = forwarder.invoke("sns-notification.json");
    assert!(
        output.status.success(),
        "{}",
        String::from_utf8_lossy(&output.stderr)
    );
    serde_json::from_slice(&output.stdout).unwrap()
}

#[tokio::test(flavor = "multi_thread")]
async fn the_document_decides_where_messages_go_and_a_new_version_takes_effect_live() {
    let Setup {
        hooks,
        s3,
        bucket,
        operator,
        webhooks_secret,
        teams_secret,
        environment,
    } = setup().await;
    let forwarder = start_forwarder(&environment, "document-live");
    let posted = |name| hooks.posted(name).len();

    // No document yet: the stack's parameters decide, as before documents existed.
    assert_eq!(failure(&forwarder), 1);
    assert_eq!(posted("stack"), 1);

    let first = put(
        &s3,
        &bucket,
        &document(&webhooks_secret, &teams_secret, "second, teams"),
    )
    .await;
    assert_eq!(failure(&forwarder), 2, "{}", forwarder.logs());
    assert_eq!(
        (
            posted("stack"),
            posted("second"),
            posted("teams"),
            posted("first")
        ),
        (1, 1, 1, 0),
        "the document's destinations, the second webhook of a secret listing two"
    );
    assert!(hooks.posted("teams")[0]["attachments"].is_array(), "a card");

    // A refused version never takes effect; the operator hears of it once, in words.
    let refused = document(&webhooks_secret, &teams_secret, "secnod");
    let bad = put(&s3, &bucket, &refused).await;
    assert_eq!(failure(&forwarder), 2);
    assert_eq!(failure(&forwarder), 2);
    assert_eq!((posted("second"), posted("teams")), (3, 3));
    let told = operator.drain_raw().await;
    assert_eq!(told.len(), 1, "told once: {told:#?}");
    assert!(
        told[0].contains(&format!("(version {bad})"))
            && told[0].contains(&format!("version {first} keeps running"))
            && told[0].contains(r#"18:10: no destination named "secnod" (did you mean "second"?)"#),
        "{}",
        told[0]
    );

    // The next good version takes effect at the next invocation.
    let third = put(
        &s3,
        &bucket,
        &document(&webhooks_secret, &teams_secret, "first"),
    )
    .await;
    assert_eq!(failure(&forwarder), 1);
    assert_eq!((posted("first"), posted("second")), (1, 3));

    // Gone: the stack's parameters decide again.
    s3.delete_object()
        .bucket(&bucket)
        .key(KEY)
        .send()
        .await
        .unwrap();
    assert_eq!(failure(&forwarder), 1);
    assert_eq!(posted("stack"), 2);

    let logs = forwarder.logs();
    for version in [&first, &third] {
        assert!(
            logs.contains(&format!(r#""message":"a notifications document took effect","bucket":"{bucket}","key":"{KEY}","version":"{version}""#)),
            "each version that took effect is logged with its id: {logs}"
        );
    }
    assert_eq!(
        logs.matches("the notifications document is refused")
            .count(),
        1,
        "a version read again is asked for with its ETag, and S3's 304 is not read again: {logs}"
    );
    assert_eq!(
        logs.matches("a notifications document took effect").count(),
        2
    );
    assert_no_secret(&logs);
    assert!(
        operator.drain_raw().await.is_empty(),
        "told once, not again"
    );
}

#[tokio::test(flavor = "multi_thread")]
async fn a_cold_start_whose_newest_document_is_refused_runs_the_newest_sound_one() {
    let Setup {
        hooks,
        s3,
        bucket,
        operator,
        webhooks_secret,
        teams_secret,
        environment,
    } = setup().await;
    let good = put(
        &s3,
        &bucket,
        &document(&webhooks_secret, &teams_secret, "first"),
    )
    .await;
    put(
        &s3,
        &bucket,
        "version: 1\ndestinations: {a: {type: pager}}\n",
    )
    .await;
    let forwarder = start_forwarder(&environment, "document-cold");
    assert_eq!(failure(&forwarder), 1);
    assert_eq!(
        (hooks.posted("first").len(), hooks.posted("stack").len()),
        (1, 0)
    );
    assert!(forwarder.logs().contains(&format!(
        r#"took effect","bucket":"{bucket}","key":"{KEY}","version":"{good}""#
    )));
    let told = operator.drain_raw().await;
    assert_eq!(told.len(), 1, "{told:#?}");
    assert!(
        told[0].contains("2:26: destinations.a.type: unknown variant `pager`")
            && told[0].contains(&format!("version {good} keeps running")),
        "{}",
        told[0]
    );

    // A document naming a webhook its secret does not hold is refused too.
    put(
        &s3,
        &bucket,
        &document(&webhooks_secret, &teams_secret, "first").replace("entry: 1", "entry: 3"),
    )
    .await;
    assert_eq!(failure(&forwarder), 1);
    assert_eq!(hooks.posted("first").len(), 2);
    let told = operator.drain_raw().await;
    assert!(
        told.len() == 1
            && told[0].contains("destinations.first: entry 3, but its secret lists 2 webhooks"),
        "{told:#?}"
    );
}

#[tokio::test(flavor = "multi_thread")]
async fn an_unchanged_document_costs_one_conditional_get_per_cache_period() {
    let Setup {
        hooks,
        s3,
        bucket,
        webhooks_secret,
        teams_secret,
        mut environment,
        ..
    } = setup().await;
    put(
        &s3,
        &bucket,
        &document(&webhooks_secret, &teams_secret, "first"),
    )
    .await;
    let proxy = FaultProxy::start(&pipewatch_testkit::services::require("AWS_ENDPOINT_URL_S3"));
    environment.retain(|(name, _)| *name != "DOCUMENT_CACHE_SECONDS");
    environment.push(("DOCUMENT_CACHE_SECONDS", "60".to_owned()));
    environment.push(("AWS_ENDPOINT_URL_S3", proxy.url()));
    let forwarder = start_forwarder(&environment, "document-cache");
    for _ in 0..5 {
        assert_eq!(failure(&forwarder), 1);
    }
    assert_eq!(hooks.posted("first").len(), 5);
    assert_eq!(
        proxy.forwarded(),
        1,
        "one read in the minute, whatever the invocations"
    );
}

/// What `events/sns-notification.json` says, as the forwarder reads it.
fn sample() -> pipewatch_core::render::content::Content {
    let path = concat!(env!("CARGO_MANIFEST_DIR"), "/events/sns-notification.json");
    let event: serde_json::Value =
        serde_json::from_str(&std::fs::read_to_string(path).unwrap()).unwrap();
    pipewatch_core::render::content::Content::from_body(
        event["Records"][0]["Sns"]["Message"].as_str().unwrap(),
    )
    .unwrap()
}

/// The SNS envelope's string attribute `name`.
fn attribute<'a>(envelope: &'a serde_json::Value, name: &str) -> &'a str {
    envelope["MessageAttributes"][name]["Value"]
        .as_str()
        .unwrap_or_default()
}

#[tokio::test(flavor = "multi_thread")]
async fn email_and_chatbot_destinations_are_published_to_their_own_topics() {
    let Setup {
        hooks,
        s3,
        bucket,
        operator,
        webhooks_secret,
        mut environment,
        ..
    } = setup().await;
    let config = sdk_config().await;
    // Both topics are named pipewatch-…, under the prefix the stack names.
    let (mail, chat) = (Inbox::create(&config).await, Inbox::create(&config).await);
    let (home, _) = mail.topic_arn.rsplit_once(':').unwrap();
    environment.push(("DOCUMENT_TOPICS", format!("{home}:pipewatch-*")));
    let text = format!(
        "version: 1\n\
         destinations:\n  \
           mail:\n    type: email\n    topic: {}\n    severity: approval\n  \
           chat:\n    type: chatbot\n    topic: {}\n  \
           first:\n    type: slack\n    secret: {webhooks_secret}\n    entry: 1\n\
         subscriptions:\n  \
           - pipelines: [\"web-app-*\"]\n    to: [mail, chat, first]\n",
        mail.topic_arn, chat.topic_arn
    );
    let sound = put(&s3, &bucket, &text).await;
    let forwarder = start_forwarder(&environment, "document-topics");
    assert_eq!(failure(&forwarder), 3, "{}", forwarder.logs());
    assert_eq!(hooks.posted("first").len(), 1);

    // What each topic's subscribers read, with the attributes their filters take.
    let content = sample();
    let mailed = mail.drain_envelopes().await;
    assert_eq!(mailed.len(), 1, "{mailed:#?}");
    assert_eq!(
        mailed[0]["Subject"],
        "web-app-release: Build/UnitTests Failed (+2 more)"
    );
    assert_eq!(
        mailed[0]["Message"].as_str(),
        Some(pipewatch_core::render::email::render(&content).as_str())
    );
    assert_eq!(
        (
            attribute(&mailed[0], "severity"),
            attribute(&mailed[0], "pipeline")
        ),
        ("failure", "web-app-release")
    );
    let chatted = chat.drain_envelopes().await;
    assert_eq!(chatted.len(), 1, "{chatted:#?}");
    let notification: serde_json::Value =
        serde_json::from_str(chatted[0]["Message"].as_str().unwrap()).unwrap();
    assert_eq!(
        notification,
        pipewatch_core::render::chatbot::render(&content)
    );
    assert_eq!(chatted[0].get("Subject"), None);

    // A topic outside the stack's prefix is refused whole: nothing of it is sent.
    let elsewhere = format!("{home}:payments-mail");
    let refused = put(&s3, &bucket, &text.replace(&mail.topic_arn, &elsewhere)).await;
    assert_eq!(failure(&forwarder), 3);
    assert_eq!(mail.drain_envelopes().await.len(), 1);
    let told = operator.drain_raw().await;
    assert!(
        told.len() == 1
            && told[0].contains(&format!("(version {refused})"))
            && told[0].contains(&format!("version {sound} keeps running"))
            && told[0].contains(&format!(
                "destinations.mail: the topic {elsewhere} is not one this stack may publish to"
            )),
        "{told:#?}"
    );

    // A topic that is gone fails the invocation, naming the destination, so Lambda
    // delivers the event again; the other destinations had their message.
    aws_sdk_sns::Client::new(&config)
        .delete_topic()
        .topic_arn(&chat.topic_arn)
        .send()
        .await
        .unwrap();
    let output = forwarder.invoke("sns-notification.json");
    assert!(!output.status.success());
    // cargo-lambda wraps the error's lines in a box: compared without it.
    let compact = |text: &str| -> String {
        text.chars()
            .filter(|c| !c.is_whitespace() && *c != '│')
            .collect()
    };
    let said = compact(&String::from_utf8_lossy(&output.stderr));
    assert!(
        said.contains("pipewatch.ForwardRefused")
            && said.contains(&compact(&format!(
                "chat: SNS topic {} refused the message with 404: no such topic",
                chat.topic_arn
            ))),
        "{said}"
    );
    assert_eq!(mail.drain_envelopes().await.len(), 1);
    assert_no_secret(&forwarder.logs());
}

#[tokio::test(flavor = "multi_thread")]
async fn a_template_shapes_a_destinations_posts_and_one_that_fails_sends_the_built_in_one() {
    let Setup {
        hooks,
        s3,
        bucket,
        operator,
        webhooks_secret,
        environment,
        ..
    } = setup().await;
    let text = |source: &str| {
        format!(
            "version: 1\n\
             destinations:\n  \
               first:\n    type: slack\n    secret: {webhooks_secret}\n    entry: 1\n    template: terse\n\
             templates:\n  \
               terse:\n    text: \"{source}\"\n\
             subscriptions:\n  \
               - pipelines: [\"web-app-*\"]\n    to: [first]\n"
        )
    };
    put(&s3, &bucket, &text("<!here> {{ headline }}")).await;
    let forwarder = start_forwarder(&environment, "document-template");
    assert_eq!(failure(&forwarder), 1, "{}", forwarder.logs());
    assert_eq!(
        hooks.posted("first")[0],
        serde_json::json!({"text": "<!here> web-app-release: Build/UnitTests Failed after 1m35s (+2 more)"})
    );
    // A misspelt field fails when the template runs: the built-in message goes instead,
    // and the operator is told once per template and document version.
    let failing = put(&s3, &bucket, &text("{{ headlin }}")).await;
    assert_eq!(failure(&forwarder), 1);
    assert!(hooks.posted("first")[1]["blocks"].is_array());
    assert_eq!(failure(&forwarder), 1);
    assert!(hooks.posted("first")[2]["blocks"].is_array());
    let told = operator.drain_raw().await;
    assert!(
        told.len() == 1
            && told[0].contains(&format!("The template terse of pipewatch's notifications document (version {failing}) failed: templates.terse.text: line 1: "))
            && told[0].contains("The built-in message was sent instead"),
        "{told:#?}"
    );
    assert!(
        forwarder
            .logs()
            .contains("a template failed: the built-in message was sent instead"),
        "{}",
        forwarder.logs()
    );
}
