//! dockhand: ChatOps for AWS ECS and CloudFormation.
//!
//! A chat message travels one way through these modules, each using only the
//! ones above it in this list:
//!
//! ```text
//! message   the neutral model (Inbound, Reply, Outbound) and text safety; uses nothing
//! command   prefix/mention stripped, catalogue match, the verb table -> Command
//! config    dockhand.toml plus the environment
//! policy    who may do what where, what needs confirming            -> Decision
//! ops       AWS by capability (Rollouts, Inspect, Store), the judge  -> Outcome + Events
//! render    results as platform-neutral Replies
//! dispatch  the pipeline: handle, run, confirmations, operations; the one place
//!           errors become chat text
//! adapters  shell, Slack, Discord, and the outbound Router           <-> the platforms
//! app       `dockhand run`: owns every task, writes down the stop order
//! ```
//!
//! `metrics` (the counters), `health` (the endpoints and readiness registry) and
//! `logging` sit beside the flow and use none of it. The core (`command`, `policy`,
//! `dispatch`, `render`) never touches a platform's or AWS's types: those live in
//! `adapters::*` and in `ops::aws`.

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
