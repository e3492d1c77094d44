//! Deciding a manual approval in CodePipeline: the current token of the one run a button
//! names, read from `GetPipelineState` as it is needed (never stored, never logged, never
//! in Slack), and `PutApprovalResult` with the summary that names who decided.

use std::fmt;

use aws_sdk_codepipeline::Client;
use aws_sdk_codepipeline::operation::put_approval_result::PutApprovalResultError;
use aws_sdk_codepipeline::types::{ApprovalResult, ApprovalStatus};
use aws_smithy_types::error::metadata::ProvideErrorMetadata;

use super::codepipeline::convert;
use pipewatch_core::interaction::{Decision, Standing, Target, standing};

/// An approval token: it lets anyone decide the approval, so it shows nowhere.
pub struct Token(String);

impl fmt::Debug for Token {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("Token(…)")
    }
}

/// Why an approval was not decided, in words for the person who clicked.
#[derive(Debug, thiserror::Error)]
pub enum ApprovalError {
    #[error("it was already approved or rejected")]
    AlreadyDecided,
    #[error("its token is no longer valid: the run ended, or the stage was retried")]
    TokenInvalid,
    #[error("CodePipeline is throttling requests; the click is tried again")]
    Throttled,
    #[error("CodePipeline did not answer as expected: {0}")]
    Failed(String),
}

impl ApprovalError {
    /// Whether trying again later can succeed.
    pub fn is_transient(&self) -> bool {
        matches!(self, Self::Throttled | Self::Failed(_))
    }
}

/// `GetPipelineState` and `PutApprovalResult` on the watched pipelines.
pub struct CodePipelineApprovals {
    client: Client,
}

impl CodePipelineApprovals {
    pub fn new(client: Client) -> Self {
        Self { client }
    }

    /// Where `target` stands now, and its token while it waits.
    pub async fn waiting(
        &self,
        target: &Target,
    ) -> Result<(Standing, Option<Token>), ApprovalError> {
        let output = self
            .client
            .get_pipeline_state()
            .name(&target.pipeline)
            .send()
            .await
            .map_err(|e| failed(&e))?;
        let state = convert(&output).map_err(ApprovalError::Failed)?;
        let now = standing(&state, target);
        let token = (now == Standing::Waiting)
            .then(|| {
                output
                    .stage_states()
                    .iter()
                    .find(|s| s.stage_name() == Some(target.stage.as_str()))?
                    .action_states()
                    .iter()
                    .find(|a| a.action_name() == Some(target.action.as_str()))?
                    .latest_execution()
                    .filter(|e| {
                        e.action_execution_id() == Some(target.action_execution_id.as_str())
                    })?
                    .token()
                    .map(|t| Token(t.to_owned()))
            })
            .flatten();
        Ok((now, token))
    }

    /// Approves or rejects `target` with `token`, recording `summary`.
    pub async fn decide(
        &self,
        target: &Target,
        token: &Token,
        decision: Decision,
        summary: &str,
    ) -> Result<(), ApprovalError> {
        let status = match decision {
            Decision::Approve => ApprovalStatus::Approved,
            Decision::Reject => ApprovalStatus::Rejected,
        };
        let result = ApprovalResult::builder()
            .summary(summary)
            .status(status)
            .build()
            .map_err(|e| ApprovalError::Failed(e.to_string()))?;
        self.client
            .put_approval_result()
            .pipeline_name(&target.pipeline)
            .stage_name(&target.stage)
            .action_name(&target.action)
            .result(result)
            .token(&token.0)
            .send()
            .await
            .map(drop)
            .map_err(|error| match error.as_service_error() {
                Some(PutApprovalResultError::ApprovalAlreadyCompletedException(_)) => {
                    ApprovalError::AlreadyDecided
                }
                Some(PutApprovalResultError::InvalidApprovalTokenException(_)) => {
                    ApprovalError::TokenInvalid
                }
                _ => failed(&error),
            })
    }
}

/// An SDK error as an [`ApprovalError`]: throttling by its code, the rest in words.
fn failed<E, R>(error: &aws_smithy_runtime_api::client::result::SdkError<E, R>) -> ApprovalError
where
    E: ProvideErrorMetadata + std::error::Error + Send + Sync + 'static,
    R: fmt::Debug + Send + Sync + 'static,
{
    if error
        .as_service_error()
        .and_then(ProvideErrorMetadata::code)
        .is_some_and(|code| code.contains("Throttl"))
    {
        ApprovalError::Throttled
    } else {
        ApprovalError::Failed(super::describe(error).to_string())
    }
}
