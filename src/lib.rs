//! dockhand: ChatOps for AWS ECS and CloudFormation.
//!
//! A chat message travels one way through these modules, each using only the
//! ones above it in this list:
//!
//! ```text
//! message   the neutral model (Inbound, Reply, Outbound) and text safety; uses nothing
//! command   prefix/mention stripped; the usage-line grammar; typed values
//! config    dockhand.toml plus the environment
//! policy    who may do what where, from a verb's Facts               -> Decision
//! ops       AWS by capability (Rollouts, Inspect, Store), the judge  -> Outcome + Events
//! render    results as platform-neutral Replies
//! verbs     one file per verb (parameters, facts, run) and the table -> Command
//! catalog   commands/*.toml bound to the verbs, matched; help        -> Command
//! dispatch  the pipeline: handle, confirmations, operations, and the Ctx a verb
//!           runs against; the one place errors become chat text
//! adapters  shell, Slack, Discord, and the outbound Router           <-> the platforms
//! notify    AWS's events from an SQS queue, beside the adapters   -> Handle::notice
//! app       `dockhand run`: owns every task, writes down the stop order
//! ```
//!
//! `metrics` (the counters), `health` (the endpoints and readiness registry) and
//! `logging` sit beside the flow and use none of it. The core (`command`, `policy`,
//! `verbs`, `catalog`, `dispatch`, `render`) never touches a platform's or AWS's
//! types: those live in `adapters::*` and in `ops::aws`.

pub mod adapters;
pub mod app;
pub mod catalog;
pub mod command;
pub mod config;
pub mod dispatch;
pub mod health;
pub mod logging;
pub mod message;
pub mod metrics;
pub mod notify;
pub mod ops;
pub mod policy;
pub mod render;
pub mod verbs;
