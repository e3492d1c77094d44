//! What a tick costs at any scale: the built `pipewatch-lambda` on cargo-lambda's Runtime
//! API, against a wire-level CodePipeline fake answering every call after 50 ms (as AWS
//! roughly does), DynamoDB Local and moto, behind proxies that count calls. For N = 1 to
//! 2,000 pipelines and 8 or 64 at once: a quiet tick's wall time (the tick's own
//! `duration_ms`) next to the concurrency bound ⌈N/C⌉·50 ms, the function's CPU per
//! pipeline (from `/proc`), its peak memory, and the calls a quiet and a changed tick make
//! by API. Also checks that the fake is not the bottleneck, and measures cold start
//! against a Python + boto3 program in the same run.
//!
//! `./scripts/bench.sh` runs it (it starts the emulators); `cargo test` runs a small
//! version as a smoke test. docs/benchmarks.md holds the figures.

// Counts shown as ratios and rates in a printed table: f64's 52 bits are plenty.
#![allow(clippy::cast_precision_loss)]

use std::io::{BufRead, BufReader, Write};
use std::net::TcpStream;
use std::path::Path;
use std::process::{Command, Stdio};
use std::time::{Duration, Instant};

use futures_util::StreamExt;
use pipewatch::ports::PipelineSource;
use pipewatch_core::pipeline::PipelineRef;
use pipewatch_testkit::fake_codepipeline::FakeCodePipeline;
use pipewatch_testkit::fault_proxy::FaultProxy;
use pipewatch_testkit::fixtures::scenario;
use pipewatch_testkit::http::{Reply, Request, Server};
use pipewatch_testkit::lambda::Lambda;
use pipewatch_testkit::services::{Inbox, create_table, require, sdk_config};
use serde_json::Value;

/// What every fake call waits, as a round trip to AWS, in milliseconds.
const LATENCY_MS: u64 = 50;

