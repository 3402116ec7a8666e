//! The policy step: who may do what, where. Every command passes through
//! `Policy::decide` between matching and running, so there is one place where a
//! request is allowed, refused, or sent for confirmation.
//!
//! Today every request is allowed; the guardrails work (rules per channel, role
//! and environment, confirmations, locks, audit) fills this module in without
//! moving the step.

use crate::chat::{Author, Origin};
use crate::command::Command;
use crate::config::{App, Config};

/// What policy decided about one request.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Decision {
    Allow,
    /// Refused; the text says what role or channel would be needed, never more.
    Deny(String),
}

/// One request as policy sees it.
#[derive(Debug, Clone, Copy)]
pub struct Request<'a> {
    pub origin: &'a Origin,
    pub author: &'a Author,
    pub command: &'a Command,
    /// The app the command targets, resolved from config.
    pub app: Option<&'a App>,
}

#[derive(Debug, Default)]
pub struct Policy {}

impl Policy {
    pub fn new(_config: &Config) -> Policy {
        Policy {}
    }

    /// Decides a request. Pure and synchronous: it reads config and the request only.
    pub fn decide(&self, request: &Request<'_>) -> Decision {
        let _ = request;
        Decision::Allow
    }
}
