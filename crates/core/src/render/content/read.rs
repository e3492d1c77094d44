//! A notification's body read back, as the forwarder and `replay` read it: as far as it is
//! understood, because a newer pipewatch may have written it. During a stack update the
//! watcher can run newer code than a forwarder (another stack's, or this one's before the
//! template made it update first), and a body it cannot read whole must still say what
//! happened, and never under a success's colour.
//!
//! A body is pipewatch's when it is a JSON object with a string `id`, a non-empty string
//! `pipeline`, and an integer `schema_version` (or, written before versions existed, a
//! `changes` list). Anything else is [`NotOurs`], for the forwarder to relay as it came.
//! A body of pipewatch's is read like this:
//! - unknown keys are ignored, missing optional ones take their defaults;
//! - a change of a kind this version does not know ([`Detail::Other`]) keeps its own
//!   words (`what`, `why`, `who`), its links and its severity;
//! - a change that does not read at all (a known key holding a value of a new shape) is
//!   read from its words alone;
//! - a change with no words of its own makes the body's `text` stand for all its changes,
//!   as for version 1 bodies;
//! - an unknown severity reads as needing attention: `warning`, or the most urgent of its
//!   changes' when that is more;
//! - an execution that does not read is left out (its commits and progress go unsaid);
//! - when the body's own fields do not read, its headline (or subject) and text alone.

use serde_json::{Map, Value};

use super::rank::{legacy_severity, lenient_severity};
use super::{ChangeContent, Content, SCHEMA_VERSION, Severity};
use crate::render::record::{ChangeRecord, Detail};

/// A body that is not one of pipewatch's notifications.
#[derive(Debug, Clone, Copy, PartialEq, Eq, thiserror::Error)]
#[error("not a pipewatch notification: a JSON object with id, pipeline and schema_version")]
pub struct NotOurs;

/// Reads `body` as far as it is understood; see the module's documentation.
pub fn read(body: &str) -> Result<Content, NotOurs> {
    let Ok(Value::Object(object)) = serde_json::from_str::<Value>(body) else {
        return Err(NotOurs);
    };
    let text = |key: &str| object.get(key).and_then(Value::as_str);
    let versioned = object.get("schema_version").is_some_and(Value::is_u64)
        || object.get("changes").is_some_and(Value::is_array);
    let (Some(id), Some(pipeline), true) = (
        text("id"),
        text("pipeline").filter(|p| !p.is_empty()),
        versioned,
    ) else {
        return Err(NotOurs);
    };

    let mut fields = object.clone();
    let changes = fields.insert("changes".into(), Value::Array(Vec::new()));
    let executions = fields.remove("executions");
    let Ok(mut content) = serde_json::from_value::<Content>(Value::Object(fields)) else {
        return Ok(headline_only(&object, id, pipeline));
    };
    content.executions = elements(executions.as_ref())
        .filter_map(|e| serde_json::from_value(e.clone()).ok())
        .collect();
    let changes: Vec<Option<ChangeContent>> = elements(changes.as_ref())
        .map(|change| {
            serde_json::from_value::<ChangeContent>(change.clone())
                .ok()
                .or_else(|| from_words(change, pipeline))
        })
        .collect();

    if content.schema_version < SCHEMA_VERSION {
        // Written before changes carried words: told by the subject and text lines, with
        // the severity their statuses give.
        content.severity = changes
            .iter()
            .flatten()
            .map(|c| legacy_severity(&c.record))
            .max()
            .unwrap_or_default();
        content.headline.clone_from(&content.subject);
        content.executions.clear();
        content.lead = 0;
        return Ok(content);
    }
    let severity = object.get("severity");
    if severity.is_some_and(|s| s.as_str().and_then(Severity::parse).is_none()) {
        content.severity = changes
            .iter()
            .flatten()
            .map(|c| c.severity)
            .fold(Severity::Warning, Ord::max);
    }
    if changes
        .iter()
        .all(|c| c.as_ref().is_some_and(|c| !c.what.is_empty()))
    {
        content.changes = changes.into_iter().flatten().collect();
    } else {
        content.lead = 0;
    }
    Ok(content)
}

/// An array's elements; none for anything else.
fn elements(value: Option<&Value>) -> impl Iterator<Item = &Value> {
    value.and_then(Value::as_array).into_iter().flatten()
}