#[tokio::main]
async fn main() {
    // `cargo bench` passes --bench; `cargo test` runs this as a quick smoke test.
    let full = std::env::args().any(|a| a == "--bench");
    let (sizes, concurrencies, quiet_ticks) = if full {
        (vec![1, 20, 100, 500, 2000], vec![8, 64], 5)
    } else {
        (vec![1, 20], vec![8], 1)
    };
    // One size for a closer look (a profiler attached to the function, say):
    // BENCH_SIZES=2000 BENCH_CONCURRENCY=8 BENCH_QUIET_TICKS=30 cargo bench --bench tick
    let sizes = list_from_env("BENCH_SIZES").unwrap_or(sizes);
    let concurrencies = list_from_env("BENCH_CONCURRENCY").unwrap_or(concurrencies);
    let quiet_ticks = list_from_env("BENCH_QUIET_TICKS").map_or(quiet_ticks, |t| t[0]);
    cold_start(if full { 15 } else { 1 });
    let config = sdk_config().await;
    let fake = FakeCodePipeline::start_keep_alive();
    the_fake_is_not_the_bottleneck(&fake, &concurrencies);
    for latency in [Duration::ZERO, Duration::from_millis(LATENCY_MS)] {
        fake.set_latency(latency);
        let calls = if full { 1_600 } else { 40 };
        let (sdk_call, through_source) = sdk_floor(&fake, &config, calls);
        println!(
            "CPU of one GetPipelineState, 8 at once, {} ms latency: the SDK's call alone {sdk_call:.3} ms; through pipewatch's source (with the conversion) {through_source:.3} ms",
            latency.as_millis()
        );
    }
    fake.set_latency(Duration::from_millis(LATENCY_MS));
    let dynamodb = FaultProxy::start(&require("AWS_ENDPOINT_URL_DYNAMODB"));
    let sns = FaultProxy::start(&require("AWS_ENDPOINT_URL_SNS"));
    let release = scenario("release-failure-retry");
    println!(
        "one BatchGetItem of 100 keys to DynamoDB Local: {:.1} ms (median of 20); every tick waits for one before its first GetPipelineState, which the bound leaves out",
        batch_get_ms(&config).await
    );

    println!(
        "\n{:>5} {:>3} {:>10} {:>10} {:>6} {:>12} {:>13} {:>8}",
        "N", "C", "quiet ms", "bound ms", "ratio", "sequential", "CPU/pipeline", "peak RSS"
    );
    for &concurrency in &concurrencies {
        for &n in &sizes {
            // A prefix of its own per run: earlier runs' pipelines stay in the fake unseen.
            let prefix = format!("c{concurrency}n{n}-");
            let names: Vec<String> = (0..n).map(|i| format!("{prefix}{i:04}")).collect();
            for name in &names {
                fake.set_state(&release[2].replace("web-app-release", name));
            }
            let table = create_table(&aws_sdk_dynamodb::Client::new(&config)).await;
            let inbox = Inbox::create(&config).await;
            let function = start(&fake, &dynamodb, &sns, &table, &inbox, &prefix, concurrency);
            let listed_before = fake.operations("ListPipelines");
            let _baseline = tick(&function);
            let listings = fake.operations("ListPipelines") - listed_before;
            let _warm = tick(&function);
            let cpu_before = cpu_seconds(function.pid());
            let calls_before = calls(&fake, &dynamodb, &sns);
            let mut durations: Vec<u64> = (0..quiet_ticks)
                .map(|_| tick(&function)["duration_ms"].as_u64().unwrap())
                .collect();
            let quiet_calls = per_tick(calls(&fake, &dynamodb, &sns), calls_before, quiet_ticks);
            let cpu = cpu_seconds(function.pid()) - cpu_before;
            durations.sort_unstable();
            let median = durations[durations.len() / 2];
            let bound = n.div_ceil(concurrency) as u64 * LATENCY_MS;
            let cpu_per = cpu / (quiet_ticks * n) as f64 * 1000.0;
            println!(
                "{n:>5} {concurrency:>3} {median:>10} {bound:>10} {:>6.2} {:>12} {:>10.3} ms {:>5} MB",
                median as f64 / bound as f64,
                format!("{} ms", n as u64 * LATENCY_MS),
                cpu_per,
                peak_rss_kb(function.pid()) / 1024
            );
            if concurrency == concurrencies[0] && n == *sizes.last().unwrap() {
                // Every pipeline changes, in a new execution: what a busy tick costs.
                for name in &names {
                    fake.set_state(&release[3].replace("web-app-release", name));
                }
                for execution in
                    pipewatch_testkit::fixtures::scenario_executions("release-failure-retry")
                {
                    fake.set_execution(&execution);
                }
                let before = calls(&fake, &dynamodb, &sns);
                let changed = tick(&function);
                let changed_calls = per_tick(calls(&fake, &dynamodb, &sns), before, 1);
                println!(
                    "\ncalls per tick over {n} pipelines (minimum in brackets):\n  quiet:   {}\n  changed: {} ({} changes, {} messages, {} ms)",
                    describe(&quiet_calls, n, false),
                    describe(&changed_calls, n, true),
                    changed["changes"],
                    changed["messages_published"],
                    changed["duration_ms"]
                );
                println!(
                    "  discovery (the first tick): ListPipelines {listings} [{}: 1,000 names a page]",
                    n.div_ceil(1000)
                );
                println!(
                    "(the changed tick shares one execution id across pipelines, so each pipeline's record asks for it once)\n"
                );
            }
        }
    }
}

/// Cold start, process start to its first `/runtime/invocation/next`, for the function and
/// for a Python + boto3 program building the same clients (`cold_start_boto3.py`), taking
/// turns `runs` times; prints the medians.
fn cold_start(runs: usize) {
    let python = require("PIPEWATCH_PYTHON");
    let script = Path::new(env!("CARGO_MANIFEST_DIR")).join("benches/cold_start_boto3.py");
    let mut rust = Vec::new();
    let mut boto3 = Vec::new();
    for _ in 0..runs {
        rust.push(until_first_poll(&mut Command::new(env!(
            "CARGO_BIN_EXE_pipewatch-lambda"
        ))));
        boto3.push(until_first_poll(Command::new(&python).arg(&script)));
    }
    let median = |times: &mut Vec<Duration>| {
        times.sort_unstable();
        times[times.len() / 2].as_secs_f64() * 1000.0
    };
    println!(
        "cold start, process start to first /runtime/invocation/next (median of {runs}): pipewatch-lambda {:.1} ms, Python + boto3 {:.1} ms",
        median(&mut rust),
        median(&mut boto3)
    );
}

