//! The adapters the Lambda uses: each turns one AWS service into one port, converting
//! between SDK and domain types at this boundary and nowhere else.

pub mod approvals;
pub mod clients;
pub mod codepipeline;
pub mod dead_letter_reader;
pub mod document;
pub mod dynamodb;
pub mod interceptor;
pub mod live;
pub mod once;
pub mod operator;
pub mod secrets;
pub mod slack_refs;
pub mod sns;
pub mod sqs;
pub mod tagging;
pub mod topic;

use std::time::Duration;

use aws_config::timeout::TimeoutConfig;
use aws_config::{BehaviorVersion, SdkConfig};

pub use codepipeline::CodePipelineSource;
pub use dynamodb::DynamoStore;
pub use sns::SnsNotifier;

/// An SDK error in words: the service's code and message when it answered
/// (`AccessDeniedException: User ... is not authorized to perform ...`), else the whole
/// chain (a timeout, a refused connection). Log lines, errors and messages quote this.
pub fn describe<E, R>(
    error: &aws_smithy_runtime_api::client::result::SdkError<E, R>,
) -> crate::ports::BoxError
where
    E: aws_smithy_types::error::metadata::ProvideErrorMetadata
        + std::error::Error
        + Send
        + Sync
        + 'static,
    R: std::fmt::Debug + Send + Sync + 'static,
{
    match error
        .as_service_error()
        .and_then(|e| e.code().map(|code| (code, e.message())))
    {
        Some((code, Some(message))) => format!("{code}: {message}").into(),
        Some((code, None)) => code.to_owned().into(),
        None => pipewatch_core::error::chain(error).into(),
    }
}

/// A DynamoDB client whose calls are counted and timed ([`crate::aws::interceptor::ApiMetrics`]).
pub fn dynamodb_client(sdk: &SdkConfig) -> aws_sdk_dynamodb::Client {
    aws_sdk_dynamodb::Client::from_conf(
        aws_sdk_dynamodb::config::Builder::from(sdk)
            .interceptor(crate::aws::interceptor::ApiMetrics)
            .build(),
    )
}

/// An SNS client whose calls are counted and timed.
pub fn sns_client(sdk: &SdkConfig) -> aws_sdk_sns::Client {
    aws_sdk_sns::Client::from_conf(
        aws_sdk_sns::config::Builder::from(sdk)
            .interceptor(crate::aws::interceptor::ApiMetrics)
            .build(),
    )
}

/// An SQS client whose calls are counted and timed.
pub fn sqs_client(sdk: &SdkConfig) -> aws_sdk_sqs::Client {
    aws_sdk_sqs::Client::from_conf(
        aws_sdk_sqs::config::Builder::from(sdk)
            .interceptor(crate::aws::interceptor::ApiMetrics)
            .build(),
    )
}

/// The SDK configuration both binaries use: credentials, region and endpoints from the
/// environment (so `AWS_ENDPOINT_URL_<SERVICE>` points a client at a local emulator), plus
/// timeouts, so that a stuck call fails the pipeline instead of eating the whole invocation.
pub async fn load_sdk_config() -> SdkConfig {
    let timeouts = TimeoutConfig::builder()
        .connect_timeout(Duration::from_secs(3))
        .operation_attempt_timeout(Duration::from_secs(10))
        .operation_timeout(Duration::from_secs(25))
        .build();
    aws_config::defaults(BehaviorVersion::latest())
        .timeout_config(timeouts)
        .load()
        .await
}
