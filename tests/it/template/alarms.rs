//! What the operator is told: every alarm on the alarm topic, which the email subscriber
//! gets unfiltered (against moto's filter semantics), the alarms and dead-letter queue the
//! code's metrics call for, and the dashboard.

use std::collections::BTreeSet;

use serde_norway::Value;

use super::{MANIFEST_DIR, is_ref, resource, resources_of, statements, template};

#[test]
fn every_alarm_notifies_the_alarm_topic_which_the_email_subscriber_gets_unfiltered() {
    let template = template();
    let alarms = resources_of(&template, "AWS::CloudWatch::Alarm");
    assert!(alarms.len() >= 5, "{alarms:?}");
    for (name, alarm) in &alarms {
        let actions = alarm["Properties"]["AlarmActions"].as_sequence().unwrap();
        assert_eq!(actions.len(), 1, "{name}");
        assert!(is_ref(&actions[0], "AlarmTopic"), "{name}: {actions:?}");
        assert!(
            !alarm["Properties"]["AlarmDescription"]
                .as_str()
                .unwrap()
                .is_empty(),
            "{name} says what it means"
        );
    }
    let email = resource(&template, "EmailAlarmSubscription");
    assert!(is_ref(&email["TopicArn"], "AlarmTopic"));
    assert_eq!(email["Protocol"].as_str(), Some("email"));
    assert!(is_ref(&email["Endpoint"], "NotificationEmail"));
    assert!(
        email.get("FilterPolicy").is_none(),
        "no filter: alarms carry no attributes to match"
    );
    assert_eq!(
        template["Resources"]["EmailAlarmSubscription"]["Condition"].as_str(),
        Some("HasEmail")
    );
    // Chatbot and the forwarder hear both topics.
    let chatbot = resource(&template, "SlackChannel")["SnsTopicArns"].clone();
    assert!(is_ref(&chatbot, "NotificationTopic") && is_ref(&chatbot, "AlarmTopic"));
    let events = &resource(&template, "ForwarderFunction")["Events"];
    assert!(is_ref(
        &events["Notification"]["Properties"]["Topic"],
        "NotificationTopic"
    ));
    assert!(is_ref(
        &events["Alarm"]["Properties"]["Topic"],
        "AlarmTopic"
    ));
    // The forwarder's own failures are watched too.
    let forwarder_errors = resource(&template, "ForwarderErrorsAlarm");
    assert!(is_ref(&forwarder_errors["Dimensions"], "ForwarderFunction"));
}

/// The email subscription's filter policy as the template writes it, as JSON: the first
/// branch of its `!If [FilterEmail, {...}, !Ref AWS::NoValue]`, serialised as it stands.
fn email_filter_policy(template: &Value) -> String {
    let policy = &resource(template, "EmailSubscription")["FilterPolicy"];
    let Value::Tagged(tagged) = policy else {
        panic!("the filter policy is an !If: {policy:?}")
    };
    assert_eq!(tagged.tag, "If", "{policy:?}");
    assert_eq!(tagged.value[0].as_str(), Some("FilterEmail"));
    serde_json::to_string(&tagged.value[1]).expect("the policy is plain data")
}

