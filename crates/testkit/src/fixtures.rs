//! The recorded scenarios in `events/pipeline-states/`, shared by every test that replays
//! them: the testkit's, and the core's own tests (which include this file, as the core
//! does not depend on the testkit and its AWS crates).

use std::path::{Path, PathBuf};

/// The repository's root: both crates that use this file sit two folders below it.
pub const REPOSITORY: &str = concat!(env!("CARGO_MANIFEST_DIR"), "/../..");

/// [`REPOSITORY`] as a path.
pub fn repository() -> PathBuf {
    Path::new(REPOSITORY).to_path_buf()
}

/// A scenario's files, oldest first.
pub fn scenario_files(name: &str) -> Vec<PathBuf> {
    let dir = repository().join("events/pipeline-states").join(name);
    let mut files: Vec<PathBuf> = std::fs::read_dir(&dir)
        .unwrap_or_else(|e| panic!("{}: {e}", dir.display()))
        .map(|entry| entry.unwrap().path())
        .filter(|p| p.extension().is_some_and(|e| e == "json"))
        .collect();
    files.sort();
    files
}

/// A scenario's states, oldest first, as JSON text.
pub fn scenario(name: &str) -> Vec<String> {
    scenario_files(name)
        .iter()
        .map(|f| std::fs::read_to_string(f).unwrap())
        .collect()
}

/// The `GetPipelineExecution` responses recorded beside a scenario's states.
pub fn scenario_executions(name: &str) -> Vec<String> {
    let dir = repository()
        .join("events/pipeline-states")
        .join(name)
        .join("executions");
    let Ok(listing) = std::fs::read_dir(&dir) else {
        return Vec::new();
    };
    let mut files: Vec<PathBuf> = listing.map(|entry| entry.unwrap().path()).collect();
    files.sort();
    files
        .iter()
        .map(|f| std::fs::read_to_string(f).unwrap())
        .collect()
}

/// Every bundled scenario's name.
pub fn scenario_names() -> Vec<String> {
    let dir = repository().join("events/pipeline-states");
    let mut names: Vec<String> = std::fs::read_dir(&dir)
        .unwrap()
        .map(|entry| entry.unwrap().file_name().into_string().unwrap())
        .collect();
    names.sort();
    names
}
