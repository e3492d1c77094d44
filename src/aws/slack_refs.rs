//! The Slack app's message references in DynamoDB, in the snapshot table under keys of
//! their own (`slack/…`; a pipeline name cannot hold a `/`), so the forwarder's role is
//! granted those keys alone (`dynamodb:LeadingKeys`). Every write is conditional, which is
//! what makes the rules of [`pipewatch_core::living`] hold between forwarders.
//!
//! | key | attributes |
//! |-----|------------|
//! | `slack/{channel}/{execution}` | `ts` (absent while claimed), `claimed_until`, `revision`, `digest`, `message`, `sent`, `reposting_until` (while one forwarder replaces a lost message) |
//! | `slack/{channel}/{execution}/{reply key}`, `slack/{channel}/post/{id}` | `claimed_until`, `done` |
//! | `slack/{channel}/dead/{id}` | `body`, `reason`, `at`: a notification the channel could not take |
//! | `slack/{channel}/dead` | `ids`: the channel's dead letters, for a redrive |
//! | `slack/decisions/approval/{pipeline}/{stage}/{action}/{run}` | `claimed_until`, `done`, `summary`: a decision taken in Slack, written by the approver alone |
//!
//! Items expire (the table's TTL) 30 days after their last write.

use std::collections::HashMap;

use aws_sdk_dynamodb::error::SdkError;
use aws_sdk_dynamodb::types::AttributeValue;

use super::dynamodb::{EXPIRES_AT, KEY};
use crate::ports::{BoxError, StoreError};
use pipewatch_core::living::{CLAIM_LEASE_MS, MessageRef, redrive_order};

/// The namespace of the decisions taken in Slack (the approver's claims and outcomes).
pub const DECISIONS: &str = "decisions";

/// How long a reference is kept after its last write.
const RETENTION_S: i64 = 30 * 86_400;

/// The references of one table.
pub struct SlackRefs {
    client: aws_sdk_dynamodb::Client,
    table: String,
}

type Item = HashMap<String, AttributeValue>;

fn s(value: impl Into<String>) -> AttributeValue {
    AttributeValue::S(value.into())
}

/// The string attribute `name` of `item`.
fn text(item: &Item, name: &str) -> Option<String> {
    item.get(name).and_then(|v| v.as_s().ok()).cloned()
}

fn n(value: impl std::fmt::Display) -> AttributeValue {
    AttributeValue::N(value.to_string())
}

fn failed(operation: &'static str, error: impl Into<BoxError>) -> StoreError {
    StoreError {
        operation,
        source: error.into(),
    }
}

/// Whether a write failed on its condition (a race lost), rather than for good.
fn lost<E, R>(error: &SdkError<E, R>) -> bool
where
    E: aws_smithy_types::error::metadata::ProvideErrorMetadata,
{
    error
        .as_service_error()
        .and_then(aws_smithy_types::error::metadata::ProvideErrorMetadata::code)
        == Some("ConditionalCheckFailedException")
}

/// A conditional write's outcome: `true` when written, `false` when its condition failed.
fn won<T, E, R>(
    result: Result<T, SdkError<E, R>>,
    operation: &'static str,
) -> Result<bool, StoreError>
where
    E: aws_smithy_types::error::metadata::ProvideErrorMetadata
        + std::error::Error
        + Send
        + Sync
        + 'static,
    R: std::fmt::Debug + Send + Sync + 'static,
{
    match result {
        Ok(_) => Ok(true),
        Err(e) if lost(&e) => Ok(false),
        Err(e) => Err(failed(operation, super::describe(&e))),
    }
}

impl SlackRefs {
    pub fn new(client: aws_sdk_dynamodb::Client, table: impl Into<String>) -> Self {
        Self {
            client,
            table: table.into(),
        }
    }

