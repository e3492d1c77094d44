//! The functions' logs: JSON, one object per line, filtered by `LOG_LEVEL` — behind a guard
//! that `LOG_LEVEL` cannot lift.
//!
//! At `trace`, the crates under pipewatch print what they carry: the AWS SDK the whole
//! request and response of every call (`GetPipelineState`'s approval tokens,
//! `PutApprovalResult`'s token, Secrets Manager's secret values, `LOG_SENSITIVE_BODIES`
//! turning off what little it redacts) and what it signs (the session token in
//! `x-amz-security-token`); the Lambda runtime an event it could not parse (a click's
//! `response_url`). Their `debug` and above carry no such value (read in their sources:
//! aws-smithy-runtime, aws-sigv4, aws-config, hyper, h2, rustls, `lambda_runtime`).
//!
//! So other crates' events are written at `debug` at most, whatever `LOG_LEVEL` says.
//! The guard is a second filter on the writer's own layer, joined to the user's with
//! `and`: a directive in `LOG_LEVEL` (even `aws_smithy_runtime=trace` after a plain
//! `trace`) only decides within what the guard lets through. pipewatch's own events
//! (every target starting `pipewatch`: the library, the core, the binaries) keep every
//! level, and hold no secret at any: `tests/it/logs.rs` runs all three functions at
//! `trace` through the paths that carry secrets and looks for each in their output.

use tracing_subscriber::Layer;
use tracing_subscriber::filter::{EnvFilter, FilterExt, LevelFilter, Targets};
use tracing_subscriber::layer::SubscriberExt;
use tracing_subscriber::util::SubscriberInitExt;

/// The most other crates may write: their `trace` is where requests, responses and
/// signing material are printed.
pub const OTHER_CRATES_AT_MOST: LevelFilter = LevelFilter::DEBUG;

/// What may reach the writer at all, whatever the user's filter asks for.
pub fn guard() -> Targets {
    Targets::new()
        .with_default(OTHER_CRATES_AT_MOST)
        .with_target("pipewatch", LevelFilter::TRACE)
}

/// JSON logs on standard output, filtered by `filter` (`LOG_LEVEL`, already checked by
/// the configuration) within the [`guard`].
pub fn init_logging(filter: &str) {
    let layer = tracing_subscriber::fmt::layer()
        .json()
        .flatten_event(true)
        .with_current_span(false)
        .with_target(false)
        .with_writer(std::io::stdout)
        .with_filter(EnvFilter::new(filter).and(guard()));
    tracing_subscriber::registry().with(layer).init();
}

#[cfg(test)]
mod tests {
    use super::*;
    use tracing::Level;
    use tracing::subscriber::with_default;

    /// Collects what reaches the writer through the guarded filter `filter`.
    fn written(filter: &str, emit: impl FnOnce()) -> String {
        let out = std::sync::Arc::new(std::sync::Mutex::new(Vec::<u8>::new()));
        let sink = out.clone();
        let layer = tracing_subscriber::fmt::layer()
            .with_writer(move || Writer(sink.clone()))
            .with_filter(EnvFilter::new(filter).and(guard()));
        with_default(tracing_subscriber::registry().with(layer), emit);
        String::from_utf8(out.lock().unwrap().clone()).unwrap()
    }

    struct Writer(std::sync::Arc<std::sync::Mutex<Vec<u8>>>);

    impl std::io::Write for Writer {
        fn write(&mut self, buf: &[u8]) -> std::io::Result<usize> {
            self.0.lock().unwrap().extend_from_slice(buf);
            Ok(buf.len())
        }
        fn flush(&mut self) -> std::io::Result<()> {
            Ok(())
        }
    }

    fn emit_everywhere() {
        tracing::event!(target: "aws_smithy_runtime::client::orchestrator::http", Level::TRACE, "sdk-trace");
        tracing::event!(target: "aws_sigv4::http_request::sign", Level::TRACE, "sigv4-trace");
        tracing::event!(target: "aws_smithy_runtime::client::orchestrator", Level::DEBUG, "sdk-debug");
        tracing::event!(target: "pipewatch::approve", Level::TRACE, "ours-trace");
        tracing::event!(target: "pipewatch_core::living", Level::TRACE, "core-trace");
        tracing::event!(target: "pipewatch_approver", Level::INFO, "bin-info");
    }

    #[test]
    fn other_crates_trace_never_reaches_the_writer_whatever_the_filter_says() {
        for filter in [
            "trace",
            "aws_smithy_runtime=trace,aws_sigv4=trace",
            "trace,aws_smithy_runtime=trace,aws_sigv4::http_request=trace",
            "off,aws_sigv4[{canonical_request}]=trace,aws_smithy_runtime=trace",
        ] {
            let out = written(filter, emit_everywhere);
            assert!(!out.contains("sdk-trace"), "{filter}: {out}");
            assert!(!out.contains("sigv4-trace"), "{filter}: {out}");
        }
    }

    #[test]
    fn pipewatch_keeps_every_level_and_other_crates_keep_debug() {
        let out = written("trace", emit_everywhere);
        for line in ["sdk-debug", "ours-trace", "core-trace", "bin-info"] {
            assert!(out.contains(line), "{line} missing from {out}");
        }
    }

    #[test]
    fn the_users_filter_still_narrows() {
        let out = written("warn", emit_everywhere);
        assert!(out.is_empty(), "{out}");
        let out = written("pipewatch::approve=trace", emit_everywhere);
        assert!(
            out.contains("ours-trace") && !out.contains("core-trace"),
            "{out}"
        );
    }
}
