//! The flat JSON record of one change: the `replay --format json` contract.
//!
//! Every record has `pipeline`, `kind`, `stage`, `action`, `status`, `previous_status` and
//! `execution_id` (null where they do not apply); each kind adds its own keys. Statuses are
//! exactly as AWS spells them.

use serde::{Deserialize, Serialize};

use crate::change::{Approval, Change, ConditionKind, StageRetry};

/// One change, flattened for machines. It also reads back: the forwarder parses records
/// out of a notification's JSON body.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct ChangeRecord {
    /// Which replayed file this change was found in (the second file is step 1).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub step: Option<usize>,
    pub pipeline: String,
    pub stage: Option<String>,
    pub action: Option<String>,
    pub status: Option<String>,
    pub previous_status: Option<String>,
    pub execution_id: Option<String>,
    /// A run found by recovery, which no observation saw: present (`true`) only then.
    #[serde(default, skip_serializing_if = "std::ops::Not::not")]
    pub recovered: bool,
    /// `kind`, and the keys only that kind has.
    #[serde(flatten)]
    pub detail: Detail,
}

/// The keys only one kind of change has, tagged by `kind`.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(tag = "kind", rename_all = "snake_case")]
pub enum Detail {
    Transition {
        enabled: bool,
        changed_by: Option<String>,
        reason: Option<String>,
        changed_at: Option<String>,
    },
    PipelineVersion {
        version: Option<i64>,
        previous_version: Option<i64>,
    },
    Condition {
        condition: ConditionKind,
        summary: Option<String>,
    },
    Action {
        previous_execution_id: Option<String>,
        summary: Option<String>,
        error_code: Option<String>,
        error_message: Option<String>,
        external_url: Option<String>,
        #[serde(default)]
        entity_url: Option<String>,
        last_updated_by: Option<String>,
        #[serde(default)]
        approval_pending: bool,
        /// `waiting`, `approved` or `rejected` for a manual approval, else null.
        #[serde(default)]
        approval: Option<Approval>,
        /// RFC 3339; null unless known.
        #[serde(default)]
        started_at: Option<String>,
        #[serde(default)]
        finished_at: Option<String>,
    },
    Stage {
        previous_execution_id: Option<String>,
        execution_type: Option<String>,
        /// Present only when the stage was run again after a failure (V2).
        #[serde(default, skip_serializing_if = "Option::is_none")]
        retry: Option<StageRetry>,
    },
    Inbound {},
    /// A whole pipeline execution no observation showed (always recovered).
    Execution {
        /// RFC 3339; null unless known.
        started_at: Option<String>,
        finished_at: Option<String>,
    },
    /// pipewatch's own access to the pipeline: lost (`readable: false`) or back.
    Access {
        readable: bool,
        failed_checks: u32,
        /// RFC 3339: when the streak of failed reads began.
        since: Option<String>,
        error: Option<String>,
    },
    /// A kind a newer pipewatch wrote, which this version does not know: read from the
    /// change's own words. Never written.
    #[serde(other)]
    Other,
}

