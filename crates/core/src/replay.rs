//! `replay`: run change detection over recorded observations of one pipeline, exactly as
//! the tick would have, and render what each channel would have received
//! ([`Recording::write`], which the CLI's `replay` prints).
//!
//! Every file is read and checked before anything is reported, so a bad file yields an
//! error and no partial output that a reader could mistake for the whole story.
//!
//! Recorded `GetPipelineExecution` responses may sit beside the state files, in a folder
//! named `executions/` (one response per file, any name ending in `.json`): messages then
//! show commits and triggers as the tick's enrichment would. Without them, messages read
//! as they do when enrichment fails.

use std::io::{self, Write};
use std::path::{Path, PathBuf};

mod calls;

pub use calls::{Call, Calls};

use crate::change::Change;
use crate::config::{Destination, Document};
use crate::diff::{diff, essentials, next_snapshot};
use crate::error::ReplayError;
use crate::living::Simulation;
use crate::render::console::Console;
use crate::render::content::Severity;
use crate::render::content::{Content, Context};
use crate::render::message::{Message, messages};
use crate::render::record::ChangeRecord;
use crate::render::{chatbot, email, slack, slack_app, teams, text};
use crate::state::{PipelineExecution, PipelineState};

/// The channel `--format slack-app` posts to: an id as Slack gives them.
pub const REPLAY_CHANNEL: &str = "C0123456789";

/// The app's options `--format slack-app` previews: a route's defaults (failures also
/// shown in the channel), with approvals decided in Slack, so that a waiting approval
/// shows its Approve and Reject buttons, and the message after the decision none.
pub const APP_OPTIONS: slack_app::Options = slack_app::Options {
    broadcast_failures: true,
    approve_in_slack: true,
};

/// Consecutive observations of one pipeline, oldest first, and the executions recorded
/// beside them.
#[derive(Debug)]
pub struct Recording {
    pub pipeline: String,
    states: Vec<PipelineState>,
    pub executions: Vec<PipelineExecution>,
}

/// What `replay` prints: [`Format::ALL`] names and describes each, for a command line.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Format {
    Text,
    Json,
    Body,
    Email,
    Chatbot,
    Slack,
    SlackApp,
    Teams,
    Calls,
}

impl Format {
    /// Every format: its name on a command line, and what it prints.
    pub const ALL: [(Self, &'static str, &'static str); 9] = [
        (Self::Text, "text", "One readable line per change"),
        (Self::Json, "json", "One JSON object per line per change"),
        (
            Self::Body,
            "body",
            "Each message's JSON body (what queues and programs get), one document per line",
        ),
        (
            Self::Email,
            "email",
            "Each message's email, as a mail client shows it",
        ),
        (
            Self::Chatbot,
            "chatbot",
            "Each message's AWS Chatbot custom notification, one JSON document per line",
        ),
        (
            Self::Slack,
            "slack",
            "Each message as the forwarder posts it to Slack, one JSON document per line",
        ),
        (
            Self::SlackApp,
            "slack-app",
            "The Slack app's Web API calls: a living message per run, thread replies",
        ),
        (
            Self::Teams,
            "teams",
            "Each message as the forwarder posts it to Teams, one JSON document per line",
        ),
        (
            Self::Calls,
            "calls",
            "Every call to every destination of --config's document: JSON lines of destination, method, url (a webhook's secret's ARN) and body",
        ),
    ];

    /// The format a name in [`Format::ALL`] names.
    pub fn from_name(name: &str) -> Option<Self> {
        Self::ALL
            .iter()
            .find(|(_, n, _)| *n == name)
            .map(|(format, _, _)| *format)
    }
}

/// The changes found in one file against what the tick would have stored before it.
#[derive(Debug)]
pub struct Step {
    /// 1-based: the second file is step 1 (the first is the silent baseline).
    pub number: usize,
    pub changes: Vec<Change>,
    /// What the tick would keep after this step, with the runs' start times.
    pub snapshot: PipelineState,
}

