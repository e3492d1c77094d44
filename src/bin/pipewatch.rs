//! The `pipewatch` command line: thin wiring over the library.

use std::io::{self, IsTerminal, Write};
use std::path::PathBuf;
use std::process::ExitCode;
use std::time::Duration;

use anyhow::Context;
use clap::{Args, Parser, Subcommand, ValueEnum};

use std::sync::Arc;

use pipewatch::aws::CodePipelineSource;
use pipewatch::aws::clients::{Clients, RoleSettings};
use pipewatch::local::{DeadLetterFile, FileStore, StdoutNotifier};
use pipewatch::render::content::{Console, Content};
use pipewatch::render::record::ChangeRecord;
use pipewatch::render::{chatbot, email, slack, teams, text};
use pipewatch::replay::Recording;
use pipewatch::select::{Discovery, Home, PipelineRef, Selection, parse_tags, resolve};
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
    ///
    /// `--format` previews what each channel would get, with no AWS: `body` (the JSON
    /// queues and programs get), `email`, `chatbot` (AWS Chatbot's `https` body), `slack`
    /// and `teams` (the forwarder's webhook posts).
    /// Recorded `GetPipelineExecution` responses in an `executions/` folder beside the files
    /// add the commits.
    Replay {
        #[arg(long, value_enum, default_value_t = Format::Text)]
        format: Format,
        #[arg(
            long,
            value_name = "REGION",
            help = "The region for console links [default: $AWS_REGION; without one, no console links]"
        )]
        region: Option<String>,
        /// The account, for the pipeline's ARN in Chatbot messages.
        #[arg(long, value_name = "ACCOUNT")]
        account: Option<String>,
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
        /// After each check, print the figures the Lambda sends to CloudWatch (pipelines,
        /// changes, messages, pending, failures, and each AWS API's calls, latency and
        /// throttles) on standard error.
        #[arg(long)]
        stats: bool,
    },
    /// Publish the messages of the dead-letter queue to the topic again, once the cause is
    /// fixed (the topic's key enabled again, a policy repaired).
    ///
    /// Each message keeps its id (the `idempotency_id` attribute), so subscribers that drop
    /// ids they have seen are not shown one twice. A message the topic accepts is deleted
    /// from the queue; one it refuses stays there. Other messages in the queue are left alone.
    Redrive {
        /// The dead-letter queue (the stack's `MessageDeadLetterQueueUrl` output).
        #[arg(long, value_name = "URL")]
        queue_url: String,
        /// The topic to publish to (the stack's `TopicArn` output).
        #[arg(long, value_name = "ARN")]
        topic_arn: String,
    },
}

#[derive(Args)]
struct Live {
    /// A pipeline to check: a name, a pattern (`release-*`, `*`) or a pipeline ARN for
    /// another region or account (repeat for several).
    #[arg(long = "pipeline", value_name = "NAME|PATTERN|ARN", required = true, value_parser = pipeline_entry)]
    pipelines: Vec<String>,
    /// Only pipelines carrying this tag (repeat: all of them).
    #[arg(long = "tag", value_name = "KEY=VALUE", value_parser = tag)]
    tags: Vec<(String, String)>,
    /// The role assumed in other accounts.
    #[arg(long, value_name = "NAME", default_value = pipewatch::aws::clients::DEFAULT_ROLE_NAME)]
    role_name: String,
    /// The external id the role's trust policy asks for, if any.
    #[arg(long, value_name = "ID")]
    external_id: Option<String>,
    #[arg(
        long,
        value_name = "DIR",
        help = "Where snapshots are kept [default: $XDG_STATE_HOME/pipewatch or ~/.local/state/pipewatch]"
    )]
    state_dir: Option<PathBuf>,
}

fn pipeline_entry(entry: &str) -> Result<String, String> {
    Selection::parse(entry).map(|_| entry.to_owned())
}

fn tag(pair: &str) -> Result<(String, String), String> {
    let mut tags = parse_tags(pair)?;
    match (tags.pop(), tags.is_empty()) {
        (Some(tag), true) => Ok(tag),
        _ => Err(format!("{pair:?} is not one KEY=VALUE")),
    }
}

#[derive(Clone, Copy, PartialEq, Eq, ValueEnum)]
enum Format {
    /// One readable line per change.
    Text,
    /// One JSON object per line per change.
    Json,
    /// Each message's JSON body (what queues and programs get), one document per line.
    Body,
    /// Each message's email, as a mail client shows it.
    Email,
    /// Each message's AWS Chatbot custom notification, one JSON document per line.
    Chatbot,
    /// Each message as the forwarder posts it to Slack, one JSON document per line.
    Slack,
    /// Each message as the forwarder posts it to Teams, one JSON document per line.
    Teams,
}

