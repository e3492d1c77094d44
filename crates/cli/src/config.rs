//! `pipewatch config`: the notifications document, checked as pipewatch reads it.

use std::io::Write;
use std::path::{Path, PathBuf};
use std::process::ExitCode;

use clap::Subcommand;
use pipewatch_core::config::Document;

#[derive(Subcommand)]
pub enum Command {
    /// Check notifications documents as pipewatch reads them: their layout, the names and
    /// references in them, and that they hold no secret.
    ///
    /// Prints each problem as `FILE:LINE:COLUMN: REASON`, every problem of every file, and
    /// exits 1 when there is any; a sound file is named with what it declares.
    Check {
        /// Notifications documents (YAML or JSON).
        #[arg(value_name = "FILE", required = true)]
        files: Vec<PathBuf>,
    },
    /// Say which destinations a pipeline hears about by a document, and why: each
    /// subscription, with the pattern that selects the pipeline or why none does.
    Explain {
        /// A notifications document.
        #[arg(value_name = "FILE")]
        file: PathBuf,
        /// A pipeline's name, or its ARN for another account's.
        #[arg(value_name = "PIPELINE")]
        pipeline: String,
    },
    /// Print the notifications document a stack's settings amount to: its webhook secrets'
    /// lists and its Slack app's channels, each a destination, so that a stack switched to
    /// the document sends every message where it sends it today.
    ///
    /// Reads the stack's parameters (`--parameters`, what `aws cloudformation
    /// describe-stacks` prints) or its functions' variables (`--environment`, what `aws
    /// lambda get-function-configuration` prints: the forwarder's, and the watcher's for
    /// other accounts' pipelines). Reads the webhook secrets with your AWS credentials, for
    /// their lists; the document names each secret by ARN and never holds a URL.
    #[command(group = clap::ArgGroup::new("from").required(true))]
    Default {
        /// A stack's parameters: `[{"ParameterKey", "ParameterValue"}]`.
        #[arg(long, value_name = "FILE", group = "from")]
        parameters: Option<PathBuf>,
        /// A function's configuration or its variables (JSON); may be given twice.
        #[arg(long, value_name = "FILE", group = "from")]
        environment: Vec<PathBuf>,
    },
}

pub fn run(command: &Command) -> anyhow::Result<ExitCode> {
    match command {
        Command::Check { files } => check(files),
        Command::Explain { file, pipeline } => explain(file, pipeline),
        Command::Default {
            parameters,
            environment,
        } => default(parameters.as_deref(), environment),
    }
}

#[cfg(feature = "aws")]
fn default(parameters: Option<&Path>, environment: &[PathBuf]) -> anyhow::Result<ExitCode> {
    use crate::config_default::{From, document};
    let from = match parameters {
        Some(path) => From::Parameters(path),
        None => From::Environment(environment),
    };
    std::io::stdout()
        .lock()
        .write_all(document(&from)?.as_bytes())?;
    Ok(ExitCode::SUCCESS)
}

#[cfg(not(feature = "aws"))]
fn default(_: Option<&Path>, _: &[PathBuf]) -> anyhow::Result<ExitCode> {
    anyhow::bail!(
        "`config default` reads the stack's webhook secrets from AWS, and this pipewatch was \
         built without it (--no-default-features); build it with the default features: \
         cargo install --path crates/cli"
    )
}

/// `1 destination`, `2 destinations`.
fn counted(n: usize, what: &str) -> String {
    if n == 1 {
        format!("1 {what}")
    } else {
        format!("{n} {what}s")
    }
}

fn check(files: &[PathBuf]) -> anyhow::Result<ExitCode> {
    let mut out = std::io::stdout().lock();
    let mut sound = true;
    for file in files {
        let bytes = std::fs::read(file)
            .map_err(|e| anyhow::anyhow!("cannot read {}: {e}", file.display()))?;
        match Document::load(&bytes) {
            Ok(document) => {
                let templates = match document.templates.count() {
                    0 => String::new(),
                    n => format!(", {}", counted(n, "template")),
                };
                writeln!(
                    out,
                    "{}: {}, {}{templates}",
                    file.display(),
                    counted(document.destinations.len(), "destination"),
                    counted(document.subscriptions.len(), "subscription")
                )?;
            }
            Err(refused) => {
                sound = false;
                for problem in refused.0 {
                    writeln!(out, "{}:{problem}", file.display())?;
                }
            }
        }
    }
    Ok(if sound {
        ExitCode::SUCCESS
    } else {
        ExitCode::from(1)
    })
}

/// Reads a document that must be sound.
pub fn load(file: &Path) -> anyhow::Result<Document> {
    let bytes =
        std::fs::read(file).map_err(|e| anyhow::anyhow!("cannot read {}: {e}", file.display()))?;
    Document::load(&bytes).map_err(|refused| {
        anyhow::anyhow!(
            "{} is not a sound document (pipewatch config check says where): {refused}",
            file.display()
        )
    })
}

fn explain(file: &Path, pipeline: &str) -> anyhow::Result<ExitCode> {
    let document = load(file)?;
    let mut out = std::io::stdout().lock();
    let hears: Vec<&str> = document
        .destinations_of(pipeline)
        .into_iter()
        .map(|(name, _)| name)
        .collect();
    if hears.is_empty() {
        writeln!(
            out,
            "{pipeline}'s notifications go nowhere by {}",
            file.display()
        )?;
    } else {
        writeln!(
            out,
            "{pipeline}'s notifications go to {} (by {})",
            hears.join(", "),
            file.display()
        )?;
    }
    for (n, (subscription, by)) in document.explain(pipeline).into_iter().enumerate() {
        let to = subscription.to.join(", ");
        match by {
            Some(pattern) => writeln!(
                out,
                "  subscription {}: {pattern:?} selects it: {to}",
                n + 1
            )?,
            None => writeln!(
                out,
                "  subscription {}: none of {} selects it",
                n + 1,
                subscription
                    .pipelines
                    .iter()
                    .map(|p| format!("{p:?}"))
                    .collect::<Vec<_>>()
                    .join(", ")
            )?,
        }
    }
    Ok(ExitCode::SUCCESS)
}