/// A change that does not read whole, from its own words; `None` without them.
fn from_words(change: &Value, pipeline: &str) -> Option<ChangeContent> {
    let text = |key: &str| change.get(key).and_then(Value::as_str).map(str::to_owned);
    let what = text("what").filter(|w| !w.trim().is_empty())?;
    Some(ChangeContent {
        record: ChangeRecord {
            step: None,
            pipeline: text("pipeline").unwrap_or_else(|| pipeline.to_owned()),
            stage: text("stage"),
            action: text("action"),
            status: text("status"),
            previous_status: text("previous_status"),
            execution_id: text("execution_id"),
            recovered: false,
            detail: Detail::Other,
        },
        severity: change
            .get("severity")
            .map_or(Severity::Info, |s| lenient_severity(s.as_str())),
        what,
        why: text("why"),
        who: text("who"),
        duration_seconds: change.get("duration_seconds").and_then(Value::as_u64),
        pipeline_execution_id: text("pipeline_execution_id"),
        links: change
            .get("links")
            .and_then(|l| serde_json::from_value(l.clone()).ok())
            .unwrap_or_default(),
    })
}

/// A body whose own fields do not read: its headline (else subject) and text, at the
/// severity it names, attention when that is unknown.
fn headline_only(object: &Map<String, Value>, id: &str, pipeline: &str) -> Content {
    let text = |key: &str| {
        object
            .get(key)
            .and_then(Value::as_str)
            .filter(|t| !t.trim().is_empty())
            .map(str::to_owned)
    };
    let headline = text("headline")
        .or_else(|| text("subject"))
        .unwrap_or_else(|| pipeline.to_owned());
    let severity = lenient_severity(object.get("severity").and_then(Value::as_str));
    Content {
        schema_version: object
            .get("schema_version")
            .and_then(Value::as_u64)
            .and_then(|v| u32::try_from(v).ok())
            .unwrap_or(SCHEMA_VERSION),
        pipeline: pipeline.to_owned(),
        ..Content::note(id, &headline, &text("text").unwrap_or_default(), severity)
    }
}

#[cfg(test)]
mod tests {
    use serde_json::json;

    use super::*;

    /// A body as a newer pipewatch might write it, with `changes` and `extra` keys.
    fn newer(changes: &Value, extra: &Value) -> String {
        let mut body = json!({"schema_version": 9, "id": "web/7/1", "pipeline": "web",
            "subject": "web: something new", "headline": "web: something new happened",
            "text": "web: the first line\nweb: the second line", "part": 1, "parts": 1,
            "severity": "info", "changes": changes, "a_key_from_the_future": {"x": [1]}});
        for (key, value) in extra.as_object().unwrap() {
            body[key] = value.clone();
        }
        body.to_string()
    }

    fn wave(severity: &str) -> Value {
        json!({"pipeline": "web", "kind": "rollout_wave", "stage": "Deploy", "status": "Halted",
            "severity": severity, "what": "rollout wave 2 halted", "why": "error rate 4%",
            "wave": {"of": 5}, "pipeline_execution_id": "e-1"})
    }

    fn failure() -> Value {
        json!({"pipeline": "web", "kind": "action", "stage": "Build", "action": "Unit",
            "status": "Failed", "severity": "failure", "what": "Build/Unit Failed",
            "approval": null})
    }

    #[test]
    fn a_change_of_an_unknown_kind_keeps_its_words_and_never_looks_like_a_success() {
        let content = Content::from_body(&newer(&json!([wave("critical")]), &json!({}))).unwrap();
        let change = &content.changes[0];
        assert_eq!(change.record.detail, Detail::Other);
        assert_eq!(change.what, "rollout wave 2 halted");
        assert_eq!(change.why.as_deref(), Some("error rate 4%"));
        assert_eq!(change.severity, Severity::Warning, "critical is unknown");
        assert_eq!(change.icon(), "⚠️");
        assert_eq!(content.icon(), "⚠️");
        assert_eq!(content.title(), "web: something new happened");
    }

    #[test]
    fn an_unknown_kinds_mark_follows_its_severity_then_its_status() {
        let mark = |severity: &str, status: &str| {
            let mut change = wave(severity);
            change["status"] = json!(status);
            let content = Content::from_body(&newer(&json!([change]), &json!({}))).unwrap();
            content.changes[0].icon()
        };
        assert_eq!(mark("failure", "Succeeded"), "❌");
        assert_eq!(mark("approval", "Succeeded"), "⚠️");
        assert_eq!(mark("warning", "Succeeded"), "⚠️");
        assert_eq!(mark("info", "Succeeded"), "✅");
        assert_eq!(mark("info", "Halted"), "🔹");
    }

    #[test]
    fn an_unknown_severity_reads_as_attention_or_its_most_urgent_change() {
        let cases = [
            (json!([wave("info")]), "critical", Severity::Warning),
            (
                json!([wave("info"), failure()]),
                "critical",
                Severity::Failure,
            ),
            (json!([wave("info")]), "failure", Severity::Failure),
            (json!([wave("info")]), "info", Severity::Info),
        ];
        for (changes, named, expected) in cases {
            let body = newer(&changes, &json!({"severity": named}));
            assert_eq!(
                Content::from_body(&body).unwrap().severity,
                expected,
                "{named}"
            );
        }
        let body = newer(&json!([wave("info")]), &json!({"severity": 3}));
        assert_eq!(
            Content::from_body(&body).unwrap().severity,
            Severity::Warning
        );
    }

