//! What a notification says, decided once: what happened, why, which commit, who, how
//! long, and the links to act on it.
//!
//! [`Content`] is the message's JSON body (the `default` SNS body that queues and programs
//! read, described by `schema/notification.schema.json`), and every channel renders it:
//! [`super::email`] and [`super::chatbot`] when the tick publishes, [`super::slack`] and
//! [`super::teams`] in the forwarder, which parses it back out of the SNS message. So a
//! fact shown in one channel cannot be missing from another.
//!
//! Everything here is pure. Words are chosen for a person reading on a phone: names and
//! statuses as AWS spells them, IAM principals shortened (`maria.silva (ReleaseManager)`),
//! commit ids shortened (`4e1243b`), while the JSON keeps every value whole.

use std::time::Duration;

use serde::{Deserialize, Serialize};

use crate::change::{Approval, Change};
use crate::render::console::Console;
use crate::render::record::{ChangeRecord, Detail};
use crate::render::text;
use crate::render::words::{duration_text, who, why, words};
use crate::state::{KnownStatus, PipelineExecution, PipelineState, Status};

/// The body's layout. Version 1, before links and commits, had no `schema_version` key.
mod execution;
mod progress;
mod rank;
mod read;

pub use execution::{ExecutionContent, RevisionContent, Trigger};
pub use progress::{Blocked, Progress, StageProgress, StageStatus};
pub use rank::Severity;
use rank::lead;
pub use read::NotOurs;

pub const SCHEMA_VERSION: u32 = 2;

/// What the tick knows besides the changes themselves.
#[derive(Debug, Clone, Copy, Default)]
pub struct Context<'a> {
    /// The console for links; `None` leaves console links out (a replay without a region).
    pub console: Option<&'a Console>,
    /// What `GetPipelineExecution` said of the executions the changes mention.
    pub executions: &'a [PipelineExecution],
    /// The observation the changes were found in: each execution's progress is read from
    /// it. `None` leaves progress out.
    pub state: Option<&'a PipelineState>,
    /// The snapshot kept after that observation, for the runs' start times.
    pub starts: Option<&'a PipelineState>,
    /// What orders this notification among the pipeline's others: the record's version,
    /// which only grows.
    pub revision: Option<u64>,
}

/// A notification's content: the JSON body, and what every channel renders.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Content {
    /// [`SCHEMA_VERSION`]; bodies written before it existed read as 1.
    #[serde(default = "first_schema")]
    pub schema_version: u32,
    /// Stable across redeliveries: `<pipeline>/<record version>/<part>`.
    pub id: String,
    pub pipeline: String,
    /// The SNS subject: ASCII, under 100 characters.
    pub subject: String,
    /// The subject without SNS's rules, with the lead change's duration, for chat titles.
    #[serde(default)]
    pub headline: String,
    /// One readable line per change.
    pub text: String,
    pub part: usize,
    pub parts: usize,
    /// The record version the notification was made at: a later notification of the
    /// same pipeline has a greater one. Absent from bodies written before it existed.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub revision: Option<u64>,
    /// Unknown names (a newer pipewatch's) read as [`Severity::Warning`]: see
    /// [`Content::from_body`].
    #[serde(default, deserialize_with = "rank::lenient")]
    pub severity: Severity,
    /// Index in `changes` of the change the subject names.
    #[serde(default)]
    pub lead: usize,
    #[serde(default)]
    pub pipeline_arn: Option<String>,
    #[serde(default)]
    pub links: Links,
    /// The pipeline executions the changes mention, the lead change's first.
    #[serde(default)]
    pub executions: Vec<ExecutionContent>,
    pub changes: Vec<ChangeContent>,
    /// Not one of pipewatch's notifications, nor an alarm: relayed as it came, in neutral
    /// colours and with no status mark. Never part of a body.
    #[serde(skip)]
    pub relayed: bool,
}

fn first_schema() -> u32 {
    1
}

/// Links about the whole message.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct Links {
    /// The pipeline's console page (where approvals are reviewed).
    #[serde(default)]
    pub pipeline: Option<String>,
    /// A CloudWatch alarm's page, for alarm messages the forwarder relays.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub alarm: Option<String>,
}

