//! The notifications document, kept current across invocations of one container: read
//! again at most once per cache period with a conditional request (an unchanged document
//! costs one 304), made into what a function needs (the forwarder's routes, the
//! approver's narrowing rules) by the function's own `take`.
//!
//! A document takes effect whole or not at all. One that is refused (by the core's checks
//! or by `take`) leaves the last good one running, and is logged with every problem's line
//! and reason; when the source names the operator's topic, the operator is told once per
//! refused version. A cold start whose newest document is refused runs the newest earlier
//! sound version. Every version that takes effect is logged with its S3 version id. With
//! no document at the key, the stack's parameters decide, as before documents existed.

use std::sync::Arc;
use std::time::{Duration, Instant};

use pipewatch_core::config::Document;

use super::document::{self as s3doc, Fetched, Read};
use crate::ports::BoxError;

/// How many earlier versions a cold start reads, looking for a sound one.
const VERSIONS_BACK: i32 = 10;

/// The document's place and the services reading it needs.
pub struct Source<'a> {
    pub s3: &'a aws_sdk_s3::Client,
    pub bucket: &'a str,
    pub key: &'a str,
    pub cache: Duration,
    /// Who tells the operator of a refused document, once (the forwarder); `None`: logs only.
    pub operator: Option<Operator<'a>>,
}

impl<'a> Source<'a> {
    /// The document `config` names, read with `s3`.
    pub fn new(
        s3: &'a aws_sdk_s3::Client,
        config: &'a crate::config::DocumentConfig,
        operator: Option<Operator<'a>>,
    ) -> Self {
        Self {
            s3,
            bucket: &config.bucket,
            key: &config.key,
            cache: config.cache,
            operator,
        }
    }
}

/// The alarm topic, and the table where "told" is remembered.
pub struct Operator<'a> {
    pub sns: &'a aws_sdk_sns::Client,
    pub topic: &'a str,
    pub dynamodb: &'a aws_sdk_dynamodb::Client,
    pub table: &'a str,
}

/// What a document made: `Ok(Err(problems))` refuses it; `Err` is a failure to try again.
pub type Taken<T> = Result<Result<T, String>, BoxError>;

/// What is in effect: the stack's `T`, or the newest sound document's.
pub struct Live<T> {
    stack: Arc<T>,
    current: Arc<T>,
    /// The S3 version id of the document in effect (`None`: the stack's parameters).
    version: Option<String>,
    /// The `ETag` of the newest document read, taken or refused (`None`: none read yet).
    seen: Option<String>,
    checked_at: Option<Instant>,
}

impl<T> Live<T> {
    /// Starts from the stack's `T`.
    pub fn new(stack: T) -> Self {
        let stack = Arc::new(stack);
        Self {
            current: Arc::clone(&stack),
            stack,
            version: None,
            seen: None,
            checked_at: None,
        }
    }

    /// The S3 version id of the document in effect (`None`: the stack's parameters).
    pub fn version(&self) -> Option<&str> {
        self.version.as_deref()
    }

    /// What is in effect now: the document (when `source` names one) read again when the
    /// cache period has passed, and made a `T` by `take` when it changed.
    pub async fn current(
        &mut self,
        source: Option<&Source<'_>>,
        take: &mut impl AsyncFnMut(&Document) -> Taken<T>,
    ) -> Arc<T> {
        let Some(source) = source else {
            return Arc::clone(&self.current);
        };
        let now = Instant::now();
        if self
            .checked_at
            .is_some_and(|at| now.duration_since(at) < source.cache)
        {
            return Arc::clone(&self.current);
        }
        match self.refresh(source, take).await {
            Ok(()) => self.checked_at = Some(now),
            // Read again at the next invocation; what runs keeps running.
            Err(error) => tracing::warn!(error = %pipewatch_core::error::chain(&*error),
                bucket = source.bucket, key = source.key,
                "could not read the notifications document; what was in effect stays"),
        }
        Arc::clone(&self.current)
    }

