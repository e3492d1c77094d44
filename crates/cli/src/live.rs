//! `check`, `watch` and `redrive`: the tick over live pipelines, with the CLI's own
//! adapters (a folder of snapshots, standard output) and the AWS SDK's usual credentials
//! (profiles, SSO, `credential_process`, environment), and the dead-letter queue redriven.

use std::io::{self, IsTerminal};
use std::path::PathBuf;
use std::sync::Arc;
use std::time::Duration;

use anyhow::Context;
use clap::{Args, Subcommand};
use pipewatch::aws::CodePipelineSource;
use pipewatch::aws::clients::Clients;
use pipewatch::config::RoleSettings;
use pipewatch::local::{DeadLetterFile, FileStore, StdoutNotifier};
use pipewatch::select::{Discovery, Home, Selection, parse_tags, resolve};
use pipewatch::tick::{Clock, Settings, TickSummary, Watcher, describe_failures};
use pipewatch_core::pipeline::PipelineRef;
use pipewatch_core::render::console::Console;

#[derive(Subcommand)]
pub enum Command {
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

/// Runs a live command to its end on a runtime of its own.
pub fn run(command: Command) -> anyhow::Result<()> {
    let runtime = tokio::runtime::Runtime::new().context("starting the async runtime")?;
    runtime.block_on(async {
        match command {
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
        }
    })
}

#[derive(Args)]
pub struct Live {
    /// A pipeline to check: a name, a pattern (`release-*`, `*`) or a pipeline ARN for
    /// another region or account (repeat for several).
    #[arg(long = "pipeline", value_name = "NAME|PATTERN|ARN", required = true, value_parser = pipeline_entry)]
    pipelines: Vec<String>,
    /// Only pipelines carrying this tag (repeat: all of them).
    #[arg(long = "tag", value_name = "KEY=VALUE", value_parser = tag)]
    tags: Vec<(String, String)>,
    /// The role assumed in other accounts.
    #[arg(long, value_name = "NAME", default_value = pipewatch::config::DEFAULT_ROLE_NAME)]
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
            max_publish_attempts: pipewatch_core::record::MAX_PUBLISH_ATTEMPTS,
            report_failures_after: 5,
            clock: Clock::default(),
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
            let calls = pipewatch::aws::interceptor::take_api_figures();
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
        .map_err(|e| {
            anyhow::anyhow!(
                "redriving {queue_url}: {}",
                pipewatch_core::error::chain(&*e)
            )
        })?;
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
        let tried = pipewatch_core::error::chain(&error)
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
    let now = pipewatch_core::state::Timestamp::now().to_string();
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