/// One change: its record (the `replay --format json` contract) and what people read.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct ChangeContent {
    #[serde(flatten)]
    pub record: ChangeRecord,
    #[serde(default, deserialize_with = "rank::lenient")]
    pub severity: Severity,
    /// What happened: "Build/UnitTests Failed", "Approve/Review rejected".
    #[serde(default)]
    pub what: String,
    /// The reason, a comment: free text from AWS and its users.
    #[serde(default)]
    pub why: Option<String>,
    /// Who did it, in words: `rejected by jdoe`, `disabled by maria.silva (ReleaseManager)`.
    #[serde(default)]
    pub who: Option<String>,
    /// How long the run took, when both ends are known.
    #[serde(default)]
    pub duration_seconds: Option<u64>,
    /// The pipeline execution this change belongs to (see `executions`).
    #[serde(default)]
    pub pipeline_execution_id: Option<String>,
    #[serde(default)]
    pub links: ChangeLinks,
}

/// Links about one change.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct ChangeLinks {
    /// The run's own page: a `CodeBuild` log, a deployment (`externalExecutionUrl`).
    #[serde(default)]
    pub logs: Option<String>,
    /// The action's resource (`entityUrl`).
    #[serde(default)]
    pub entity: Option<String>,
    /// The execution's timeline in the console.
    #[serde(default)]
    pub execution: Option<String>,
}

impl Content {
    /// The content of one message holding `changes` of `pipeline`.
    ///
    /// # Panics
    ///
    /// When `changes` is empty: a message is built for at least one change, as
    /// [`crate::render::message::messages`] guarantees.
    pub fn build(
        pipeline: &str,
        changes: &[Change],
        context: &Context<'_>,
        id: &str,
        (part, parts): (usize, usize),
    ) -> Self {
        let lead = lead(changes);
        let lead_change = changes
            .get(lead)
            .expect("a message is built for at least one change");
        let more = match changes.len() {
            1 => String::new(),
            n => format!(" (+{} more)", n - 1),
        };
        let part_suffix = if parts > 1 {
            format!(" [{part}/{parts}]")
        } else {
            String::new()
        };
        let after = lead_change
            .duration()
            .map_or_else(String::new, |d| format!(" after {}", duration_text(d)));
        let lead_words = words(lead_change);
        let headline = format!(
            "{}: {}{after}{more}{part_suffix}",
            text::clean(pipeline),
            lead_words.what
        );
        let subject = sns_subject(&format!(
            "{pipeline}: {}{more}{part_suffix}",
            lead_words.subject
        ));
        let mut execution_ids: Vec<&str> = Vec::new();
        for id in std::iter::once(lead_change)
            .chain(changes)
            .filter_map(Change::pipeline_execution_id)
        {
            if !execution_ids.contains(&id) {
                execution_ids.push(id);
            }
        }
        Self {
            schema_version: SCHEMA_VERSION,
            id: id.to_owned(),
            pipeline: pipeline.to_owned(),
            subject,
            headline,
            text: changes
                .iter()
                .map(|c| text::line(pipeline, c))
                .collect::<Vec<_>>()
                .join("\n"),
            part,
            parts,
            revision: context.revision,
            severity: changes.iter().map(Severity::of).max().unwrap_or_default(),
            lead,
            pipeline_arn: context.console.and_then(|c| c.pipeline_arn(pipeline)),
            links: Links {
                pipeline: context.console.map(|c| c.pipeline_url(pipeline)),
                alarm: None,
            },
            executions: execution_ids
                .into_iter()
                .map(|id| ExecutionContent::new(pipeline, id, context))
                .collect(),
            changes: changes
                .iter()
                .map(|c| ChangeContent::new(pipeline, c, context))
                .collect(),
            relayed: false,
        }
    }

    /// A message about no change: a headline and text (an alarm put into words, a body
    /// read no further than its headline).
    pub fn note(id: &str, headline: &str, text: &str, severity: Severity) -> Self {
        Self {
            schema_version: SCHEMA_VERSION,
            id: id.to_owned(),
            pipeline: String::new(),
            subject: sns_subject(headline),
            headline: headline.to_owned(),
            text: text.to_owned(),
            part: 1,
            parts: 1,
            revision: None,
            severity,
            lead: 0,
            pipeline_arn: None,
            links: Links::default(),
            executions: Vec::new(),
            changes: Vec::new(),
            relayed: false,
        }
    }

    /// Something on the topic that is not pipewatch's: posted as it came, as plain text
    /// in neutral colours.
    pub fn relayed(id: &str, subject: &str, text: &str) -> Self {
        Self {
            relayed: true,
            ..Self::note(id, subject, text, Severity::Info)
        }
    }

