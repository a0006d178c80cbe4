//! Control of the simulation behind the API: the fault plan, what each keystore holds, whether keystores
//! answer, and the instance clock.

use axum::extract::{Path, State};
use axum::http::StatusCode;
use axum::Json;
use serde::{Deserialize, Serialize};

use super::{change, Scope};
use crate::domain::faults::FaultRule;
use crate::domain::simulation::{ObservedCopy, ObservedCopyEntry};
use crate::domain::{Clock, Error, Reachability, ResourceKind};
use crate::web::extract::{parse_json, JsonBody};
use crate::web::{ApiError, AppState};

#[derive(Serialize)]
pub(super) struct FaultRules {
    rules: Vec<FaultRule>,
}

#[derive(Deserialize)]
pub(super) struct RulePath {
    rule_id: String,
}

#[derive(Deserialize)]
pub(super) struct KeystorePath {
    keystore_id: String,
}

#[derive(Deserialize)]
pub(super) struct CopyPath {
    keystore_id: String,
    managed_key_id: String,
}

/// Body of `PUT /keystores/{keystore_id}/copies/{managed_key_id}`.
#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
pub(super) struct CopyInput {
    copy: ObservedCopy,
}

#[derive(Serialize)]
pub(super) struct KeystoreCopies {
    keystore_id: String,
    copies: Vec<CopyBody>,
}

#[derive(Serialize)]
pub(super) struct CopyBody {
    managed_key_id: String,
    copy: ObservedCopy,
    #[serde(skip_serializing_if = "Option::is_none")]
    key_id_in_keystore: Option<String>,
    #[serde(skip_serializing_if = "Option::is_none")]
    destruction_at: Option<String>,
}

/// Body of `PUT /keystores/{keystore_id}/reachability`: a `Reachability` (`{"mode": …}`), a
/// `configuration_error` flag, or both.
#[derive(Deserialize)]
pub(super) struct ReachabilityInput {
    #[serde(default)]
    configuration_error: Option<bool>,
    #[serde(flatten)]
    reachability: serde_json::Map<String, serde_json::Value>,
}

#[derive(Serialize)]
pub(super) struct KeystoreBehaviour {
    keystore_id: String,
    reachability: Reachability,
    configuration_error: bool,
}

/// Body of `POST /clock/advance`.
#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
pub(super) struct AdvanceInput {
    seconds: i64,
}

pub(super) async fn list_fault_rules(State(state): State<AppState>, scope: Scope) -> Json<FaultRules> {
    Json(FaultRules { rules: state.store.with_instance(&scope.0, |instance| instance.faults.rules.clone()) })
}

/// `POST /faults`: adds a rule (an id is assigned when it has none) and answers it with its id.
pub(super) async fn create_fault_rule(
    State(state): State<AppState>,
    scope: Scope,
    JsonBody(rule): JsonBody<FaultRule>,
) -> Result<(StatusCode, Json<FaultRule>), ApiError> {
    change(&state, &scope, |instance| {
        let id = instance.faults.add(rule)?;
        let added = instance.faults.rules.iter().find(|r| r.id == id).cloned();
        let added = added.ok_or_else(|| Error::not_found(ResourceKind::FaultRule, &id))?;
        Ok((StatusCode::CREATED, Json(added)))
    })
    .await
}

pub(super) async fn delete_fault_rule(
    State(state): State<AppState>,
    scope: Scope,
    Path(path): Path<RulePath>,
) -> Result<StatusCode, ApiError> {
    change(&state, &scope, |instance| {
        if instance.faults.remove(&path.rule_id) {
            Ok(StatusCode::NO_CONTENT)
        } else {
            Err(Error::not_found(ResourceKind::FaultRule, &path.rule_id).into())
        }
    })
    .await
}

pub(super) async fn clear_fault_rules(State(state): State<AppState>, scope: Scope) -> Result<StatusCode, ApiError> {
    change(&state, &scope, |instance| {
        instance.faults.clear();
        Ok(StatusCode::NO_CONTENT)
    })
    .await
}

