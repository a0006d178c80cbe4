//! The web shell: what every HTTP surface of the mock shares — the handlers' [`AppState`], [`ApiError`] (the
//! only error that becomes a response, in UKO's shape), the extractors, the [`gateway::Gateway`] in front of
//! the router (instance prefix, correlation ids, limits, error bodies, logging), bearer tokens and the IAM
//! endpoint (`auth`), and who may use the control plane (`access`).
//!
//! The surfaces built on it, `crate::uko` (`/api/v4`) and `crate::control` (`/__mock/v1`), depend on this
//! module and never on each other (checked by `cargo xtask tidy`).

pub mod access;
pub mod auth;
pub mod browser;
pub mod error;
pub mod extract;
pub mod framing;
pub(crate) mod gateway;
pub mod limits;
pub(crate) mod unknown;

pub use error::ApiError;

use std::sync::Arc;

use crate::store::Store;

/// Request extension set on requests that arrived over HTTPS (`--tls`, `--https-port`), so generated
/// `href`s use the scheme the client used.
#[derive(Clone, Copy, Debug)]
pub struct ServedOverTls;

impl ServedOverTls {
    /// The scheme the client used for a request with these extensions: `https` when it came over TLS.
    pub fn scheme(extensions: &axum::http::Extensions) -> &'static str {
        if extensions.get::<ServedOverTls>().is_some() {
            "https"
        } else {
            "http"
        }
    }
}

/// The connection a request came on (the client's port), set by the accept loop so the journal can say
/// which requests shared a connection: on HTTP/1.1 a client sends the next request on a connection only
/// after the answer to the previous one reached it.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct ConnectionId(pub u64);

/// Shared state of every handler. Cloned per request by axum's `State` (twice for a UKO request), so it is
/// one reference count, not a copy of its strings.
#[derive(Clone)]
pub struct AppState(Arc<Shared>);

/// What [`AppState`] shares; its fields are read through `Deref` (`state.store`).
pub struct Shared {
    pub store: Store,
    pub auth: auth::Auth,
    /// Overrides the scheme and host of generated `href`s (e.g. behind a proxy).
    pub public_url: Option<String>,
    /// Who may use the control plane (`--admin-token`, bind address).
    pub admin: access::AdminAccess,
    /// Which `Host` and `Origin` headers the gateway accepts (`--allowed-host`, bind address).
    pub browser: browser::BrowserPolicy,
}

impl AppState {
    /// The state of a server.
    pub fn new(store: Store, auth: auth::Auth, public_url: Option<String>, admin: access::AdminAccess) -> AppState {
        let browser = browser::BrowserPolicy::new(std::net::IpAddr::from([127, 0, 0, 1]), &[], public_url.as_deref());
        AppState(Arc::new(Shared { store, auth, public_url, admin, browser }))
    }

    /// The state with another browser policy (set before serving; see `browser`).
    pub fn with_browser_policy(mut self, policy: browser::BrowserPolicy) -> AppState {
        match Arc::get_mut(&mut self.0) {
            Some(shared) => shared.browser = policy,
            None => tracing::warn!("the browser policy was set after the server started; keeping the first one"),
        }
        self
    }
}

impl std::ops::Deref for AppState {
    type Target = Shared;

    fn deref(&self) -> &Shared {
        &self.0
    }
}

/// The OpenAPI 3.0 document of the UKO surface this mock serves: served by the control plane
/// (`GET /__mock/v1/openapi.json`) and checked against `uko::API_ROUTES` by the API tests.
pub const OPENAPI_JSON: &str = include_str!("../../openapi.json");