impl ChangeRecord {
    #[allow(clippy::too_many_lines)] // one arm per kind of change
    pub fn new(pipeline: &str, change: &Change) -> Self {
        let owned = |text: &Option<String>| text.clone();
        let (action, execution_id, detail) = match change {
            Change::PipelineVersion {
                version,
                previous_version,
            } => (
                None,
                None,
                Detail::PipelineVersion {
                    version: *version,
                    previous_version: *previous_version,
                },
            ),
            Change::Transition {
                enabled,
                changed_by,
                reason,
                changed_at,
                ..
            } => (
                None,
                None,
                Detail::Transition {
                    enabled: *enabled,
                    changed_by: owned(changed_by),
                    reason: owned(reason),
                    changed_at: changed_at.map(|t| t.to_string()),
                },
            ),
            Change::Inbound { execution_id, .. } => {
                (None, Some(execution_id.clone()), Detail::Inbound {})
            }
            Change::Execution {
                execution_id,
                started_at,
                finished_at,
                ..
            } => (
                None,
                Some(execution_id.clone()),
                Detail::Execution {
                    started_at: started_at.map(|t| t.to_string()),
                    finished_at: finished_at.map(|t| t.to_string()),
                },
            ),
            Change::Access {
                readable,
                failed_checks,
                since,
                error,
            } => (
                None,
                None,
                Detail::Access {
                    readable: *readable,
                    failed_checks: *failed_checks,
                    since: since.map(|t| t.to_string()),
                    error: owned(error),
                },
            ),
            Change::Stage {
                execution_id,
                previous_execution_id,
                execution_type,
                retry,
                ..
            } => (
                None,
                Some(execution_id.clone()),
                Detail::Stage {
                    previous_execution_id: owned(previous_execution_id),
                    execution_type: owned(execution_type),
                    retry: *retry,
                },
            ),
            Change::Condition {
                condition, summary, ..
            } => (
                None,
                None,
                Detail::Condition {
                    condition: *condition,
                    summary: owned(summary),
                },
            ),
            Change::Action {
                action,
                execution_id,
                previous_execution_id,
                summary,
                error,
                external_url,
                entity_url,
                last_updated_by,
                approval,
                started_at,
                finished_at,
                ..
            } => (
                Some(action.clone()),
                owned(execution_id),
                Detail::Action {
                    previous_execution_id: owned(previous_execution_id),
                    summary: owned(summary),
                    error_code: error.as_ref().and_then(|e| e.code.clone()),
                    error_message: error.as_ref().and_then(|e| e.message.clone()),
                    external_url: owned(external_url),
                    entity_url: owned(entity_url),
                    last_updated_by: owned(last_updated_by),
                    approval_pending: *approval == Some(Approval::Waiting),
                    approval: *approval,
                    started_at: started_at.map(|t| t.to_string()),
                    finished_at: finished_at.map(|t| t.to_string()),
                },
            ),
        };
        Self {
            step: None,
            pipeline: pipeline.to_owned(),
            stage: change.stage().map(str::to_owned),
            action,
            status: change.status().map(|s| s.as_str().to_owned()),
            previous_status: change.previous_status().map(|s| s.as_str().to_owned()),
            execution_id,
            recovered: matches!(
                change,
                Change::Action {
                    recovered: true,
                    ..
                } | Change::Execution { .. }
            ),
            detail,
        }
    }

    #[must_use]
    pub fn at_step(mut self, step: usize) -> Self {
        self.step = Some(step);
        self
    }
}

#[cfg(test)]
mod tests {
    use serde_json::json;

    use super::*;
    use crate::state::Status;

    fn record(change: &Change) -> serde_json::Value {
        let record = ChangeRecord::new("web", change).at_step(3);
        let value = serde_json::to_value(&record).unwrap();
        let parsed: ChangeRecord = serde_json::from_value(value.clone()).unwrap();
        assert_eq!(parsed, record, "a record reads back as it was written");
        value
    }

    #[test]
    fn an_inbound_departure_has_null_status_and_every_common_key() {
        let change = Change::Inbound {
            stage: "Deploy".into(),
            execution_id: "e1".into(),
            status: None,
            previous_status: Some(Status::new("InProgress")),
        };
        assert_eq!(
            record(&change),
            json!({"step": 3, "pipeline": "web", "kind": "inbound", "stage": "Deploy",
                   "action": null, "status": null, "previous_status": "InProgress",
                   "execution_id": "e1"})
        );
    }

    #[test]
    fn a_pipeline_edit_has_versions_and_no_stage() {
        let change = Change::PipelineVersion {
            version: Some(4),
            previous_version: Some(3),
        };
        assert_eq!(
            record(&change),
            json!({"step": 3, "pipeline": "web", "kind": "pipeline_version", "stage": null,
                   "action": null, "status": null, "previous_status": null,
                   "execution_id": null, "version": 4, "previous_version": 3})
        );
    }

    #[test]
    fn a_transition_names_who_and_why() {
        let change = Change::Transition {
            stage: "Deploy".into(),
            enabled: false,
            changed_by: Some("ana".into()),
            reason: Some("freeze".into()),
            changed_at: None,
        };
        let value = record(&change);
        assert_eq!(value["kind"], "transition");
        assert_eq!(value["enabled"], false);
        assert_eq!(value["changed_by"], "ana");
        assert_eq!(value["reason"], "freeze");
    }

    #[test]
    fn a_condition_names_its_set() {
        let change = Change::Condition {
            stage: "Deploy".into(),
            condition: ConditionKind::OnSuccess,
            status: Status::new("Failed"),
            previous_status: None,
            summary: None,
            pipeline_execution_id: None,
        };
        let value = record(&change);
        assert_eq!(value["condition"], "on_success");
        assert_eq!(value["status"], "Failed");
        assert_eq!(value["execution_id"], serde_json::Value::Null);
    }
}
