//! dockhand: ChatOps for AWS ECS and CloudFormation.
//!
//! A chat message travels one way through these modules:
//!
//! ```text
//! chat      adapter (shell; Slack, Discord)  -> Inbound
//! command   prefix/mention stripped, catalogue match      -> Command (typed args)
//! policy    who may do what where                          -> Decision
//! ops       ECS / CloudFormation work, progress as a stream -> Outcome + Events
//! render    results as platform-neutral Replies, which each adapter draws
//! ```
//!
//! `dispatch` strings the stops together and is the one place errors become chat
//! text. `config` is `dockhand.toml` plus the environment. The core (`command`,
//! `policy`, `dispatch`, `render`) never touches a platform's or AWS's types: those
//! live in `chat::*` adapters and in `ops::aws`.

pub mod adapters;
pub mod app;
pub mod command;
pub mod config;
pub mod dispatch;
pub mod health;
pub mod logging;
pub mod message;
pub mod metrics;
pub mod ops;
pub mod policy;
pub mod render;