impl Recording {
    /// Reads and parses every file; all must observe the same pipeline. Then reads the
    /// `executions/` folders beside them, if any.
    pub fn load(paths: &[PathBuf]) -> Result<Self, ReplayError> {
        let mut states = Vec::with_capacity(paths.len());
        for path in paths {
            let state = read(path)?;
            if let Some(first) = states.first().map(|s: &PipelineState| &s.pipeline_name)
                && *first != state.pipeline_name
            {
                return Err(ReplayError::MixedPipelines {
                    path: path.clone(),
                    found: state.pipeline_name,
                    expected: first.clone(),
                });
            }
            states.push(state);
        }
        let pipeline = states
            .first()
            .map(|s| s.pipeline_name.clone())
            .unwrap_or_default();
        let mut folders: Vec<PathBuf> = paths
            .iter()
            .map(|p| {
                p.parent()
                    .unwrap_or_else(|| Path::new("."))
                    .join("executions")
            })
            .collect();
        folders.dedup();
        let mut executions = Vec::new();
        for folder in folders.iter().filter(|f| f.is_dir()) {
            executions.extend(read_executions(folder)?);
        }
        Ok(Self {
            pipeline,
            states,
            executions,
        })
    }

    /// The first observation is the silent baseline; each later one is diffed against the
    /// snapshot the tick would hold by then (which keeps the runs' start times).
    pub fn steps(&self) -> Vec<Step> {
        let Some(first) = self.states.first() else {
            return Vec::new();
        };
        let mut snapshot = essentials(first);
        self.states[1..]
            .iter()
            .enumerate()
            .map(|(i, state)| {
                let changes = diff(&snapshot, state);
                snapshot = next_snapshot(&snapshot, state, &changes);
                Step {
                    number: i + 1,
                    changes,
                    snapshot: snapshot.clone(),
                }
            })
            .collect()
    }

    /// The messages the tick would have published at `step`, with console links when a
    /// region is given.
    pub fn messages(&self, step: &Step, console: Option<&Console>) -> Vec<Message> {
        let context = Context {
            console,
            executions: &self.executions,
            state: self.states.get(step.number),
            starts: Some(&step.snapshot),
            revision: u64::try_from(step.number).ok(),
        };
        let prefix = format!("{}/step-{}", self.pipeline, step.number);
        messages(&self.pipeline, &step.changes, &context, &prefix)
    }
}

