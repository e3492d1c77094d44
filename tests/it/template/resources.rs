//! The stack's own paths: CodePipeline's events reach the function through a queue only the
//! rule writes to, and without the customer key nothing refers to it and the queues stay
//! encrypted.

use serde_norway::Value;

use super::{EVENT_SOURCE_MAPPING, is_ref, resource, statements, template};

/// `!Join [delimiter, [parts]]`, `!Split [delimiter, text]` and `!Ref PipelineNames`, as
/// `CloudFormation` evaluates them, for `names`.
fn evaluate(value: &Value, names: &[&str]) -> Value {
    match value {
        Value::Tagged(tagged) => match tagged.tag.to_string().as_str() {
            "!Join" => {
                let delimiter = tagged.value[0].as_str().unwrap();
                let parts = evaluate(&tagged.value[1], names);
                Value::String(
                    parts
                        .as_sequence()
                        .unwrap()
                        .iter()
                        .map(|p| evaluate(p, names).as_str().unwrap().to_owned())
                        .collect::<Vec<_>>()
                        .join(delimiter),
                )
            }
            "!Split" => {
                let delimiter = tagged.value[0].as_str().unwrap();
                let text = evaluate(&tagged.value[1], names);
                Value::Sequence(
                    text.as_str()
                        .unwrap()
                        .split(delimiter)
                        .map(|p| Value::String(p.to_owned()))
                        .collect(),
                )
            }
            "!Ref" if tagged.value.as_str() == Some("PipelineNames") => Value::Sequence(
                names
                    .iter()
                    .map(|n| Value::String((*n).to_owned()))
                    .collect(),
            ),
            other => panic!("cannot evaluate {other}"),
        },
        Value::Sequence(items) => {
            Value::Sequence(items.iter().map(|i| evaluate(i, names)).collect())
        }
        other => other.clone(),
    }
}

#[test]
fn codepipeline_events_reach_the_function_through_a_queue_only_the_rule_writes_to() {
    let template = template();
    let resources = &template["Resources"];
    for name in [
        "EventRule",
        "EventQueue",
        "EventQueuePolicy",
        "EventQueueMapping",
    ] {
        assert_eq!(
            resources[name]["Condition"].as_str(),
            Some("HasEvents"),
            "{name}"
        );
    }
    // The rule's pattern, for the names and patterns a user gives.
    let pattern = evaluate(
        &resource(&template, "EventRule")["EventPattern"],
        &["web-app-release", "payments-?", "release-*"],
    );
    let pattern: serde_json::Value =
        serde_json::from_str(pattern.as_str().unwrap()).expect("the pattern is JSON");
    assert_eq!(pattern["source"], serde_json::json!(["aws.codepipeline"]));
    assert_eq!(pattern["detail-type"].as_array().unwrap().len(), 3);
    assert_eq!(
        pattern["detail"]["pipeline"],
        serde_json::json!([{"wildcard": "web-app-release"}, {"wildcard": "payments-*"}, {"wildcard": "release-*"}]),
        "EventBridge's wildcard knows only *: ? widens to it"
    );
    assert!(is_ref(
        &resource(&template, "EventRule")["Targets"],
        "EventQueue.Arn"
    ));
    // Only the rule may send to the queue; only the function's mapping reads it.
    let statement = &resource(&template, "EventQueuePolicy")["PolicyDocument"]["Statement"][0];
    assert_eq!(
        statement["Principal"]["Service"].as_str(),
        Some("events.amazonaws.com")
    );
    assert!(is_ref(
        &statement["Condition"]["ArnEquals"]["aws:SourceArn"],
        "EventRule.Arn"
    ));
    let queue = resource(&template, "EventQueue");
    assert!(
        is_ref(&queue["KmsMasterKeyId"], "NotificationKey"),
        "encrypted"
    );
    let key_policy = format!("{:?}", resource(&template, "NotificationKey")["KeyPolicy"]);
    assert!(
        key_policy.contains("events.amazonaws.com"),
        "EventBridge may use the key"
    );
    let mapping = resource(&template, "EventQueueMapping");
    assert!(is_ref(&mapping["FunctionName"], "WatcherFunction"));
    assert_eq!(mapping["BatchSize"].as_u64(), Some(100));
    assert_eq!(mapping["MaximumBatchingWindowInSeconds"].as_u64(), Some(2));
    let consumed: Vec<Vec<Value>> = statements(&template, "WatcherFunction")
        .into_iter()
        .filter(|(actions, _)| {
            actions
                .iter()
                .any(|a| EVENT_SOURCE_MAPPING.contains(&a.as_str()))
        })
        .map(|(_, resources)| resources)
        .collect();
    assert_eq!(consumed.len(), 1);
    assert!(
        format!("{consumed:?}").contains("EventQueue.Arn"),
        "{consumed:?}"
    );
    // With events the schedule is the backstop, and its alarm waits three of its periods.
    let parameters = &template["Parameters"];
    assert_eq!(
        parameters["ScheduleExpression"]["Default"].as_str(),
        Some("rate(5 minutes)")
    );
    assert_eq!(
        parameters["NoTickAlarmMinutes"]["Default"].as_u64(),
        Some(15)
    );
}

