//! The `pipewatch` command line: thin wiring over the library.

use std::io::{self, Write};
use std::path::PathBuf;
use std::process::ExitCode;

use clap::{Parser, Subcommand, ValueEnum};

use pipewatch::render::record::ChangeRecord;
use pipewatch::render::text;
use pipewatch::replay::Recording;

#[derive(Parser)]
#[command(
    version,
    about = "Watches AWS CodePipeline state and reports each change once"
)]
struct Cli {
    #[command(subcommand)]
    command: Command,
}

#[derive(Subcommand)]
enum Command {
    /// Print the changes between consecutive recorded GetPipelineState responses.
    ///
    /// The FILEs are observations of one pipeline, oldest first. The first is the
    /// baseline; each later one is compared with the one before it.
    Replay {
        #[arg(long, value_enum, default_value_t = Format::Text)]
        format: Format,
        #[arg(value_name = "FILE", required = true)]
        files: Vec<PathBuf>,
    },
}

#[derive(Clone, Copy, ValueEnum)]
enum Format {
    /// One readable line per change.
    Text,
    /// One JSON object per line per change.
    Json,
}

fn main() -> ExitCode {
    let cli = Cli::parse();
    let result = match cli.command {
        Command::Replay { format, files } => replay(format, &files),
    };
    match result {
        Ok(()) => ExitCode::SUCCESS,
        // A reader that went away (`| head`) is not an error worth reporting.
        Err(err) if is_broken_pipe(&err) => ExitCode::SUCCESS,
        Err(err) => {
            eprintln!("pipewatch: error: {err:#}");
            ExitCode::from(2)
        }
    }
}

fn replay(format: Format, files: &[PathBuf]) -> anyhow::Result<()> {
    let recording = Recording::load(files)?;
    let mut out = io::BufWriter::new(io::stdout().lock());
    for step in recording.steps() {
        for change in &step.changes {
            match format {
                Format::Json => {
                    let record =
                        ChangeRecord::new(&recording.pipeline, change).at_step(step.number);
                    serde_json::to_writer(&mut out, &record)?;
                    writeln!(out)?;
                }
                Format::Text => {
                    writeln!(
                        out,
                        "step {}: {}",
                        step.number,
                        text::line(&recording.pipeline, change)
                    )?;
                }
            }
        }
    }
    out.flush()?;
    Ok(())
}

fn is_broken_pipe(err: &anyhow::Error) -> bool {
    err.chain().any(|e| {
        e.downcast_ref::<io::Error>()
            .is_some_and(|e| e.kind() == io::ErrorKind::BrokenPipe)
            || e.downcast_ref::<serde_json::Error>()
                .and_then(serde_json::Error::io_error_kind)
                == Some(io::ErrorKind::BrokenPipe)
    })
}
