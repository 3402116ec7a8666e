//! Counters for `/metrics`, in Prometheus' text format.
//!
//! One process-wide registry, like the log: the pipeline, the AWS clients and the
//! adapters record into it from wherever they are, without threading a handle
//! through every call. A handful of label sets, so plain maps behind a mutex are
//! cheap enough; chatter records nothing.

use std::collections::BTreeMap;
use std::fmt::Write;
use std::sync::atomic::{AtomicI64, Ordering};
use std::sync::{LazyLock, Mutex};
use std::time::Duration;

/// Upper bounds (seconds) of the operation-duration histogram: a deploy takes
/// seconds to tens of minutes.
const BUCKETS: [f64; 10] = [
    1.0, 5.0, 15.0, 30.0, 60.0, 120.0, 300.0, 600.0, 1200.0, 1800.0,
];

#[derive(Default)]
struct Histogram {
    counts: [u64; BUCKETS.len()],
    count: u64,
    sum: f64,
}

#[derive(Default)]
struct Maps {
    commands: BTreeMap<(String, String), u64>,
    aws_calls: BTreeMap<(String, String), u64>,
    aws_errors: BTreeMap<(String, String), u64>,
    operations: BTreeMap<(String, String), u64>,
    durations: BTreeMap<String, Histogram>,
    adapters: BTreeMap<String, bool>,
    leases: BTreeMap<String, bool>,
    notifications: BTreeMap<(String, String), u64>,
    budget_waits: BTreeMap<(String, String), u64>,
    budget_wait_seconds: BTreeMap<(String, String), f64>,
    budget_overdrafts: BTreeMap<(String, String), u64>,
}

pub struct Metrics {
    maps: Mutex<Maps>,
    in_flight: AtomicI64,
}

static METRICS: LazyLock<Metrics> = LazyLock::new(|| Metrics {
    maps: Mutex::default(),
    in_flight: AtomicI64::new(0),
});

pub fn metrics() -> &'static Metrics {
    &METRICS
}

/// Counts an operation in flight while it lives.
pub struct InFlight(());

impl Drop for InFlight {
    fn drop(&mut self) {
        METRICS.in_flight.fetch_sub(1, Ordering::Relaxed);
    }
}

impl Metrics {
    fn with(&self, f: impl FnOnce(&mut Maps)) {
        if let Ok(mut m) = self.maps.lock() {
            f(&mut m);
        }
    }

    /// A command answered or decided: `verb` from the catalogue, `outcome` such as
    /// `answered`, `allowed`, `denied`, `confirm`, `bad_arguments`, `unknown`.
    pub fn command(&self, verb: &str, outcome: &str) {
        self.with(|m| *m.commands.entry((verb.into(), outcome.into())).or_default() += 1);
    }

    /// One AWS API call as the SDK finished it (`ok` or `error`).
    pub fn aws_call(&self, operation: &str, outcome: &str) {
        self.with(|m| {
            *m.aws_calls
                .entry((operation.into(), outcome.into()))
                .or_default() += 1
        });
    }

    /// An AWS error as dockhand classified it (`access_denied`, `throttled`, ...).
    pub fn aws_error(&self, operation: &str, kind: &str) {
        self.with(|m| {
            *m.aws_errors
                .entry((operation.into(), kind.into()))
                .or_default() += 1
        });
    }

    /// A finished operation: its verb, verdict and how long it took.
    pub fn operation(&self, verb: &str, result: &str, took: Duration) {
        self.with(|m| {
            *m.operations
                .entry((verb.into(), result.into()))
                .or_default() += 1;
            let h = m.durations.entry(verb.into()).or_default();
            let secs = took.as_secs_f64();
            for (i, bound) in BUCKETS.iter().enumerate() {
                if secs <= *bound {
                    h.counts[i] += 1;
                }
            }
            h.count += 1;
            h.sum += secs;
        });
    }

    pub fn start_operation(&self) -> InFlight {
        self.in_flight.fetch_add(1, Ordering::Relaxed);
        InFlight(())
    }

