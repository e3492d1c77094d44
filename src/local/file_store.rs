//! A snapshot store in a local folder: one JSON file per pipeline.
//!
//! Writes go to a temporary file renamed over the old one, so a crash never leaves a
//! half-written snapshot. The version check is made by re-reading the file first, which
//! is enough for one user's CLI; concurrent writers belong on DynamoDB.

use std::collections::HashMap;
use std::io::ErrorKind;
use std::path::{Path, PathBuf};

use serde::{Deserialize, Serialize};

use crate::ports::SnapshotStore;
use crate::ports::StoreError;
use pipewatch_core::record::{Expected, Health, Loaded, Pending, Record, SCHEMA_VERSION, Saved};
use pipewatch_core::state::{PipelineExecution, PipelineState};

#[derive(Debug, Clone)]
pub struct FileStore {
    dir: PathBuf,
}

/// The file's layout, mirroring the DynamoDB item's.
#[derive(Serialize, Deserialize)]
struct File {
    schema: u32,
    version: u64,
    /// Absent for a pipeline never read yet.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    snapshot: Option<PipelineState>,
    #[serde(default)]
    outbox: Vec<Pending>,
    #[serde(default, skip_serializing_if = "Health::is_healthy")]
    health: Health,
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    executions: Vec<PipelineExecution>,
}

impl FileStore {
    pub fn new(dir: impl Into<PathBuf>) -> Self {
        Self { dir: dir.into() }
    }

    /// `$XDG_STATE_HOME/pipewatch`, else `~/.local/state/pipewatch`, else `./.pipewatch`.
    pub fn default_dir() -> PathBuf {
        std::env::var_os("XDG_STATE_HOME")
            .filter(|d| !d.is_empty())
            .map(PathBuf::from)
            .or_else(|| std::env::var_os("HOME").map(|home| Path::new(&home).join(".local/state")))
            .map_or_else(
                || PathBuf::from(".pipewatch"),
                |base| base.join("pipewatch"),
            )
    }

    fn path(&self, pipeline: &str) -> PathBuf {
        // Keys are pipeline names ([A-Za-z0-9.@_-]+) or ARNs, whose `:` becomes `%3A` (no
        // name holds `%`, so no two keys meet); the suffix keeps "." and ".." harmless.
        let file = pipeline.replace(':', "%3A");
        self.dir.join(format!("{file}.snapshot.json"))
    }

    fn read(&self, pipeline: &str) -> Result<Loaded, StoreError> {
        let path = self.path(pipeline);
        let bytes = match std::fs::read(&path) {
            Ok(bytes) => bytes,
            Err(e) if e.kind() == ErrorKind::NotFound => return Ok(Loaded::Missing),
            Err(e) => return Err(io_error("reading a snapshot file", &path, &e)),
        };
        Ok(match serde_json::from_slice::<File>(&bytes) {
            Ok(file) if file.schema == SCHEMA_VERSION => Loaded::Found(Record {
                pipeline: pipeline.to_owned(),
                version: file.version,
                snapshot: file.snapshot,
                outbox: file.outbox,
                executions: file.executions,
                expires_at: None,
                health: file.health,
            }),
            Ok(file) => Loaded::Unreadable {
                version: Some(file.version),
                outbox: Vec::new(),
                reason: format!("schema version {}, expected {SCHEMA_VERSION}", file.schema),
            },
            Err(e) => Loaded::Unreadable {
                version: None,
                outbox: Vec::new(),
                reason: format!("{}: {e}", path.display()),
            },
        })
    }
}

fn io_error(operation: &'static str, path: &Path, error: &std::io::Error) -> StoreError {
    StoreError {
        operation,
        source: format!("{}: {error}", path.display()).into(),
    }
}

impl SnapshotStore for FileStore {
    async fn load_many(&self, pipelines: &[String]) -> Result<HashMap<String, Loaded>, StoreError> {
        pipelines
            .iter()
            .map(|p| Ok((p.clone(), self.read(p)?)))
            .collect()
    }

    async fn load(&self, pipeline: &str) -> Result<Loaded, StoreError> {
        self.read(pipeline)
    }

    async fn save(&self, record: &Record, expected: Expected) -> Result<Saved, StoreError> {
        let matches = match (self.read(&record.pipeline)?, expected) {
            (Loaded::Missing, Expected::Absent)
            | (Loaded::Unreadable { version: None, .. }, Expected::UnreadableVersion) => true,
            (Loaded::Found(stored), Expected::Version(v)) => stored.version == v,
            (Loaded::Unreadable { version, .. }, Expected::Version(v)) => version == Some(v),
            _ => false,
        };
        if !matches {
            return Ok(Saved::Conflict);
        }
        std::fs::create_dir_all(&self.dir)
            .map_err(|e| io_error("creating the snapshot folder", &self.dir, &e))?;
        let file = File {
            schema: SCHEMA_VERSION,
            version: record.version,
            snapshot: record.snapshot.clone(),
            outbox: record.outbox.clone(),
            executions: record.executions.clone(),
            health: record.health.clone(),
        };
        let path = self.path(&record.pipeline);
        let temporary = path.with_extension("json.tmp");
        let json = serde_json::to_vec_pretty(&file).expect("a record always serialises");
        std::fs::write(&temporary, json)
            .map_err(|e| io_error("writing a snapshot file", &temporary, &e))?;
        std::fs::rename(&temporary, &path)
            .map_err(|e| io_error("replacing a snapshot file", &path, &e))?;
        Ok(Saved::Written)
    }
}
