//! The web shell: what every HTTP surface of the mock shares — the handlers' [`AppState`], [`ApiError`] (the
//! only error that becomes a response, in UKO's shape), the extractors, the [`gateway::Gateway`] in front of
//! the router (instance prefix, correlation ids, limits, error bodies, logging), bearer tokens and the IAM
//! endpoint (`auth`), and who may use the control plane (`access`).
//!
//! The surfaces built on it, `crate::uko` (`/api/v4`) and `crate::control` (`/__mock/v1`), depend on this
//! module and never on each other (checked by `cargo xtask tidy`).

pub mod access;
pub mod auth;
pub mod error;
pub mod extract;
pub(crate) mod gateway;

pub use error::ApiError;

use crate::store::Store;

/// Shared state of every handler.
#[derive(Clone)]
pub struct AppState {
    pub store: Store,
    pub auth: auth::Auth,
    /// Overrides the scheme and host of generated `href`s (e.g. behind a proxy).
    pub public_url: Option<String>,
    /// Who may use the control plane (`--admin-token`, bind address).
    pub admin: access::AdminAccess,
}

/// The OpenAPI 3.0 document of the UKO surface this mock serves: served by the control plane
/// (`GET /__mock/v1/openapi.json`) and checked against `uko::API_ROUTES` by the API tests.
pub const OPENAPI_JSON: &str = include_str!("../../openapi.json");
