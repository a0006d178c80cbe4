//! Control of an instance's whole state: reset to the served fixture, load or merge a fixture, export,
//! behaviour settings, and seeding associated resources (which UKO has no API for).

use axum::body::Bytes;
use axum::extract::{RawQuery, State};
use axum::http::{header, StatusCode};
use axum::response::IntoResponse;
use axum::Json;

use super::{body_text, change, invalid_fixture, InstanceSummary, Scope};
use crate::domain::{AssociatedResource, Settings};
use crate::fixture::{overlay, Fixture};
use crate::web::error::{ErrorCode, TargetType};
use crate::web::extract::JsonBody;
use crate::web::{ApiError, AppState};

/// How `POST /fixture` applies its body.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
enum LoadMode {
    /// The instance becomes exactly the fixture.
    Replace,
    /// The fixture's records are added to the instance or overwrite those with the same id.
    Merge,
}

/// `POST /reset`: the instance back to the served fixture, as a fresh one: its journal is emptied too.
pub(super) async fn reset_instance(
    State(state): State<AppState>,
    scope: Scope,
) -> Result<Json<InstanceSummary>, ApiError> {
    let fresh = state.store.fresh_instance(&scope.0);
    change(&state, &scope, |instance| {
        instance.replace_state(fresh);
        // A reset is a fresh instance, journal included; sequence numbers still never repeat, so a reader
        // polling with `since` sees only what comes after the reset.
        instance.journal.clear();
        Ok(Json(InstanceSummary::of(instance)))
    })
    .await
}

/// `POST /fixture?mode=replace|merge`: a bad fixture is a 400 naming its JSON path and changes nothing.
pub(super) async fn load_fixture(
    State(state): State<AppState>,
    scope: Scope,
    RawQuery(query): RawQuery,
    body: Bytes,
) -> Result<Json<InstanceSummary>, ApiError> {
    let mode = load_mode(query.as_deref())?;
    let text = body_text(&body)?;
    match mode {
        LoadMode::Replace => {
            let loaded = Fixture::load_json(text, &scope.0).map_err(invalid_fixture)?;
            change(&state, &scope, |instance| {
                instance.replace_state(loaded);
                Ok(Json(InstanceSummary::of(instance)))
            })
            .await
        }
        LoadMode::Merge => {
            change(&state, &scope, |instance| {
                let merged = Fixture::merge_json(text, instance).map_err(invalid_fixture)?;
                instance.replace_state(merged);
                Ok(Json(InstanceSummary::of(instance)))
            })
            .await
        }
    }
}

/// `GET /export[?include_secrets=true]`: the instance as a fixture (explicit keystore contents) that loads
/// into an equal instance. Keystore credentials are masked unless `include_secrets=true` asks for them.
pub(super) async fn export_instance(
    State(state): State<AppState>,
    scope: Scope,
    RawQuery(query): RawQuery,
) -> Result<impl IntoResponse, ApiError> {
    let include_secrets = include_secrets(query.as_deref())?;
    let export = if include_secrets { Fixture::export_with_secrets } else { Fixture::export };
    let (text, observed) = state.store.read(&scope.0, |instance| export(instance).to_json());
    state.store.settle(observed).await.map_err(|error| ApiError::not_saved(error, false))?;
    Ok(([(header::CONTENT_TYPE, "application/json")], text))
}

fn include_secrets(query: Option<&str>) -> Result<bool, ApiError> {
    let pairs = form_urlencoded::parse(query.unwrap_or("").as_bytes());
    let value = pairs.filter(|(name, _)| name == "include_secrets").map(|(_, value)| value.into_owned()).last();
    match value.as_deref() {
        None | Some("false") => Ok(false),
        Some("true") => Ok(true),
        Some(other) => Err(ApiError::invalid_parameter("include_secrets", "true or false", other)),
    }
}

pub(super) async fn get_settings(State(state): State<AppState>, scope: Scope) -> Json<Settings> {
    Json(state.store.with_instance(&scope.0, |instance| instance.settings.clone()))
}

/// `PATCH /settings`: the fields given change, the others stay; unknown fields are refused.
pub(super) async fn update_settings(
    State(state): State<AppState>,
    scope: Scope,
    JsonBody(patch): JsonBody<serde_json::Value>,
) -> Result<Json<Settings>, ApiError> {
    change(&state, &scope, |instance| {
        let settings = overlay(&instance.settings, &patch, "").map_err(|error| {
            ApiError::new(ErrorCode::InvalidField, format!("The {} field is invalid: {}", error.path, error.reason))
                .with_target(TargetType::Field, error.path)
        })?;
        instance.settings = settings;
        Ok(Json(instance.settings.clone()))
    })
    .await
}

/// `POST /associated_resources`: the managed key and the keystore must exist.
pub(super) async fn create_associated_resource(
    State(state): State<AppState>,
    scope: Scope,
    JsonBody(resource): JsonBody<AssociatedResource>,
) -> Result<(StatusCode, Json<AssociatedResource>), ApiError> {
    change(&state, &scope, |instance| {
        let created = instance.add_associated_resource(resource)?.clone();
        Ok((StatusCode::CREATED, Json(created)))
    })
    .await
}

fn load_mode(query: Option<&str>) -> Result<LoadMode, ApiError> {
    let pairs = form_urlencoded::parse(query.unwrap_or("").as_bytes());
    let mode = pairs.filter(|(name, _)| name == "mode").map(|(_, value)| value.into_owned()).last();
    match mode.as_deref() {
        None | Some("replace") => Ok(LoadMode::Replace),
        Some("merge") => Ok(LoadMode::Merge),
        Some(other) => Err(ApiError::invalid_parameter("mode", "replace or merge", other)),
    }
}
