//! The adapters the Lambda uses: each turns one AWS service into one port, converting
//! between SDK and domain types at this boundary and nowhere else.

pub mod codepipeline;
pub mod dynamodb;
pub mod sns;

pub use codepipeline::CodePipelineSource;
pub use dynamodb::DynamoStore;
pub use sns::SnsNotifier;
