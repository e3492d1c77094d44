//! Docs that cannot drift: the examples the root crate produces (the template's
//! parameters, figures the Lambda prints), the documented defaults of the watcher's
//! environment, and every link between the documents (`pipewatch_testkit::docs`; the
//! command line's examples are checked in `crates/cli/tests/cli/docs.rs`).

use std::collections::BTreeMap;
use std::fmt::Write as _;
use std::path::Path;

use pipewatch::aws::interceptor::ApiFigures;
use pipewatch::config::Config;
use pipewatch::redrive::Redriven;
use pipewatch::tick::TickSummary;
use pipewatch_testkit::docs::{self, Example};
use pipewatch_testkit::fixtures::repository;
use serde_norway::Value;

/// The examples this crate produces, by the command their marker names.
fn produce(example: &Example) -> String {
    match example.command.as_str() {
        "template parameters" => parameters_table(),
        "example stats line" => stats_line(),
        "slack app calls per scenario" => slack_calls_table(),
        "example redrive report" => Redriven {
            published: 2,
            ..Redriven::default()
        }
        .to_string(),
        other => panic!(
            "{}:{}: no test produces `{other}` (the CLI's tests run `pipewatch ...`)",
            example.file.display(),
            example.line
        ),
    }
}

#[test]
fn every_other_example_in_the_docs_is_what_the_code_produces() {
    let checked = docs::check(|command| !command.starts_with("pipewatch "), produce);
    assert_eq!(
        checked, 4,
        "the template's parameters, a stats line, a redrive report, the Slack app's calls"
    );
}

/// The `Parameters` of template.yaml, in the template's order.
fn parameters_table() -> String {
    let template: Value = serde_norway::from_str(
        &std::fs::read_to_string(repository().join("template.yaml")).unwrap(),
    )
    .unwrap();
    let Value::Mapping(parameters) = &template["Parameters"] else {
        panic!("template.yaml has no Parameters")
    };
    let scalar = |v: &Value| match v {
        Value::String(s) if s.is_empty() => "(empty)".to_owned(),
        Value::String(s) => format!("`{s}`"),
        Value::Number(n) => format!("`{n}`"),
        Value::Bool(b) => format!("`{b}`"),
        _ => String::new(),
    };
    let mut table = String::from("| parameter | default | allowed | what |\n|---|---|---|---|\n");
    for (name, parameter) in parameters {
        let allowed = if let Value::Sequence(values) = &parameter["AllowedValues"] {
            values.iter().map(scalar).collect::<Vec<_>>().join(", ")
        } else if !parameter["MinValue"].is_null() {
            format!(
                "{} to {}",
                scalar(&parameter["MinValue"]),
                scalar(&parameter["MaxValue"])
            )
        } else if let Some(pattern) = parameter["AllowedPattern"].as_str() {
            format!("`{pattern}`").replace('|', "\\|")
        } else {
            "any".to_owned()
        };
        let what = parameter["Description"]
            .as_str()
            .unwrap_or_default()
            .split_whitespace()
            .collect::<Vec<_>>()
            .join(" ")
            .replace('|', "\\|");
        let _ = writeln!(
            table,
            "| `{}` | {} | {allowed} | {what} |",
            name.as_str().unwrap(),
            scalar(&parameter["Default"]),
        );
    }
    table
}

