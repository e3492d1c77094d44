//! The notifications document's published schema (`schema/notifications.schema.json`,
//! for editors) and the reader agree: the example document passes both, and documents
//! wrong in shape fail both. The reader checks more than a schema can (references,
//! secrets, look-alike names): those are its own tests'.

use pipewatch_core::config::Document;
use serde_json::{Value, json};

use crate::fixtures::repository;

fn schema() -> jsonschema::Validator {
    let text =
        std::fs::read_to_string(repository().join("schema/notifications.schema.json")).unwrap();
    jsonschema::validator_for(&serde_json::from_str::<Value>(&text).unwrap()).unwrap()
}

fn example() -> String {
    std::fs::read_to_string(repository().join("docs/examples/notifications.yaml")).unwrap()
}

#[test]
fn the_example_document_is_read_and_matches_the_schema() {
    let text = example();
    assert!(
        text.starts_with("# yaml-language-server: $schema=../../schema/notifications.schema.json"),
        "editors find the schema"
    );
    let document = Document::load(text.as_bytes()).unwrap();
    assert_eq!(document.destinations.len(), 3);
    let as_json: Value = serde_norway::from_str(&text).unwrap();
    let validator = schema();
    let errors: Vec<String> = validator
        .iter_errors(&as_json)
        .map(|e| e.to_string())
        .collect();
    assert!(errors.is_empty(), "{errors:#?}");
}

#[test]
fn documents_wrong_in_shape_fail_the_schema_and_the_reader_alike() {
    let good: Value = serde_norway::from_str(&example()).unwrap();
    let validator = schema();
    let change = |edit: &dyn Fn(&mut Value)| {
        let mut document = good.clone();
        edit(&mut document);
        document
    };
    let cases = [
        change(&|d| d["version"] = json!(2)),
        change(&|d| d["colour"] = json!("red")),
        change(&|d| d["destinations"]["releases"]["type"] = json!("pager")),
        change(&|d| d["destinations"]["releases"]["chanel"] = json!("C0123456789")),
        change(&|d| d["destinations"]["on-call"]["severity"] = json!("critical")),
        change(&|d| d["destinations"]["on-call"]["secret"] = json!("https://example.com/x")),
        change(&|d| d["destinations"]["Releases"] = d["destinations"]["releases"].clone()),
        change(&|d| d["subscriptions"][0]["pipelines"] = json!([])),
        change(&|d| d["subscriptions"][0]["to"] = json!("payments-teams")),
        change(&|d| d["approvers"][0]["users"] = json!(["maria"])),
    ];
    for (i, document) in cases.iter().enumerate() {
        assert!(
            !validator.is_valid(document),
            "case {i}: the schema takes it"
        );
        let text = serde_json::to_string_pretty(document).unwrap();
        assert!(
            Document::load(text.as_bytes()).is_err(),
            "case {i}: the reader takes it"
        );
    }
}
