//! The mock's control plane under `/__mock/v1`: never reachable under `/api/v4`, kept apart from the UKO
//! surface. It reads and changes instances through the same `Store` handle as the API, answers JSON, and
//! refuses in UKO's error shape (`ApiError`).
//!
//! Every instance-scoped route exists twice: `/__mock/v1/instances/{instance_id}/…` for an isolated
//! instance (created on first use, like `/instances/{id}/api/v4`) and `/__mock/v1/…` for `default`.
//!
//! | Route | Does |
//! |---|---|
//! | `GET /health` | readiness; open even when an admin token is set |
//! | `GET /instances` | ids of the instances that exist |
//! | `PUT /instances/{id}` | creates or replaces an instance from the fixture in the body (empty: the served fixture) |
//! | `DELETE /instances/{id}` | removes an isolated instance (not `default`) |
//! | `POST /reset` | the instance back to the served fixture |
//! | `POST /fixture?mode=replace\|merge` | loads a fixture; `merge` adds or overwrites records by id |
//! | `GET /export[?include_secrets=true]` | the instance as a fixture that loads back into an equal instance; keystore credentials masked (`***`) unless `include_secrets=true` |
//! | `GET /openapi.json` | the OpenAPI document of the UKO surface this mock serves; open like `/health` |
//! | `GET`, `POST`, `DELETE /faults`, `DELETE /faults/{rule_id}` | the fault plan |
//! | `GET /keystores/{id}/copies`, `PUT /keystores/{id}/copies/{managed_key_id}` | what a keystore holds |
//! | `PUT /keystores/{id}/reachability` | whether a keystore answers, and its configuration error |
//! | `GET /clock`, `POST /clock/advance` | the instance clock |
//! | `GET /journal?since=&limit=` | served UKO requests with `seq >= since` |
//! | `GET`, `PATCH /settings` | behaviour switches (`domain::Settings`) |
//! | `POST /associated_resources` | seeds an associated resource |
//!
//! Handlers only translate; the rules live in `domain` (copies, reachability, clock, faults, journal) and
//! `fixture` (loading, merging, exporting). A change is made durable ([`Store::persist`]) before the answer.
//!
//! [`Store::persist`]: crate::store::Store::persist

mod instances;
mod journal_feed;
mod simulation;
mod state;

use axum::extract::{FromRequestParts, RawPathParams};
use axum::http::request::Parts;
use axum::http::StatusCode;
use axum::routing::{get, post, put};
use axum::Router;

use crate::domain::Instance;
use crate::fixture::FixtureError;
use crate::store::DEFAULT_INSTANCE;
use crate::web::access;
use crate::web::error::TargetType;
use crate::web::extract::InstanceScope;
use crate::web::{ApiError, AppState};

/// Routes of the control plane (without the `/__mock/v1` prefix). Every route but `/health` and `/openapi.json` goes through
/// the admin check of `state.admin`.
pub(crate) fn control_router(state: &AppState) -> Router<AppState> {
    let scoped = instance_routes();
    let guarded = Router::new()
        .route("/instances", get(instances::list_instances))
        .route("/instances/{instance_id}", put(instances::put_instance).delete(instances::delete_instance))
        .merge(scoped.clone())
        .nest("/instances/{instance_id}", scoped)
        .route_layer(axum::middleware::from_fn_with_state(state.clone(), access::require_admin));
    Router::new().route("/health", get(instances::health)).route("/openapi.json", get(openapi)).merge(guarded)
}

/// `GET /openapi.json`: the OpenAPI document of the UKO surface (public information, open like `/health`).
async fn openapi() -> impl axum::response::IntoResponse {
    ([(axum::http::header::CONTENT_TYPE, "application/json")], crate::web::OPENAPI_JSON)
}

