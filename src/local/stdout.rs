//! A notifier that prints each message's lines on standard output.

use std::io::Write;

use crate::error::NotifyError;
use crate::ports::Notifier;
use crate::render::message::Message;

#[derive(Debug, Clone, Copy, Default)]
pub struct StdoutNotifier;

impl Notifier for StdoutNotifier {
    async fn publish(&self, messages: &[Message]) -> Vec<Result<(), NotifyError>> {
        let mut out = std::io::stdout().lock();
        messages
            .iter()
            .map(|message| {
                writeln!(out, "{}", message.text)
                    .and_then(|()| out.flush())
                    .map_err(|e| NotifyError {
                        id: message.id.clone(),
                        source: Box::new(e),
                    })
            })
            .collect()
    }
}
