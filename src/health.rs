//! `/healthz`, `/readyz` and `/metrics` for ECS, load balancers and Prometheus, and
//! the client side of `dockhand healthcheck` (the container's health check: the
//! image has no curl).
//!
//! - `/healthz`: the process answers; what the container health check asks.
//! - `/readyz`: a chat adapter is connected and AWS answers (checked at most every
//!   15 s, one probe at a time, so a flood of probes makes at most one AWS call per
//!   interval). It answers `ready` or `not ready` and nothing more; why is logged.
//! - `/metrics`: `metrics::render`, here, on an address of its own, or off
//!   (`metrics_endpoint`).
//!
//! None of it is authenticated: keep the port private (deploy/dockhand.yaml opens
//! it to the cluster's security group only).

use std::collections::BTreeMap;
use std::future::Future;
use std::io::{Read, Write};
use std::pin::Pin;
use std::sync::{Arc, Mutex};
use std::time::Duration;

use tokio::time::Instant;

use axum::Router;
use axum::extract::State;
use axum::http::StatusCode;
use axum::routing::get;
use tokio_util::sync::CancellationToken;

use crate::metrics::metrics;

/// Where adapters (and, later, event sources) say whether they are connected;
/// `/readyz` reads it, and each report is mirrored to the
/// `dockhand_adapter_connected` gauge. Cheap to clone; every clone is the same registry.
#[derive(Debug, Clone, Default)]
pub struct Health(Arc<Mutex<Components>>);

#[derive(Debug, Default)]
struct Components {
    /// Chat adapters: ready when any is connected.
    adapters: BTreeMap<&'static str, bool>,
    /// Event sources: ready only while every one answers.
    sources: BTreeMap<&'static str, bool>,
}

impl Health {
    pub fn new() -> Health {
        Health::default()
    }

    pub fn report(&self, component: &'static str, connected: bool) {
        self.0
            .lock()
            .expect("health lock")
            .adapters
            .insert(component, connected);
        metrics().adapter(component, connected);
    }

    /// An event source (the notifications queue) answers or not.
    pub fn report_source(&self, component: &'static str, ok: bool) {
        self.0
            .lock()
            .expect("health lock")
            .sources
            .insert(component, ok);
        metrics().adapter(component, ok);
    }

    /// Whether any chat adapter is connected.
    pub fn any_connected(&self) -> bool {
        self.0
            .lock()
            .expect("health lock")
            .adapters
            .values()
            .any(|c| *c)
    }

    /// The first event source that does not answer.
    pub fn failing_source(&self) -> Option<&'static str> {
        let c = self.0.lock().expect("health lock");
        c.sources
            .iter()
            .find(|(_, ok)| !**ok)
            .map(|(name, _)| *name)
    }
}

/// Asks whether AWS answers with the bot's credentials.
pub type Probe = Arc<dyn Fn() -> Pin<Box<dyn Future<Output = bool> + Send>> + Send + Sync>;

const PROBE_EVERY: Duration = Duration::from_secs(15);

#[derive(Clone)]
struct Ready {
    health: Health,
    aws: Probe,
    /// The last probe's answer. An async lock held across the probe: requests
    /// that arrive while one runs wait for its answer instead of probing too
    /// (single flight, F20).
    last: Arc<tokio::sync::Mutex<Option<(Instant, bool)>>>,
    /// The last answer given, to log only changes (and their reason).
    said: Arc<Mutex<Option<&'static str>>>,
}

impl Ready {
    fn new(health: Health, aws: Probe) -> Ready {
        Ready {
            health,
            aws,
            last: Arc::default(),
            said: Arc::default(),
        }
    }

    async fn aws(&self) -> bool {
        let mut last = self.last.lock().await;
        if let Some((at, ok)) = *last
            && at.elapsed() < PROBE_EVERY
        {
            return ok;
        }
        let ok = (self.aws)().await;
        *last = Some((Instant::now(), ok));
        ok
    }

    /// `None` when ready, else why not (for the log, never the response).
    async fn why_not(&self) -> Option<&'static str> {
        if !self.health.any_connected() {
            return Some("no chat adapter is connected");
        }
        if self.health.failing_source().is_some() {
            return Some("the notifications queue cannot be read");
        }
        if !self.aws().await {
            return Some("AWS does not answer (credentials, region or network)");
        }
        None
    }

    fn log_change(&self, why: Option<&'static str>) {
        let mut said = self.said.lock().expect("readiness lock");
        if *said != why {
            match why {
                Some(why) => tracing::warn!(reason = why, "/readyz: not ready"),
                None => tracing::info!("/readyz: ready"),
            }
            *said = why;
        }
    }
}

#[derive(Debug, thiserror::Error)]
#[error(
    "cannot serve health and metrics on {addr}: {error} (set metrics_addr or DOCKHAND_METRICS_ADDR)"
)]
pub struct HealthError {
    addr: String,
    error: String,
}

