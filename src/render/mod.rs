//! Changes → words: a terminal line each ([`text`]) and a flat JSON record each ([`record`]).
//!
//! Pure functions over [`crate::diff::Change`]. Text written for people passes through
//! [`text::clean`], since summaries and reasons are free text from AWS and its users.

pub mod record;
pub mod text;