    /// The `dockhand_adapter_connected` gauge (`health::Health` reports here).
    pub fn adapter(&self, name: &str, connected: bool) {
        self.with(|m| {
            m.adapters.insert(name.into(), connected);
        });
    }

    /// The `dockhand_lease_held` gauge: whether this replica holds a lease
    /// only one replica may (the Discord gateway, `adapters::lease`).
    pub fn lease(&self, name: &str, held: bool) {
        self.with(|m| {
            m.leases.insert(name.into(), held);
        });
    }

    /// An event from the queue: its kind and what came of it (`posted`,
    /// `dropped`, `retry`, `unreadable`).
    pub fn notification(&self, kind: &str, outcome: &str) {
        self.with(|m| {
            *m.notifications
                .entry((kind.into(), outcome.into()))
                .or_default() += 1
        });
    }

    /// An AWS call that waited for its service's budget (`ops::aws::budget`), by
    /// service and priority; `overdrawn` when it went without a token.
    pub fn aws_budget_wait(
        &self,
        service: &str,
        priority: &str,
        waited: Duration,
        overdrawn: bool,
    ) {
        let key = (service.to_string(), priority.to_string());
        self.with(|m| {
            *m.budget_waits.entry(key.clone()).or_default() += 1;
            *m.budget_wait_seconds.entry(key.clone()).or_default() += waited.as_secs_f64();
            if overdrawn {
                *m.budget_overdrafts.entry(key).or_default() += 1;
            }
        });
    }

    /// Everything, in Prometheus' text exposition format.
    pub fn render(&self) -> String {
        let mut out = String::new();
        let Ok(m) = self.maps.lock() else {
            return out;
        };
        let counter = |out: &mut String,
                       name: &str,
                       help: &str,
                       labels: [&str; 2],
                       map: &BTreeMap<(String, String), u64>| {
            let _ = writeln!(out, "# HELP {name} {help}\n# TYPE {name} counter");
            for ((a, b), v) in map {
                let _ = writeln!(
                    out,
                    "{name}{{{}=\"{}\",{}=\"{}\"}} {v}",
                    labels[0],
                    escape(a),
                    labels[1],
                    escape(b)
                );
            }
        };
        counter(
            &mut out,
            "dockhand_commands_total",
            "Commands by verb and outcome.",
            ["verb", "outcome"],
            &m.commands,
        );
        counter(
            &mut out,
            "dockhand_aws_calls_total",
            "AWS API calls by operation and outcome.",
            ["operation", "outcome"],
            &m.aws_calls,
        );
        counter(
            &mut out,
            "dockhand_aws_errors_total",
            "AWS errors by operation and kind.",
            ["operation", "kind"],
            &m.aws_errors,
        );
        counter(
            &mut out,
            "dockhand_operations_total",
            "Finished operations by verb and result.",
            ["verb", "result"],
            &m.operations,
        );
        counter(
            &mut out,
            "dockhand_notifications_total",
            "Events from the notifications queue by kind and outcome.",
            ["kind", "outcome"],
            &m.notifications,
        );
        counter(
            &mut out,
            "dockhand_aws_budget_waits_total",
            "AWS calls that waited for their service's budget, by service and priority.",
            ["service", "priority"],
            &m.budget_waits,
        );
        counter(
            &mut out,
            "dockhand_aws_budget_overdrafts_total",
            "AWS calls that waited as long as a call may and went without budget.",
            ["service", "priority"],
            &m.budget_overdrafts,
        );
        let name = "dockhand_aws_budget_wait_seconds_total";
        let _ = writeln!(
            out,
            "# HELP {name} Seconds AWS calls waited for their service's budget.\n# TYPE {name} counter"
        );
        for ((service, priority), secs) in &m.budget_wait_seconds {
            let _ = writeln!(
                out,
                "{name}{{service=\"{}\",priority=\"{}\"}} {secs}",
                escape(service),
                escape(priority)
            );
        }
        let name = "dockhand_operation_duration_seconds";
        let _ = writeln!(
            out,
            "# HELP {name} How long operations took, by verb.\n# TYPE {name} histogram"
        );
        for (verb, h) in &m.durations {
            let verb = escape(verb);
            for (i, bound) in BUCKETS.iter().enumerate() {
                let _ = writeln!(
                    out,
                    "{name}_bucket{{verb=\"{verb}\",le=\"{bound}\"}} {}",
                    h.counts[i]
                );
            }
            let _ = writeln!(
                out,
                "{name}_bucket{{verb=\"{verb}\",le=\"+Inf\"}} {}",
                h.count
            );
            let _ = writeln!(out, "{name}_sum{{verb=\"{verb}\"}} {}", h.sum);
            let _ = writeln!(out, "{name}_count{{verb=\"{verb}\"}} {}", h.count);
        }
        let _ = writeln!(
            out,
            "# HELP dockhand_operations_in_flight Operations being watched now.\n# TYPE dockhand_operations_in_flight gauge\ndockhand_operations_in_flight {}",
            self.in_flight.load(Ordering::Relaxed)
        );
        let _ = writeln!(
            out,
            "# HELP dockhand_adapter_connected Whether a chat adapter is connected.\n# TYPE dockhand_adapter_connected gauge"
        );
        for (a, c) in &m.adapters {
            let _ = writeln!(
                out,
                "dockhand_adapter_connected{{adapter=\"{}\"}} {}",
                escape(a),
                u8::from(*c)
            );
        }
        if !m.leases.is_empty() {
            let _ = writeln!(
                out,
                "# HELP dockhand_lease_held Whether this replica holds a lease only one replica may.\n# TYPE dockhand_lease_held gauge"
            );
        }
        for (l, held) in &m.leases {
            let _ = writeln!(
                out,
                "dockhand_lease_held{{lease=\"{}\"}} {}",
                escape(l),
                u8::from(*held)
            );
        }
        out
    }
}

