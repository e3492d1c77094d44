//! Updates from the earlier releases' templates, with records and a pending message in the
//! table: what holds state or subscribers stays, and the schedule moves to a rule.

use pipewatch_testkit::services::{Inbox, sdk_config, unique};
use pipewatch_testkit::stack::{Stack, current_template, moto_url, release_template};
use serde_json::{Value, json};

use super::{assert_common, release_fake, watcher_of};

/// 0.1.0 named every stack's schedule `WatcherFunctionTick`, so two 0.1.0 stacks cannot
/// exist in one account and region (the update replaces it with a rule): one upgrade test
/// at a time.
static PREVIOUS_RELEASE: tokio::sync::Mutex<()> = tokio::sync::Mutex::const_new(());

/// A stack of an earlier `release`, as a user has it before updating.
fn deploy_release(release: &str, name: &str, parameters: &[(&str, &str)]) -> Stack {
    let stack = Stack::deploy(name, &release_template(release), parameters);
    assert_eq!(
        stack.status(),
        "CREATE_COMPLETE",
        "{}",
        stack.report["reason"]
    );
    stack
}

/// The same stack updated to the current template: everything a stack has, updated.
fn update(name: &str, parameters: &[(&str, &str)]) -> Stack {
    let stack = Stack::deploy(name, &current_template(), parameters);
    assert_eq!(
        stack.status(),
        "UPDATE_COMPLETE",
        "{}",
        stack.report["reason"]
    );
    assert_common(&stack);
    stack
}

#[tokio::test(flavor = "multi_thread")]
async fn an_update_of_a_0_1_0_stack_keeps_the_table_and_delivers_the_pending_message() {
    let only_one = PREVIOUS_RELEASE.lock().await;
    let name = unique("upgrade");
    let parameters = [("PipelineNames", "web-app-release")];
    let before = deploy_release("0.1.0", &name, &parameters);
    let table = before.physical("SnapshotTable").to_owned();

    // The stored record of 0.1.0, with a claimed message not yet published.
    let moto = aws_sdk_dynamodb::config::Builder::from(&sdk_config().await)
        .endpoint_url(moto_url())
        .build();
    let dynamodb = aws_sdk_dynamodb::Client::from_conf(moto);
    let record = pipewatch_testkit::records::item("v0.1.0-release-failure");
    dynamodb
        .put_item()
        .table_name(&table)
        .set_item(Some(record.clone()))
        .send()
        .await
        .unwrap();

    let after = update(&name, &parameters);
    // A smoke check: whether an update replaces a resource is decided here by the project's
    // own emulation of CloudFormation (tests/deploy/emulator/), not by CloudFormation. The
    // guard is template.rs (no replacing property of what holds state changes, Retain kept,
    // no logical id changes type); this shows the path runs end to end.
    assert_eq!(
        after.physical("SnapshotTable"),
        table,
        "updated, not replaced"
    );
    let kept = dynamodb
        .get_item()
        .table_name(&table)
        .key("pipeline", record["pipeline"].clone())
        .send()
        .await
        .unwrap()
        .item
        .expect("the record survives the update");
    assert_eq!(kept, record);
    for added in [
        "MessageDeadLetterQueue",
        "ShardQueue",
        "AlarmTopic",
        "NoTicksAlarm",
    ] {
        assert!(after.has(added), "{added} added by the update");
    }
    assert_eq!(
        after.described("tables", "SnapshotTable")["ttl"]["TimeToLiveStatus"],
        "ENABLED",
        "the update turns on expiry for the kept table"
    );
    drop(only_one);

    // The updated watcher delivers the message 0.1.0 claimed, then the news.
    let config = sdk_config().await;
    let inbox = Inbox::on_topic(&config, after.output("TopicArn").unwrap()).await;
    let (fake, states) = release_fake();
    fake.set_state(&states[3]);
    let lambda = watcher_of(&after, &fake, "deploy-upgrade");
    let summary = lambda.summary("scheduled-event.json");
    assert_eq!(summary["rebaselined"], 0, "{summary}");
    assert_eq!(summary["messages_published"], 2, "{summary}");
    let delivered = inbox.drain().await;
    assert_eq!(
        delivered[0].id(),
        "web-app-release/41/1",
        "the pending one first"
    );
    assert_eq!(delivered.len(), 2);
}