/// The routes that act on one instance.
fn instance_routes() -> Router<AppState> {
    Router::new()
        .route("/reset", post(state::reset_instance))
        .route("/fixture", post(state::load_fixture))
        .route("/export", get(state::export_instance))
        .route("/settings", get(state::get_settings).patch(state::update_settings))
        .route("/associated_resources", post(state::create_associated_resource))
        .route(
            "/faults",
            get(simulation::list_fault_rules).post(simulation::create_fault_rule).delete(simulation::clear_fault_rules),
        )
        .route("/faults/{rule_id}", axum::routing::delete(simulation::delete_fault_rule))
        .route("/keystores/{keystore_id}/copies", get(simulation::list_keystore_copies))
        .route("/keystores/{keystore_id}/copies/{managed_key_id}", put(simulation::set_keystore_copy))
        .route("/keystores/{keystore_id}/reachability", put(simulation::set_keystore_reachability))
        .route("/clock", get(simulation::get_clock))
        .route("/clock/advance", post(simulation::advance_clock))
        .route("/journal", get(journal_feed::get_journal))
}

/// The instance a control request addresses: `{instance_id}` in the path, else the `/instances/{id}` prefix
/// the URL came with, else `default`.
pub(crate) struct Scope(pub String);

impl FromRequestParts<AppState> for Scope {
    type Rejection = ApiError;

    async fn from_request_parts(parts: &mut Parts, state: &AppState) -> Result<Self, Self::Rejection> {
        let from_path = match RawPathParams::from_request_parts(parts, state).await {
            Ok(params) => params.iter().find(|(name, _)| *name == "instance_id").map(|(_, value)| value.to_owned()),
            Err(_) => None,
        };
        let instance_id = from_path
            .or_else(|| parts.extensions.get::<InstanceScope>().map(|scope| scope.0.as_str().to_owned()))
            .unwrap_or_else(|| DEFAULT_INSTANCE.to_owned());
        if crate::store::InstanceId::parse(&instance_id).is_none() {
            return Err(ApiError::new(
                StatusCode::BAD_REQUEST,
                "invalid_path_parameter",
                format!(
                    "The instance id must be 1 to 64 letters, digits, '-', '_' or '.', not starting with '.'; found '{instance_id}'"
                ),
            )
            .with_target(TargetType::Parameter, "instance_id"));
        }
        if !state.store.admits(&instance_id) {
            return Err(ApiError::too_many_instances(&instance_id));
        }
        Ok(Scope(instance_id))
    }
}

/// Runs one change on the scoped instance under its lock, then makes it durable before the caller answers.
async fn change<T>(
    state: &AppState,
    scope: &Scope,
    change: impl FnOnce(&mut Instance) -> Result<T, ApiError>,
) -> Result<T, ApiError> {
    let (value, change) = state.store.change(&scope.0, change);
    state.store.settle(change).await?;
    value
}

/// A fixture that cannot be parsed, validated or loaded: 400 naming the JSON path.
fn invalid_fixture(error: FixtureError) -> ApiError {
    let message = if error.path.is_empty() {
        format!("The fixture is invalid: {}", error.reason)
    } else {
        format!("The fixture is invalid at {}: {}", error.path, error.reason)
    };
    let api_error = ApiError::new(StatusCode::BAD_REQUEST, "invalid_fixture", message);
    if error.path.is_empty() {
        api_error
    } else {
        api_error.with_target(TargetType::Field, error.path)
    }
}

/// A request body as UTF-8 text (fixture bodies are parsed by `fixture`, which names JSON paths).
fn body_text(body: &[u8]) -> Result<&str, ApiError> {
    std::str::from_utf8(body).map_err(|error| ApiError::invalid_json(format!("The request body is not UTF-8: {error}")))
}

/// What reset, fixture loads and instance creation answer: the instance's size and clock.
#[derive(serde::Serialize)]
struct InstanceSummary {
    id: String,
    vaults: usize,
    templates: usize,
    keystores: usize,
    managed_keys: usize,
    associated_resources: usize,
    fault_rules: usize,
    now: String,
}

impl InstanceSummary {
    fn of(instance: &mut Instance) -> InstanceSummary {
        InstanceSummary {
            id: instance.id.clone(),
            vaults: instance.vaults.len(),
            templates: instance.templates.len(),
            keystores: instance.keystores.len(),
            managed_keys: instance.managed_keys.len(),
            associated_resources: instance.associated_resources.len(),
            fault_rules: instance.faults.rules.len(),
            now: instance.clock.now().to_rfc3339_millis(),
        }
    }
}
