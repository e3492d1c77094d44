//! The local emulators `scripts/test.sh` started (DynamoDB Local, moto), found through the
//! standard `AWS_ENDPOINT_URL_<SERVICE>` variables, and what each test creates in them:
//! its own table, topic and queue, so tests run in parallel without meeting.

use std::collections::HashMap;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::time::{Duration, Instant};

use aws_config::SdkConfig;
use aws_sdk_dynamodb::types::{
    AttributeDefinition, BillingMode, KeySchemaElement, KeyType, ScalarAttributeType,
};

/// The shared SDK configuration, as the binaries load it (credentials, region and
/// endpoints from the environment the test script set).
pub async fn sdk_config() -> SdkConfig {
    for variable in [
        "AWS_ENDPOINT_URL_DYNAMODB",
        "AWS_ENDPOINT_URL_SNS",
        "AWS_ENDPOINT_URL_SQS",
    ] {
        require(variable);
    }
    pipewatch::aws::load_sdk_config().await
}

/// An environment variable the test script sets. A missing one is a setup failure, never
/// a reason to skip.
pub fn require(variable: &str) -> String {
    std::env::var(variable).unwrap_or_else(|_| {
        panic!("{variable} is not set: run the tests with ./scripts/test.sh, which starts DynamoDB Local and moto")
    })
}

/// A secret holding `value` in moto's Secrets Manager, named after `prefix`; its ARN.
pub async fn create_secret(prefix: &str, value: &str) -> String {
    require("AWS_ENDPOINT_URL_SECRETS_MANAGER");
    aws_sdk_secretsmanager::Client::new(&sdk_config().await)
        .create_secret()
        .name(unique(prefix))
        .secret_string(value)
        .send()
        .await
        .expect("create a secret in moto")
        .arn
        .expect("a created secret has an ARN")
}

/// A name no other test in this run uses.
pub fn unique(prefix: &str) -> String {
    static NEXT: AtomicUsize = AtomicUsize::new(0);
    format!(
        "{prefix}-{}-{}",
        std::process::id(),
        NEXT.fetch_add(1, Ordering::SeqCst)
    )
}

/// Creates a snapshot table with the key the store uses; returns its name.
pub async fn create_table(client: &aws_sdk_dynamodb::Client) -> String {
    let name = unique("snapshots");
    client
        .create_table()
        .table_name(&name)
        .attribute_definitions(
            AttributeDefinition::builder()
                .attribute_name(pipewatch::aws::dynamodb::KEY)
                .attribute_type(ScalarAttributeType::S)
                .build()
                .unwrap(),
        )
        .key_schema(
            KeySchemaElement::builder()
                .attribute_name(pipewatch::aws::dynamodb::KEY)
                .key_type(KeyType::Hash)
                .build()
                .unwrap(),
        )
        .billing_mode(BillingMode::PayPerRequest)
        .send()
        .await
        .expect("create a table in DynamoDB Local");
    name
}

/// A topic with a queue subscribed to it, to read published messages back, and a
/// dead-letter queue beside it.
pub struct Inbox {
    pub topic_arn: String,
    sns: aws_sdk_sns::Client,
    subscription_arn: String,
    sqs: aws_sdk_sqs::Client,
    queue_url: String,
    pub dead_letter_url: String,
}

/// One SNS notification as an SQS subscriber receives it.
#[derive(Debug, Clone)]
pub struct Delivered {
    pub subject: String,
    /// The `default` body: the JSON document for programs.
    pub body: serde_json::Value,
    pub attributes: HashMap<String, String>,
}

impl Delivered {
    pub fn id(&self) -> &str {
        &self.attributes["idempotency_id"]
    }

    /// `(kind, stage, action, status)` of each change in the body.
    pub fn changes(&self) -> Vec<serde_json::Value> {
        self.body["changes"].as_array().cloned().unwrap_or_default()
    }
}

impl Inbox {
    pub async fn create(config: &SdkConfig) -> Self {
        let topic_arn = aws_sdk_sns::Client::new(config)
            .create_topic()
            .name(unique("pipewatch"))
            .send()
            .await
            .unwrap()
            .topic_arn
            .unwrap();
        Self::on_topic(config, &topic_arn).await
    }

    /// A queue (and a dead-letter queue) subscribed to a topic that exists already.
    pub async fn on_topic(config: &SdkConfig, topic_arn: &str) -> Self {
        let sns = aws_sdk_sns::Client::new(config);
        let sqs = aws_sdk_sqs::Client::new(config);
        let name = unique("pipewatch");
        let queue_url = sqs
            .create_queue()
            .queue_name(&name)
            .send()
            .await
            .unwrap()
            .queue_url
            .unwrap();
        let queue_arn = sqs
            .get_queue_attributes()
            .queue_url(&queue_url)
            .attribute_names(aws_sdk_sqs::types::QueueAttributeName::QueueArn)
            .send()
            .await
            .unwrap()
            .attributes
            .unwrap()[&aws_sdk_sqs::types::QueueAttributeName::QueueArn]
            .clone();
        let subscription_arn = sns
            .subscribe()
            .topic_arn(topic_arn)
            .protocol("sqs")
            .endpoint(queue_arn)
            .send()
            .await
            .unwrap()
            .subscription_arn
            .unwrap();
        let dead_letter_url = sqs
            .create_queue()
            .queue_name(format!("{name}-dead-letters"))
            .send()
            .await
            .unwrap()
            .queue_url
            .unwrap();
        Self {
            topic_arn: topic_arn.to_owned(),
            sns,
            subscription_arn,
            sqs,
            queue_url,
            dead_letter_url,
        }
    }