#[tokio::test]
async fn an_update_of_a_0_1_0_stack_with_email_and_the_forwarder_keeps_its_subscribers() {
    let only_one = PREVIOUS_RELEASE.lock().await;
    let name = unique("upgrade-full");
    let secret = "arn:aws:secretsmanager:us-east-1:123456789012:secret:pipewatch-slack-AbCdEf";
    let parameters = [
        ("PipelineNames", "web-app-release"),
        ("NotificationEmail", "ops@example.com"),
        ("EmailNotifications", "failures-and-approvals"),
        ("SlackWebhookSecretArn", secret),
    ];
    let before = deploy_release("0.1.0", &name, &parameters);
    let topic = before.physical("NotificationTopic").to_owned();

    let after = update(&name, &parameters);
    drop(only_one);
    // The topic is the same, so the confirmed email subscription is too (a smoke check of
    // the emulation, as above; template.rs is the guard).
    assert_eq!(
        after.physical("NotificationTopic"),
        topic,
        "updated, not replaced"
    );
    let subscriptions = &after.described("topics", "NotificationTopic")["subscriptions"];
    let email: Vec<&Value> = subscriptions
        .as_array()
        .unwrap()
        .iter()
        .filter(|s| s["protocol"] == "email")
        .collect();
    assert_eq!(email.len(), 1, "{subscriptions}");
    assert_eq!(
        email[0]["filter_policy"],
        json!({"severity": ["failure", "approval"]})
    );
    // The forwarder still hears the topic, and now the alarms too; the address gets them.
    assert!(
        subscriptions
            .to_string()
            .contains("\"protocol\":\"lambda\""),
        "{subscriptions}"
    );
    let alarms = after.described("topics", "AlarmTopic")["subscriptions"].to_string();
    assert!(
        alarms.contains("ops@example.com") && alarms.contains("lambda"),
        "{alarms}"
    );
    assert_eq!(
        after.described("functions", "ForwarderFunction")["environment"]["SLACK_WEBHOOK_SECRET_ARN"],
        secret
    );
}

/// A stack of the last release (0.2.0), with events and email, updated: its Scheduler
/// schedule gives way to the EventBridge rule under a new id (which `update` checks
/// invokes the watcher), and what holds state or subscribers (the table, its key, the
/// topics) is the same resource after. Smoke checks of the emulation (whether
/// CloudFormation would replace is tests/it/template/releases.rs's to guard).
#[tokio::test(flavor = "multi_thread")]
async fn an_update_of_a_0_2_0_stack_keeps_what_holds_state_and_schedules_with_a_rule() {
    let name = unique("upgrade-020");
    let parameters = [
        ("PipelineNames", "web-*"),
        ("NotificationEmail", "ops@example.com"),
    ];
    let before = deploy_release("0.2.0", &name, &parameters);
    assert!(before.has("WatcherFunctionTick"));
    let after = update(&name, &parameters);
    for id in [
        "SnapshotTable",
        "NotificationKey",
        "NotificationTopic",
        "AlarmTopic",
    ] {
        assert_eq!(before.physical(id), after.physical(id), "{id} was replaced");
    }
    assert!(!after.has("WatcherFunctionTick") && !after.has("WatcherFunctionTickRole"));
    assert!(after.has("WatcherFunctionSchedule"));
}