/// Fails unless the fake answers ten times what the most concurrent tick below asks (its
/// concurrency in requests every `LATENCY_MS`).
fn the_fake_is_not_the_bottleneck(fake: &FakeCodePipeline, concurrencies: &[usize]) {
    let capacity = fake_capacity(fake);
    let demand = *concurrencies.iter().max().unwrap() as f64 * 1000.0 / LATENCY_MS as f64;
    println!(
        "the fake answers {capacity:.0} requests/s with no latency (8 clients, keep-alive); the most a tick below asks is {demand:.0} a second"
    );
    assert!(
        capacity > 10.0 * demand,
        "the fake ({capacity:.0} requests/s) would be the bottleneck of ticks asking {demand:.0}/s"
    );
}

/// How long `program` takes from its start to its first poll of a Runtime API.
fn until_first_poll(program: &mut Command) -> Duration {
    let (polled, first_poll) = std::sync::mpsc::channel();
    let api = Server::start(move |request: &Request| {
        if request.path.ends_with("/runtime/invocation/next") {
            let _ = polled.send(Instant::now());
        }
        Reply::Hang
    });
    let started = Instant::now();
    let mut child = program
        .env(
            "AWS_LAMBDA_RUNTIME_API",
            api.url().trim_start_matches("http://"),
        )
        // As Lambda sets them (boto3 reads only the second region variable).
        .env("AWS_REGION", "us-east-1")
        .env("AWS_DEFAULT_REGION", "us-east-1")
        .env("AWS_LAMBDA_FUNCTION_NAME", "pipewatch")
        .env("AWS_LAMBDA_FUNCTION_MEMORY_SIZE", "128")
        .env("AWS_LAMBDA_FUNCTION_VERSION", "$LATEST")
        .env("AWS_LAMBDA_LOG_GROUP_NAME", "bench")
        .env("AWS_LAMBDA_LOG_STREAM_NAME", "bench")
        .env("PIPELINES", "bench-*")
        .env("TABLE_NAME", "bench")
        .env("TOPIC_ARN", "arn:aws:sns:us-east-1:123456789012:bench")
        .env(
            "DEAD_LETTER_QUEUE_URL",
            "https://sqs.us-east-1.amazonaws.com/123456789012/bench",
        )
        .stdout(Stdio::null())
        .stderr(Stdio::null())
        .spawn()
        .unwrap();
    let at = first_poll
        .recv_timeout(Duration::from_secs(30))
        .expect("the program never polled the Runtime API");
    let _ = child.kill();
    let _ = child.wait();
    at - started
}

/// The CPU one `GetPipelineState` costs the client, in milliseconds: the SDK's own call,
/// then through pipewatch's source (the call and the conversion into `state` types). Run
/// on a thread of its own with a one-thread runtime, as the function runs, so the thread's
/// CPU time is the client's alone (the fake answers on other threads).
fn sdk_floor(fake: &FakeCodePipeline, config: &aws_config::SdkConfig, calls: usize) -> (f64, f64) {
    let release = scenario("release-failure-retry");
    fake.set_state(&release[2].replace("web-app-release", "floor"));
    let pipeline = PipelineRef::home("floor");
    let config = config.clone();
    let fake_url = fake.url();
    let source = fake.source(&config);
    let measured = std::thread::scope(|scope| {
        scope
            .spawn(|| {
                let runtime = tokio::runtime::Builder::new_current_thread()
                    .enable_all()
                    .build()
                    .unwrap();
                runtime.block_on(async {
                    let client = aws_sdk_codepipeline::Client::from_conf(
                        aws_sdk_codepipeline::config::Builder::from(&config)
                            .endpoint_url(&fake_url)
                            .retry_config(aws_config::retry::RetryConfig::adaptive())
                            .build(),
                    );
                    let sdk = per_call_cpu(calls, || {
                        let client = client.clone();
                        async move {
                            client
                                .get_pipeline_state()
                                .name("floor")
                                .send()
                                .await
                                .unwrap();
                        }
                    })
                    .await;
                    let ours = per_call_cpu(calls, || async {
                        source.get_state(&pipeline).await.unwrap();
                    })
                    .await;
                    (sdk, ours)
                })
            })
            .join()
            .unwrap()
    });
    // Gone before the ticks, whose listings count pages.
    fake.remove("floor");
    measured
}

