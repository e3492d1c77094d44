//! `pipewatch config`: the notifications document, checked as pipewatch reads it.

use std::io::Write;
use std::path::PathBuf;
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
}

pub fn run(command: &Command) -> anyhow::Result<ExitCode> {
    let Command::Check { files } = command;
    let mut out = std::io::stdout().lock();
    let mut sound = true;
    for file in files {
        let bytes = std::fs::read(file)
            .map_err(|e| anyhow::anyhow!("cannot read {}: {e}", file.display()))?;
        match Document::load(&bytes) {
            Ok(document) => writeln!(
                out,
                "{}: {} destinations, {} subscriptions",
                file.display(),
                document.destinations.len(),
                document.subscriptions.len()
            )?,
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
