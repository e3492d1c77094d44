//! Every `pipewatch ...` example in the docs is what the built command prints today
//! (`pipewatch_testkit::docs`; `scripts/docs.sh` rewrites them).

use std::path::{Path, PathBuf};
use std::process::Command;

use pipewatch_core::glob;
use pipewatch_testkit::docs;
use pipewatch_testkit::fixtures::repository;

#[test]
fn every_command_line_example_in_the_docs_is_what_the_command_prints() {
    let checked = docs::check(
        |command| command.starts_with("pipewatch "),
        |example| run(&example.command),
    );
    assert!(checked >= 7, "only {checked} command examples found");
}

/// The command, run from the repository's root as a shell would (words, and `*` in a
/// file name expanded), with no AWS region in the environment.
fn run(command: &str) -> String {
    let root = repository();
    let mut args: Vec<String> = Vec::new();
    for word in command.split_whitespace().skip(1) {
        if word.contains('*') {
            args.extend(expand(&root, word).iter().map(|p| p.display().to_string()));
        } else {
            args.push(word.to_owned());
        }
    }
    let output = Command::new(env!("CARGO_BIN_EXE_pipewatch"))
        .args(&args)
        .current_dir(&root)
        .env_remove("AWS_REGION")
        .env_remove("AWS_DEFAULT_REGION")
        .env("COLUMNS", "100")
        .output()
        .unwrap();
    assert!(output.status.success(), "{command}: {output:?}");
    String::from_utf8(output.stdout).unwrap()
}

/// `dir/*.json`: the files in `dir` whose names match, in name order, relative to `root`.
fn expand(root: &Path, pattern: &str) -> Vec<PathBuf> {
    let (dir, name) = pattern.rsplit_once('/').unwrap_or((".", pattern));
    let mut files: Vec<PathBuf> = std::fs::read_dir(root.join(dir))
        .unwrap()
        .map(|e| e.unwrap().file_name().into_string().unwrap())
        .filter(|file| glob::matches(name, file))
        .map(|file| Path::new(dir).join(file))
        .collect();
    files.sort();
    assert!(!files.is_empty(), "{pattern} matches nothing");
    files
}

/// The README's Teams picture shows the card kept beside it; when the card pipewatch posts
/// changes, this fails until `scripts/docs.sh` renders the picture again.
#[test]
fn the_teams_picture_shows_the_card_posted_today() {
    let kept: serde_json::Value = serde_json::from_str(
        &std::fs::read_to_string(repository().join("docs/images/teams-release-failure.card.json"))
            .unwrap(),
    )
    .unwrap();
    let posted: serde_json::Value = serde_json::from_str(&run(
        "pipewatch replay --format teams --step 2 --region eu-west-1 --account 123456789012 events/pipeline-states/release-failure-retry/*.json",
    ))
    .unwrap();
    assert_eq!(
        kept, posted,
        "run scripts/docs.sh to render the picture again"
    );
    assert!(
        repository()
            .join("docs/images/teams-release-failure.png")
            .exists()
    );
}
