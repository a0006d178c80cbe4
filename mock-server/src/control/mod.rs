//! The mock's control plane under `/__mock/v1`: never reachable under `/api/v4`, kept apart from the UKO
//! surface. It reads and changes instances through the same `Store` handle as the API, answers JSON, and
//! refuses in UKO's error shape (`ApiError`).
//!
//! Every instance-scoped route exists twice: `/__mock/v1/instances/{instance_id}/…` for an isolated
//! instance (created on first use, like `/instances/{id}/api/v4`) and `/__mock/v1/…` for `default`.
//!
//! Every route, with a line saying what it does, is listed once in [`routes::CONTROL_ROUTES`]; the index
//! `GET /__mock/v1/`, the control plane's OpenAPI document and README.md's table follow from it.
//!
//! Handlers only translate; the rules live in `domain` (copies, reachability, clock, faults, journal) and
//! `fixture` (loading, merging, exporting). A change is made durable ([`Store::persist`]) before the answer.
//!
//! [`Store::persist`]: crate::store::Store::persist

mod instances;
mod journal_feed;
mod routes;
mod simulation;
mod state;

pub(crate) use routes::index;

use axum::extract::{FromRequestParts, RawPathParams};
use axum::http::request::Parts;
use axum::routing::{get, post, put};
use axum::Router;

use crate::domain::Instance;
use crate::fixture::FixtureError;
use crate::store::DEFAULT_INSTANCE;
use crate::web::access;
use crate::web::error::{ErrorCode, TargetType};
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
    Router::new()
        .route("/", get(routes::index))
        .route("/health", get(instances::health))
        .route("/openapi.json", get(openapi))
        .route("/control-openapi.json", get(routes::openapi))
        .merge(guarded)
        .fallback(routes::no_such_control_route)
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
            return Err(ApiError::invalid_instance_id(&instance_id));
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
    let api_error = ApiError::new(ErrorCode::InvalidFixture, message);
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