    #[test]
    fn a_change_of_a_new_shape_is_read_from_its_words() {
        let mut expired = failure();
        expired["approval"] = json!("expired");
        expired["what"] = json!("Approve/Review expired");
        expired["severity"] = json!("warning");
        let content = Content::from_body(&newer(&json!([expired, failure()]), &json!({}))).unwrap();
        assert_eq!(content.changes.len(), 2);
        let read = &content.changes[0];
        assert_eq!(read.record.detail, Detail::Other);
        assert_eq!(read.what, "Approve/Review expired");
        assert_eq!(read.record.stage.as_deref(), Some("Build"));
        assert_eq!(read.severity, Severity::Warning);
        assert!(matches!(
            content.changes[1].record.detail,
            Detail::Action { .. }
        ));
    }

    #[test]
    fn a_change_without_words_makes_the_text_stand_for_them_all() {
        let bare = json!({"pipeline": "web", "kind": "rollout_wave", "severity": "failure"});
        let content =
            Content::from_body(&newer(&json!([failure(), bare]), &json!({"lead": 1}))).unwrap();
        assert!(content.changes.is_empty());
        assert_eq!(content.lead, 0);
        assert_eq!(content.text, "web: the first line\nweb: the second line");
        assert_eq!(content.severity, Severity::Info, "as the body names it");
    }

    #[test]
    fn a_body_whose_own_fields_do_not_read_is_its_headline_and_text() {
        let body = newer(
            &json!([failure()]),
            &json!({"part": "one", "severity": "critical"}),
        );
        let content = Content::from_body(&body).unwrap();
        assert_eq!(content.pipeline, "web", "still routed by its pipeline");
        assert_eq!(content.id, "web/7/1");
        assert_eq!(content.schema_version, 9);
        assert_eq!(content.title(), "web: something new happened");
        assert_eq!(content.text, "web: the first line\nweb: the second line");
        assert_eq!(content.severity, Severity::Warning);
        assert!(content.changes.is_empty() && !content.relayed);
        let no_headline = newer(&json!([]), &json!({"part": [], "headline": 1}));
        let content = Content::from_body(&no_headline).unwrap();
        assert_eq!(content.title(), "web: something new");
        let nothing = json!({"schema_version": 9, "id": "web/1/1", "pipeline": "web"});
        let content = Content::from_body(&nothing.to_string()).unwrap();
        assert_eq!((content.title(), content.text.as_str()), ("web", ""));
    }

    #[test]
    fn missing_optional_keys_take_their_defaults_and_unreadable_executions_are_left_out() {
        let body = json!({"schema_version": 3, "id": "web/7/1", "pipeline": "web",
            "subject": "s", "text": "t", "part": 1, "parts": 1, "changes": [failure()],
            "executions": [{"id": "e-1", "enriched": "yes"},
                {"id": "e-2", "enriched": true, "trigger": null, "revisions": [],
                 "progress": {"stages": [{"name": "Deploy", "status": "paused"}]}}]});
        let content = Content::from_body(&body.to_string()).unwrap();
        assert_eq!(content.executions.len(), 1);
        let stage = &content.executions[0].progress.as_ref().unwrap().stages[0];
        assert_eq!(stage.status, super::super::StageStatus::Unknown);
        assert_eq!(content.severity, Severity::Info);
        assert_eq!(content.revision, None);
        assert_eq!(content.changes[0].what, "Build/Unit Failed");
    }

    #[test]
    fn only_an_object_with_an_id_a_pipeline_and_a_version_is_ours() {
        let foreign = [
            "plain text",
            "[1, 2]",
            r#"{"AlarmName": "x", "NewStateValue": "ALARM"}"#,
            r#"{"id": "x", "schema_version": 2}"#,
            r#"{"id": "x", "pipeline": "", "schema_version": 2}"#,
            r#"{"id": 7, "pipeline": "web", "schema_version": 2}"#,
            r#"{"id": "x", "pipeline": "web"}"#,
            r#"{"id": "x", "pipeline": "web", "schema_version": "2"}"#,
        ];
        for body in foreign {
            assert_eq!(Content::from_body(body), Err(NotOurs), "{body}");
        }
        let version_one = r#"{"id": "x", "pipeline": "web", "subject": "s", "text": "t",
            "part": 1, "parts": 1, "changes": []}"#;
        assert!(Content::from_body(version_one).is_ok());
    }
}