    /// Puts `item` unless one is there that is finished (has `finished`) or whose claim
    /// holds at `now_ms`.
    async fn put_unless_held(
        &self,
        item: Item,
        finished: &str,
        now_ms: i64,
    ) -> Result<bool, StoreError> {
        let result = self
            .client
            .put_item()
            .table_name(&self.table)
            .set_item(Some(item))
            // A claim without its lease (a partial item) is as good as expired, as `get`
            // reads it: else a delivery would find it taken over and never claimable.
            .condition_expression(
                "attribute_not_exists(#k) OR (attribute_not_exists(#f) AND \
                 (attribute_not_exists(claimed_until) OR claimed_until <= :now))",
            )
            .expression_attribute_names("#k", KEY)
            .expression_attribute_names("#f", finished)
            .expression_attribute_values(":now", n(now_ms))
            .send()
            .await;
        won(result, "PutItem")
    }

    /// The item `key`, read consistently.
    async fn read(&self, key: String) -> Result<Option<Item>, StoreError> {
        self.client
            .get_item()
            .table_name(&self.table)
            .key(KEY, s(key))
            .consistent_read(true)
            .send()
            .await
            .map(|output| output.item)
            .map_err(|e| failed("GetItem", super::describe(&e)))
    }

    fn key(channel: &str, execution: &str) -> String {
        format!("slack/{channel}/{execution}")
    }

    fn expires(now_ms: i64) -> AttributeValue {
        n(now_ms / 1000 + RETENTION_S)
    }

    /// The reference of `execution` in `channel`, read consistently.
    pub async fn get(
        &self,
        channel: &str,
        execution: &str,
    ) -> Result<Option<MessageRef>, StoreError> {
        let Some(item) = self.read(Self::key(channel, execution)).await? else {
            return Ok(None);
        };
        let text = |name: &str| text(&item, name);
        let number = |name: &str| {
            item.get(name)
                .and_then(|v| v.as_n().ok())
                .and_then(|v| v.parse::<i64>().ok())
        };
        Ok(Some(MessageRef {
            channel: channel.to_owned(),
            execution: execution.to_owned(),
            ts: text("ts"),
            claimed_until: number("claimed_until").unwrap_or(0),
            revision: number("revision")
                .and_then(|r| u64::try_from(r).ok())
                .unwrap_or(0),
            digest: text("digest").unwrap_or_default(),
            message: text("message").unwrap_or_default(),
            sent: text("sent"),
            sending_until: number("sending_until").unwrap_or(0),
        }))
    }

    /// Claims the first post of `claim` (no reference yet, or a claim past its lease with
    /// no `ts`). `false`: another forwarder holds it.
    pub async fn claim(&self, claim: &MessageRef, now_ms: i64) -> Result<bool, StoreError> {
        let item: Item = HashMap::from([
            (
                KEY.to_owned(),
                s(Self::key(&claim.channel, &claim.execution)),
            ),
            ("claimed_until".to_owned(), n(claim.claimed_until)),
            ("revision".to_owned(), n(claim.revision)),
            ("digest".to_owned(), s(&claim.digest)),
            ("message".to_owned(), s(&claim.message)),
            (EXPIRES_AT.to_owned(), Self::expires(now_ms)),
        ]);
        self.put_unless_held(item, "ts", now_ms).await
    }

    /// Stores the `ts` of the message this forwarder posted under its claim. `false`: the
    /// claim was taken over meanwhile (its lease passed), and that one's `ts` stays.
    pub async fn store_ts(
        &self,
        reference: &MessageRef,
        ts: &str,
        sent: &str,
        now_ms: i64,
    ) -> Result<bool, StoreError> {
        let result = self
            .client
            .update_item()
            .table_name(&self.table)
            .key(KEY, s(Self::key(&reference.channel, &reference.execution)))
            .update_expression("SET ts = :ts, sent = :sent, #e = :e")
            .condition_expression("attribute_not_exists(ts) AND claimed_until = :mine")
            .expression_attribute_names("#e", EXPIRES_AT)
            .expression_attribute_values(":ts", s(ts))
            .expression_attribute_values(":sent", s(sent))
            .expression_attribute_values(":mine", n(reference.claimed_until))
            .expression_attribute_values(":e", Self::expires(now_ms))
            .send()
            .await;
        won(result, "UpdateItem")
    }

