//! Changes → words: a terminal line each ([`text`]), a flat JSON record each ([`record`]),
//! and the notification for a pipeline's tick ([`message`]).
//!
//! Pure functions over [`crate::diff::Change`]. Text written for people passes through
//! [`text::clean`], since summaries and reasons are free text from AWS and its users.

pub mod message;
pub mod record;
pub mod text;
