//! Changes → words: a terminal line each ([`text`]), a flat JSON record each ([`record`]),
//! the notification for a pipeline's tick ([`message`]), and that notification as a Slack
//! webhook message ([`slack`]).
//!
//! Pure functions over [`crate::diff::Change`]. Text written for people passes through
//! [`text::clean`], since summaries and reasons are free text from AWS and its users.

pub mod message;
pub mod record;
pub mod slack;
pub mod text;
