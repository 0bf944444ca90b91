//! The dashboard on the broker's HTTP port (`dashboardPort`): `/health` and `/ready` for
//! supervisors and probes, `/metrics`, and web pages (embedded in the binary, no build step)
//! over a JSON API under `/api/`.
//!
//! The API reads and changes the cluster as `rocketry admin` does, through the remoting
//! protocol (the same functions), so every request goes through the brokers' service layer and
//! their ACL: with authentication on, the dashboard asks for an ACL user (HTTP Basic: access key
//! and secret key) and signs its requests as that user, so a user sees and changes what the
//! broker lets them. Charts come from the broker's own history (`Stats`), live rates from its
//! metrics.

mod api;

use std::collections::HashMap;
use std::sync::{Arc, Mutex};
use std::time::Instant;

use axum::extract::State;
use axum::http::{header, StatusCode};
use axum::response::{IntoResponse, Json, Response};
use axum::routing::{delete, get, post};
use axum::Router;

use crate::http::MetricsSource;

/// What the dashboard serves from.
#[derive(Clone)]
pub struct Dashboard {
    pub broker: Arc<broker::Broker>,
    pub metrics: MetricsSource,
    /// Per topic: when its messages-in count was last read and the count (live rates).
    pub(crate) last_counts: Arc<Mutex<HashMap<String, (Instant, u64)>>>,
}

impl Dashboard {
    pub fn new(broker: Arc<broker::Broker>, metrics: MetricsSource) -> Dashboard {
        Dashboard { broker, metrics, last_counts: Arc::default() }
    }
}

const INDEX: &str = include_str!("assets/index.html");
const APP: &str = include_str!("assets/app.js");
const STYLE: &str = include_str!("assets/style.css");

pub fn router(d: Dashboard) -> Router {
    Router::new()
        .route("/", get(|| async { ([(header::CONTENT_TYPE, "text/html; charset=utf-8")], INDEX) }))
        .route("/app.js", get(|| async { ([(header::CONTENT_TYPE, "text/javascript; charset=utf-8")], APP) }))
        .route("/style.css", get(|| async { ([(header::CONTENT_TYPE, "text/css; charset=utf-8")], STYLE) }))
        .route("/health", get(health))
        .route("/ready", get(ready))
        .route("/metrics", get(metrics))
        .route("/api/overview", get(api::overview))
        .route("/api/topics", get(api::topics).post(api::create_topic))
        .route("/api/topics/{topic}", delete(api::delete_topic))
        .route("/api/groups", get(api::groups))
        .route("/api/groups/{group}", get(api::group))
        .route("/api/groups/{group}/reset", post(api::reset_offsets))
        .route("/api/messages", get(api::messages))
        .route("/api/trace/{id}", get(api::trace))
        .route("/api/dlq/{group}", get(api::dead_letters))
        .route("/api/dlq/{group}/resend", post(api::resend))
        .with_state(d)
}

/// Alive: the process answers (and says how the broker is).
async fn health(State(d): State<Dashboard>) -> Json<broker::metrics::Health> {
    Json(d.broker.health())
}

/// Ready for clients: 200, or 503 with the reasons.
async fn ready(State(d): State<Dashboard>) -> Response {
    let h = d.broker.health();
    let status = if h.ready { StatusCode::OK } else { StatusCode::SERVICE_UNAVAILABLE };
    (status, Json(h)).into_response()
}

async fn metrics(State(d): State<Dashboard>) -> Response {
    crate::http::metrics(State(d.metrics.clone())).await
}
