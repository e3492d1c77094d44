//! `pipewatch redrive`: the dead-letter queue's messages, published to the topic again.
//!
//! Each message goes out exactly as it was claimed (same id, subject, body and
//! attributes), so a subscriber that drops ids it has seen never shows one twice, even
//! when a message reached the queue twice or was redriven twice. A message the topic
//! accepts is deleted from the queue; one it refuses again stays, hidden for a minute, so
//! one run makes one pass. A message that is not a pipewatch dead letter is left alone.
//!
//! The SQS console's own redrive cannot do this: it moves messages to another queue, not
//! to a topic.

use std::fmt;

use crate::aws::dead_letter_reader::DeadLetterReader;
use pipewatch_core::error::chain;

use crate::ports::BoxError;
use crate::ports::Notifier;

/// How long a received message stays hidden from the next receive: longer than one pass.
const HIDE_SECONDS: i32 = 60;

/// What one redrive did.
#[derive(Debug, Default, Clone, PartialEq, Eq)]
pub struct Redriven {
    pub published: usize,
    pub refused: usize,
    /// Messages in the queue that are not pipewatch dead letters (left there).
    pub foreign: usize,
    pub first_refusal: Option<String>,
}

impl fmt::Display for Redriven {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(
            f,
            "redrive: {} published and deleted from the queue, {} refused (still queued), {} not pipewatch messages (left alone)",
            self.published, self.refused, self.foreign
        )
    }
}

/// Publishes every dead letter in `queue` through `notifier`, until a receive finds none.
pub async fn redrive(
    queue: &DeadLetterReader,
    notifier: &impl Notifier,
) -> Result<Redriven, BoxError> {
    let mut report = Redriven::default();
    loop {
        let received = queue.receive(HIDE_SECONDS).await?;
        if received.is_empty() {
            return Ok(report);
        }
        let mut receipts = Vec::new();
        let mut messages = Vec::new();
        for message in received {
            match message.letter {
                Ok(letter) => {
                    receipts.push(message.receipt);
                    messages.push(letter.message);
                }
                Err(_) => report.foreign += 1,
            }
        }
        let outcomes = notifier.publish(&messages).await;
        let mut done = Vec::new();
        for (receipt, outcome) in receipts.into_iter().zip(outcomes) {
            match outcome {
                Ok(()) => {
                    report.published += 1;
                    done.push(receipt);
                }
                Err(error) => {
                    report.refused += 1;
                    report.first_refusal.get_or_insert_with(|| chain(&error));
                }
            }
        }
        queue.delete(&done).await?;
    }
}
