//! Changes → words. One content model, many channels:
//!
//! - [`words`]: the words for a change, in one table (a terminal line, a headline, a
//!   subject), with why, who, and the short forms of principals, ids and durations.
//! - [`content`]: what a notification says, decided once (what, why, which commit, who,
//!   how long, links); it is also the JSON body queues and programs read.
//! - [`console`]: links into the AWS console, partition-aware.
//! - [`message`]: the SNS message: subject, filterable attributes, size limit, and the
//!   per-protocol payload.
//! - One file per channel, each rendering [`content::Content`] within its own limits:
//!   [`email`], [`chatbot`] (AWS Chatbot custom notifications), [`slack`] (Block Kit,
//!   for webhooks), [`slack_app`] (the Slack app's living message and thread replies),
//!   [`teams`] (Adaptive Cards); [`topic`]: what a document's email and Chatbot topics
//!   are published (a document's templates in each channel's place are
//!   `config::templated`'s).
//! - [`mrkdwn`]: Slack's markup, shared by the Chatbot and Slack renderers.
//! - [`answer`]: what a person who clicked Approve or Reject is told when the approval
//!   no longer waits.
//! - [`text`]: one terminal line per change; [`record`]: one flat JSON record per change
//!   (the `replay --format json` contract).
//!
//! Pure functions. Text written for people passes through [`text::clean`], since
//! summaries and reasons are free text from AWS and its users.

pub mod answer;
pub mod chatbot;
pub mod console;
pub mod content;
pub mod email;
pub mod message;
pub mod mrkdwn;
pub mod record;
pub mod slack;
pub mod slack_app;
pub mod teams;
pub mod text;
pub mod topic;
pub mod words;