    /// The dead-letter queue, as the watcher writes to it.
    pub fn dead_letters(&self) -> pipewatch::aws::sqs::SqsDeadLetters {
        pipewatch::aws::sqs::SqsDeadLetters::new(self.sqs.clone(), &self.dead_letter_url)
    }

    /// The dead-letter queue, as `pipewatch redrive` reads it.
    pub fn dead_letter_reader(&self) -> pipewatch::aws::dead_letter_reader::DeadLetterReader {
        pipewatch::aws::dead_letter_reader::DeadLetterReader::new(
            self.sqs.clone(),
            &self.dead_letter_url,
        )
    }

    /// Every dead letter waiting, removing them.
    pub async fn drain_dead_letters(&self) -> Vec<pipewatch_core::record::DeadLetter> {
        self.receive_all_from(&self.dead_letter_url)
            .await
            .iter()
            .map(|body| serde_json::from_str(body).expect("a dead letter"))
            .collect()
    }

    /// Sets a subscription filter policy on message attributes, as a template would.
    pub async fn filter(&self, policy: &str) {
        self.sns
            .set_subscription_attributes()
            .subscription_arn(&self.subscription_arn)
            .attribute_name("FilterPolicy")
            .attribute_value(policy)
            .send()
            .await
            .expect("moto takes the filter policy");
    }

    /// The raw `Message` of every notification delivered so far, removing them.
    pub async fn drain_raw(&self) -> Vec<String> {
        let mut delivered = Vec::new();
        for message in self.receive_all().await {
            let envelope: serde_json::Value = serde_json::from_str(&message).unwrap();
            delivered.push(envelope["Message"].as_str().unwrap().to_owned());
        }
        delivered
    }

    /// The SNS envelope (`Subject`, `Message`, `MessageAttributes`, …) of every
    /// notification delivered so far, removing them.
    pub async fn drain_envelopes(&self) -> Vec<serde_json::Value> {
        self.receive_all()
            .await
            .iter()
            .map(|envelope| serde_json::from_str(envelope).unwrap())
            .collect()
    }

    /// Every notification delivered so far (moto delivers synchronously), removing them.
    pub async fn drain(&self) -> Vec<Delivered> {
        self.receive_all()
            .await
            .iter()
            .map(|envelope| parse(envelope))
            .collect()
    }

    /// Every SQS message body (an SNS envelope) waiting, removing them.
    async fn receive_all(&self) -> Vec<String> {
        self.receive_all_from(&self.queue_url).await
    }

    /// Every message body waiting in `queue_url`, removing them.
    async fn receive_all_from(&self, queue_url: &str) -> Vec<String> {
        drain_queue(&self.sqs, queue_url).await
    }
}

/// Every message body waiting in `queue_url`, in the order received, removing them. Stops
/// when a receive finds none (moto delivers synchronously), or after 10 s.
pub async fn drain_queue(sqs: &aws_sdk_sqs::Client, queue_url: &str) -> Vec<String> {
    let mut delivered = Vec::new();
    let deadline = Instant::now() + Duration::from_secs(10);
    while Instant::now() < deadline {
        let output = sqs
            .receive_message()
            .queue_url(queue_url)
            .max_number_of_messages(10)
            .send()
            .await
            .unwrap();
        let messages = output.messages.unwrap_or_default();
        if messages.is_empty() {
            break;
        }
        for message in messages {
            delivered.push(message.body.clone().unwrap());
            sqs.delete_message()
                .queue_url(queue_url)
                .receipt_handle(message.receipt_handle.unwrap())
                .send()
                .await
                .unwrap();
        }
    }
    delivered
}

fn parse(envelope: &str) -> Delivered {
    let envelope: serde_json::Value = serde_json::from_str(envelope).unwrap();
    let attributes = envelope["MessageAttributes"]
        .as_object()
        .map(|attributes| {
            attributes
                .iter()
                .map(|(name, value)| {
                    (
                        name.clone(),
                        value["Value"].as_str().unwrap_or_default().to_owned(),
                    )
                })
                .collect()
        })
        .unwrap_or_default();
    Delivered {
        subject: envelope["Subject"].as_str().unwrap_or_default().to_owned(),
        body: serde_json::from_str(envelope["Message"].as_str().unwrap()).unwrap(),
        attributes,
    }
}
