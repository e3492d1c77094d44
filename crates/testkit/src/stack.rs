//! Stacks in the emulated CloudFormation: `tests/deploy/stack.py` translates a template with
//! the real SAM translator and creates (or updates) it in moto's CloudFormation, which
//! `scripts/test.sh` started with the resource types moto lacks (`tests/deploy/emulator/`).
//! Its JSON report says what the stack created, as the services themselves describe it.

use std::path::{Path, PathBuf};
use std::process::Command;

use serde_json::Value;

use crate::services::require;

const MANIFEST_DIR: &str = crate::fixtures::REPOSITORY;

/// The current template.
pub fn current_template() -> PathBuf {
    Path::new(MANIFEST_DIR).join("template.yaml")
}

/// The template of an earlier `release` (`0.1.0`, `0.2.0`), as users deployed it.
pub fn release_template(release: &str) -> PathBuf {
    Path::new(MANIFEST_DIR).join(format!("tests/deploy/template-{release}.yaml"))
}

/// The Serverless Application Repository's template (`scripts/listing.py`), for
/// `repository`, written beside the build's other files; returns its path.
pub fn listing_template(repository: &str) -> PathBuf {
    let output = Command::new(require("PIPEWATCH_PYTHON"))
        .arg(Path::new(MANIFEST_DIR).join("scripts/listing.py"))
        .arg(current_template())
        .arg(repository)
        .output()
        .expect("run scripts/listing.py");
    assert!(
        output.status.success(),
        "scripts/listing.py: {}",
        String::from_utf8_lossy(&output.stderr)
    );
    let path = std::env::temp_dir().join(format!(
        "{}.json",
        crate::services::unique("pipewatch-listing")
    ));
    std::fs::write(&path, output.stdout).unwrap();
    path
}

/// The resource types `template` holds once the SAM translator has translated it.
pub fn translated_types(template: &Path) -> Vec<String> {
    translated("types", template)
}

/// The types of `template`'s resources by logical id, once translated.
pub fn translated_resources(template: &Path) -> std::collections::BTreeMap<String, String> {
    translated("resources", template)
}

/// `template` as the SAM translator makes it with `parameters`: what CloudFormation gets.
pub fn translated_template(template: &Path, parameters: &serde_json::Value) -> serde_json::Value {
    let output = Command::new(require("PIPEWATCH_PYTHON"))
        .arg(Path::new(MANIFEST_DIR).join("tests/deploy/stack.py"))
        .arg("translated")
        .arg(template)
        .arg(parameters.to_string())
        .env("AWS_DEFAULT_REGION", "us-east-1")
        .output()
        .expect("run tests/deploy/stack.py");
    assert!(
        output.status.success(),
        "stack.py translated: {}",
        String::from_utf8_lossy(&output.stderr)
    );
    serde_json::from_slice(&output.stdout).unwrap()
}

fn translated<T: serde::de::DeserializeOwned>(what: &str, template: &Path) -> T {
    let output = Command::new(require("PIPEWATCH_PYTHON"))
        .arg(Path::new(MANIFEST_DIR).join("tests/deploy/stack.py"))
        .arg(what)
        .arg(template)
        .env("AWS_DEFAULT_REGION", "us-east-1")
        .output()
        .expect("run tests/deploy/stack.py");
    assert!(
        output.status.success(),
        "stack.py types: {}",
        String::from_utf8_lossy(&output.stderr)
    );
    serde_json::from_slice(&output.stdout).unwrap()
}

/// What a deployed stack made, by logical id (see `tests/deploy/stack.py`).
pub struct Stack {
    pub name: String,
    pub report: Value,
}

impl Stack {
    /// Creates the stack `name` from `template` with `parameters`, or updates it when it
    /// exists. Panics with the emulator's reason when it does not complete.
    pub fn deploy(name: &str, template: &Path, parameters: &[(&str, &str)]) -> Self {
        let parameters: serde_json::Map<String, Value> = parameters
            .iter()
            .map(|(k, v)| ((*k).to_owned(), Value::from(*v)))
            .collect();
        // boto3 follows the same AWS_ENDPOINT_URL variables as the SDK; the stack's table
        // is in moto, not in DynamoDB Local, so every service goes to moto here.
        let output = Command::new(require("PIPEWATCH_PYTHON"))
            .arg(Path::new(MANIFEST_DIR).join("tests/deploy/stack.py"))
            .arg("deploy")
            .arg(name)
            .arg(template)
            .arg(Value::Object(parameters).to_string())
            .env("AWS_ENDPOINT_URL", moto_url())
            .env_remove("AWS_ENDPOINT_URL_DYNAMODB")
            .env("AWS_DEFAULT_REGION", require("AWS_REGION"))
            .output()
            .expect("run tests/deploy/stack.py");
        assert!(
            output.status.success(),
            "{name} did not deploy:\n{}",
            String::from_utf8_lossy(&output.stderr)
        );
        let report = serde_json::from_slice(&output.stdout).expect("the report is JSON");
        Self {
            name: name.to_owned(),
            report,
        }
    }

    pub fn status(&self) -> &str {
        self.report["status"].as_str().unwrap()
    }

    pub fn has(&self, logical_id: &str) -> bool {
        self.report["resources"].get(logical_id).is_some()
    }

    /// The physical id of a resource the stack must have.
    pub fn physical(&self, logical_id: &str) -> &str {
        self.report["resources"][logical_id]["physical"]
            .as_str()
            .unwrap_or_else(|| panic!("{}: no {logical_id}", self.name))
    }

    /// One section of the report (`tables`, `topics`, `functions`...) for one resource.
    pub fn described(&self, section: &str, logical_id: &str) -> &Value {
        let value = &self.report[section][logical_id];
        assert!(
            !value.is_null(),
            "{}: no {logical_id} in {section}",
            self.name
        );
        value
    }

    pub fn output(&self, key: &str) -> Option<&str> {
        self.report["outputs"][key].as_str()
    }

    /// A function's environment as the stack set it, every value as text.
    pub fn environment(&self, function: &str) -> Vec<(String, String)> {
        self.described("functions", function)["environment"]
            .as_object()
            .unwrap()
            .iter()
            .map(|(k, v)| {
                let text = v.as_str().map_or_else(|| v.to_string(), str::to_owned);
                (k.clone(), text)
            })
            .collect()
    }

    /// The actions a role's inline policies allow.
    pub fn allowed_actions(&self, role: &str) -> Vec<String> {
        let mut actions: Vec<String> = self.described("roles", role)["statements"]
            .as_array()
            .unwrap()
            .iter()
            .filter(|s| s["Effect"] == "Allow")
            .flat_map(|s| match &s["Action"] {
                Value::String(one) => vec![one.clone()],
                Value::Array(many) => many
                    .iter()
                    .map(|a| a.as_str().unwrap().to_owned())
                    .collect(),
                other => panic!("an Action is text or a list: {other}"),
            })
            .collect();
        actions.sort();
        actions.dedup();
        actions
    }
}

/// moto's endpoint (`scripts/test.sh` serves SNS, SQS and CloudFormation from one moto).
pub fn moto_url() -> String {
    require("AWS_ENDPOINT_URL_SNS")
}