/// The lean setting (`Encryption=aws-managed`): no customer managed key, so every use of
/// it sits in the true branch of an `!If [HasCustomerKey, ...]`; the queues then use
/// SQS-managed encryption and the notification topic the AWS managed SNS key.
#[test]
fn without_the_customer_key_nothing_refers_to_it_and_the_queues_stay_encrypted() {
    fn uses_outside_the_condition(value: &Value, within: bool, found: &mut Vec<String>) {
        match value {
            Value::Tagged(tagged) if tagged.tag == "If" => {
                let branches = tagged.value.as_sequence().unwrap();
                let keyed = branches[0].as_str() == Some("HasCustomerKey");
                uses_outside_the_condition(&branches[1], within || keyed, found);
                uses_outside_the_condition(&branches[2], within, found);
            }
            Value::Tagged(tagged) => {
                let target = format!("{:?}", tagged.value);
                if target.contains("\"NotificationKey") && !within {
                    found.push(format!("{}{target}", tagged.tag));
                }
                uses_outside_the_condition(&tagged.value, within, found);
            }
            Value::Mapping(map) => map
                .values()
                .for_each(|v| uses_outside_the_condition(v, within, found)),
            Value::Sequence(items) => items
                .iter()
                .for_each(|v| uses_outside_the_condition(v, within, found)),
            _ => {}
        }
    }
    let template = template();
    let parameter = &template["Parameters"]["Encryption"];
    assert_eq!(parameter["Default"].as_str(), Some("customer-key"));
    let Value::Mapping(resources) = &template["Resources"] else {
        panic!("resources")
    };
    for (name, definition) in resources {
        let name = name.as_str().unwrap();
        if name.starts_with("NotificationKey") {
            assert_eq!(
                definition["Condition"].as_str(),
                Some("HasCustomerKey"),
                "{name}"
            );
            continue;
        }
        let mut found = Vec::new();
        uses_outside_the_condition(definition, false, &mut found);
        assert!(
            found.is_empty(),
            "{name} needs the key unconditionally: {found:?}"
        );
    }
    for queue in ["DeadLetterQueue", "ShardQueue", "EventQueue"] {
        let properties = resource(&template, queue);
        let Value::Tagged(managed) = &properties["SqsManagedSseEnabled"] else {
            panic!("{queue}: {properties:?}")
        };
        assert_eq!(
            managed.value[2].as_bool(),
            Some(true),
            "{queue} is encrypted without the key"
        );
    }
    let Value::Tagged(topic_key) = &resource(&template, "NotificationTopic")["KmsMasterKeyId"]
    else {
        panic!("the topic's key is conditional")
    };
    assert_eq!(topic_key.value[2].as_str(), Some("alias/aws/sns"));
}