#[tokio::main]
async fn main() -> ExitCode {
    let cli = Cli::parse();
    let result = match cli.command {
        Command::Replay {
            format,
            region,
            account,
            files,
        } => replay(format, region, account.as_deref(), &files),
        Command::Check(live) => check(&live, None, false).await,
        Command::Watch {
            live,
            interval,
            stats,
        } => check(&live, Some(interval), stats).await,
        Command::Redrive {
            queue_url,
            topic_arn,
        } => redrive(&queue_url, &topic_arn).await,
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

fn replay(
    format: Format,
    region: Option<String>,
    account: Option<&str>,
    files: &[PathBuf],
) -> anyhow::Result<()> {
    let region = region.or_else(|| {
        ["AWS_REGION", "AWS_DEFAULT_REGION"]
            .iter()
            .find_map(|v| std::env::var(v).ok().filter(|r| !r.is_empty()))
    });
    let console = match &region {
        Some(region) => Some(
            Console::new(region, account)
                .with_context(|| format!("{region:?} is not an AWS region code"))?,
        ),
        None => None,
    };
    let recording = Recording::load(files)?;
    let mut out = io::BufWriter::new(io::stdout().lock());
    for step in recording.steps() {
        if matches!(format, Format::Text | Format::Json) {
            for change in &step.changes {
                if format == Format::Json {
                    let record =
                        ChangeRecord::new(&recording.pipeline, change).at_step(step.number);
                    serde_json::to_writer(&mut out, &record)?;
                    writeln!(out)?;
                } else {
                    let line = text::line(&recording.pipeline, change);
                    writeln!(out, "step {}: {line}", step.number)?;
                }
            }
            continue;
        }
        for message in recording.messages(&step, console.as_ref()) {
            let content = Content::from_body(&message.body)?;
            match format {
                Format::Email => {
                    writeln!(out, "=== step {}: {} ===", step.number, message.subject)?;
                    writeln!(out, "{}", email::render(&content))?;
                }
                Format::Body => writeln!(out, "{}", message.body)?,
                Format::Chatbot => writeln!(out, "{}", chatbot::render(&content))?,
                Format::Slack => writeln!(out, "{}", slack::render(&content))?,
                Format::Teams => writeln!(out, "{}", teams::render(&content))?,
                Format::Text | Format::Json => unreachable!("handled above"),
            }
        }
    }
    out.flush()?;
    Ok(())
}

/// One tick (`check`), or ticks every `interval` until Ctrl-C (`watch`).
async fn check(live: &Live, interval: Option<Duration>, stats: bool) -> anyhow::Result<()> {
    let sdk = pipewatch::aws::load_sdk_config().await;
    let region = require_credentials(&sdk).await?;
    let dir = live
        .state_dir
        .clone()
        .unwrap_or_else(FileStore::default_dir);
    let selection = Selection {
        tags: live.tags.clone(),
        ..Selection::parse(&live.pipelines.join(",")).map_err(anyhow::Error::msg)?
    };
    let home = home(&sdk, &region, &selection).await?;
    let role = RoleSettings {
        name: live.role_name.clone(),
        external_id: live.external_id.clone(),
    };
    let clients = Arc::new(Clients::new(sdk.clone(), home.account.clone(), role));
    let watcher = Watcher {
        source: CodePipelineSource::new(clients),
        store: FileStore::new(&dir),
        notifier: StdoutNotifier,
        dead_letters: DeadLetterFile {
            path: dir.join("dead-letters.jsonl"),
        },
        settings: Settings {
            // One process owns the folder: a lease only matters after a crash.
            lease: Duration::from_mins(1),
            max_concurrency: 8,
            console: Console::new(&region, home.account.as_deref()),
            retention: None,
            max_publish_attempts: pipewatch::snapshot::MAX_PUBLISH_ATTEMPTS,
            report_failures_after: 5,
        },
    };
    let mut discovery = Discovery::new(DISCOVERY);
    let Some(interval) = interval else {
        let pipelines = watched(&watcher, &selection, &home, &mut discovery).await?;
        return report(&watcher.run_tick(&pipelines).await);
    };
    // Listening starts before the first tick and lasts across ticks, so a stop asked for
    // mid-tick is kept until the tick ends: a claim or a publish is never cut short.
    let mut stop = Stop::listen().context("listening for Ctrl-C")?;
    // On a terminal, one short line per tick shows that watch is alive.
    let alive = io::stderr().is_terminal();
    loop {
        let summary = match watched(&watcher, &selection, &home, &mut discovery).await {
            Ok(pipelines) => watcher.run_tick(&pipelines).await,
            Err(e) => {
                eprintln!("pipewatch: error: {e:#}");
                TickSummary::default()
            }
        };
        if alive {
            eprintln!("{}", tick_line(&summary, interval));
        }
        if stats {
            let calls = pipewatch::metrics::take_api_figures();
            eprintln!("{}", pipewatch::metrics::stats_line(&summary, &calls));
        }
        if let Err(e) = report(&summary) {
            eprintln!("pipewatch: error: {e:#}");
        }
        tokio::select! {
            biased;
            () = stop.requested() => return Ok(()),
            () = tokio::time::sleep(interval) => {}
        }
    }
}

/// `redrive`: the dead-letter queue's messages to the topic again.
async fn redrive(queue_url: &str, topic_arn: &str) -> anyhow::Result<()> {
    let sdk = pipewatch::aws::load_sdk_config().await;
    require_credentials(&sdk).await?;
    let queue = pipewatch::aws::dead_letter_reader::DeadLetterReader::new(
        pipewatch::aws::sqs_client(&sdk),
        queue_url,
    );
    let notifier = pipewatch::aws::SnsNotifier::new(pipewatch::aws::sns_client(&sdk), topic_arn);
    let report = pipewatch::redrive::redrive(&queue, &notifier)
        .await
        .map_err(|e| anyhow::anyhow!("redriving {queue_url}: {}", pipewatch::error::chain(&*e)))?;
    println!("{report}");
    if report.refused > 0 {
        anyhow::bail!(
            "{} messages were refused again and stay in the queue: {}",
            report.refused,
            report.first_refusal.unwrap_or_default()
        );
    }
    Ok(())
}

/// How long `watch` keeps a resolved selection before listing again.
const DISCOVERY: Duration = Duration::from_mins(5);

/// The pipelines the selection names now, listed again once the cache is stale.
async fn watched(
    watcher: &Watcher<CodePipelineSource, FileStore, StdoutNotifier, DeadLetterFile>,
    selection: &Selection,
    home: &Home,
    discovery: &mut Discovery,
) -> anyhow::Result<Vec<PipelineRef>> {
    if let Some(pipelines) = discovery.fresh() {
        return Ok(pipelines.to_vec());
    }
    let pipelines = resolve(selection, home, &watcher.source).await?;
    discovery.remember(pipelines.clone());
    Ok(pipelines)
}

/// Home: the region the SDK found, and (only when an ARN needs it, to tell which accounts
/// are other) the caller's account.
async fn home(
    sdk: &aws_config::SdkConfig,
    region: &str,
    selection: &Selection,
) -> anyhow::Result<Home> {
    let account = if selection.entries.iter().any(|e| e.location.is_some()) {
        let identity = aws_sdk_sts::Client::new(sdk)
            .get_caller_identity()
            .send()
            .await
            .context("asking STS which account these credentials are in")?;
        identity.account().map(str::to_owned)
    } else {
        None
    };
    let console = Console::new(region, None);
    Ok(Home {
        partition: console.map_or("aws", |c| c.partition()).to_owned(),
        region: region.to_owned(),
        account,
    })
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

/// Fails in words when the SDK has no region or no credentials, before any call would
/// fail with an SDK error (an instance-metadata timeout, typically). Returns the region.
async fn require_credentials(sdk: &aws_config::SdkConfig) -> anyhow::Result<String> {
    use aws_credential_types::provider::ProvideCredentials;
    let Some(region) = sdk.region() else {
        anyhow::bail!(
            "no AWS region configured: set AWS_REGION (for example AWS_REGION=eu-west-1), or a region in your AWS profile"
        );
    };
    let found = match sdk.credentials_provider() {
        Some(provider) => provider.provide_credentials().await.map(|_| ()),
        None => Err(
            aws_credential_types::provider::error::CredentialsError::not_loaded(
                "no credentials provider",
            ),
        ),
    };
    if let Err(error) = found {
        // The SDK lists each provider it tried on a line of its own: keep one line.
        let tried = pipewatch::error::chain(&error)
            .lines()
            .map(str::trim)
            .collect::<Vec<_>>()
            .join(" ");
        anyhow::bail!(
            "no AWS credentials found: set AWS_PROFILE (and run `aws sso login` if it uses SSO), or AWS_ACCESS_KEY_ID and AWS_SECRET_ACCESS_KEY ({tried})"
        );
    }
    Ok(region.to_string())
}

/// `14:03:07 checked 3 pipelines: 2 changes, 0 failed; next in 30s`.
fn tick_line(summary: &TickSummary, interval: Duration) -> String {
    let now = pipewatch::state::Timestamp::now().to_string();
    let clock = now.get(11..19).unwrap_or(&now);
    let plural = |n: usize, word: &str| format!("{n} {word}{}", if n == 1 { "" } else { "s" });
    format!(
        "{clock} checked {}: {}, {} failed; next in {}",
        plural(summary.pipelines_checked + summary.failed.len(), "pipeline"),
        plural(summary.changes, "change"),
        summary.failed.len(),
        humantime::format_duration(interval)
    )
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
