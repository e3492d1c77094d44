//! The house's floors, checked: each crate's `lib.rs` maps its modules by floor, every
//! module is on the map, and no module imports one on a higher floor (so there is no
//! cycle either). That the core imports no AWS crate is the compiler's to check: its
//! `Cargo.toml` has none.

use std::collections::BTreeMap;
use std::path::{Path, PathBuf};

const ROOT: &str = env!("CARGO_MANIFEST_DIR");

/// The root crate's floors, lowest first, as `src/lib.rs` lists them.
const PIPEWATCH: &[&[&str]] = &[
    &["ports"],
    &["select"],
    &["config"],
    &["aws", "local", "slack", "webhook"],
    &["tick"],
    &["metrics", "redrive"],
    &["approve", "forward", "lambda"],
];

/// The core's floors, as `crates/core/src/lib.rs` lists them.
const CORE: &[&[&str]] = &[
    &["glob", "error"],
    &["pipeline", "state"],
    &["change", "interaction"],
    &["diff", "recover"],
    &["render"],
    &["record", "living", "config"],
    &["plan"],
    &["replay"],
];

#[test]
fn the_root_crates_modules_are_all_on_its_map_and_import_only_downwards() {
    check(&Path::new(ROOT).join("src"), PIPEWATCH);
}

#[test]
fn the_cores_modules_are_all_on_its_map_and_import_only_downwards() {
    check(&Path::new(ROOT).join("crates/core/src"), CORE);
}

/// A floor that says nothing of a module, an unmapped module, or an import upwards fails.
#[test]
fn a_misplaced_import_is_found() {
    let dir = Path::new(env!("CARGO_TARGET_TMPDIR")).join("layering-misplaced");
    std::fs::create_dir_all(&dir).unwrap();
    std::fs::write(
        dir.join("lib.rs"),
        "//! [`low`] then [`high`].\npub mod low;\npub mod high;\npub mod stray;\n",
    )
    .unwrap();
    std::fs::write(dir.join("low.rs"), "use crate::high::Thing;\n").unwrap();
    std::fs::write(dir.join("high.rs"), "use crate::low::Other;\n").unwrap();
    std::fs::write(dir.join("stray.rs"), "").unwrap();
    let problems = problems(&dir, &[&["low"], &["high"]]);
    assert_eq!(
        problems,
        [
            "`stray` is a module of lib.rs but on no floor",
            "low imports crate::high, a higher floor",
            "the map in lib.rs does not name `stray`",
        ]
    );
}

fn check(src: &Path, floors: &[&[&str]]) {
    let problems = problems(src, floors);
    assert!(problems.is_empty(), "{problems:#?}");
}

fn problems(src: &Path, floors: &[&[&str]]) -> Vec<String> {
    let floor_of: BTreeMap<&str, usize> = floors
        .iter()
        .enumerate()
        .flat_map(|(i, modules)| modules.iter().map(move |m| (*m, i)))
        .collect();
    let lib = std::fs::read_to_string(src.join("lib.rs")).unwrap();
    let mut problems = Vec::new();
    let declared: Vec<&str> = lib
        .lines()
        .filter_map(|l| l.strip_prefix("pub mod "))
        .map(|l| l.trim_end_matches(';'))
        .collect();
    for module in &declared {
        if !floor_of.contains_key(module) {
            problems.push(format!("`{module}` is a module of lib.rs but on no floor"));
        }
        if !lib.contains(&format!("[`{module}`]")) {
            problems.push(format!("the map in lib.rs does not name `{module}`"));
        }
    }
    for (module, floor) in &floor_of {
        if !declared.contains(module) {
            problems.push(format!(
                "`{module}` is on a floor but not a module of lib.rs"
            ));
        }
        for file in files_of(src, module) {
            let code = std::fs::read_to_string(&file).unwrap();
            for used in imports(&code) {
                if floor_of.get(used.as_str()).is_some_and(|f| f > floor) {
                    problems.push(format!("{module} imports crate::{used}, a higher floor"));
                }
            }
        }
    }
    problems.sort();
    problems.dedup();
    problems
}

/// The module's own file and everything under its folder.
fn files_of(src: &Path, module: &str) -> Vec<PathBuf> {
    let mut files = Vec::new();
    let file = src.join(format!("{module}.rs"));
    if file.exists() {
        files.push(file);
    }
    let mut folders = vec![src.join(module)];
    while let Some(folder) = folders.pop() {
        let Ok(entries) = std::fs::read_dir(&folder) else {
            continue;
        };
        for entry in entries {
            let path = entry.unwrap().path();
            if path.is_dir() {
                folders.push(path);
            } else if path.extension().is_some_and(|e| e == "rs") {
                files.push(path);
            }
        }
    }
    files
}

/// The top-level modules a file names as `crate::module`, outside comments.
fn imports(code: &str) -> Vec<String> {
    let mut used = Vec::new();
    for line in code.lines() {
        let line = line.split("//").next().unwrap_or_default();
        let mut rest = line;
        while let Some(at) = rest.find("crate::") {
            rest = &rest[at + "crate::".len()..];
            let name: String = rest
                .chars()
                .take_while(|c| c.is_ascii_alphanumeric() || *c == '_')
                .collect();
            if !name.is_empty() {
                used.push(name);
            }
        }
    }
    used
}