impl Recording {
    /// Prints every step in `format` (or only step `only`), with console links when a
    /// `console` is given.
    ///
    /// With a `document`, the chat formats print what it sends: `slack` and `teams` each
    /// message some destination of that kind is sent, `slack-app` the calls to its Slack
    /// app channels, and `calls` (which needs one) every call to every destination. The
    /// other formats are what the topic carries, which the document does not route.
    pub fn write(
        &self,
        format: Format,
        console: Option<&Console>,
        only: Option<usize>,
        document: Option<&Document>,
        out: &mut impl Write,
    ) -> io::Result<()> {
        if format == Format::Calls && document.is_none() {
            return Err(io::Error::other(
                "--format calls prints a notifications document's calls: give it with --config FILE",
            ));
        }
        let steps = self.steps();
        // The app's message references live across steps, as in DynamoDB.
        let mut app = Simulation::new(REPLAY_CHANNEL, Severity::Info);
        let mut calls = Calls::default();
        for step in &steps {
            let shown = only.is_none_or(|n| step.number == n);
            // The app's calls depend on the steps before: every step is run, one printed.
            if !shown && !matches!(format, Format::SlackApp | Format::Calls) {
                continue;
            }
            if matches!(format, Format::Text | Format::Json) {
                for change in &step.changes {
                    if format == Format::Json {
                        let record = ChangeRecord::new(&self.pipeline, change).at_step(step.number);
                        serde_json::to_writer(&mut *out, &record)?;
                        writeln!(out)?;
                    } else {
                        let line = text::line(&self.pipeline, change);
                        writeln!(out, "step {}: {line}", step.number)?;
                    }
                }
                continue;
            }
            for message in self.messages(step, console) {
                let content = Content::from_body(&message.body).map_err(io::Error::other)?;
                if let Some(document) = document
                    && format != Format::Body
                {
                    let made = calls.of(document, &content);
                    let mine = made.iter().filter(|call| {
                        format == Format::Calls || kind(document, call.destination) == Some(format)
                    });
                    if !shown {
                        continue;
                    }
                    if matches!(format, Format::Calls | Format::SlackApp) {
                        for call in mine {
                            serde_json::to_writer(&mut *out, call)?;
                            writeln!(out)?;
                        }
                    } else if let Some(call) = mine.into_iter().next() {
                        // One destination's body stands for all of its kind: the same.
                        let message = call.body["Message"].as_str().unwrap_or_default();
                        match format {
                            Format::Email => {
                                let subject = call.body["Subject"].as_str().unwrap_or_default();
                                writeln!(out, "=== step {}: {subject} ===", step.number)?;
                                writeln!(out, "{message}")?;
                            }
                            Format::Chatbot => writeln!(out, "{message}")?,
                            _ => writeln!(out, "{}", call.body)?,
                        }
                    }
                    continue;
                }
                match format {
                    Format::Email => {
                        writeln!(out, "=== step {}: {} ===", step.number, message.subject)?;
                        writeln!(out, "{}", email::render(&content))?;
                    }
                    Format::Body => writeln!(out, "{}", message.body)?,
                    Format::Chatbot => writeln!(out, "{}", chatbot::render(&content))?,
                    Format::Slack => writeln!(out, "{}", slack::render(&content))?,
                    Format::SlackApp => {
                        for call in app.deliver(&slack_app::render(&content, APP_OPTIONS)) {
                            if shown {
                                serde_json::to_writer(&mut *out, &call)?;
                                writeln!(out)?;
                            }
                        }
                    }
                    Format::Teams => writeln!(out, "{}", teams::render(&content))?,
                    Format::Text | Format::Json | Format::Calls => unreachable!("handled above"),
                }
            }
        }
        Ok(())
    }
}

/// The format a document's destination `name` takes; `Calls` takes every one.
fn kind(document: &Document, name: &str) -> Option<Format> {
    Some(match document.destinations.get(name)? {
        Destination::SlackApp { .. } => Format::SlackApp,
        Destination::SlackWebhook(_) => Format::Slack,
        Destination::TeamsWebhook(_) => Format::Teams,
        Destination::Email(_) => Format::Email,
        Destination::Chatbot(_) => Format::Chatbot,
    })
}

fn read(path: &Path) -> Result<PipelineState, ReplayError> {
    parse(path, PipelineState::from_json)
}

/// Every `*.json` in `folder`, as `GetPipelineExecution` responses, in name order.
fn read_executions(folder: &Path) -> Result<Vec<PipelineExecution>, ReplayError> {
    let listing = std::fs::read_dir(folder).map_err(|source| ReplayError::Read {
        path: folder.to_owned(),
        source,
    })?;
    let mut files: Vec<PathBuf> = listing
        .filter_map(Result::ok)
        .map(|entry| entry.path())
        .filter(|p| p.extension().is_some_and(|e| e == "json"))
        .collect();
    files.sort();
    files
        .iter()
        .map(|path| parse(path, PipelineExecution::from_json))
        .collect()
}

/// Reads `path` and parses it with `from_json`, naming the file in any error.
fn parse<T>(
    path: &Path,
    from_json: impl Fn(&[u8]) -> Result<T, crate::error::ParseError>,
) -> Result<T, ReplayError> {
    let bytes = std::fs::read(path).map_err(|source| ReplayError::Read {
        path: path.to_owned(),
        source,
    })?;
    from_json(&bytes).map_err(|source| ReplayError::Parse {
        path: path.to_owned(),
        source,
    })
}
