//! The `pipewatch` command as a user runs it: `replay` over the bundled scenarios and bad
//! input, `config check` over documents good and bad, and `check` and `watch` against the
//! CodePipeline fake.

#[cfg(feature = "aws")]
mod check;
mod config;
#[cfg(feature = "aws")]
mod default;
mod docs;
mod offline;
mod replay;