    /// Gives up the claim `claim` made, when its post failed: the next delivery claims and
    /// posts at once instead of waiting for the lease. Kept if another took it over.
    pub async fn unclaim(&self, claim: &MessageRef) -> Result<(), StoreError> {
        let result = self
            .client
            .delete_item()
            .table_name(&self.table)
            .key(KEY, s(Self::key(&claim.channel, &claim.execution)))
            .condition_expression("attribute_not_exists(ts) AND claimed_until = :mine")
            .expression_attribute_values(":mine", n(claim.claimed_until))
            .send()
            .await;
        won(result, "DeleteItem").map(drop)
    }

    /// Records `newer` as the newest rendering, if the stored revision is still
    /// `read_revision`. `false`: another forwarder recorded one meanwhile.
    pub async fn record(
        &self,
        newer: &MessageRef,
        read_revision: u64,
        now_ms: i64,
    ) -> Result<bool, StoreError> {
        let result = self
            .client
            .update_item()
            .table_name(&self.table)
            .key(KEY, s(Self::key(&newer.channel, &newer.execution)))
            .update_expression(
                "SET revision = :r, digest = :d, message = :m, sending_until = :until, #e = :e",
            )
            .condition_expression("revision = :read")
            .expression_attribute_names("#e", EXPIRES_AT)
            .expression_attribute_values(":r", n(newer.revision))
            .expression_attribute_values(":d", s(&newer.digest))
            .expression_attribute_values(":m", s(&newer.message))
            .expression_attribute_values(":until", n(newer.sending_until))
            .expression_attribute_values(":read", n(read_revision))
            .expression_attribute_values(":e", Self::expires(now_ms))
            .send()
            .await;
        won(result, "UpdateItem")
    }

    /// Takes over sending `reference`'s newest rendering, which its recorder never sent
    /// and whose lease passed, while it is still the newest: `false` when another
    /// forwarder took it, or recorded a newer one.
    pub async fn take_sending(
        &self,
        reference: &MessageRef,
        now_ms: i64,
    ) -> Result<bool, StoreError> {
        let result = self
            .client
            .update_item()
            .table_name(&self.table)
            .key(KEY, s(Self::key(&reference.channel, &reference.execution)))
            .update_expression("SET sending_until = :until")
            .condition_expression(
                "digest = :d AND (attribute_not_exists(sending_until) OR sending_until <= :now)",
            )
            .expression_attribute_values(":until", n(now_ms + CLAIM_LEASE_MS))
            .expression_attribute_values(":d", s(&reference.digest))
            .expression_attribute_values(":now", n(now_ms))
            .send()
            .await;
        won(result, "UpdateItem")
    }

    /// Notes which rendering Slack last accepted; with `ts`, the message it is now in (a
    /// new one after the old was deleted or could no longer be edited), if the reference
    /// still names `old_ts`.
    pub async fn sent(
        &self,
        reference: &MessageRef,
        digest: &str,
        new_ts: Option<&str>,
    ) -> Result<(), StoreError> {
        let old_ts = reference.ts.clone().unwrap_or_default();
        let mut request = self
            .client
            .update_item()
            .table_name(&self.table)
            .key(KEY, s(Self::key(&reference.channel, &reference.execution)))
            .expression_attribute_values(":sent", s(digest))
            .expression_attribute_values(":old", s(old_ts));
        request = match new_ts {
            Some(ts) => request
                .update_expression("SET sent = :sent, ts = :ts REMOVE reposting_until")
                .expression_attribute_values(":ts", s(ts)),
            None => request.update_expression("SET sent = :sent"),
        };
        won(
            request.condition_expression("ts = :old").send().await,
            "UpdateItem",
        )
        .map(drop)
    }

