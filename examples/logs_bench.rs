//! `logs` over a window of 10,000 lines, against the local emulator's CloudWatch
//! Logs: the FilterLogEvents calls one command makes, its time, and memory. Run
//! through `make bench`:
//!
//! ```sh
//! scripts/with-emulator.sh cargo run --release --quiet --example logs_bench
//! ```

#[path = "../tests/support/aws.rs"]
#[allow(dead_code)] // the bench uses the harness's AWS part only
mod support;

use std::time::{Duration, Instant};

const CONFIG: &str = "[aws]\nregion = \"us-east-1\"\nmax_attempts = 1\n[environments.prod]\n\
    [apps.worker]\nenvironment = \"prod\"\ncluster = \"apps\"\nservice = \"worker\"\ncontainer = \"worker\"\n";

#[tokio::main]
async fn main() {
    let w = support::World::new().await;
    w.worker(2).await;
    let tasks = w.task_ids("apps", "worker").await;
    // 10,000 lines over the last 10 minutes, 5,000 per task, 1 in 100 an ERROR;
    // about 90 characters each, some with a credential to mask.
    let now = dockhand::ops::now() * 1000;
    let lines: Vec<(i64, String)> = (0..10_000)
        .map(|i| {
            let text = match i % 100 {
                0 => format!("ERROR request {i} failed: upstream timed out after 30000 ms"),
                50 => format!("INFO request {i} db=postgres://app:hunter2@db:5432/ledger ok"),
                _ => {
                    format!("INFO request {i} GET /api/v1/orders/{i} 200 12ms user-agent=curl/8.5")
                }
            };
            (now - 600_000 + i * 60, text)
        })
        .collect();
    for (k, task) in tasks.iter().enumerate() {
        let mine: Vec<(i64, &str)> = lines
            .iter()
            .skip(k)
            .step_by(2)
            .map(|(t, s)| (*t, s.as_str()))
            .collect();
        w.log("/dockhand/worker", &format!("worker/worker/{task}"), &mine)
            .await;
    }
    let mut bot = w.bot(CONFIG).await;
    let filters = || {
        w.account
            .calls()
            .iter()
            .filter(|c| *c == "FilterLogEvents")
            .count()
    };

    for asked in [
        "!logs worker",
        "!logs worker 100 --since 15m",
        "!logs worker 100 --grep ERROR",
    ] {
        let before_kib = support::proc_kib("VmHWM");
        let calls_before = filters();
        let mut took = Vec::new();
        let mut chars = 0;
        for _ in 0..10 {
            let started = Instant::now();
            let out = bot.ask(asked).await;
            took.push(started.elapsed());
            chars = out.chars().count();
        }
        took.sort();
        let median: Duration = took[took.len() / 2];
        println!(
            "{asked:<32} over 10,000 lines: {} FilterLogEvents per command, median {:.1} ms, reply {chars} chars, peak memory {before_kib} -> {} KiB",
            (filters() - calls_before) / 10,
            median.as_secs_f64() * 1000.0,
            support::proc_kib("VmHWM")
        );
    }
}
