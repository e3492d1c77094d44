//! Deciding a manual approval in CodePipeline: the current token of the one run a button
//! names, read as it is needed (never stored, never logged, never in Slack) — from
//! `GetPipelineState`, or, when the state does not show that run (V2's PARALLEL execution
//! mode), from `ListActionExecutions`, whose `externalExecutionId` is then the token — and
//! `PutApprovalResult` with the summary that names who decided.
//!
//! A pipeline in another account is decided through the approver role there
//! (`templates/approver-role.yaml`), in its own region.

use std::collections::HashMap;
use std::fmt;
use std::sync::Arc;

use aws_sdk_codepipeline::Client;
use aws_sdk_codepipeline::operation::put_approval_result::PutApprovalResultError;
use aws_sdk_codepipeline::types::{ActionExecutionFilter, ActionExecutionStatus};
use aws_sdk_codepipeline::types::{ApprovalResult, ApprovalStatus};
use aws_smithy_types::error::metadata::ProvideErrorMetadata;

use super::clients::Clients;
use super::codepipeline::{convert, convert_action_run};
use crate::select::Home;
use pipewatch_core::interaction::{Decision, Seen, Standing, Target, in_history, in_state};
use pipewatch_core::pipeline::{Location, PipelineRef};
use pipewatch_core::state::ActionRun;
use tokio::sync::Mutex;

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

/// Where `target` is: a pipeline at home, or at the place its ARN names. An ARN that
/// names another pipeline than the button's is no place at all.
pub fn place(target: &Target, home: &Home) -> Result<PipelineRef, String> {
    let Some(arn) = &target.arn else {
        return Ok(PipelineRef::home(&target.pipeline));
    };
    let named = PipelineRef::from_key(arn)?;
    match named.location {
        Some(Location {
            region, account, ..
        }) if named.name == target.pipeline => Ok(home.pipeline(&region, &account, &named.name)),
        _ => Err(format!(
            "the button's ARN {arn:?} does not name pipeline {:?}",
            target.pipeline
        )),
    }
}

/// `GetPipelineState`, `ListActionExecutions` and `PutApprovalResult` on the watched
/// pipelines, here and through the approver role elsewhere.
pub struct CodePipelineApprovals {
    clients: Arc<Clients>,
    home: Home,
    built: Mutex<HashMap<Option<Location>, Client>>,
}

impl CodePipelineApprovals {
    pub fn new(clients: Arc<Clients>, home: Home) -> Self {
        Self {
            clients,
            home,
            built: Mutex::new(HashMap::new()),
        }
    }

    /// The client for `target`'s place, and the pipeline there.
    async fn client(&self, target: &Target) -> Result<(Client, PipelineRef), ApprovalError> {
        let pipeline = place(target, &self.home).map_err(ApprovalError::Failed)?;
        let key = pipeline.location.clone();
        if let Some(client) = self.built.lock().await.get(&key) {
            return Ok((client.clone(), pipeline));
        }
        let client = Client::new(&*self.clients.config(key.as_ref()).await);
        self.built.lock().await.insert(key, client.clone());
        Ok((client, pipeline))
    }

    /// Where `target` stands now, and its token while it waits: the state settles the
    /// run it shows; any other run is looked up in its execution's history (V2's PARALLEL
    /// mode shows one execution's run of many; a retried stage shows the newer run).
    pub async fn waiting(
        &self,
        target: &Target,
    ) -> Result<(Standing, Option<Token>), ApprovalError> {
        let (client, pipeline) = self.client(target).await?;
        let output = client
            .get_pipeline_state()
            .name(&pipeline.name)
            .send()
            .await
            .map_err(|e| failed(&e))?;
        let state = convert(&output).map_err(ApprovalError::Failed)?;
        match in_state(&state, target) {
            Seen::Settled(Standing::Waiting) => {
                let token = output
                    .stage_states()
                    .iter()
                    .find(|s| s.stage_name() == Some(target.stage.as_str()))
                    .and_then(|s| {
                        s.action_states()
                            .iter()
                            .find(|a| a.action_name() == Some(target.action.as_str()))
                    })
                    .and_then(|a| a.latest_execution()?.token())
                    .map(|t| Token(t.to_owned()));
                Ok((Standing::Waiting, token))
            }
            Seen::Settled(standing) => Ok((standing, None)),
            Seen::InHistory { retried } => {
                let (runs, token) = self.history(&client, &pipeline, target).await?;
                Ok(match in_history(target, &runs, retried) {
                    Standing::Waiting => (Standing::Waiting, token),
                    standing => (standing, None),
                })
            }
        }
    }

    /// The runs of the button's execution as `ListActionExecutions` lists them (none when
    /// the button names no execution), and the token of the run the button names while it
    /// waits: its `externalExecutionId`, as the API reference says of a manual approval.
    async fn history(
        &self,
        client: &Client,
        pipeline: &PipelineRef,
        target: &Target,
    ) -> Result<(Vec<ActionRun>, Option<Token>), ApprovalError> {
        let Some(execution) = &target.execution else {
            return Ok((Vec::new(), None));
        };
        let output = client
            .list_action_executions()
            .pipeline_name(&pipeline.name)
            .filter(
                ActionExecutionFilter::builder()
                    .pipeline_execution_id(execution)
                    .build(),
            )
            .max_results(100)
            .send()
            .await
            .map_err(|e| failed(&e))?;
        let details = output.action_execution_details();
        let token = details
            .iter()
            .find(|d| {
                d.action_execution_id() == Some(target.action_execution_id.as_str())
                    && d.stage_name() == Some(target.stage.as_str())
                    && d.action_name() == Some(target.action.as_str())
                    && d.status() == Some(&ActionExecutionStatus::InProgress)
            })
            .and_then(|d| d.output()?.execution_result()?.external_execution_id())
            .map(|t| Token(t.to_owned()));
        Ok((
            details.iter().filter_map(convert_action_run).collect(),
            token,
        ))
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
        let (client, pipeline) = self.client(target).await?;
        client
            .put_approval_result()
            .pipeline_name(&pipeline.name)
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
