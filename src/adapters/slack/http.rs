//! HTTP mode, for teams that prefer the Events API to Socket Mode: Slack POSTs
//! events, slash commands and button clicks to one endpoint, `/slack/events`.
//!
//! Every request is checked against the signing secret before its body is read
//! as anything (HMAC-SHA256 of `v0:<timestamp>:<body>`, timestamps older than five
//! minutes refused, so a captured request cannot be replayed). Accepted requests
//! are queued like Socket Mode envelopes and answered at once with 200.

use std::sync::Arc;

use axum::Router;
use axum::body::Bytes;
use axum::extract::State;
use axum::http::{HeaderMap, StatusCode};
use axum::response::{IntoResponse, Response};
use axum::routing::post;
use slack_morphism::prelude::*;
use slack_morphism::signature_verifier::SlackEventSignatureVerifier;
use tokio_util::sync::CancellationToken;

use super::{Shared, SlackError};
use crate::config::Secret;

pub const PATH: &str = "/slack/events";

#[derive(Clone)]
struct App {
    verifier: SlackEventSignatureVerifier,
    shared: Arc<Shared>,
}

/// Why a request was turned away (logged; Slack only sees the status).
#[derive(Debug, PartialEq, Eq)]
pub enum Rejected {
    Unsigned,
    BadSignature,
    Unreadable,
}

pub(crate) async fn serve(
    listen: &str,
    secret: &Secret,
    shared: Arc<Shared>,
    shutdown: &CancellationToken,
) -> Result<(), SlackError> {
    let listener = tokio::net::TcpListener::bind(listen)
        .await
        .map_err(|e| SlackError::Listen {
            addr: listen.to_string(),
            error: e.to_string(),
        })?;
    tracing::info!(addr = %listener.local_addr().map(|a| a.to_string()).unwrap_or_default(), "slack: listening for HTTP events on {PATH}");
    // Listening is as connected as HTTP mode gets: Slack comes to us.
    shared.health.report("slack", true);
    let app = App {
        verifier: SlackEventSignatureVerifier::new(&SlackSigningSecret::new(
            secret.expose().into(),
        )),
        shared,
    };
    let router = Router::new().route(PATH, post(event)).with_state(app);
    let stop = shutdown.clone();
    axum::serve(listener, router)
        .with_graceful_shutdown(async move { stop.cancelled().await })
        .await
        .map_err(|e| SlackError::Listen {
            addr: listen.to_string(),
            error: e.to_string(),
        })
}

async fn event(State(app): State<App>, headers: HeaderMap, body: Bytes) -> Response {
    match accept(&app.verifier, &headers, &body) {
        Err(why) => {
            tracing::warn!(?why, "slack: an HTTP event was refused");
            StatusCode::UNAUTHORIZED.into_response()
        }
        Ok(Accepted::Challenge(c)) => c.into_response(),
        // Slack's retries are taken like first tries: the event id says whether
        // the first one arrived (then it is dropped as seen), and one that never
        // did, in a restart's gap, still runs (F14).
        Ok(Accepted::Push(e)) => {
            app.shared.push(&e);
            StatusCode::OK.into_response()
        }
        Ok(Accepted::Command(c)) => {
            app.shared.slash(&c);
            StatusCode::OK.into_response()
        }
        Ok(Accepted::Interaction(i)) => {
            app.shared.interaction(&i);
            StatusCode::OK.into_response()
        }
        Ok(Accepted::Other) => StatusCode::OK.into_response(),
    }
}

pub enum Accepted {
    Challenge(String),
    Push(Box<SlackPushEventCallback>),
    Command(Box<SlackCommandEvent>),
    Interaction(Box<SlackInteractionEvent>),
    Other,
}

#[derive(serde::Deserialize)]
struct InteractionForm {
    payload: String,
}

/// Verifies a request and reads what it carries.
pub fn accept(
    verifier: &SlackEventSignatureVerifier,
    headers: &HeaderMap,
    body: &[u8],
) -> Result<Accepted, Rejected> {
    let header = |name: &str| headers.get(name).and_then(|v| v.to_str().ok());
    let (Some(signature), Some(ts)) = (
        header(SlackEventSignatureVerifier::SLACK_SIGNED_HASH_HEADER),
        header(SlackEventSignatureVerifier::SLACK_SIGNED_TIMESTAMP),
    ) else {
        return Err(Rejected::Unsigned);
    };
    let body = std::str::from_utf8(body).map_err(|_| Rejected::Unreadable)?;
    verifier
        .verify(signature, body, ts)
        .map_err(|_| Rejected::BadSignature)?;
    let json = header("content-type").is_some_and(|c| c.starts_with("application/json"));
    if json {
        return match serde_json::from_str::<SlackPushEvent>(body) {
            Ok(SlackPushEvent::UrlVerification(v)) => Ok(Accepted::Challenge(v.challenge)),
            Ok(SlackPushEvent::EventCallback(e)) => Ok(Accepted::Push(Box::new(e))),
            Ok(_) => Ok(Accepted::Other),
            Err(_) => Err(Rejected::Unreadable),
        };
    }
    if let Ok(form) = serde_urlencoded::from_str::<InteractionForm>(body) {
        return serde_json::from_str::<SlackInteractionEvent>(&form.payload)
            .map(|i| Accepted::Interaction(Box::new(i)))
            .map_err(|_| Rejected::Unreadable);
    }
    serde_urlencoded::from_str::<SlackCommandEvent>(body)
        .map(|c| Accepted::Command(Box::new(c)))
        .map_err(|_| Rejected::Unreadable)
}
