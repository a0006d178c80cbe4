//! Control of the instance registry: readiness, listing, creating or replacing an isolated instance from a
//! fixture, removing one.

use axum::body::Bytes;
use axum::extract::State;
use axum::http::StatusCode;
use axum::Json;
use serde::Serialize;

use super::{body_text, invalid_fixture, InstanceSummary, Scope};
use crate::domain::{Error, ResourceKind};
use crate::fixture::Fixture;
use crate::store::DEFAULT_INSTANCE;
use crate::web::error::ErrorCode;
use crate::web::{ApiError, AppState};

#[derive(Serialize)]
pub(super) struct Health {
    status: &'static str,
    version: &'static str,
    instances: Vec<String>,
}

#[derive(Serialize)]
pub(super) struct InstanceList {
    instances: Vec<String>,
}

/// Readiness: answers once the server accepts requests.
pub(super) async fn health(State(state): State<AppState>) -> Json<Health> {
    Json(Health { status: "ok", version: env!("CARGO_PKG_VERSION"), instances: state.store.instance_ids() })
}

pub(super) async fn list_instances(State(state): State<AppState>) -> Json<InstanceList> {
    Json(InstanceList { instances: state.store.instance_ids() })
}

/// `PUT /instances/{instance_id}`: the fixture in the body, or the served fixture when the body is empty.
/// 201 when the instance was created, 200 when an existing one was replaced (its journal stays).
pub(super) async fn put_instance(
    State(state): State<AppState>,
    scope: Scope,
    body: Bytes,
) -> Result<(StatusCode, Json<InstanceSummary>), ApiError> {
    let text = body_text(&body)?;
    let instance = if text.trim().is_empty() {
        state.store.fresh_instance(&scope.0)
    } else {
        Fixture::load_json(text, &scope.0).map_err(invalid_fixture)?
    };
    let (created, change) = state.store.put_instance(&scope.0, instance);
    state.store.settle(change).await?;
    let summary = state.store.with_instance(&scope.0, InstanceSummary::of);
    Ok((if created { StatusCode::CREATED } else { StatusCode::OK }, Json(summary)))
}

/// `DELETE /instances/{instance_id}`: state, faults and journal go; `default` stays (reset it instead).
pub(super) async fn delete_instance(State(state): State<AppState>, scope: Scope) -> Result<StatusCode, ApiError> {
    if scope.0 == DEFAULT_INSTANCE {
        return Err(ApiError::new(
            ErrorCode::Conflict,
            "The default instance cannot be deleted; reset it with POST /__mock/v1/reset",
        ));
    }
    let Some(change) = state.store.remove_instance(&scope.0) else {
        return Err(Error::not_found(ResourceKind::Instance, &scope.0).into());
    };
    state.store.settle(change).await?;
    Ok(StatusCode::NO_CONTENT)
}