/// Label values escape backslash, quote and newline.
fn escape(v: &str) -> String {
    v.replace('\\', "\\\\")
        .replace('"', "\\\"")
        .replace('\n', "\\n")
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn renders_prometheus_text() {
        let m = Metrics {
            maps: Mutex::default(),
            in_flight: AtomicI64::new(0),
        };
        m.command("deploy", "allowed");
        m.command("deploy", "allowed");
        m.aws_call("ecs:UpdateService", "ok");
        m.aws_error("ecs:UpdateService", "throttled");
        m.operation("deploy", "live", Duration::from_secs(42));
        m.adapter("slack", true);
        m.aws_budget_wait("ecs", "person", Duration::from_millis(1500), false);
        let text = m.render();
        for line in [
            "dockhand_commands_total{verb=\"deploy\",outcome=\"allowed\"} 2",
            "dockhand_aws_calls_total{operation=\"ecs:UpdateService\",outcome=\"ok\"} 1",
            "dockhand_aws_errors_total{operation=\"ecs:UpdateService\",kind=\"throttled\"} 1",
            "dockhand_operation_duration_seconds_bucket{verb=\"deploy\",le=\"30\"} 0",
            "dockhand_operation_duration_seconds_bucket{verb=\"deploy\",le=\"60\"} 1",
            "dockhand_operation_duration_seconds_count{verb=\"deploy\"} 1",
            "dockhand_adapter_connected{adapter=\"slack\"} 1",
            "dockhand_operations_in_flight 0",
            "dockhand_aws_budget_waits_total{service=\"ecs\",priority=\"person\"} 1",
            "dockhand_aws_budget_wait_seconds_total{service=\"ecs\",priority=\"person\"} 1.5",
        ] {
            assert!(
                text.lines().any(|l| l == line),
                "{line} missing from:\n{text}"
            );
        }
        assert_eq!(escape("a\"b\\c"), "a\\\"b\\\\c");
    }
}
