//! Docs are output: every example of output in `README.md`, `CONTRIBUTING.md` and `docs/`
//! is a fenced block (or a Markdown table) right after a line `<!-- output of: COMMAND -->`,
//! and a test compares it with what `COMMAND` produces today. `UPDATE_DOCS=1` (what `scripts/docs.sh` sets)
//! rewrites the blocks instead.
//!
//! Two tests own the commands: the CLI's tests run those that start with `pipewatch `
//! with the built binary; the root crate's tests produce the others (a template's
//! parameters, figures the Lambda prints) and fail on a command they do not know, so no
//! example goes unchecked.

use std::path::{Path, PathBuf};

use crate::fixtures::repository;

/// One example: where it is, what produces it, what the doc shows.
#[derive(Debug, Clone)]
pub struct Example {
    pub file: PathBuf,
    /// The marker's line, 1-based.
    pub line: usize,
    pub command: String,
    /// The fence's language: `json` blocks are compared as JSON documents.
    pub lang: String,
    pub shown: String,
    /// Byte range of the block's body in the file.
    body: std::ops::Range<usize>,
}

const MARKER: &str = "<!-- output of: ";

/// The Markdown files people read.
pub fn documents() -> Vec<PathBuf> {
    let root = repository();
    let mut files = vec![root.join("README.md"), root.join("CONTRIBUTING.md")];
    let mut docs: Vec<PathBuf> = std::fs::read_dir(root.join("docs"))
        .unwrap()
        .map(|e| e.unwrap().path())
        .filter(|p| p.extension().is_some_and(|e| e == "md"))
        .collect();
    docs.sort();
    files.extend(docs);
    files
}

/// Every example in every document.
pub fn examples() -> Vec<Example> {
    documents().iter().flat_map(|f| examples_in(f)).collect()
}

fn examples_in(file: &Path) -> Vec<Example> {
    let text = std::fs::read_to_string(file).unwrap();
    let mut found = Vec::new();
    let mut from = 0;
    while let Some(at) = text[from..].find(MARKER) {
        let start = from + at;
        // Only a marker that opens its line: prose may quote one.
        if start > 0 && text.as_bytes()[start - 1] != b'\n' {
            from = start + MARKER.len();
            continue;
        }
        let line = text[..start].matches('\n').count() + 1;
        let rest = &text[start + MARKER.len()..];
        let end = rest
            .find(" -->")
            .unwrap_or_else(|| panic!("{}:{line}: an unclosed marker", file.display()));
        let command = rest[..end].trim().to_owned();
        let after = start + MARKER.len() + end + " -->".len() + 1;
        let next = &text[after.min(text.len())..];
        if next.starts_with('|') {
            // A Markdown table: its lines, up to the first that is not one.
            let length: usize = next
                .split_inclusive('\n')
                .take_while(|l| l.starts_with('|'))
                .map(str::len)
                .sum();
            let body = after..after + length;
            found.push(Example {
                file: file.to_owned(),
                line,
                command,
                lang: "table".to_owned(),
                shown: text[body.clone()].to_owned(),
                body,
            });
            from = after + length;
            continue;
        }
        assert!(
            next.starts_with("```"),
            "{}:{line}: a marker must be followed by a fenced block or a table",
            file.display()
        );
        let lang_end = next.find('\n').unwrap();
        let lang = next[3..lang_end].trim().to_owned();
        let body_start = after + lang_end + 1;
        let close = text[body_start..]
            .find("```")
            .unwrap_or_else(|| panic!("{}:{line}: an unclosed block", file.display()));
        let body = body_start..body_start + close;
        found.push(Example {
            file: file.to_owned(),
            line,
            command,
            lang,
            shown: text[body.clone()].to_owned(),
            body,
        });
        from = body_start + close + 3;
    }
    found
}

/// Compares each example `owns` with what `produce` says it is today, or rewrites it with
/// `UPDATE_DOCS=1`. Returns how many examples were checked.
pub fn check(owns: impl Fn(&str) -> bool, produce: impl Fn(&Example) -> String) -> usize {
    let update = std::env::var_os("UPDATE_DOCS").is_some_and(|v| v == "1");
    let mut stale = Vec::new();
    let mut checked = 0;
    let mut rewrites: Vec<(Example, String)> = Vec::new();
    for example in examples().into_iter().filter(|e| owns(&e.command)) {
        checked += 1;
        let output = produce(&example);
        let expected = block_text(&example.lang, &output);
        if same(&example.lang, &example.shown, &expected) {
            continue;
        }
        if update {
            rewrites.push((example, expected));
        } else {
            stale.push(format!(
                "{}:{}: `{}` no longer prints what the doc shows; run scripts/docs.sh\n--- shown\n{}\n--- printed\n{}",
                example.file.display(),
                example.line,
                example.command,
                example.shown,
                expected
            ));
        }
    }
    // Later blocks first, so earlier byte ranges stay right.
    rewrites.sort_by(|a, b| (&b.0.file, b.0.body.start).cmp(&(&a.0.file, a.0.body.start)));
    for (example, expected) in rewrites {
        let mut text = std::fs::read_to_string(&example.file).unwrap();
        text.replace_range(example.body.clone(), &expected);
        std::fs::write(&example.file, text).unwrap();
    }
    assert!(stale.is_empty(), "{}", stale.join("\n\n"));
    checked
}

/// What a block holds for `output`: JSON documents pretty-printed, text as printed.
fn block_text(lang: &str, output: &str) -> String {
    let mut text = if lang == "json" {
        documents_of(output)
            .iter()
            .map(|v| serde_json::to_string_pretty(v).unwrap())
            .collect::<Vec<_>>()
            .join("\n")
    } else {
        output.trim_end().to_owned()
    };
    text.push('\n');
    text
}

fn same(lang: &str, shown: &str, expected: &str) -> bool {
    if lang == "json" {
        documents_of(shown) == documents_of(expected)
    } else {
        shown.trim_end() == expected.trim_end()
    }
}

/// The JSON documents in `text`, one after another.
fn documents_of(text: &str) -> Vec<serde_json::Value> {
    serde_json::Deserializer::from_str(text)
        .into_iter()
        .collect::<Result<_, _>>()
        .unwrap_or_default()
}
