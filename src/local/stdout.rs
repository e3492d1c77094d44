//! A notifier that prints each message's lines on standard output, and a dead-letter
//! file for the CLI.

use std::io::Write;

use crate::ports::Notifier;
use crate::ports::NotifyError;
use pipewatch_core::render::message::Message;

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
                        permanent: false,
                        source: Box::new(e),
                    })
            })
            .collect()
    }
}

/// Dead letters as JSON lines appended to a file (`dead-letters.jsonl` in the CLI's state
/// folder): standard output never refuses a message, so only an outbox past its bound
/// (left by an earlier run that could not print) ever writes here.
#[derive(Debug, Clone)]
pub struct DeadLetterFile {
    pub path: std::path::PathBuf,
}

impl crate::ports::DeadLetterQueue for DeadLetterFile {
    async fn send(
        &self,
        letters: &[pipewatch_core::record::DeadLetter],
    ) -> Result<(), crate::ports::BoxError> {
        if let Some(dir) = self.path.parent() {
            std::fs::create_dir_all(dir)?;
        }
        let mut file = std::fs::OpenOptions::new()
            .create(true)
            .append(true)
            .open(&self.path)?;
        for letter in letters {
            writeln!(file, "{}", serde_json::to_string(letter)?)?;
        }
        file.flush()?;
        Ok(())
    }
}