/// For every bundled scenario, what the Slack app sends over the whole recording
/// (`pipewatch replay --format slack-app`), against how often an execution's message had
/// something new to show: the goal is one post per run, one update per visible change,
/// none redundant.
fn slack_calls_table() -> String {
    use pipewatch_core::render::console::Console;
    use pipewatch_core::render::content::Content;
    use pipewatch_core::render::slack_app;
    use pipewatch_core::replay::{Format, Recording};
    use pipewatch_testkit::fixtures::{scenario_files, scenario_names};

    let console = Console::new("eu-west-1", Some("123456789012"));
    let mut table = String::from(
        "| scenario | runs | top-level posts | updates | visible changes | redundant updates | thread replies | other messages |\n|---|---|---|---|---|---|---|---|\n",
    );
    for scenario in scenario_names() {
        let recording = Recording::load(&scenario_files(&scenario)).unwrap();
        // An execution's message shows something new when its rendering differs from the
        // one before.
        let mut shown: BTreeMap<String, String> = BTreeMap::new();
        let mut visible = 0;
        for step in recording.steps() {
            for message in recording.messages(&step, console.as_ref()) {
                let content = Content::from_body(&message.body).unwrap();
                for living in
                    slack_app::render(&content, pipewatch_core::replay::APP_OPTIONS).living
                {
                    let before = shown.insert(living.execution.clone(), living.digest.clone());
                    if before.is_some_and(|d| d != living.digest) {
                        visible += 1;
                    }
                }
            }
        }
        let mut out = Vec::new();
        recording
            .write(Format::SlackApp, console.as_ref(), None, None, &mut out)
            .unwrap();
        let (mut posts, mut updates, mut redundant, mut replies, mut other) = (0, 0, 0, 0, 0);
        let mut messages: BTreeMap<String, serde_json::Value> = BTreeMap::new();
        for line in String::from_utf8(out).unwrap().lines() {
            let call: serde_json::Value = serde_json::from_str(line).unwrap();
            let mut body = call["body"].clone();
            if body.get("thread_ts").is_some() {
                replies += 1;
            } else if body.get("attachments").is_some() {
                other += 1;
            } else if call["method"] == "chat.update" {
                updates += 1;
                let ts = body.as_object_mut().unwrap().remove("ts").unwrap();
                if messages.insert(ts.to_string(), body.clone()) == Some(body) {
                    redundant += 1;
                }
            } else {
                posts += 1;
                messages.insert(call["ts"].to_string(), body);
            }
        }
        let _ = writeln!(
            table,
            "| {scenario} | {} | {posts} | {updates} | {visible} | {redundant} | {replies} | {other} |",
            shown.len()
        );
    }
    table
}

fn stats_line() -> String {
    let summary = TickSummary {
        pipelines_checked: 3,
        changes: 1,
        messages_published: 1,
        duration_ms: 412,
        ..TickSummary::default()
    };
    let calls = BTreeMap::from([(
        "GetPipelineState".to_owned(),
        ApiFigures {
            calls: 3,
            throttles: 0,
            total_ms: 360.0,
            max_ms: 140.0,
            samples: vec![100.0, 120.0, 140.0],
        },
    )]);
    pipewatch::metrics::stats_line(&summary, &calls)
}

/// The environment table of docs/configuration.md: each default is what the configuration
/// parses when the variable is unset.
#[test]
fn the_documented_defaults_of_the_environment_are_the_parsed_ones() {
    let text = std::fs::read_to_string(repository().join("docs/configuration.md")).unwrap();
    let minimal = |name: &str| match name {
        "PIPELINES" => Some("web".to_owned()),
        "TABLE_NAME" => Some("pipewatch-snapshots".to_owned()),
        "TOPIC_ARN" => Some("arn:aws:sns:eu-west-1:123456789012:pipewatch".to_owned()),
        "DEAD_LETTER_QUEUE_URL" => {
            Some("https://sqs.eu-west-1.amazonaws.com/123456789012/dead".to_owned())
        }
        _ => None,
    };
    let config = Config::from_lookup(minimal).unwrap();
    let parsed = |name: &str| -> Option<String> {
        Some(match name {
            "DISCOVERY_SECONDS" => config.discovery.as_secs().to_string(),
            "ASSUME_ROLE_NAME" => format!("`{}`", config.role.name),
            "SHARD_SIZE" => config.shard_size.to_string(),
            "RETENTION_DAYS" => (config.retention.as_secs() / 86_400).to_string(),
            "MAX_CONCURRENCY" => config.max_concurrency.to_string(),
            "LEASE_SECONDS" => config.lease.as_secs().to_string(),
            "MAX_PUBLISH_ATTEMPTS" => config.max_publish_attempts.to_string(),
            "REPORT_FAILURES_AFTER" => config.report_failures_after.to_string(),
            "METRICS_NAMESPACE" => format!("`{}`", config.metrics_namespace),
            "DETAILED_METRICS" => {
                format!("`{}`", if config.detailed_metrics { "yes" } else { "no" })
            }
            "LOG_LEVEL" => format!("`{}`", config.log_level),
            _ => return None,
        })
    };
    let mut rows = 0;
    for line in text.lines().filter(|l| l.starts_with("| `")) {
        let cells: Vec<&str> = line.split(" | ").collect();
        let name = cells[0].trim_start_matches("| `").trim_end_matches('`');
        if !name.chars().all(|c| c.is_ascii_uppercase() || c == '_') {
            continue; // the parameters' table
        }
        let documented = cells
            .last()
            .unwrap()
            .trim_end_matches(" |")
            .trim_end_matches('|');
        if let Some(default) = parsed(name) {
            assert_eq!(documented.trim(), default, "{name}'s documented default");
            rows += 1;
        } else if cells.len() == 4 {
            assert!(
                documented.trim().is_empty(),
                "{name} has no default: {line}"
            );
        }
    }
    assert_eq!(rows, 11, "every variable with a default is documented");
}

