//! The recorded scenarios in `events/pipeline-states/`, shared by every test that replays them.

use std::path::{Path, PathBuf};

/// A scenario's files, oldest first.
pub fn scenario_files(name: &str) -> Vec<PathBuf> {
    let dir = Path::new(env!("CARGO_MANIFEST_DIR"))
        .join("events/pipeline-states")
        .join(name);
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
