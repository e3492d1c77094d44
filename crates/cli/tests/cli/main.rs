//! The `pipewatch` command as a user runs it: `replay` over the bundled scenarios and bad
//! input, and `check` and `watch` against the CodePipeline fake.

#[cfg(feature = "aws")]
mod check;
mod docs;
mod offline;
mod replay;