/// The real filter-policy semantics (moto's SNS): with the default parameters the filtered
/// email subscription gets failures and approvals and never an alarm (CloudWatch publishes
/// alarms without attributes), and the alarm topic's unfiltered subscription gets alarms.
#[tokio::test]
async fn with_the_default_parameters_alarms_reach_the_email_subscriber_through_their_own_topic() {
    use aws_sdk_sns::types::MessageAttributeValue;

    let template = template();
    assert_eq!(
        template["Parameters"]["EmailNotifications"]["Default"].as_str(),
        Some("failures-and-approvals")
    );
    let policy = email_filter_policy(&template);
    assert_eq!(policy, r#"{"severity":["failure","approval"]}"#);

    let config = pipewatch_testkit::services::sdk_config().await;
    let sns = aws_sdk_sns::Client::new(&config);
    // The notification topic with the email's filter, and the alarm topic without.
    let notifications = pipewatch_testkit::services::Inbox::create(&config).await;
    notifications.filter(&policy).await;
    let alarms = pipewatch_testkit::services::Inbox::create(&config).await;

    let publish = |topic: String, severity: Option<&'static str>, body: &'static str| {
        let sns = sns.clone();
        async move {
            let mut request = sns.publish().topic_arn(topic).message(body);
            if let Some(severity) = severity {
                request = request.message_attributes(
                    "severity",
                    MessageAttributeValue::builder()
                        .data_type("String")
                        .string_value(severity)
                        .build()
                        .unwrap(),
                );
            }
            request.send().await.unwrap();
        }
    };
    let alarm = r#"{"AlarmName":"pipewatch-watcher-errors","NewStateValue":"ALARM"}"#;
    publish(notifications.topic_arn.clone(), None, alarm).await;
    publish(
        notifications.topic_arn.clone(),
        Some("failure"),
        "{\"n\":1}",
    )
    .await;
    publish(
        notifications.topic_arn.clone(),
        Some("approval"),
        "{\"n\":2}",
    )
    .await;
    publish(notifications.topic_arn.clone(), Some("info"), "{\"n\":3}").await;
    publish(alarms.topic_arn.clone(), None, alarm).await;

    let filtered = notifications.drain_raw().await;
    assert_eq!(
        filtered,
        ["{\"n\":1}", "{\"n\":2}"],
        "an alarm published to the notification topic would never reach the email"
    );
    assert_eq!(
        alarms.drain_raw().await,
        [alarm],
        "the alarm topic's subscriber gets it"
    );
}

/// The metric names the watcher emits, read from the table in `src/metrics.rs`'s docs and
/// checked against the code that records them.
fn metrics_the_code_emits() -> BTreeSet<String> {
    let source = std::fs::read_to_string(format!("{MANIFEST_DIR}/src/metrics.rs")).unwrap();
    let documented: BTreeSet<String> = source
        .lines()
        .filter_map(|line| line.strip_prefix("//! | `"))
        .filter_map(|rest| rest.split('`').next())
        .map(str::to_owned)
        .collect();
    for name in &documented {
        assert!(
            source.contains(&format!("!(\"{name}\"")),
            "{name} is documented and recorded"
        );
    }
    assert!(documented.len() >= 15, "{documented:?}");
    documented
}

#[test]
fn the_operators_alarms_and_dead_letter_queue_match_what_the_code_emits() {
    let template = template();
    let emitted = metrics_the_code_emits();
    let environment = &resource(&template, "WatcherFunction")["Environment"]["Variables"];
    let namespace = environment["METRICS_NAMESPACE"].as_str().unwrap();
    assert_eq!(namespace, "pipewatch");

    // The message dead-letter queue: encrypted, kept the longest SQS allows, named to the
    // function, and the only queue besides the shards' it may send to.
    let queue = resource(&template, "MessageDeadLetterQueue");
    assert_eq!(
        queue["KmsMasterKeyId"].as_str(),
        Some("alias/aws/sqs"),
        "encrypted, and not with the key whose failure brings messages here"
    );
    assert_eq!(queue["MessageRetentionPeriod"].as_u64(), Some(1_209_600));
    assert!(is_ref(
        &environment["DEAD_LETTER_QUEUE_URL"],
        "MessageDeadLetterQueue"
    ));
    let senders: Vec<Vec<Value>> = statements(&template, "WatcherFunction")
        .into_iter()
        .filter(|(actions, _)| actions.iter().any(|a| a == "sqs:SendMessage"))
        .map(|(_, resources)| resources)
        .collect();
    assert_eq!(senders.len(), 2, "{senders:?}");
    assert!(
        senders
            .iter()
            .any(|r| format!("{r:?}").contains("MessageDeadLetterQueue.Arn")),
        "{senders:?}"
    );

    // Each alarm on pipewatch's own metrics watches a metric the code emits, in its
    // namespace, for this function.
    let alarms = resources_of(&template, "AWS::CloudWatch::Alarm");
    let ours: Vec<&(&str, &Value)> = alarms
        .iter()
        .filter(|(_, a)| a["Properties"]["Namespace"].as_str() == Some(namespace))
        .collect();
    let watched: BTreeSet<&str> = ours
        .iter()
        .map(|(_, a)| a["Properties"]["MetricName"].as_str().unwrap())
        .collect();
    assert_eq!(
        watched,
        BTreeSet::from(["FailedPipelines", "OldestPendingAge"])
    );
    for (name, alarm) in &ours {
        let metric = alarm["Properties"]["MetricName"].as_str().unwrap();
        assert!(emitted.contains(metric), "{name}: {metric}");
        assert!(
            is_ref(&alarm["Properties"]["Dimensions"], "WatcherFunction"),
            "{name}"
        );
        let words = format!("{:?}", alarm["Properties"]["AlarmDescription"]);
        assert!(words.len() > 150, "{name} says what to do: {words}");
    }
    // They watch a metric a tick writes only when it is not zero: at the default 5-minute
    // schedule a shorter period would be empty most of the time, and no data is all is
    // well (an alarm that ignored it would never return to OK).
    for (name, alarm) in &ours {
        let properties = &alarm["Properties"];
        assert!(properties["Period"].as_u64().unwrap() >= 300, "{name}");
        assert_eq!(
            properties["TreatMissingData"].as_str(),
            Some("notBreaching"),
            "{name}"
        );
    }
    // That ticks run at all, Lambda's own (free) count of the watcher's invocations says.
    let no_ticks = resource(&template, "NoTicksAlarm");
    assert_eq!(
        (
            no_ticks["Namespace"].as_str(),
            no_ticks["MetricName"].as_str()
        ),
        (Some("AWS/Lambda"), Some("Invocations"))
    );
    assert!(is_ref(&no_ticks["Dimensions"], "WatcherFunction"));
    assert_eq!(
        no_ticks["TreatMissingData"].as_str(),
        Some("breaching"),
        "no tick means no data"
    );
    let dead_letters = resource(&template, "MessageDeadLettersAlarm");
    assert!(is_ref(
        &dead_letters["Dimensions"],
        "MessageDeadLetterQueue.QueueName"
    ));
    assert!(
        format!("{:?}", dead_letters["AlarmDescription"]).contains("pipewatch redrive"),
        "it says how to recover"
    );
}

#[test]
fn the_dashboard_shows_every_metric_the_code_emits_and_every_alarm() {
    let template = template();
    let emitted = metrics_the_code_emits();
    let namespace = "pipewatch";
    // Valid JSON once substituted, every pipewatch metric on it emitted, every alarm on
    // it defined.
    let body = &resource(&template, "Dashboard")["DashboardBody"];
    let Value::Tagged(sub) = body else {
        panic!("DashboardBody is a !Sub: {body:?}")
    };
    let text = sub.value[0].as_str().unwrap();
    assert_eq!(
        sub.value[1]["Topic"],
        serde_norway::from_str::<Value>("!GetAtt NotificationTopic.TopicName").unwrap(),
        "what is announced is the notification topic's free SNS metric"
    );
    let substituted = text
        .replace("${AWS::Region}", "eu-west-1")
        .replace("${Function}", "stack-watcher")
        .replace("${Topic}", "stack-notifications");
    assert!(
        substituted.contains(
            r#"["AWS/SNS", "NumberOfMessagesPublished", "TopicName", "stack-notifications""#
        ),
        "{substituted}"
    );
    let mut json = String::new();
    let mut rest = substituted.as_str();
    let mut alarm_refs = Vec::new();
    while let Some(at) = rest.find("${") {
        json.push_str(&rest[..at]);
        let end = rest[at..].find('}').unwrap();
        let reference = &rest[at + 2..at + end];
        alarm_refs.push(reference.trim_end_matches(".Arn").to_owned());
        json.push_str("arn:aws:cloudwatch:eu-west-1:123456789012:alarm:x");
        rest = &rest[at + end + 1..];
    }
    json.push_str(rest);
    let dashboard: serde_json::Value =
        serde_json::from_str(&json).expect("the dashboard body is JSON");
    for alarm in &alarm_refs {
        assert_eq!(
            template["Resources"][alarm.as_str()]["Type"].as_str(),
            Some("AWS::CloudWatch::Alarm"),
            "{alarm}"
        );
    }
    for alarm in [
        "NoTicksAlarm",
        "PendingMessagesAlarm",
        "FailedPipelinesAlarm",
        "MessageDeadLettersAlarm",
    ] {
        assert!(
            alarm_refs.iter().any(|a| a == alarm),
            "{alarm} on the dashboard"
        );
    }
    let mut shown = BTreeSet::new();
    for widget in dashboard["widgets"].as_array().unwrap() {
        let mut namespace_now = String::new();
        for metric in widget["properties"]["metrics"]
            .as_array()
            .into_iter()
            .flatten()
        {
            let parts = metric.as_array().unwrap();
            match parts.first().and_then(serde_json::Value::as_str) {
                Some(".") => {}
                Some(ns) => ns.clone_into(&mut namespace_now),
                None => {
                    // A SEARCH expression names its metric.
                    let expression = parts[0]["expression"].as_str().unwrap();
                    let name = expression.split("MetricName=\"").nth(1).unwrap();
                    shown.insert(name.split('"').next().unwrap().to_owned());
                    continue;
                }
            }
            if namespace_now == namespace {
                shown.insert(parts[1].as_str().unwrap().to_owned());
            }
        }
    }
    let missing: Vec<&String> = emitted.difference(&shown).collect();
    let unknown: Vec<&String> = shown.difference(&emitted).collect();
    assert!(unknown.is_empty(), "shown but never emitted: {unknown:?}");
    assert!(
        missing.is_empty(),
        "emitted but not on the dashboard: {missing:?}"
    );
}
