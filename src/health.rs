//! `/healthz`, `/readyz` and `/metrics` for ECS, load balancers and Prometheus, and
//! the client side of `dockhand healthcheck` (the container's health check: the
//! image has no curl).
//!
//! - `/healthz`: the process answers; what the container health check asks.
//! - `/readyz`: a chat adapter is connected and AWS answers (checked at most every
//!   15 s, so a scraper cannot turn into an AWS bill).
//! - `/metrics`: `metrics::render`.

use std::collections::BTreeMap;
use std::future::Future;
use std::io::{Read, Write};
use std::pin::Pin;
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

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
pub struct Health(Arc<Mutex<BTreeMap<&'static str, bool>>>);

impl Health {
    pub fn new() -> Health {
        Health::default()
    }

    pub fn report(&self, component: &'static str, connected: bool) {
        self.0
            .lock()
            .expect("health lock")
            .insert(component, connected);
        metrics().adapter(component, connected);
    }

    /// Whether any chat adapter is connected.
    pub fn any_connected(&self) -> bool {
        self.0.lock().expect("health lock").values().any(|c| *c)
    }
}

/// Asks whether AWS answers with the bot's credentials.
pub type Probe = Arc<dyn Fn() -> Pin<Box<dyn Future<Output = bool> + Send>> + Send + Sync>;

const PROBE_EVERY: Duration = Duration::from_secs(15);

#[derive(Clone)]
struct Ready {
    health: Health,
    aws: Probe,
    last: Arc<Mutex<Option<(Instant, bool)>>>,
}

impl Ready {
    async fn aws(&self) -> bool {
        if let Some((at, ok)) = *self.last.lock().expect("probe lock")
            && at.elapsed() < PROBE_EVERY
        {
            return ok;
        }
        let ok = (self.aws)().await;
        *self.last.lock().expect("probe lock") = Some((Instant::now(), ok));
        ok
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

/// Serves until `stop` is cancelled.
pub async fn serve(
    addr: &str,
    health: Health,
    aws: Probe,
    stop: CancellationToken,
) -> Result<(), HealthError> {
    let err = |e: std::io::Error| HealthError {
        addr: addr.to_string(),
        error: e.to_string(),
    };
    let listener = tokio::net::TcpListener::bind(addr).await.map_err(err)?;
    tracing::info!(addr = %listener.local_addr().map_err(err)?, "serving /healthz, /readyz, /metrics");
    let ready = Ready {
        health,
        aws,
        last: Arc::default(),
    };
    let router = Router::new()
        .route("/healthz", get(|| async { "ok\n" }))
        .route("/readyz", get(readyz))
        .route(
            "/metrics",
            get(|| async {
                (
                    [("content-type", "text/plain; version=0.0.4")],
                    metrics().render(),
                )
            }),
        )
        .with_state(ready);
    axum::serve(listener, router)
        .with_graceful_shutdown(async move { stop.cancelled().await })
        .await
        .map_err(err)
}

async fn readyz(State(ready): State<Ready>) -> (StatusCode, &'static str) {
    if !ready.health.any_connected() {
        return (
            StatusCode::SERVICE_UNAVAILABLE,
            "not ready: no chat adapter is connected\n",
        );
    }
    if !ready.aws().await {
        return (
            StatusCode::SERVICE_UNAVAILABLE,
            "not ready: AWS does not answer (credentials, region or network)\n",
        );
    }
    (StatusCode::OK, "ready\n")
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