/// Milliseconds of this thread's CPU per `call`, over `calls` calls 8 at a time (after
/// 200 to warm up).
async fn per_call_cpu<F: Future<Output = ()>>(calls: usize, call: impl Fn() -> F) -> f64 {
    futures_util::stream::iter((0..200).map(|_| call()))
        .buffer_unordered(8)
        .collect::<Vec<()>>()
        .await;
    let before = thread_cpu_seconds();
    futures_util::stream::iter((0..calls).map(|_| call()))
        .buffer_unordered(8)
        .collect::<Vec<()>>()
        .await;
    (thread_cpu_seconds() - before) / calls as f64 * 1000.0
}

/// This thread's CPU time so far, in seconds.
fn thread_cpu_seconds() -> f64 {
    schedstat_seconds(&std::fs::read_to_string("/proc/thread-self/schedstat").unwrap())
}

/// How long one `BatchGetItem` of 100 keys takes, in milliseconds (median of 20).
async fn batch_get_ms(config: &aws_config::SdkConfig) -> f64 {
    let client = aws_sdk_dynamodb::Client::new(config);
    let table = create_table(&client).await;
    let store = pipewatch::aws::DynamoStore::new(client, &table);
    let keys: Vec<String> = (0..100).map(|i| format!("absent-{i}")).collect();
    let mut times = Vec::new();
    for _ in 0..21 {
        let started = Instant::now();
        pipewatch::ports::SnapshotStore::load_many(&store, &keys)
            .await
            .unwrap();
        times.push(started.elapsed());
    }
    times.sort_unstable();
    times[10].as_secs_f64() * 1000.0
}

/// A comma-separated list of numbers from the environment, if set.
fn list_from_env(name: &str) -> Option<Vec<usize>> {
    let value = std::env::var(name).ok()?;
    let list = value
        .split(',')
        .map(|n| {
            n.trim()
                .parse()
                .unwrap_or_else(|_| panic!("{name}: {value:?} is not a list of numbers"))
        })
        .collect();
    Some(list)
}

/// The function process for one run, configured as the template configures it.
fn start(
    fake: &FakeCodePipeline,
    dynamodb: &FaultProxy,
    sns: &FaultProxy,
    table: &str,
    inbox: &Inbox,
    prefix: &str,
    concurrency: usize,
) -> Lambda {
    let log = Path::new(env!("CARGO_TARGET_TMPDIR")).join(format!("bench-{prefix}.log"));
    Lambda::start(
        env!("CARGO_BIN_EXE_pipewatch-lambda"),
        &[
            ("PIPELINES", format!("{prefix}*")),
            ("TABLE_NAME", table.to_owned()),
            ("TOPIC_ARN", inbox.topic_arn.clone()),
            ("DEAD_LETTER_QUEUE_URL", inbox.dead_letter_url.clone()),
            ("MAX_CONCURRENCY", concurrency.to_string()),
            ("SHARD_SIZE", "10000".to_owned()),
            ("DISCOVERY_SECONDS", "3600".to_owned()),
            ("LOG_LEVEL", "warn".to_owned()),
            ("AWS_ENDPOINT_URL_CODEPIPELINE", fake.url()),
            ("AWS_ENDPOINT_URL_DYNAMODB", dynamodb.url()),
            ("AWS_ENDPOINT_URL_SNS", sns.url()),
        ],
        log,
    )
}

fn tick(function: &Lambda) -> Value {
    let summary = function.summary("scheduled-event.json");
    assert_eq!(summary["errors"], 0, "{summary}");
    summary
}

/// Calls so far by API: `GetPipelineState`, `GetPipelineExecution`, `ListPipelines`,
/// DynamoDB, SNS, `ListActionExecutions`, `ListPipelineExecutions`.
fn calls(fake: &FakeCodePipeline, dynamodb: &FaultProxy, sns: &FaultProxy) -> [usize; 7] {
    [
        fake.operations("GetPipelineState"),
        fake.operations("GetPipelineExecution"),
        fake.operations("ListPipelines"),
        dynamodb.forwarded(),
        sns.forwarded(),
        fake.operations("ListActionExecutions"),
        fake.operations("ListPipelineExecutions"),
    ]
}

fn per_tick(after: [usize; 7], before: [usize; 7], ticks: usize) -> [usize; 7] {
    std::array::from_fn(|i| (after[i] - before[i]) / ticks)
}

