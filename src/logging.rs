//! Logs through `tracing`: readable on a terminal, one JSON object per line when
//! `DOCKHAND_LOG_FORMAT=json` (what ECS and CloudWatch want). The level comes from
//! `DOCKHAND_LOG` (an `EnvFilter` directive), else the caller's default.

use tracing_subscriber::EnvFilter;

pub fn init(default_level: &str) {
    let filter =
        EnvFilter::try_from_env("DOCKHAND_LOG").unwrap_or_else(|_| EnvFilter::new(default_level));
    let json = std::env::var("DOCKHAND_LOG_FORMAT").is_ok_and(|f| f.eq_ignore_ascii_case("json"));
    let builder = tracing_subscriber::fmt()
        .with_env_filter(filter)
        .with_writer(std::io::stderr);
    // A second init (tests) is harmless: the first subscriber stays.
    let _ = if json {
        builder.json().flatten_event(true).try_init()
    } else {
        builder.try_init()
    };
}
