//! The end of a check: what the plan evicts goes to the dead letters before the write,
//! what it leased is published, what the notifier refused for good (or too often) is
//! dead-lettered, and the outcome is acknowledged in the store.

use std::collections::HashSet;

use pipewatch_core::error::chain;
use pipewatch_core::pipeline::PipelineRef;
use pipewatch_core::plan::{Plan, oldest};
use pipewatch_core::record::{DeadLetter, Expected, Loaded, Record, Saved};

use super::{MAX_CLAIM_ATTEMPTS, PipelineError, PipelineReport, Watcher};
use crate::ports::{
    DeadLetterQueue, Notifier, NotifyError, PipelineSource, SnapshotStore, StoreError,
};

impl<P: PipelineSource, S: SnapshotStore, N: Notifier, D: DeadLetterQueue> Watcher<P, S, N, D> {
    /// Sends what `plan` evicts from the outbox to the dead-letter queue, before the plan
    /// is written (so a message is never only in neither place).
    pub(super) async fn evict(&self, plan: &Plan) -> Result<(), PipelineError> {
        if plan.evict.is_empty() {
            return Ok(());
        }
        tracing::warn!(
            pipeline = %plan.record.pipeline,
            messages = plan.evict.len(),
            "the outbox is over its bound: dead-lettering its oldest messages"
        );
        self.dead_letters
            .send(&plan.evict)
            .await
            .map_err(|source| PipelineError::DeadLetter {
                count: plan.evict.len(),
                source,
            })
    }

    /// Publishes what `plan` leased, dead-letters what the notifier refused for good (or
    /// too often), then acknowledges the outcome in the store.
    pub(super) async fn publish(
        &self,
        pipeline: &PipelineRef,
        plan: Plan,
        mut report: PipelineReport,
    ) -> Result<PipelineReport, PipelineError> {
        if plan.publish.is_empty() {
            report.pending = plan.record.outbox.len();
            report.oldest_pending_at = oldest(&plan.record.outbox);
            return Ok(report);
        }
        let outcomes = self.notifier.publish(&plan.publish).await;
        let mut gone = HashSet::new();
        let mut failed = Vec::new();
        let mut letters = Vec::new();
        let max_attempts = self.settings.max_publish_attempts.max(1);
        for (message, outcome) in plan.publish.iter().zip(outcomes) {
            match outcome {
                Ok(()) => {
                    report.published += 1;
                    gone.insert(message.id.clone());
                }
                Err(error) => {
                    let pending = plan
                        .record
                        .outbox
                        .iter()
                        .find(|p| p.message.id == message.id);
                    let attempts = pending.map_or(1, |p| p.attempts + 1);
                    if error.permanent || attempts >= max_attempts {
                        letters.push(DeadLetter {
                            message: message.clone(),
                            reason: chain(&error),
                            attempts,
                            claimed_at: pending.map_or(0, |p| p.claimed_at),
                        });
                    } else {
                        failed.push(error);
                    }
                }
            }
        }
        if !letters.is_empty() {
            match self.dead_letters.send(&letters).await {
                Ok(()) => {
                    for letter in &letters {
                        tracing::error!(
                            %pipeline,
                            id = %letter.message.id,
                            attempts = letter.attempts,
                            reason = %letter.reason,
                            "message dead-lettered"
                        );
                        gone.insert(letter.message.id.clone());
                    }
                    report.dead_lettered += letters.len();
                }
                Err(e) => {
                    tracing::error!(%pipeline, error = %chain(&*e), "dead-lettering failed; the messages stay in the outbox");
                    failed.extend(letters.into_iter().map(|l| NotifyError {
                        id: l.message.id,
                        permanent: true,
                        source: l.reason.into(),
                    }));
                }
            }
        }
        let failed_ids: HashSet<String> = failed.iter().map(|e| e.id.clone()).collect();
        let (left, oldest_at, writes) = self
            .acknowledge(&pipeline.key(), plan.record, &gone, &failed_ids)
            .await?;
        report.pending = left;
        report.oldest_pending_at = oldest_at;
        report.writes += writes;
        report.publish_failures = failed_ids.len();
        // Not the check's failure: the messages wait in the outbox, and the pending
        // figures (and their alarm) tell how long.
        if let Some(first) = failed.first() {
            tracing::warn!(
                %pipeline,
                failed = failed_ids.len(),
                error = %chain(first),
                "messages not published; they stay in the outbox"
            );
        }
        Ok(report)
    }

    /// Removes published and dead-lettered messages from the outbox, and counts an
    /// attempt on failed ones and releases their lease, retrying on lost races (other
    /// ticks may append to the outbox meanwhile). Returns the outbox size after, when its
    /// oldest message was claimed, and the writes made.
    pub(super) async fn acknowledge(
        &self,
        pipeline: &str,
        mut record: Record,
        gone: &HashSet<String>,
        failed: &HashSet<String>,
    ) -> Result<(usize, Option<i64>, usize), StoreError> {
        for _ in 0..MAX_CLAIM_ATTEMPTS {
            let mut next = record.clone();
            next.outbox.retain(|p| !gone.contains(&p.message.id));
            for pending in &mut next.outbox {
                if failed.contains(&pending.message.id) {
                    pending.lease_until = 0;
                    pending.attempts = pending.attempts.saturating_add(1);
                }
            }
            if next.outbox == record.outbox {
                return Ok((next.outbox.len(), oldest(&next.outbox), 0));
            }
            next.version = record.version + 1;
            match self
                .store
                .save(&next, Expected::Version(record.version))
                .await?
            {
                Saved::Written => return Ok((next.outbox.len(), oldest(&next.outbox), 1)),
                Saved::Conflict => match self.store.load(pipeline).await? {
                    Loaded::Found(latest) => record = latest,
                    // Replaced by an unreadable or missing item: nothing left to acknowledge.
                    Loaded::Missing | Loaded::Unreadable { .. } => return Ok((0, None, 0)),
                },
            }
        }
        Err(StoreError {
            operation: "acknowledging published messages",
            source: format!("the record changed {MAX_CLAIM_ATTEMPTS} times in a row").into(),
        })
    }
}