    /// Claims posting the message that replaces `reference`'s (deleted, or no longer
    /// editable), while the reference still names that message: `false` when another
    /// forwarder holds the claim (for [`CLAIM_LEASE_MS`]) or has already moved it.
    pub async fn claim_repost(
        &self,
        reference: &MessageRef,
        now_ms: i64,
    ) -> Result<bool, StoreError> {
        let result = self
            .client
            .update_item()
            .table_name(&self.table)
            .key(KEY, s(Self::key(&reference.channel, &reference.execution)))
            .update_expression("SET reposting_until = :until")
            .condition_expression(
                "ts = :old AND (attribute_not_exists(reposting_until) OR reposting_until <= :now)",
            )
            .expression_attribute_values(":until", n(now_ms + CLAIM_LEASE_MS))
            .expression_attribute_values(":old", s(reference.ts.clone().unwrap_or_default()))
            .expression_attribute_values(":now", n(now_ms))
            .send()
            .await;
        won(result, "UpdateItem")
    }

    /// Gives up a repost claim whose post failed, so the next delivery reposts at once.
    pub async fn release_repost(&self, reference: &MessageRef) -> Result<(), StoreError> {
        let result = self
            .client
            .update_item()
            .table_name(&self.table)
            .key(KEY, s(Self::key(&reference.channel, &reference.execution)))
            .update_expression("REMOVE reposting_until")
            .condition_expression("ts = :old")
            .expression_attribute_values(":old", s(reference.ts.clone().unwrap_or_default()))
            .send()
            .await;
        won(result, "UpdateItem").map(drop)
    }

    /// Claims the one post of `key` under `channel` (a thread reply, or a message about
    /// no execution): `true` when this forwarder is to post it.
    pub async fn claim_once(
        &self,
        channel: &str,
        key: &str,
        now_ms: i64,
    ) -> Result<bool, StoreError> {
        let item: Item = HashMap::from([
            (KEY.to_owned(), s(format!("slack/{channel}/{key}"))),
            ("claimed_until".to_owned(), n(now_ms + CLAIM_LEASE_MS)),
            (EXPIRES_AT.to_owned(), Self::expires(now_ms)),
        ]);
        self.put_unless_held(item, "done", now_ms).await
    }

    /// Marks `key`'s post done: no delivery posts it again.
    pub async fn done(&self, channel: &str, key: &str) -> Result<(), StoreError> {
        self.client
            .update_item()
            .table_name(&self.table)
            .key(KEY, s(format!("slack/{channel}/{key}")))
            .update_expression("SET done = :t")
            .expression_attribute_values(":t", AttributeValue::Bool(true))
            .send()
            .await
            .map(drop)
            .map_err(|e| failed("UpdateItem", super::describe(&e)))
    }

    /// Records the decision `key` as taken, with the `summary` CodePipeline keeps: the
    /// living messages read it ([`SlackRefs::decision`]) and show the outcome.
    pub async fn decided(&self, key: &str, summary: &str) -> Result<(), StoreError> {
        self.client
            .update_item()
            .table_name(&self.table)
            .key(KEY, s(Self::key(DECISIONS, key)))
            .update_expression("SET done = :t, summary = :s")
            .expression_attribute_values(":t", AttributeValue::Bool(true))
            .expression_attribute_values(":s", s(summary))
            .send()
            .await
            .map(drop)
            .map_err(|e| failed("UpdateItem", super::describe(&e)))
    }

    /// The summary of the decision `key`, when one was taken in Slack.
    pub async fn decision(&self, key: &str) -> Result<Option<String>, StoreError> {
        let item = self.read(Self::key(DECISIONS, key)).await?;
        Ok(item.as_ref().and_then(|item| text(item, "summary")))
    }