/// Serves the probes, and `/metrics` too when `with_metrics`, until `stop` is
/// cancelled.
pub async fn serve(
    addr: &str,
    health: Health,
    aws: Probe,
    with_metrics: bool,
    stop: CancellationToken,
) -> Result<(), HealthError> {
    let router = Router::new()
        .route("/healthz", get(|| async { "ok\n" }))
        .route("/readyz", get(readyz))
        .with_state(Ready::new(health, aws));
    let router = if with_metrics {
        router.route("/metrics", get(metrics_text))
    } else {
        router
    };
    let what = if with_metrics {
        "/healthz, /readyz, /metrics"
    } else {
        "/healthz, /readyz"
    };
    listen(addr, router, what, stop).await
}

/// `/metrics` alone, on an address of its own (`metrics_endpoint = "host:port"`).
pub async fn serve_metrics(addr: &str, stop: CancellationToken) -> Result<(), HealthError> {
    listen(
        addr,
        Router::new().route("/metrics", get(metrics_text)),
        "/metrics",
        stop,
    )
    .await
}

async fn metrics_text() -> ([(&'static str, &'static str); 1], String) {
    (
        [("content-type", "text/plain; version=0.0.4")],
        metrics().render(),
    )
}

async fn listen(
    addr: &str,
    router: Router,
    what: &str,
    stop: CancellationToken,
) -> Result<(), HealthError> {
    let err = |e: std::io::Error| HealthError {
        addr: addr.to_string(),
        error: e.to_string(),
    };
    let listener = tokio::net::TcpListener::bind(addr).await.map_err(err)?;
    tracing::info!(addr = %listener.local_addr().map_err(err)?, "serving {what}");
    axum::serve(listener, router)
        .with_graceful_shutdown(async move { stop.cancelled().await })
        .await
        .map_err(err)
}

/// Up or down, nothing else: whoever can reach the port learns no more than
/// that (F20); the reason goes to the log.
async fn readyz(State(ready): State<Ready>) -> (StatusCode, &'static str) {
    let why = ready.why_not().await;
    ready.log_change(why);
    match why {
        None => (StatusCode::OK, "ready\n"),
        Some(_) => (StatusCode::SERVICE_UNAVAILABLE, "not ready\n"),
    }
}

/// `dockhand healthcheck`: GET /healthz on the local port of `addr`; true on 200.
/// Plain blocking I/O with short timeouts: it runs every 15 s in the container and
/// must not hang.
pub fn check(addr: &str) -> Result<(), String> {
    let port = addr
        .rsplit(':')
        .next()
        .and_then(|p| p.parse::<u16>().ok())
        .ok_or_else(|| format!("`{addr}` has no port"))?;
    let local = std::net::SocketAddr::from(([127, 0, 0, 1], port));
    let mut stream = std::net::TcpStream::connect_timeout(&local, Duration::from_secs(2))
        .map_err(|e| format!("nothing answers on {local}: {e}"))?;
    stream
        .set_read_timeout(Some(Duration::from_secs(3)))
        .map_err(|e| e.to_string())?;
    stream
        .write_all(b"GET /healthz HTTP/1.1\r\nhost: localhost\r\nconnection: close\r\n\r\n")
        .map_err(|e| e.to_string())?;
    let mut head = [0u8; 12];
    stream.read_exact(&mut head).map_err(|e| e.to_string())?;
    match &head[9..12] {
        b"200" => Ok(()),
        status => Err(format!(
            "/healthz answered {}",
            String::from_utf8_lossy(status)
        )),
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::sync::atomic::{AtomicUsize, Ordering};

    /// A flood of probes at once makes one AWS call; the answer is kept for
    /// the interval, then asked again once.
    #[tokio::test(start_paused = true)]
    async fn readiness_probes_aws_once_per_interval_whatever_the_flood() {
        let calls = Arc::new(AtomicUsize::new(0));
        let probe: Probe = {
            let calls = Arc::clone(&calls);
            Arc::new(move || {
                let calls = Arc::clone(&calls);
                Box::pin(async move {
                    calls.fetch_add(1, Ordering::SeqCst);
                    tokio::time::sleep(Duration::from_millis(200)).await;
                    true
                })
            })
        };
        let health = Health::new();
        health.report("test", true);
        let ready = Ready::new(health, probe);
        let flood: Vec<_> = (0..200)
            .map(|_| {
                let r = ready.clone();
                tokio::spawn(async move { readyz(State(r)).await })
            })
            .collect();
        for f in flood {
            assert_eq!(f.await.unwrap(), (StatusCode::OK, "ready\n"));
        }
        assert_eq!(calls.load(Ordering::SeqCst), 1);
        tokio::time::advance(PROBE_EVERY).await;
        readyz(State(ready.clone())).await;
        readyz(State(ready)).await;
        assert_eq!(calls.load(Ordering::SeqCst), 2);
    }

    #[tokio::test]
    async fn not_ready_says_nothing_more() {
        let probe: Probe = Arc::new(|| Box::pin(async { false }));
        let ready = Ready::new(Health::new(), probe.clone());
        assert_eq!(
            readyz(State(ready)).await,
            (StatusCode::SERVICE_UNAVAILABLE, "not ready\n")
        );
        let health = Health::new();
        health.report("test", true);
        let ready = Ready::new(health, probe);
        assert_eq!(
            readyz(State(ready)).await,
            (StatusCode::SERVICE_UNAVAILABLE, "not ready\n")
        );
    }
}
