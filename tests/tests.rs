//! Every integration test, in one binary (as ripgrep and just do): one link
//! instead of one per topic, and one support module every topic shares.
//!
//! `make test` runs them with one AWS emulator; `scripts/with-emulator.sh cargo
//! test --test tests aws::` runs one topic, `cargo test --test tests catalog::`
//! one that needs no AWS.

mod support;

/// Deploy, rollback, scale, cancel and the describe verbs against the emulator.
mod aws;
/// The AWS call budget: a burst waits its turn, within the budget, and says so.
mod budget;
/// The command catalogue: loading, matching, validation, help.
mod catalog;
/// The Discord adapter through serenity against a local Discord.
mod discord;
/// Dispatch's own behaviours on a fake AWS, in milliseconds.
mod dispatch;
/// Two or three `dockhand run` processes sharing state, against local chat servers.
mod fleet;
/// The fuzz harness's properties, run briefly.
mod fuzz;
/// What a person sees, per platform, against files under tests/golden/.
mod golden;
/// What an attacker would send, through `dockhand shell` as a process.
mod hostile;
/// `logs` against the emulator's CloudWatch Logs.
mod logs;
/// AWS's events through EventBridge and SQS into chat, against the emulator.
mod notify;
/// The authorisation matrix and confirmations, before any AWS call.
mod policy;
/// Two or more replicas sharing state on DynamoDB, against the emulator.
mod replicas;
/// `dockhand shell` as a process, and its drawing.
mod shell;
/// The Slack adapter through slack-morphism against a local Slack.
mod slack;
/// `dockhand stack up | plan | delete` against the emulator.
mod stack_cli;
/// `logs --follow` as dispatch runs it, on a fake AWS and a paused clock.
mod tails;
/// The bundled CloudFormation templates.
mod templates;