    /// Lets `key` be posted by a later delivery at once (its post failed for now).
    pub async fn release(&self, channel: &str, key: &str) -> Result<(), StoreError> {
        let result = self
            .client
            .update_item()
            .table_name(&self.table)
            .key(KEY, s(format!("slack/{channel}/{key}")))
            .update_expression("SET claimed_until = :zero")
            .condition_expression("attribute_not_exists(done)")
            .expression_attribute_values(":zero", n(0))
            .send()
            .await;
        won(result, "UpdateItem").map(drop)
    }

    /// Keeps a notification `body` that `channel` could not take, with the `reason` in
    /// words, for a redrive to that channel alone; its id joins the channel's list of dead
    /// letters (`slack/{channel}/dead`), which a redrive reads.
    pub async fn dead_letter(
        &self,
        channel: &str,
        id: &str,
        body: &str,
        reason: &str,
        now_ms: i64,
    ) -> Result<(), StoreError> {
        let item: Item = HashMap::from([
            (KEY.to_owned(), s(format!("slack/{channel}/dead/{id}"))),
            ("body".to_owned(), s(body)),
            ("reason".to_owned(), s(reason)),
            ("at".to_owned(), n(now_ms)),
            (EXPIRES_AT.to_owned(), Self::expires(now_ms)),
        ]);
        self.client
            .put_item()
            .table_name(&self.table)
            .set_item(Some(item))
            .send()
            .await
            .map_err(|e| failed("PutItem", super::describe(&e)))?;
        self.client
            .update_item()
            .table_name(&self.table)
            .key(KEY, s(format!("slack/{channel}/dead")))
            .update_expression("ADD ids :id SET #e = :e")
            .expression_attribute_names("#e", EXPIRES_AT)
            .expression_attribute_values(":id", AttributeValue::Ss(vec![id.to_owned()]))
            .expression_attribute_values(":e", Self::expires(now_ms))
            .send()
            .await
            .map(drop)
            .map_err(|e| failed("UpdateItem", super::describe(&e)))
    }

    /// The dead letters kept for `channel`: (id, body, reason), in the order they are
    /// sent again ([`redrive_order`]: per pipeline, oldest revision first).
    pub async fn dead_letters(
        &self,
        channel: &str,
    ) -> Result<Vec<(String, String, String)>, StoreError> {
        let list = self.read(format!("slack/{channel}/dead")).await?;
        let mut ids: Vec<String> = list
            .as_ref()
            .and_then(|item| item.get("ids"))
            .and_then(|ids| ids.as_ss().ok())
            .cloned()
            .unwrap_or_default();
        ids.sort_by(|a, b| redrive_order(a).cmp(&redrive_order(b)));
        let mut letters = Vec::new();
        for id in ids {
            let letter = self.read(format!("slack/{channel}/dead/{id}")).await?;
            let field = |name: &str| letter.as_ref().and_then(|item| text(item, name));
            // An id whose letter expired is only dropped from the list.
            match field("body") {
                Some(body) => letters.push((id, body, field("reason").unwrap_or_default())),
                None => self.forget_dead_letter(channel, &id).await?,
            }
        }
        Ok(letters)
    }

    /// Removes a dead letter of `channel`, once delivered.
    pub async fn forget_dead_letter(&self, channel: &str, id: &str) -> Result<(), StoreError> {
        self.client
            .delete_item()
            .table_name(&self.table)
            .key(KEY, s(format!("slack/{channel}/dead/{id}")))
            .send()
            .await
            .map_err(|e| failed("DeleteItem", super::describe(&e)))?;
        self.client
            .update_item()
            .table_name(&self.table)
            .key(KEY, s(format!("slack/{channel}/dead")))
            .update_expression("DELETE ids :id")
            .expression_attribute_values(":id", AttributeValue::Ss(vec![id.to_owned()]))
            .send()
            .await
            .map(drop)
            .map_err(|e| failed("UpdateItem", super::describe(&e)))
    }
}
