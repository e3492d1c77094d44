//! The pipeline source on AWS: `GetPipelineState` and `GetPipelineExecution`, converted
//! field by field into [`pipewatch_core::state`] types at this boundary, and `ListPipelines` for
//! patterns. Used by the Lambda and the CLI alike.

use std::collections::HashMap;
use std::sync::Arc;

use aws_config::retry::RetryConfig;
use aws_sdk_codepipeline::Client;
use aws_sdk_codepipeline::error::{ProvideErrorMetadata, SdkError};
use aws_sdk_codepipeline::operation::get_pipeline_execution::GetPipelineExecutionError;
use aws_sdk_codepipeline::operation::get_pipeline_state::{
    GetPipelineStateError, GetPipelineStateOutput,
};
use aws_sdk_codepipeline::primitives::DateTime;
use aws_sdk_codepipeline::types as sdk;
use tokio::sync::Mutex;

use crate::aws::clients::Clients;
use crate::ports::SourceError;
use crate::ports::{PipelineDirectory, PipelineSource};
use pipewatch_core::pipeline::{Location, PipelineRef};
use pipewatch_core::state::{
    ActionExecution, ActionRun, ActionState, ArtifactRevision, ConditionExecution, ConditionState,
    ErrorDetails, ExecutionSummary, ExecutionTrigger, PipelineExecution, PipelineState,
    RetryStageMetadata, Revision, RollbackMetadata, RuleExecution, RuleState, StageConditionState,
    StageExecution, StageState, Status, Timestamp, TransitionState,
};

/// Reads pipelines with CodePipeline clients, one per account and region, each built on
/// first use and kept (with its connections and, for another account, the role's
/// credentials) across ticks.
#[derive(Debug)]
pub struct CodePipelineSource {
    clients: Arc<Clients>,
    built: Mutex<HashMap<Option<Location>, Client>>,
}

impl CodePipelineSource {
    pub fn new(clients: Arc<Clients>) -> Self {
        Self {
            clients,
            built: Mutex::new(HashMap::new()),
        }
    }

    /// The client for `location`. Adaptive retries: on throttling the client also slows
    /// its own sending rate, so a tick over many pipelines backs off as a whole instead
    /// of each call retrying blindly.
    async fn client(&self, location: Option<&Location>) -> Client {
        let key = location.cloned();
        if let Some(client) = self.built.lock().await.get(&key) {
            return client.clone();
        }
        let config = self.clients.config(location).await;
        let client = Client::from_conf(
            aws_sdk_codepipeline::config::Builder::from(&*config)
                .retry_config(RetryConfig::adaptive())
                .interceptor(crate::aws::interceptor::ApiMetrics)
                .build(),
        );
        self.built.lock().await.insert(key, client.clone());
        client
    }
}

impl PipelineSource for CodePipelineSource {
    async fn get_state(&self, pipeline: &PipelineRef) -> Result<PipelineState, SourceError> {
        const OPERATION: &str = "GetPipelineState";
        let client = self.client(pipeline.location.as_ref()).await;
        let output = client
            .get_pipeline_state()
            .name(&pipeline.name)
            .send()
            .await
            .map_err(|error| match error.as_service_error() {
                Some(GetPipelineStateError::PipelineNotFoundException(_)) => {
                    SourceError::PipelineNotFound(super::describe(&error))
                }
                _ => SourceError::Api {
                    operation: OPERATION,
                    source: super::describe(&error),
                },
            })?;
        convert(&output).map_err(|problem| SourceError::Invalid {
            operation: OPERATION,
            source: problem.into(),
        })
    }

    async fn get_execution(
        &self,
        pipeline: &PipelineRef,
        execution_id: &str,
    ) -> Result<PipelineExecution, SourceError> {
        const OPERATION: &str = "GetPipelineExecution";
        let client = self.client(pipeline.location.as_ref()).await;
        let output = client
            .get_pipeline_execution()
            .pipeline_name(&pipeline.name)
            .pipeline_execution_id(execution_id)
            .send()
            .await
            .map_err(|error| match error.as_service_error() {
                Some(GetPipelineExecutionError::PipelineExecutionNotFoundException(_)) => {
                    SourceError::ExecutionNotFound(super::describe(&error))
                }
                Some(GetPipelineExecutionError::PipelineNotFoundException(_)) => {
                    SourceError::PipelineNotFound(super::describe(&error))
                }
                _ => SourceError::Api {
                    operation: OPERATION,
                    source: super::describe(&error),
                },
            })?;
        let execution = output
            .pipeline_execution()
            .ok_or_else(|| SourceError::Invalid {
                operation: OPERATION,
                source: "the response has no pipelineExecution".into(),
            })?;
        Ok(convert_execution(execution, execution_id))
    }

