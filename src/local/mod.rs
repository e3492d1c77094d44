//! The adapters the CLI uses: snapshots in a local folder, messages on standard output.

pub mod file_store;
pub mod stdout;

pub use file_store::FileStore;
pub use stdout::{DeadLetterFile, StdoutNotifier};