    /// Reads a message body back, as far as it is understood: one written by an older
    /// pipewatch (version 1 has records but no words: its subject and text lines tell
    /// it) or a newer one (what it adds is left out or shown from its own words, never
    /// as a success; see `content/read.rs`). [`NotOurs`] for anything that is not pipewatch's.
    pub fn from_body(body: &str) -> Result<Self, NotOurs> {
        read::read(body)
    }

    /// The execution a change belongs to, when the message mentions it.
    /// The pipeline as a record key ([`crate::pipeline::PipelineRef::key`]): its name at
    /// home, its ARN in another account. The body names the pipeline alone; the key is
    /// where its id starts (`<key>/<record version>/<part>`), so the id says which.
    pub fn pipeline_key(&self) -> String {
        self.id
            .rsplitn(3, '/')
            .nth(2)
            .and_then(|key| crate::pipeline::PipelineRef::from_key(key).ok())
            .filter(|key| key.name == self.pipeline)
            .map_or_else(|| self.pipeline.clone(), |key| key.key())
    }

    pub fn execution_of(&self, change: &ChangeContent) -> Option<&ExecutionContent> {
        let id = change.pipeline_execution_id.as_deref()?;
        self.executions.iter().find(|e| e.id == id)
    }

    /// The change the subject names, if the message has changes.
    pub fn lead_change(&self) -> Option<&ChangeContent> {
        self.changes.get(self.lead).or_else(|| self.changes.first())
    }

    /// The changes as people read them: the one the headline names first, then the
    /// others in pipeline order.
    pub fn changes_lead_first(&self) -> impl Iterator<Item = &ChangeContent> {
        let lead = self.lead_change();
        lead.into_iter().chain(
            self.changes
                .iter()
                .filter(move |c| lead.is_none_or(|lead| !std::ptr::eq(*c, lead))),
        )
    }

    /// The execution the message is mostly about: the lead change's.
    pub fn lead_execution(&self) -> Option<&ExecutionContent> {
        self.lead_change()
            .and_then(|c| self.execution_of(c))
            .or_else(|| self.executions.first())
    }

    /// A symbol for the whole message: its lead change's, else by severity (an alarm).
    pub fn icon(&self) -> &'static str {
        match (self.lead_change(), self.severity) {
            (Some(change), _) => change.icon(),
            (None, Severity::Failure) => "🚨",
            (None, Severity::Warning | Severity::Approval) => "⚠️",
            (None, _) if self.relayed => "📨",
            (None, Severity::Info) => "✅",
        }
    }

    /// The headline, or the subject for bodies written before headlines existed.
    pub fn title(&self) -> &str {
        if self.headline.is_empty() {
            &self.subject
        } else {
            &self.headline
        }
    }

    /// The links worth a button, in order: the main one ("View execution", or "Review approval"
    /// for an approval), the logs, and the pipeline when not already there.
    pub fn actions(&self) -> Vec<(&'static str, &str)> {
        let mut links: Vec<(&'static str, &str)> = Vec::new();
        if let Some(main) = self.main_link() {
            links.push(main);
        }
        if let Some(url) = self.logs_link()
            && !links.iter().any(|(_, u)| *u == url)
        {
            links.push(("Logs", url));
        }
        if let Some(url) = self.links.pipeline.as_deref()
            && !links.iter().any(|(_, u)| *u == url)
        {
            links.push(("Pipeline", url));
        }
        links
    }

    /// The logs worth a button: the lead change's, else those of the first run that did
    /// not simply succeed (a success's page is rarely what one taps for).
    pub fn logs_link(&self) -> Option<&str> {
        let lead = self.lead_change().and_then(|c| c.links.logs.as_deref());
        lead.or_else(|| {
            self.changes
                .iter()
                .filter(|c| c.record.status.as_deref() != Some("Succeeded"))
                .find_map(|c| c.links.logs.as_deref())
        })
    }

    /// The best "open it" link: a waiting approval's review page (the pipeline's console
    /// page, or without a console the page CodePipeline gives the approval), else the lead
    /// execution, else the pipeline, else an alarm.
    pub fn main_link(&self) -> Option<(&'static str, &str)> {
        if let Some(lead) = self.lead_change()
            && lead.approval() == Some(Approval::Waiting)
            && let Some(url) = self
                .links
                .pipeline
                .as_deref()
                .or(lead.links.logs.as_deref())
        {
            return Some(("Review approval", url));
        }
        self.lead_execution()
            .and_then(|e| e.url.as_deref())
            .map(|url| ("View execution", url))
            .or_else(|| {
                self.links
                    .pipeline
                    .as_deref()
                    .map(|url| ("View pipeline", url))
            })
            .or_else(|| self.links.alarm.as_deref().map(|url| ("View alarm", url)))
    }
}