/// `GET /keystores/{keystore_id}/copies`: what the keystore holds, per managed key; contacts no keystore.
pub(super) async fn list_keystore_copies(
    State(state): State<AppState>,
    scope: Scope,
    Path(path): Path<KeystorePath>,
) -> Result<Json<KeystoreCopies>, ApiError> {
    let entries = state.store.with_instance(&scope.0, |instance| instance.observed_copies(&path.keystore_id))?;
    Ok(Json(KeystoreCopies { keystore_id: path.keystore_id, copies: entries.into_iter().map(copy_body).collect() }))
}

/// `PUT /keystores/{keystore_id}/copies/{managed_key_id}`: sets what the keystore holds for the key, as a
/// fixture divergence does; answers the resulting copy.
pub(super) async fn set_keystore_copy(
    State(state): State<AppState>,
    scope: Scope,
    Path(path): Path<CopyPath>,
    JsonBody(input): JsonBody<CopyInput>,
) -> Result<Json<CopyBody>, ApiError> {
    change(&state, &scope, |instance| {
        instance.set_observed_copy(&path.managed_key_id, &path.keystore_id, input.copy)?;
        let entry = instance
            .observed_copies(&path.keystore_id)?
            .into_iter()
            .find(|entry| entry.managed_key_id == path.managed_key_id)
            .ok_or_else(|| Error::not_found(ResourceKind::ManagedKey, &path.managed_key_id))?;
        Ok(Json(copy_body(entry)))
    })
    .await
}

/// `PUT /keystores/{keystore_id}/reachability`: what is not given stays.
pub(super) async fn set_keystore_reachability(
    State(state): State<AppState>,
    scope: Scope,
    Path(path): Path<KeystorePath>,
    JsonBody(input): JsonBody<ReachabilityInput>,
) -> Result<Json<KeystoreBehaviour>, ApiError> {
    let reachability = if input.reachability.is_empty() {
        None
    } else {
        let fields = serde_json::Value::Object(input.reachability).to_string();
        Some(parse_json::<Reachability>(fields.as_bytes())?)
    };
    if reachability.is_none() && input.configuration_error.is_none() {
        return Err(ApiError::invalid_json(
            "The body must have a \"mode\" (reachable, unreachable, unreachable_for_calls, unreachable_until, flapping), a \"configuration_error\" flag, or both",
        ));
    }
    change(&state, &scope, |instance| {
        let simulation = instance.set_keystore_behaviour(&path.keystore_id, reachability, input.configuration_error)?;
        Ok(Json(KeystoreBehaviour {
            keystore_id: path.keystore_id.clone(),
            reachability: simulation.reachability.clone(),
            configuration_error: simulation.configuration_error,
        }))
    })
    .await
}

pub(super) async fn get_clock(State(state): State<AppState>, scope: Scope) -> Result<Json<Clock>, ApiError> {
    let (clock, observed) = state.store.read(&scope.0, |instance| {
        instance.clock.now();
        instance.clock.clone()
    });
    // `last_stamp` is the ETag of the last change: shown only once that change is on disk.
    state.store.settle(observed).await.map_err(|error| ApiError::not_saved(error, false))?;
    Ok(Json(clock))
}

/// `POST /clock/advance`: moves the instance clock forward by `seconds`.
pub(super) async fn advance_clock(
    State(state): State<AppState>,
    scope: Scope,
    JsonBody(input): JsonBody<AdvanceInput>,
) -> Result<Json<Clock>, ApiError> {
    change(&state, &scope, |instance| {
        instance.advance_clock(input.seconds)?;
        Ok(Json(instance.clock.clone()))
    })
    .await
}

fn copy_body(entry: ObservedCopyEntry) -> CopyBody {
    CopyBody {
        managed_key_id: entry.managed_key_id,
        copy: entry.copy,
        key_id_in_keystore: entry.key_id_in_keystore,
        destruction_at: entry.destruction_at.map(|at| at.to_rfc3339_millis()),
    }
}
