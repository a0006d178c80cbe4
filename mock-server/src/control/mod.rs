//! The mock's control plane under `/__mock/v1`: never reachable under `/api/v4`, kept apart from the UKO
//! surface. It reads and changes instances through the same `Store` handle as the API.

use axum::extract::State;
use axum::routing::get;
use axum::{Json, Router};
use serde::Serialize;

use crate::http::AppState;

/// Routes of the control plane (without the `/__mock/v1` prefix).
pub fn control_router() -> Router<AppState> {
    Router::new().route("/health", get(health))
}

#[derive(Serialize)]
struct Health {
    status: &'static str,
    version: &'static str,
    instances: Vec<String>,
}

/// Readiness: answers once the server accepts requests.
async fn health(State(state): State<AppState>) -> Json<Health> {
    Json(Health { status: "ok", version: env!("CARGO_PKG_VERSION"), instances: state.store.instance_ids() })
}