impl ChangeContent {
    fn new(pipeline: &str, change: &Change, context: &Context<'_>) -> Self {
        let execution = change.pipeline_execution_id();
        let logs = match change {
            Change::Action { external_url, .. } => external_url.clone(),
            _ => None,
        };
        let entity = match change {
            Change::Action { entity_url, .. } => entity_url.clone(),
            _ => None,
        };
        Self {
            record: ChangeRecord::new(pipeline, change),
            severity: Severity::of(change),
            what: words(change).what,
            why: why(change),
            who: who(change),
            duration_seconds: change.duration().map(|d| d.as_secs()),
            pipeline_execution_id: execution.map(str::to_owned),
            links: ChangeLinks {
                logs: logs.filter(|u| is_web_link(u)),
                entity: entity.filter(|u| is_web_link(u)),
                execution: execution
                    .and_then(|id| context.console.map(|c| c.execution_url(pipeline, id))),
            },
        }
    }

    /// The manual approval step, for an approval's change.
    pub fn approval(&self) -> Option<Approval> {
        match &self.record.detail {
            Detail::Action { approval, .. } => *approval,
            _ => None,
        }
    }

    /// What `why` is, for a label: a reviewer's comment, a failure's reason, or the
    /// provider's summary of a run that went well.
    pub fn why_label(&self) -> &'static str {
        match (self.approval(), self.severity) {
            (Some(Approval::Approved | Approval::Rejected), _) => "Comment",
            (_, Severity::Failure | Severity::Warning) => "Reason",
            _ => "Summary",
        }
    }

    /// "Build/UnitTests Failed after 4m12s".
    pub fn what_with_duration(&self) -> String {
        match self.duration_seconds {
            Some(seconds) => format!(
                "{} after {}",
                self.what,
                duration_text(Duration::from_secs(seconds))
            ),
            None => self.what.clone(),
        }
    }

    /// A symbol for chat channels, from the change's kind and status.
    pub fn icon(&self) -> &'static str {
        let status = self.record.status.as_deref();
        match (&self.record.detail, self.approval()) {
            (_, Some(Approval::Waiting)) => "✋",
            (_, Some(Approval::Approved)) => "👍",
            (_, Some(Approval::Rejected)) => "⛔",
            (Detail::Transition { enabled: false, .. }, _) => "🔒",
            (Detail::Transition { .. }, _) => "🔓",
            (Detail::PipelineVersion { .. }, _) => "✏️",
            (
                Detail::Access {
                    readable: false, ..
                },
                _,
            ) => "🚫",
            (Detail::Access { .. }, _) => "👀",
            (Detail::Inbound {}, _) if status.is_some() => "⏳",
            (Detail::Inbound {}, _) => "➡️",
            (
                Detail::Stage {
                    execution_type: Some(t),
                    ..
                },
                _,
            ) if t == "ROLLBACK" => "⏪",
            // A kind a newer pipewatch knows: its severity, never a success's mark.
            (Detail::Other, _) if self.severity == Severity::Failure => "❌",
            (Detail::Other, _) if self.severity > Severity::Info => "⚠️",
            _ => match status.map(|s| Status::new(s).known()) {
                Some(Some(KnownStatus::Succeeded)) => "✅",
                Some(Some(KnownStatus::Failed | KnownStatus::Errored | KnownStatus::Abandoned)) => {
                    "❌"
                }
                Some(Some(KnownStatus::InProgress)) => "🔄",
                Some(Some(
                    KnownStatus::Stopped | KnownStatus::Stopping | KnownStatus::Cancelled,
                )) => "⏹️",
                Some(Some(KnownStatus::Skipped | KnownStatus::Superseded)) => "⏭️",
                _ => "🔹",
            },
        }
    }
}

/// Only web links become buttons and links: a provider could send anything.
fn is_web_link(url: &str) -> bool {
    (url.starts_with("https://") || url.starts_with("http://"))
        && url.len() <= 2_000
        && !url.chars().any(|c| c.is_whitespace() || c.is_control())
}

/// SNS subjects: ASCII, no line breaks or control characters, under 100 characters.
pub fn sns_subject(text: &str) -> String {
    let ascii: String = text
        .chars()
        .map(|c| match c {
            c if c.is_ascii_control() => ' ',
            c if c.is_ascii() => c,
            _ => '?',
        })
        .collect();
    if ascii.len() <= 99 {
        ascii
    } else {
        format!("{}...", &ascii[..96])
    }
}

#[cfg(test)]
mod tests;