/// Every relative link in README.md, CONTRIBUTING.md and docs/ names a file that exists,
/// and every `#anchor` a heading of that file.
#[test]
fn every_link_between_the_documents_resolves() {
    let mut broken = Vec::new();
    let mut links = 0;
    for document in docs::documents() {
        let text = std::fs::read_to_string(&document).unwrap();
        let dir = document.parent().unwrap();
        for target in targets(&text) {
            if target.starts_with("http") || target.starts_with("mailto:") {
                continue;
            }
            links += 1;
            let (path, anchor) = target.split_once('#').unwrap_or((&target, ""));
            let file = if path.is_empty() {
                document.clone()
            } else {
                dir.join(path)
            };
            if !file.exists() {
                broken.push(format!("{}: {target}: no such file", document.display()));
            } else if !anchor.is_empty() && !headings(&file).iter().any(|slug| slug == anchor) {
                broken.push(format!("{}: {target}: no such heading", document.display()));
            }
        }
    }
    assert!(broken.is_empty(), "{broken:#?}");
    assert!(links > 50, "{links} links");
}

/// The targets of `[text](target)` links, outside code blocks.
fn targets(text: &str) -> Vec<String> {
    let mut targets = Vec::new();
    let mut in_code = false;
    for line in text.lines() {
        if line.trim_start().starts_with("```") {
            in_code = !in_code;
        }
        if in_code {
            continue;
        }
        let mut rest = line;
        while let Some(at) = rest.find("](") {
            rest = &rest[at + 2..];
            let end = rest.find(')').unwrap_or(rest.len());
            targets.push(rest[..end].to_owned());
        }
    }
    targets
}

/// The anchors GitHub gives a Markdown file's headings.
fn headings(file: &Path) -> Vec<String> {
    if file.extension().is_none_or(|e| e != "md") {
        return Vec::new();
    }
    std::fs::read_to_string(file)
        .unwrap()
        .lines()
        .filter(|l| l.starts_with('#'))
        .map(|l| {
            l.trim_start_matches('#')
                .trim()
                .to_lowercase()
                .chars()
                .filter_map(|c| match c {
                    ' ' => Some('-'),
                    c if c.is_alphanumeric() || c == '-' || c == '_' => Some(c),
                    _ => None,
                })
                .collect()
        })
        .collect()
}

/// docs/costs.md's tables are the committed measurements at the committed prices, as
/// `scripts/cost.sh` wrote them; a change to either without the other fails here.
#[test]
fn the_cost_tables_are_what_the_measured_days_cost() {
    use pipewatch_testkit::bill::{self, Day, Prices};
    let read = |path: &str| std::fs::read_to_string(repository().join(path)).unwrap();
    let days: Vec<Day> = serde_json::from_str(&read("benches/measured-days.json")).unwrap();
    let prices: Prices = serde_json::from_str(&read("benches/prices.json")).unwrap();
    let shape: Vec<(usize, bool)> = days.iter().map(|d| (d.pipelines, d.events)).collect();
    assert_eq!(
        shape,
        [
            (20, true),
            (20, false),
            (100, true),
            (100, false),
            (500, true),
            (500, false)
        ]
    );
    let doc = read("docs/costs.md");
    assert!(
        doc == bill::with_section(&doc, &bill::section(&days, &prices)),
        "docs/costs.md's tables are not benches/measured-days.json's: run scripts/cost.sh"
    );
}
