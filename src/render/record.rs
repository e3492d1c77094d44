//! The flat JSON record of one change: the `replay --format json` contract.
//!
//! Every record has `pipeline`, `kind`, `stage`, `action`, `status`, `previous_status` and
//! `execution_id` (null where they do not apply); each kind adds its own keys. Statuses are
//! exactly as AWS spells them.

use serde::Serialize;

use crate::diff::{Change, ChangeKind, ConditionKind};

/// One change, flattened for machines.
#[derive(Debug, Serialize)]
pub struct ChangeRecord<'a> {
    /// Which replayed file this change was found in (the second file is step 1).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub step: Option<usize>,
    pub pipeline: &'a str,
    pub kind: ChangeKind,
    pub stage: Option<&'a str>,
    pub action: Option<&'a str>,
    pub status: Option<&'a str>,
    pub previous_status: Option<&'a str>,
    pub execution_id: Option<&'a str>,
    #[serde(flatten)]
    pub detail: Detail<'a>,
}

/// The keys only one kind of change has.
#[derive(Debug, Serialize)]
#[serde(untagged)]
pub enum Detail<'a> {
    Transition {
        enabled: bool,
        changed_by: Option<&'a str>,
        reason: Option<&'a str>,
        changed_at: Option<String>,
    },
    PipelineVersion {
        version: Option<i64>,
        previous_version: Option<i64>,
    },
    Condition {
        condition: ConditionKind,
        summary: Option<&'a str>,
    },
    Action {
        previous_execution_id: Option<&'a str>,
        summary: Option<&'a str>,
        error_code: Option<&'a str>,
        error_message: Option<&'a str>,
        external_url: Option<&'a str>,
        last_updated_by: Option<&'a str>,
        approval_pending: bool,
    },
    Stage {
        previous_execution_id: Option<&'a str>,
        execution_type: Option<&'a str>,
    },
    Inbound {},
}

impl<'a> ChangeRecord<'a> {
    pub fn new(pipeline: &'a str, change: &'a Change) -> Self {
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
                    changed_by: changed_by.as_deref(),
                    reason: reason.as_deref(),
                    changed_at: changed_at.map(|t| t.to_string()),
                },
            ),
            Change::Inbound { execution_id, .. } => {
                (None, Some(execution_id.as_str()), Detail::Inbound {})
            }
            Change::Stage {
                execution_id,
                previous_execution_id,
                execution_type,
                ..
            } => (
                None,
                Some(execution_id.as_str()),
                Detail::Stage {
                    previous_execution_id: previous_execution_id.as_deref(),
                    execution_type: execution_type.as_deref(),
                },
            ),
            Change::Condition {
                condition, summary, ..
            } => (
                None,
                None,
                Detail::Condition {
                    condition: *condition,
                    summary: summary.as_deref(),
                },
            ),
            Change::Action {
                action,
                execution_id,
                previous_execution_id,
                summary,
                error,
                external_url,
                last_updated_by,
                approval_pending,
                ..
            } => (
                Some(action.as_str()),
                execution_id.as_deref(),
                Detail::Action {
                    previous_execution_id: previous_execution_id.as_deref(),
                    summary: summary.as_deref(),
                    error_code: error.as_ref().and_then(|e| e.code.as_deref()),
                    error_message: error.as_ref().and_then(|e| e.message.as_deref()),
                    external_url: external_url.as_deref(),
                    last_updated_by: last_updated_by.as_deref(),
                    approval_pending: *approval_pending,
                },
            ),
        };
        Self {
            step: None,
            pipeline,
            kind: change.kind(),
            stage: change.stage(),
            action,
            status: change.status().map(crate::state::Status::as_str),
            previous_status: change.previous_status().map(crate::state::Status::as_str),
            execution_id,
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
        serde_json::to_value(ChangeRecord::new("web", change).at_step(3)).unwrap()
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
        };
        let value = record(&change);
        assert_eq!(value["condition"], "on_success");
        assert_eq!(value["status"], "Failed");
        assert_eq!(value["execution_id"], serde_json::Value::Null);
    }
}