    async fn action_runs(
        &self,
        pipeline: &PipelineRef,
        pipeline_execution_id: &str,
    ) -> Result<Vec<ActionRun>, SourceError> {
        let client = self.client(pipeline.location.as_ref()).await;
        let filter = sdk::ActionExecutionFilter::builder()
            .pipeline_execution_id(pipeline_execution_id)
            .build();
        let output = client
            .list_action_executions()
            .pipeline_name(&pipeline.name)
            .filter(filter)
            .max_results(100)
            .send()
            .await
            .map_err(|error| history_error("ListActionExecutions", &error))?;
        Ok(output
            .action_execution_details()
            .iter()
            .filter_map(convert_action_run)
            .collect())
    }

    async fn recent_executions(
        &self,
        pipeline: &PipelineRef,
    ) -> Result<Vec<ExecutionSummary>, SourceError> {
        let client = self.client(pipeline.location.as_ref()).await;
        let output = client
            .list_pipeline_executions()
            .pipeline_name(&pipeline.name)
            .max_results(100)
            .send()
            .await
            .map_err(|error| history_error("ListPipelineExecutions", &error))?;
        Ok(output
            .pipeline_execution_summaries()
            .iter()
            .filter_map(|summary| {
                Some(ExecutionSummary {
                    pipeline_execution_id: summary.pipeline_execution_id()?.to_owned(),
                    status: Status::new(summary.status()?.as_str()),
                    started_at: timestamp(summary.start_time()),
                    updated_at: timestamp(summary.last_update_time()),
                })
            })
            .collect())
    }
}

