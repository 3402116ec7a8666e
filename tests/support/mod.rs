//! What the integration tests share: the AWS harness (one emulator per run, one
//! account per test, the real dispatcher in between), the fake AWS for dispatch's
//! own behaviours, the local Slack and Discord servers, and `dockhand` as a process.

pub mod aws;
pub mod discord;
pub mod fake;
pub mod process;
pub mod slack;

pub use aws::*;
