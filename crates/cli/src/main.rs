//! The `pipewatch` command line: argument parsing and output, over the libraries.
//!
//! `replay` needs only the pure core; `check`, `watch` and `redrive` need AWS, and are
//! built with the default `aws` feature ([`live`]). Built without it, they answer in
//! words that this build cannot run them.

use std::io::{self, Write};
use std::path::PathBuf;
use std::process::ExitCode;

use anyhow::Context;
use clap::builder::{PossibleValue, PossibleValuesParser, TypedValueParser};
use clap::{Args, Parser, Subcommand};
use pipewatch_core::render::console::Console;
use pipewatch_core::replay::{self, Recording};

mod config;
#[cfg(feature = "aws")]
mod config_default;
#[cfg(feature = "aws")]
mod live;
#[cfg(not(feature = "aws"))]
#[path = "offline.rs"]
mod live;

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
    ///
    /// `--format` previews what each channel would get, with no AWS: `body` (the JSON
    /// queues and programs get), `email`, `chatbot` (AWS Chatbot's `https` body), `slack`
    /// and `teams` (the forwarder's webhook posts); with `--config FILE`, `calls` (every
    /// call to every destination of that notifications document, secrets named by ARN).
    /// Recorded `GetPipelineExecution` responses in an `executions/` folder beside the files
    /// add the commits.
    Replay(ReplayArgs),
    /// The notifications document: who gets what.
    #[command(subcommand)]
    Config(config::Command),
    #[command(flatten)]
    Live(live::Command),
}

#[derive(Args)]
struct ReplayArgs {
    #[arg(long, value_parser = formats(), default_value = "text")]
    format: replay::Format,
    #[arg(
        long,
        value_name = "REGION",
        help = "The region for console links [default: $AWS_REGION; without one, no console links]"
    )]
    region: Option<String>,
    /// The account, for the pipeline's ARN in Chatbot messages.
    #[arg(long, value_name = "ACCOUNT")]
    account: Option<String>,
    /// Only this step (the second file is step 1).
    #[arg(long, value_name = "N")]
    step: Option<usize>,
    /// A notifications document: `slack`, `teams` and `slack-app` print what it sends,
    /// and `calls` every call to each of its destinations.
    #[arg(long, value_name = "FILE")]
    config: Option<PathBuf>,
    /// Recorded `GetPipelineState` responses of one pipeline, oldest first.
    #[arg(value_name = "FILE", required = true)]
    files: Vec<PathBuf>,
}

/// `--format`'s values, named and described by the core's [`replay::Format::ALL`].
fn formats() -> impl TypedValueParser<Value = replay::Format> {
    PossibleValuesParser::new(
        replay::Format::ALL
            .iter()
            .map(|(_, name, help)| PossibleValue::new(name).help(help)),
    )
    .map(|name| replay::Format::from_name(&name).expect("a name the parser listed"))
}

fn main() -> ExitCode {
    let cli = Cli::parse();
    let result = match cli.command {
        Command::Replay(args) => run_replay(&args).map(|()| ExitCode::SUCCESS),
        Command::Config(command) => config::run(&command),
        Command::Live(command) => live::run(command).map(|()| ExitCode::SUCCESS),
    };
    match result {
        Ok(code) => code,
        // A reader that went away (`| head`) is not an error worth reporting.
        Err(err) if is_broken_pipe(&err) => ExitCode::SUCCESS,
        Err(err) => {
            eprintln!("pipewatch: error: {err:#}");
            ExitCode::from(2)
        }
    }
}

fn run_replay(args: &ReplayArgs) -> anyhow::Result<()> {
    let region = args.region.clone().or_else(|| {
        ["AWS_REGION", "AWS_DEFAULT_REGION"]
            .iter()
            .find_map(|v| std::env::var(v).ok().filter(|r| !r.is_empty()))
    });
    let console = match &region {
        Some(region) => Some(
            Console::new(region, args.account.as_deref())
                .with_context(|| format!("{region:?} is not an AWS region code"))?,
        ),
        None => None,
    };
    let document = match &args.config {
        None => None,
        Some(path) => Some(config::load(path)?),
    };
    let recording = Recording::load(&args.files)?;
    let mut out = io::BufWriter::new(io::stdout().lock());
    recording.write(
        args.format,
        console.as_ref(),
        args.step,
        document.as_ref(),
        &mut out,
    )?;
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