/// A history call's error: the pipeline gone, or the call failing.
fn history_error<E, R>(operation: &'static str, error: &SdkError<E, R>) -> SourceError
where
    E: ProvideErrorMetadata + std::error::Error + Send + Sync + 'static,
    R: std::fmt::Debug + Send + Sync + 'static,
{
    if error.code() == Some("PipelineNotFoundException") {
        SourceError::PipelineNotFound(super::describe(error))
    } else {
        SourceError::Api {
            operation,
            source: super::describe(error),
        }
    }
}

/// An `actionExecutionDetails` entry, or `None` without the ids that make it one.
pub fn convert_action_run(detail: &sdk::ActionExecutionDetail) -> Option<ActionRun> {
    let result = detail.output().and_then(|o| o.execution_result());
    Some(ActionRun {
        pipeline_execution_id: detail.pipeline_execution_id()?.to_owned(),
        action_execution_id: detail.action_execution_id()?.to_owned(),
        stage: detail.stage_name()?.to_owned(),
        action: detail.action_name()?.to_owned(),
        status: Status::new(detail.status()?.as_str()),
        started_at: timestamp(detail.start_time()),
        updated_at: timestamp(detail.last_update_time()),
        updated_by: detail.updated_by().map(str::to_owned),
        summary: result
            .and_then(|r| r.external_execution_summary())
            .map(str::to_owned),
        external_url: result
            .and_then(|r| r.external_execution_url())
            .map(str::to_owned),
        error: result.and_then(|r| r.error_details()).map(error_details),
    })
}

impl PipelineDirectory for CodePipelineSource {
    async fn list_pipelines(
        &self,
        location: Option<&Location>,
    ) -> Result<Vec<String>, SourceError> {
        let client = self.client(location).await;
        let mut names = Vec::new();
        // The most a page may hold: 1,000 pipelines a call instead of the default 100.
        let mut pages = client
            .list_pipelines()
            .max_results(1_000)
            .into_paginator()
            .send();
        while let Some(page) = pages.next().await {
            let page = page.map_err(|error| SourceError::Api {
                operation: "ListPipelines",
                source: super::describe(&error),
            })?;
            names.extend(
                page.pipelines()
                    .iter()
                    .filter_map(|p| p.name().map(str::to_owned)),
            );
        }
        Ok(names)
    }

    async fn tagged_pipelines(
        &self,
        location: Option<&Location>,
        tags: &[(String, String)],
    ) -> Result<Vec<String>, SourceError> {
        let config = self.clients.config(location).await;
        crate::aws::tagging::tagged_pipelines(&config, tags).await
    }
}

/// An execution as the facts a notification shows; bounded, as the record keeps it.
pub fn convert_execution(execution: &sdk::PipelineExecution, requested: &str) -> PipelineExecution {
    PipelineExecution {
        pipeline_execution_id: execution
            .pipeline_execution_id()
            .unwrap_or(requested)
            .to_owned(),
        execution_type: execution.execution_type().map(|t| t.as_str().to_owned()),
        artifact_revisions: execution
            .artifact_revisions()
            .iter()
            .map(|r| ArtifactRevision {
                name: r.name().map(str::to_owned),
                revision_id: r.revision_id().map(str::to_owned),
                revision_change_identifier: r.revision_change_identifier().map(str::to_owned),
                revision_summary: r.revision_summary().map(str::to_owned),
                created: timestamp(r.created()),
                revision_url: r.revision_url().map(str::to_owned),
            })
            .collect(),
        trigger: execution.trigger().map(|t| ExecutionTrigger {
            trigger_type: t.trigger_type().map(|t| t.as_str().to_owned()),
            trigger_detail: t.trigger_detail().map(str::to_owned),
        }),
        rollback_metadata: execution.rollback_metadata().map(|m| RollbackMetadata {
            rollback_target_pipeline_execution_id: m
                .rollback_target_pipeline_execution_id()
                .map(str::to_owned),
        }),
    }
    .bounded()
}

/// The SDK's answer as our observation. The approval token becomes a presence flag here,
/// so it never travels further than this function.
pub fn convert(output: &GetPipelineStateOutput) -> Result<PipelineState, String> {
    let state = PipelineState {
        pipeline_name: output
            .pipeline_name()
            .ok_or("the response has no pipelineName")?
            .to_owned(),
        pipeline_version: output.pipeline_version().map(i64::from),
        created: timestamp(output.created()),
        updated: timestamp(output.updated()),
        stage_states: output
            .stage_states()
            .iter()
            .map(stage)
            .collect::<Result<_, _>>()?,
    };
    // The same checks as for files (unique names: they are the diff's keys).
    state
        .validate()
        .map_err(|e| pipewatch_core::error::chain(&e))?;
    Ok(state)
}

fn stage(stage: &sdk::StageState) -> Result<StageState, String> {
    Ok(StageState {
        stage_name: stage
            .stage_name()
            .ok_or("a stage has no stageName")?
            .to_owned(),
        inbound_execution: stage.inbound_execution().map(stage_execution),
        inbound_executions: stage
            .inbound_executions()
            .iter()
            .map(stage_execution)
            .collect(),
        inbound_transition_state: stage.inbound_transition_state().map(|t| TransitionState {
            // The SDK reads an absent `enabled` as false; AWS always sends it.
            enabled: Some(t.enabled()),
            last_changed_by: t.last_changed_by().map(str::to_owned),
            last_changed_at: timestamp(t.last_changed_at()),
            disabled_reason: t.disabled_reason().map(str::to_owned),
        }),
        action_states: stage
            .action_states()
            .iter()
            .map(action)
            .collect::<Result<_, _>>()?,
        latest_execution: stage.latest_execution().map(stage_execution),
        before_entry_condition_state: stage.before_entry_condition_state().map(condition_set),
        on_success_condition_state: stage.on_success_condition_state().map(condition_set),
        on_failure_condition_state: stage.on_failure_condition_state().map(condition_set),
        retry_stage_metadata: stage.retry_stage_metadata().map(|r| RetryStageMetadata {
            auto_stage_retry_attempt: r.auto_stage_retry_attempt().map(i64::from),
            manual_stage_retry_attempt: r.manual_stage_retry_attempt().map(i64::from),
            latest_retry_trigger: r.latest_retry_trigger().map(|t| t.as_str().to_owned()),
        }),
    })
}

fn stage_execution(execution: &sdk::StageExecution) -> StageExecution {
    StageExecution {
        pipeline_execution_id: execution.pipeline_execution_id().to_owned(),
        status: Status::new(execution.status().as_str()),
        execution_type: execution.r#type().map(|t| t.as_str().to_owned()),
    }
}

fn action(action: &sdk::ActionState) -> Result<ActionState, String> {
    Ok(ActionState {
        action_name: action
            .action_name()
            .ok_or("an action has no actionName")?
            .to_owned(),
        current_revision: action
            .current_revision()
            .map(|r| revision(r.revision_id(), r.revision_change_id(), r.created())),
        latest_execution: action.latest_execution().map(|e| ActionExecution {
            action_execution_id: e.action_execution_id().map(str::to_owned),
            status: e.status().map(|s| Status::new(s.as_str())),
            summary: e.summary().map(str::to_owned),
            last_status_change: timestamp(e.last_status_change()),
            start_time: None,
            token_present: e.token().is_some_and(|t| !t.is_empty()),
            last_updated_by: e.last_updated_by().map(str::to_owned),
            external_execution_id: e.external_execution_id().map(str::to_owned),
            external_execution_url: e.external_execution_url().map(str::to_owned),
            percent_complete: e.percent_complete().map(i64::from),
            error_details: e.error_details().map(error_details),
            log_stream_arn: e.log_stream_arn().map(str::to_owned),
        }),
        entity_url: action.entity_url().map(str::to_owned),
        revision_url: action.revision_url().map(str::to_owned),
    })
}

fn condition_set(set: &sdk::StageConditionState) -> StageConditionState {
    StageConditionState {
        latest_execution: set.latest_execution().map(|e| ConditionExecution {
            status: e.status().map(|s| Status::new(s.as_str())),
            summary: e.summary().map(str::to_owned),
            last_status_change: None,
        }),
        condition_states: set
            .condition_states()
            .iter()
            .map(|c| ConditionState {
                latest_execution: c.latest_execution().map(|e| ConditionExecution {
                    status: e.status().map(|s| Status::new(s.as_str())),
                    summary: e.summary().map(str::to_owned),
                    last_status_change: timestamp(e.last_status_change()),
                }),
                rule_states: c.rule_states().iter().map(rule).collect(),
            })
            .collect(),
    }
}

fn rule(rule: &sdk::RuleState) -> RuleState {
    RuleState {
        rule_name: rule.rule_name().map(str::to_owned),
        current_revision: rule
            .current_revision()
            .map(|r| revision(r.revision_id(), r.revision_change_id(), r.created())),
        latest_execution: rule.latest_execution().map(|e| RuleExecution {
            rule_execution_id: e.rule_execution_id().map(str::to_owned),
            status: e.status().map(|s| Status::new(s.as_str())),
            summary: e.summary().map(str::to_owned),
            last_status_change: timestamp(e.last_status_change()),
            token_present: e.token().is_some_and(|t| !t.is_empty()),
            last_updated_by: e.last_updated_by().map(str::to_owned),
            external_execution_id: e.external_execution_id().map(str::to_owned),
            external_execution_url: e.external_execution_url().map(str::to_owned),
            error_details: e.error_details().map(error_details),
        }),
        entity_url: rule.entity_url().map(str::to_owned),
        revision_url: rule.revision_url().map(str::to_owned),
    }
}

/// Action and rule revisions are distinct SDK types with the same three fields.
fn revision(id: &str, change_id: &str, created: &DateTime) -> Revision {
    Revision {
        revision_id: Some(id.to_owned()),
        revision_change_id: Some(change_id.to_owned()),
        created: timestamp(Some(created)),
    }
}

fn error_details(details: &sdk::ErrorDetails) -> ErrorDetails {
    ErrorDetails {
        code: details.code().map(str::to_owned),
        message: details.message().map(str::to_owned),
    }
}

/// Out-of-range instants (which the API never sends) are dropped rather than failing a
/// whole observation over a field the diff never reads.
fn timestamp(at: Option<&DateTime>) -> Option<Timestamp> {
    at.and_then(|at| at.to_millis().ok())
        .and_then(Timestamp::from_unix_millis)
}
