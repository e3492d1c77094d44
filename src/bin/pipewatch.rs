//! The `pipewatch` command line: thin wiring over the library.

use std::io::{self, Write};
use std::path::PathBuf;
use std::process::ExitCode;
use std::time::Duration;

use anyhow::Context;
use clap::{Args, Parser, Subcommand, ValueEnum};

use pipewatch::aws::CodePipelineSource;
use pipewatch::config::check_pipeline_name;
use pipewatch::local::{FileStore, StdoutNotifier};
use pipewatch::render::record::ChangeRecord;
use pipewatch::render::text;
use pipewatch::replay::Recording;
use pipewatch::tick::{Settings, TickSummary, Watcher, describe_failures};

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
    /// Check live pipelines once: changes since the last check go to standard output.
    ///
    /// Uses your AWS credentials and region as the AWS CLI does; snapshots are kept in a
    /// local folder. The first check of a pipeline records a baseline and prints nothing.
    Check(Live),
    /// Check live pipelines again and again until Ctrl-C.
    Watch {
        #[command(flatten)]
        live: Live,
        /// Time between checks, e.g. 30s, 2m.
        #[arg(long, default_value = "60s", value_parser = humantime::parse_duration)]
        interval: Duration,
    },
}

#[derive(Args)]
struct Live {
    /// A pipeline to check (repeat for several).
    #[arg(long = "pipeline", value_name = "NAME", required = true, value_parser = pipeline_name)]
    pipelines: Vec<String>,
    #[arg(
        long,
        value_name = "DIR",
        help = "Where snapshots are kept [default: $XDG_STATE_HOME/pipewatch or ~/.local/state/pipewatch]"
    )]
    state_dir: Option<PathBuf>,
}

fn pipeline_name(name: &str) -> Result<String, String> {
    check_pipeline_name(name).map(|()| name.to_owned())
}

#[derive(Clone, Copy, ValueEnum)]
enum Format {
    /// One readable line per change.
    Text,
    /// One JSON object per line per change.
    Json,
}

#[tokio::main]
async fn main() -> ExitCode {
    let cli = Cli::parse();
    let result = match cli.command {
        Command::Replay { format, files } => replay(format, &files),
        Command::Check(live) => check(&live, None).await,
        Command::Watch { live, interval } => check(&live, Some(interval)).await,
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

/// One tick (`check`), or ticks every `interval` until Ctrl-C (`watch`).
async fn check(live: &Live, interval: Option<Duration>) -> anyhow::Result<()> {
    let sdk = pipewatch::aws::load_sdk_config().await;
    let dir = live
        .state_dir
        .clone()
        .unwrap_or_else(FileStore::default_dir);
    let watcher = Watcher {
        source: CodePipelineSource::new(aws_sdk_codepipeline::Client::new(&sdk)),
        store: FileStore::new(dir),
        notifier: StdoutNotifier,
        settings: Settings {
            // One process owns the folder: a lease only matters after a crash.
            lease: Duration::from_mins(1),
            max_concurrency: 8,
        },
    };
    let Some(interval) = interval else {
        return report(&watcher.run_tick(&live.pipelines).await);
    };
    // Listening starts before the first tick and lasts across ticks, so a stop asked for
    // mid-tick is kept until the tick ends: a claim or a publish is never cut short.
    let mut stop = Stop::listen().context("listening for Ctrl-C")?;
    loop {
        if let Err(e) = report(&watcher.run_tick(&live.pipelines).await) {
            eprintln!("pipewatch: error: {e:#}");
        }
        tokio::select! {
            biased;
            () = stop.requested() => return Ok(()),
            () = tokio::time::sleep(interval) => {}
        }
    }
}

/// Ctrl-C, and on Unix also SIGTERM (how service managers and `kill` ask a process to
/// stop). A signal received while nobody awaits [`Stop::requested`] is remembered.
#[cfg(unix)]
struct Stop {
    interrupt: tokio::signal::unix::Signal,
    terminate: tokio::signal::unix::Signal,
}

#[cfg(unix)]
impl Stop {
    fn listen() -> io::Result<Self> {
        use tokio::signal::unix::{SignalKind, signal};
        Ok(Self {
            interrupt: signal(SignalKind::interrupt())?,
            terminate: signal(SignalKind::terminate())?,
        })
    }

    async fn requested(&mut self) {
        tokio::select! {
            _ = self.interrupt.recv() => {}
            _ = self.terminate.recv() => {}
        }
    }
}

#[cfg(windows)]
struct Stop(tokio::signal::windows::CtrlC);

#[cfg(windows)]
impl Stop {
    fn listen() -> io::Result<Self> {
        tokio::signal::windows::ctrl_c().map(Self)
    }

    async fn requested(&mut self) {
        self.0.recv().await;
    }
}

fn report(summary: &TickSummary) -> anyhow::Result<()> {
    if summary.failed.is_empty() {
        Ok(())
    } else {
        anyhow::bail!(
            "{} of the pipelines failed: {}",
            summary.failed.len(),
            describe_failures(&summary.failed)
        )
    }
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