/// A stack of the last release with Slack webhooks routed by their secret, updated and
/// given the notifications document `config default` prints for it: every message goes
/// where it went, with the same body, and the document is what decided it.
#[tokio::test(flavor = "multi_thread")]
async fn an_update_of_a_0_2_0_stack_to_the_document_delivers_the_same_messages() {
    use crate::forwarder::{Webhooks, secret};
    let hooks = Webhooks::start(Vec::new());
    let routes = json!([
        {"url": hooks.url("all")},
        {"url": hooks.url("failures"), "pipelines": ["web-*"], "severity": "failure"},
        {"url": hooks.url("payments"), "pipelines": ["payments-*"]},
        {"url": hooks.url("cards"), "format": "teams", "severity": "approval"},
    ])
    .to_string();
    let webhooks = secret(&routes).await;
    let name = unique("upgrade-document");
    let mut parameters = vec![
        ("PipelineNames", "web-app-release"),
        ("SlackWebhookSecretArn", webhooks.as_str()),
    ];
    deploy_release("0.2.0", &name, &parameters);
    let writer = "arn:aws:iam::123456789012:role/platform-admins";
    parameters.push(("DocumentWriters", writer));
    let after = update(&name, &parameters);

    let mut environment: Vec<(&str, String)> = Vec::new();
    let variables = after.environment("ForwarderFunction");
    for (name, value) in &variables {
        if name != "DOCUMENT_CACHE_SECONDS" {
            environment.push((name.as_str(), value.clone()));
        }
    }
    // Read at every invocation: no minute's wait. The stack's table is moto's.
    environment.push(("DOCUMENT_CACHE_SECONDS", "0".to_owned()));
    environment.push(("AWS_ENDPOINT_URL_DYNAMODB", moto_url()));
    let forwarder = crate::forwarder::start_forwarder(&environment, "deploy-upgrade-document");
    let events = ["sns-notification.json", "sns-alarm.json"];
    let posts = |hooks: &Webhooks| -> Vec<(String, Value)> {
        ["all", "failures", "payments", "cards"]
            .iter()
            .flat_map(|n| hooks.posted(n).into_iter().map(|b| ((*n).to_owned(), b)))
            .collect()
    };
    for event in events {
        assert!(
            forwarder.invoke(event).status.success(),
            "{}",
            forwarder.logs()
        );
    }
    let by_stack = posts(&hooks);
    assert!(
        forwarder
            .logs()
            .contains("could not read the notifications document; what was in effect stays"),
        "moto refused the read over plain HTTP, as the bucket's policy says"
    );
    // The failure: all, failures, cards; the alarm, every webhook its severity reaches.
    assert_eq!(by_stack.len(), 7, "{by_stack:#?}");

    // The document the stack's settings amount to, written where the stack reads it.
    let config = pipewatch::config::ForwarderConfig::from_lookup(|name| {
        variables
            .iter()
            .find(|(n, _)| n == name)
            .map(|(_, v)| v.clone())
    })
    .unwrap();
    let secrets = std::collections::HashMap::from([(webhooks.clone(), routes)]);
    let document = pipewatch::forward::stack::document(&config, &secrets, "").unwrap();
    let s3 = aws_sdk_s3::Client::new(&sdk_config().await);
    let bucket = after.output("DocumentBucket").unwrap();
    // moto enforces the bucket's policy, and serves plain HTTP, which its TlsOnly
    // statement denies to everyone (the forwarder's first reads above were refused, and
    // the stack's parameters decided): the rehearsal lifts it (stacks.rs checks its words).
    s3.delete_bucket_policy()
        .bucket(bucket)
        .send()
        .await
        .unwrap();
    s3.put_object()
        .bucket(bucket)
        .key("notifications.yaml")
        .body(document.into_bytes().into())
        .send()
        .await
        .unwrap();
    for event in events {
        assert!(
            forwarder.invoke(event).status.success(),
            "{}",
            forwarder.logs()
        );
    }
    let all = posts(&hooks);
    let by_document: Vec<(String, Value)> = ["all", "failures", "payments", "cards"]
        .iter()
        .flat_map(|n| {
            hooks
                .posted(n)
                .into_iter()
                .skip(by_stack.iter().filter(|(p, _)| p == n).count())
                .map(|b| ((*n).to_owned(), b))
        })
        .collect();
    assert_eq!(all.len(), 14);
    assert_eq!(by_document, by_stack, "the same posts, the same bodies");
    assert!(
        forwarder
            .logs()
            .contains("a notifications document took effect"),
        "the document decided the second time"
    );
}
