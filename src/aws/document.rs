//! The notifications document's object in S3, read as cheaply as an unchanged document
//! allows: a `GetObject` with `If-None-Match` (the `ETag` read last), which S3 answers with
//! 304 and no body when nothing changed. The bucket is versioned, so every document that
//! ever took effect has a version id to log, and a refused newest one leaves the ones
//! before it to fall back on at a cold start.
//!
//! S3's conditional reads: `GetObject`'s `If-None-Match` answers 304 Not Modified when the
//! `ETag` matches (the S3 API reference, `GetObject`; moto's server implements it the same).

use aws_sdk_s3::Client;
use aws_sdk_s3::error::SdkError;
use aws_sdk_s3::operation::get_object::GetObjectError;
use aws_smithy_runtime_api::http::Response as HttpResponse;

use crate::ports::BoxError;

/// One version of the document.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Fetched {
    pub bytes: Vec<u8>,
    pub etag: String,
    /// S3's version id (`None` in a bucket that is not versioned).
    pub version: Option<String>,
}

/// What a read found.
#[derive(Debug, PartialEq, Eq)]
pub enum Read {
    /// The object's `ETag` is still the one given.
    Unchanged,
    /// Another document than the one given (or the first).
    Changed(Fetched),
    /// No object at the key: the stack's parameters decide.
    Missing,
}

/// The most bytes read of a document: more than [`pipewatch_core::config::MAX_BYTES`],
/// so that the core refuses an oversized one in words, and far less than a 10 MB one.
const READ_LIMIT: usize = pipewatch_core::config::MAX_BYTES + 1;

/// The object at `bucket`/`key`, unless its `ETag` is still `known`.
pub async fn read(
    client: &Client,
    bucket: &str,
    key: &str,
    known: Option<&str>,
) -> Result<Read, BoxError> {
    let request = client
        .get_object()
        .bucket(bucket)
        .key(key)
        .set_if_none_match(known.map(str::to_owned));
    match request.send().await {
        Ok(output) => Ok(Read::Changed(fetched(output).await?)),
        Err(error) if status(&error) == Some(304) => Ok(Read::Unchanged),
        Err(error) if status(&error) == Some(404) => Ok(Read::Missing),
        Err(error) => Err(super::describe(&error)),
    }
}

/// The object's versions since it was last deleted, newest first, from the `limit`
/// newest (the newest included).
pub async fn versions(
    client: &Client,
    bucket: &str,
    key: &str,
    limit: i32,
) -> Result<Vec<String>, BoxError> {
    let listed = client
        .list_object_versions()
        .bucket(bucket)
        .prefix(key)
        .max_keys(limit)
        .send()
        .await
        .map_err(|e| super::describe(&e))?;
    // A version from before the object was last deleted is not brought back.
    let deleted = listed
        .delete_markers()
        .iter()
        .filter(|m| m.key() == Some(key))
        .filter_map(|m| m.last_modified())
        .max();
    Ok(listed
        .versions()
        .iter()
        .filter(|v| v.key() == Some(key))
        .filter(|v| deleted.is_none_or(|at| v.last_modified().is_some_and(|m| m > at)))
        .filter_map(|v| v.version_id().map(str::to_owned))
        .collect())
}

/// One version of the object.
pub async fn read_version(
    client: &Client,
    bucket: &str,
    key: &str,
    version: &str,
) -> Result<Fetched, BoxError> {
    let output = client
        .get_object()
        .bucket(bucket)
        .key(key)
        .version_id(version)
        .send()
        .await
        .map_err(|e| super::describe(&e))?;
    fetched(output).await
}

async fn fetched(
    output: aws_sdk_s3::operation::get_object::GetObjectOutput,
) -> Result<Fetched, BoxError> {
    let etag = output.e_tag().unwrap_or_default().to_owned();
    let version = output.version_id().map(str::to_owned);
    // A body is read up to one byte past the most a document may be: a larger object is
    // refused by the core for its size, never held whole.
    let mut body = output.body;
    let mut bytes = Vec::new();
    while let Some(chunk) = body.try_next().await.map_err(|e| e.to_string())? {
        let room = READ_LIMIT.saturating_sub(bytes.len());
        bytes.extend_from_slice(&chunk[..chunk.len().min(room)]);
        if bytes.len() >= READ_LIMIT {
            break;
        }
    }
    Ok(Fetched {
        bytes,
        etag,
        version,
    })
}

fn status(error: &SdkError<GetObjectError, HttpResponse>) -> Option<u16> {
    error.raw_response().map(|r| r.status().as_u16())
}