    async fn refresh(
        &mut self,
        source: &Source<'_>,
        take: &mut impl AsyncFnMut(&Document) -> Taken<T>,
    ) -> Result<(), BoxError> {
        let first = self.checked_at.is_none();
        let known = self.seen.as_deref();
        let fetched = match s3doc::read(source.s3, source.bucket, source.key, known).await? {
            Read::Unchanged => return Ok(()),
            Read::Missing => {
                if self.version.is_some() {
                    tracing::warn!(
                        bucket = source.bucket,
                        key = source.key,
                        "the notifications document is gone: the stack's parameters decide"
                    );
                }
                self.current = Arc::clone(&self.stack);
                self.version = None;
                self.seen = None;
                return Ok(());
            }
            Read::Changed(fetched) => fetched,
        };
        match self.take(source, &fetched, take).await? {
            Ok(()) => {}
            Err(problems) => {
                if first {
                    self.fall_back(source, &fetched, take).await?;
                }
                self.refused(source, &fetched, &problems).await;
            }
        }
        self.seen = Some(fetched.etag);
        Ok(())
    }

    /// `fetched`, in effect when it is sound: `Ok(Err(problems))` when refused.
    async fn take(
        &mut self,
        source: &Source<'_>,
        fetched: &Fetched,
        take: &mut impl AsyncFnMut(&Document) -> Taken<T>,
    ) -> Result<Result<(), String>, BoxError> {
        let taken = match Document::load(&fetched.bytes) {
            Ok(document) => take(&document).await?,
            Err(refused) => Err(refused
                .0
                .iter()
                .map(ToString::to_string)
                .collect::<Vec<_>>()
                .join("\n")),
        };
        let made = match taken {
            Ok(made) => made,
            Err(problems) => return Ok(Err(problems)),
        };
        let version = version(fetched).to_owned();
        tracing::info!(
            bucket = source.bucket,
            key = source.key,
            version = %version,
            "a notifications document took effect"
        );
        self.current = Arc::new(made);
        self.version = Some(version);
        Ok(Ok(()))
    }

    /// A cold start whose newest document is refused: the newest earlier sound version.
    async fn fall_back(
        &mut self,
        source: &Source<'_>,
        newest: &Fetched,
        take: &mut impl AsyncFnMut(&Document) -> Taken<T>,
    ) -> Result<(), BoxError> {
        let versions = s3doc::versions(source.s3, source.bucket, source.key, VERSIONS_BACK).await?;
        for id in versions
            .iter()
            .filter(|v| Some(v.as_str()) != newest.version.as_deref())
        {
            let fetched = s3doc::read_version(source.s3, source.bucket, source.key, id).await?;
            if self.take(source, &fetched, take).await?.is_ok() {
                return Ok(());
            }
        }
        tracing::warn!("no earlier notifications document is sound: the stack's parameters decide");
        Ok(())
    }

    /// Logs a refused document and tells the operator, once per version.
    async fn refused(&self, source: &Source<'_>, fetched: &Fetched, problems: &str) {
        let refused = version(fetched);
        let running = self.version.as_deref().map_or_else(
            || "the stack's parameters".to_owned(),
            |v| format!("version {v}"),
        );
        tracing::error!(bucket = source.bucket, key = source.key, version = refused, problems,
            running = %running, "the notifications document is refused; what was in effect stays");
        let Some(operator) = &source.operator else {
            return;
        };
        let now = pipewatch_core::state::Timestamp::now().unix_millis() / 1000;
        let first =
            super::once::first_to_tell(operator.dynamodb, operator.table, &fetched.etag, now);
        match first.await {
            Ok(false) => {}
            Ok(true) => {
                let message = format!(
                    "pipewatch refused its notifications document s3://{}/{} (version {refused}); \
                     nothing of it took effect, and {running} keeps running.\n\n{problems}\n\n\
                     pipewatch config check FILE shows the same on your machine. You are told \
                     once per version.",
                    source.bucket, source.key
                );
                let subject = "pipewatch refused its notifications document";
                if let Err(error) =
                    super::operator::tell(operator.sns, operator.topic, subject, &message).await
                {
                    tracing::warn!(error = %error, "could not tell the operator");
                }
            }
            Err(error) => tracing::warn!(error = %error, "could not tell the operator"),
        }
    }
}

/// A version's name: S3's version id, or its `ETag` in a bucket that keeps none.
fn version(fetched: &Fetched) -> &str {
    fetched.version.as_deref().unwrap_or(&fetched.etag)
}
