//! Feeds arbitrary bytes to the state parser, then diffs, renders and round-trips what
//! parses. The checks live in `crates/core/tests/it/exercise.rs`, which CI runs over the corpus.
#![no_main]

#[path = "../../crates/core/tests/it/exercise.rs"]
mod exercise;

libfuzzer_sys::fuzz_target!(|data: &[u8]| {
    let _ = exercise::exercise(data);
});