fn describe(calls: &[usize; 7], n: usize, changed: bool) -> String {
    let batch_gets = n.div_ceil(100);
    // Messages are published per pipeline, as its claim is won: ⌈messages/10⌉ PublishBatch
    // for each changed pipeline (one message each here).
    let (dynamodb_min, sns_min) = if changed {
        (
            format!("{batch_gets} BatchGetItem + {n} claims + {n} acknowledgements"),
            format!("{n} PublishBatch"),
        )
    } else {
        (format!("{batch_gets} BatchGetItem"), "0".to_owned())
    };
    format!(
        "GetPipelineState {} [{n}], GetPipelineExecution {} [{}], ListActionExecutions {} [{}], ListPipelineExecutions {} [{}], ListPipelines {} [0 between discoveries], DynamoDB {} [{dynamodb_min}], SNS {} [{sns_min}]",
        calls[0],
        calls[1],
        if changed {
            "1 per new execution per pipeline"
        } else {
            "0"
        },
        calls[5],
        if changed {
            "1 per pipeline execution with a new action run"
        } else {
            "0"
        },
        calls[6],
        if changed {
            "0: no stage shows a new execution in this change"
        } else {
            "0"
        },
        calls[2],
        calls[3],
        calls[4]
    )
}

/// The CPU time the process's threads have run so far, in seconds, to the nanosecond
/// (`/proc/…/stat` counts in 10 ms steps, too coarse for a small tick).
fn cpu_seconds(pid: u32) -> f64 {
    std::fs::read_dir(format!("/proc/{pid}/task"))
        .unwrap()
        .filter_map(|task| std::fs::read_to_string(task.ok()?.path().join("schedstat")).ok())
        .map(|schedstat| schedstat_seconds(&schedstat))
        .sum()
}

/// The first field of a `schedstat` file: nanoseconds on the CPU.
fn schedstat_seconds(schedstat: &str) -> f64 {
    let nanoseconds: f64 = schedstat.split(' ').next().unwrap().parse().unwrap();
    nanoseconds / 1e9
}

/// `VmHWM`: the most resident memory the process has had.
fn peak_rss_kb(pid: u32) -> u64 {
    std::fs::read_to_string(format!("/proc/{pid}/status"))
        .unwrap_or_default()
        .lines()
        .find_map(|line| line.strip_prefix("VmHWM:"))
        .and_then(|value| value.trim().trim_end_matches("kB").trim().parse().ok())
        .unwrap_or(0)
}

/// Requests a second the fake answers with no latency: 8 threads, each on one kept-alive
/// connection, asking `GetPipelineState` of an unknown pipeline.
fn fake_capacity(fake: &FakeCodePipeline) -> f64 {
    const PER_THREAD: usize = 2_000;
    let address = fake.url().trim_start_matches("http://").to_owned();
    let started = Instant::now();
    let threads: Vec<_> = (0..8)
        .map(|_| {
            let address = address.clone();
            std::thread::spawn(move || {
                let stream = TcpStream::connect(&address).unwrap();
                // As the SDK's client does: no Nagle delay on small requests.
                stream.set_nodelay(true).unwrap();
                let mut reader = BufReader::new(stream.try_clone().unwrap());
                let mut writer = stream;
                let body = r#"{"name":"capacity"}"#;
                let request = format!(
                    "POST / HTTP/1.1\r\nHost: fake\r\nX-Amz-Target: CodePipeline_20150709.GetPipelineState\r\nContent-Length: {}\r\n\r\n{body}",
                    body.len()
                );
                for _ in 0..PER_THREAD {
                    // One write per request, as one packet.
                    writer.write_all(request.as_bytes()).unwrap();
                    let mut length = 0;
                    loop {
                        let mut line = String::new();
                        reader.read_line(&mut line).unwrap();
                        if let Some(value) = line.to_ascii_lowercase().strip_prefix("content-length:") {
                            length = value.trim().parse().unwrap();
                        }
                        if line == "\r\n" {
                            break;
                        }
                    }
                    let mut body = vec![0; length];
                    std::io::Read::read_exact(&mut reader, &mut body).unwrap();
                }
            })
        })
        .collect();
    for thread in threads {
        thread.join().unwrap();
    }
    (8 * PER_THREAD) as f64 / started.elapsed().as_secs_f64()
}
