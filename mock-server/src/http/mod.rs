//! The UKO v4 HTTP surface: routes, request context, rendering. Handlers only translate: they parse
//! path, query, headers and body, call one domain operation under the instance lock, and render.
//!
//! `router` lists every route once. The app is wrapped (outside routing) by `middleware::Gateway`, which
//! maps `/instances/{id}/api/v4/...` onto the same routes for an isolated instance.

pub mod auth;
pub mod error;
pub mod extract;
pub mod journal;
pub mod keystores;
pub mod managed_keys;
pub mod middleware;
pub mod templates;
pub mod vaults;
pub mod wire;

use axum::http::{header, HeaderValue, StatusCode};
use axum::response::{IntoResponse, Response};
use axum::routing::{delete, get, patch, post, MethodRouter};
use axum::Router;
use serde::Serialize;

use crate::domain::operation::Operation;
use crate::domain::query::{Page, Params};
use crate::domain::Instance;
use crate::store::Store;
pub use error::ApiError;
use extract::Ctx;
use wire::{Href, Links};

/// Shared state of every handler.
#[derive(Clone)]
pub struct AppState {
    pub store: Store,
    pub auth: auth::Auth,
    /// Overrides the scheme and host of generated `href`s (e.g. behind a proxy).
    pub public_url: Option<String>,
    /// Who may use the control plane (`--admin-token`, bind address).
    pub admin: crate::control::access::AdminAccess,
}

/// Every UKO route: method, path (without the `/api/v4` prefix) and the operation it serves. The only list
/// of UKO routes: [`api_router`] is built from it, [`operation_for`] reads it, and the OpenAPI document
/// (`openapi.json`) is checked against it.
pub const API_ROUTES: [(&str, &str, Operation); 35] = [
    ("GET", "/managed_keys", Operation::ListManagedKeys),
    ("POST", "/managed_keys", Operation::CreateManagedKey),
    ("DELETE", "/managed_keys/{id}", Operation::DeleteManagedKey),
    ("GET", "/managed_keys/{id}", Operation::GetManagedKey),
    ("PATCH", "/managed_keys/{id}", Operation::UpdateManagedKey),
    ("GET", "/managed_keys/{id}/associated_resources", Operation::ListAssociatedResourcesForManagedKey),
    ("GET", "/managed_keys/{id}/versions", Operation::ListManagedKeyVersions),
    ("GET", "/managed_keys/{id}/status_in_keystores", Operation::GetKeyDistributionStatusForKeystores),
    ("POST", "/managed_keys/{id}/update_from_template", Operation::UpdateManagedKeyFromTemplate),
    ("POST", "/managed_keys/{id}/activate", Operation::ActivateManagedKey),
    ("POST", "/managed_keys/{id}/deactivate", Operation::DeactivateManagedKey),
    ("POST", "/managed_keys/{id}/destroy", Operation::DestroyManagedKey),
    ("POST", "/managed_keys/{id}/sync_status_in_keystores", Operation::SyncManagedKey),
    ("POST", "/managed_keys/{id}/rotate", Operation::RotateManagedKey),
    ("GET", "/templates", Operation::ListKeyTemplates),
    ("POST", "/templates", Operation::CreateKeyTemplate),
    ("DELETE", "/templates/{id}", Operation::DeleteKeyTemplate),
    ("GET", "/templates/{id}", Operation::GetKeyTemplate),
    ("PATCH", "/templates/{id}", Operation::UpdateKeyTemplate),
    ("POST", "/templates/{id}/archive", Operation::ArchiveKeyTemplate),
    ("POST", "/templates/{id}/unarchive", Operation::UnarchiveKeyTemplate),
    ("POST", "/templates/{id}/expose", Operation::ExposeKeyTemplate),
    ("GET", "/keystores", Operation::ListKeystores),
    ("POST", "/keystores", Operation::CreateKeystore),
    ("DELETE", "/keystores/{id}", Operation::DeleteKeystore),
    ("GET", "/keystores/{id}", Operation::GetKeystore),
    ("PATCH", "/keystores/{id}", Operation::UpdateKeystore),
    ("GET", "/keystores/{id}/associated_resources", Operation::ListAssociatedResourcesForTargetKeystore),
    ("GET", "/keystores/{id}/status", Operation::GetKeystoreStatus),
    ("GET", "/keystores/{id}/managed_keys", Operation::ListManagedKeysFromKeystore),
    ("GET", "/vaults", Operation::ListVaults),
    ("POST", "/vaults", Operation::CreateVault),
    ("DELETE", "/vaults/{id}", Operation::DeleteVault),
    ("GET", "/vaults/{id}", Operation::GetVault),
    ("PATCH", "/vaults/{id}", Operation::UpdateVault),
];

/// The UKO v4 routes (without the `/api/v4` prefix), from [`API_ROUTES`].
pub fn api_router() -> Router<AppState> {
    let mut by_path: std::collections::BTreeMap<&str, MethodRouter<AppState>> = std::collections::BTreeMap::new();
    for (_, path, operation) in API_ROUTES {
        let method_router = by_path.remove(path).unwrap_or_default().merge(handler(operation));
        by_path.insert(path, method_router);
    }
    by_path.into_iter().fold(Router::new(), |router, (path, method_router)| router.route(path, method_router))
}

/// The handler of an operation, under the method of its route.
fn handler(operation: Operation) -> MethodRouter<AppState> {
    match operation {
        Operation::ListManagedKeys => get(managed_keys::list_managed_keys),
        Operation::CreateManagedKey => post(managed_keys::create_managed_key),
        Operation::DeleteManagedKey => delete(managed_keys::delete_managed_key),
        Operation::GetManagedKey => get(managed_keys::get_managed_key),
        Operation::UpdateManagedKey => patch(managed_keys::update_managed_key),
        Operation::ListAssociatedResourcesForManagedKey => get(managed_keys::list_associated_resources_for_managed_key),
        Operation::ListManagedKeyVersions => get(managed_keys::list_managed_key_versions),
        Operation::GetKeyDistributionStatusForKeystores => get(managed_keys::get_key_distribution_status_for_keystores),
        Operation::UpdateManagedKeyFromTemplate => post(managed_keys::update_managed_key_from_template),
        Operation::ActivateManagedKey => post(managed_keys::activate_managed_key),
        Operation::DeactivateManagedKey => post(managed_keys::deactivate_managed_key),
        Operation::DestroyManagedKey => post(managed_keys::destroy_managed_key),
        Operation::SyncManagedKey => post(managed_keys::sync_managed_key),
        Operation::RotateManagedKey => post(managed_keys::rotate_managed_key),
        Operation::ListKeyTemplates => get(templates::list_key_templates),
        Operation::CreateKeyTemplate => post(templates::create_key_template),
        Operation::DeleteKeyTemplate => delete(templates::delete_key_template),
        Operation::GetKeyTemplate => get(templates::get_key_template),
        Operation::UpdateKeyTemplate => patch(templates::update_key_template),
        Operation::ArchiveKeyTemplate => post(templates::archive_key_template),
        Operation::UnarchiveKeyTemplate => post(templates::unarchive_key_template),
        Operation::ExposeKeyTemplate => post(templates::expose_key_template),
        Operation::ListKeystores => get(keystores::list_keystores),
        Operation::CreateKeystore => post(keystores::create_keystore),
        Operation::DeleteKeystore => delete(keystores::delete_keystore),
        Operation::GetKeystore => get(keystores::get_keystore),
        Operation::UpdateKeystore => patch(keystores::update_keystore),
        Operation::ListAssociatedResourcesForTargetKeystore => {
            get(keystores::list_associated_resources_for_target_keystore)
        }
        Operation::GetKeystoreStatus => get(keystores::get_keystore_status),
        Operation::ListManagedKeysFromKeystore => get(keystores::list_managed_keys_from_keystore),
        Operation::ListVaults => get(vaults::list_vaults),
        Operation::CreateVault => post(vaults::create_vault),
        Operation::DeleteVault => delete(vaults::delete_vault),
        Operation::GetVault => get(vaults::get_vault),
        Operation::UpdateVault => patch(vaults::update_vault),
    }
}

/// The OpenAPI 3.0 document of the UKO surface this mock serves (`GET /__mock/v1/openapi.json`).
pub const OPENAPI_JSON: &str = include_str!("../../openapi.json");

/// A successful answer: status, optional ETag/Location, optional JSON body.
#[derive(Debug)]
pub struct Reply {
    pub status: StatusCode,
    pub etag: Option<String>,
    pub location: Option<String>,
    pub body: Option<Vec<u8>>,
}

impl Reply {
    /// A JSON answer.
    pub fn json<T: Serialize>(status: StatusCode, body: &T) -> Reply {
        // A managed key renders to ~2 KB; starting there spares the first reallocations of every answer.
        let mut bytes = Vec::with_capacity(4096);
        if serde_json::to_writer(&mut bytes, body).is_err() {
            bytes.clear();
        }
        Reply { status, etag: None, location: None, body: Some(bytes) }
    }

    /// 204 without a body.
    pub fn no_content() -> Reply {
        Reply { status: StatusCode::NO_CONTENT, etag: None, location: None, body: None }
    }

    /// Adds an `ETag` header.
    pub fn with_etag(mut self, etag: String) -> Reply {
        self.etag = Some(etag);
        self
    }

    /// Adds a `Location` header.
    pub fn with_location(mut self, location: String) -> Reply {
        self.location = Some(location);
        self
    }
}

impl IntoResponse for Reply {
    fn into_response(self) -> Response {
        let mut response = match self.body {
            Some(body) => {
                let mut response = (self.status, body).into_response();
                response.headers_mut().insert(header::CONTENT_TYPE, HeaderValue::from_static("application/json"));
                response
            }
            None => self.status.into_response(),
        };
        if let Some(etag) = self.etag.and_then(|e| HeaderValue::from_str(&e).ok()) {
            response.headers_mut().insert(header::ETAG, etag);
        }
        if let Some(location) = self.location.and_then(|l| HeaderValue::from_str(&l).ok()) {
            response.headers_mut().insert(header::LOCATION, location);
        }
        response
    }
}

/// Runs one operation against the request's instance under its lock, exactly once: the fault plan is
/// consulted first (an injected error or dropped connection replaces the operation; a keystore failure
/// applies during it; a concurrent writer acts after it). A mutation that succeeded (or a concurrent
/// writer's change) is made durable before the answer (`Store::persist`, a no-op without a state file);
/// then injected latency is slept outside the lock.
pub async fn run(
    state: &AppState,
    ctx: &Ctx,
    operation: Operation,
    handler: impl FnOnce(&mut Instance, &Links<'_>) -> Result<Reply, ApiError>,
) -> Result<Reply, ApiError> {
    let links = Links { api_base: &ctx.api_base };
    let (outcome, decision) = state.store.with_instance(&ctx.instance_id, |instance| {
        instance.run_with_faults(operation, ctx.resource_id.as_deref(), |instance| handler(instance, &links))
    });
    let result = match (outcome, &decision.error) {
        (Some(result), _) => result,
        (None, Some(injected)) => {
            let status = StatusCode::from_u16(injected.status).unwrap_or(StatusCode::SERVICE_UNAVAILABLE);
            let error = ApiError::new(status, injected_code(status), injected.message.clone());
            Err(match injected.retry_after_seconds {
                Some(seconds) => error.with_retry_after(seconds),
                None => error,
            })
        }
        // A dropped connection: the journal middleware closes it; this answer is never sent.
        (None, None) => Err(ApiError::from_status(StatusCode::SERVICE_UNAVAILABLE)),
    };
    if let Some(note) = &ctx.journal_note {
        note.set_fault(decision.summary(), decision.drop_connection);
    }
    let changed = (operation.mutates() && result.is_ok()) || !decision.concurrent_writes.is_empty();
    if changed {
        state.store.persist().await?;
    }
    if decision.latency_millis > 0 {
        tokio::time::sleep(std::time::Duration::from_millis(decision.latency_millis)).await;
    }
    result
}

fn injected_code(status: StatusCode) -> &'static str {
    match status {
        StatusCode::TOO_MANY_REQUESTS => "too_many_requests",
        StatusCode::SERVICE_UNAVAILABLE => "service_unavailable",
        StatusCode::INTERNAL_SERVER_ERROR => "internal_error",
        StatusCode::BAD_GATEWAY | StatusCode::GATEWAY_TIMEOUT => "gateway_error",
        _ => "injected_fault",
    }
}

/// The UKO operation served by a route (for the journal), from the method and the matched route.
pub fn operation_for(method: &axum::http::Method, route: &str) -> Option<Operation> {
    let route = route.strip_prefix("/api/v4").unwrap_or(route);
    API_ROUTES.iter().find(|(m, path, _)| *path == route && method.as_str() == *m).map(|(_, _, operation)| *operation)
}

/// Paging links: `first`/`last` always, `previous`/`next` only when they exist, other parameters kept.
pub fn paging_links(ctx: &Ctx, path: &str, params: &Params, page: Page, total_count: usize) -> PagingLinks {
    let url = |offset: Option<usize>| {
        let mut serializer = form_urlencoded::Serializer::new(String::new());
        for (name, value) in params.pairs().iter().filter(|(n, _)| n != "limit" && n != "offset") {
            serializer.append_pair(name, value);
        }
        serializer.append_pair("limit", &page.limit.to_string());
        if let Some(offset) = offset {
            serializer.append_pair("offset", &offset.to_string());
        }
        Href { href: format!("{}{path}?{}", ctx.api_base, serializer.finish()) }
    };
    let last_offset = if total_count == 0 { 0 } else { (total_count - 1) / page.limit * page.limit };
    PagingLinks {
        first: url(None),
        last: url(Some(last_offset)),
        previous: (page.offset > 0).then(|| url(Some(page.offset.saturating_sub(page.limit)))),
        next: (page.offset.saturating_add(page.limit) < total_count)
            .then(|| url(Some(page.offset.saturating_add(page.limit)))),
    }
}

/// The four paging links of a list envelope.
pub struct PagingLinks {
    pub first: Href,
    pub last: Href,
    pub previous: Option<Href>,
    pub next: Option<Href>,
}

/// Builds a list envelope from rendered items.
pub fn envelope<T>(
    items_name: &'static str,
    items: Vec<T>,
    total_count: usize,
    page: Page,
    links: PagingLinks,
) -> wire::ListEnvelope<T> {
    wire::ListEnvelope {
        items_name,
        items,
        total_count,
        limit: page.limit,
        offset: page.offset,
        first: links.first,
        last: links.last,
        previous: links.previous,
        next: links.next,
    }
}

/// Checks the `Accept` override of list operations (§6a): JSON variants are served, the zip/csv
/// export types are not available in the mock (406).
pub fn check_list_accept(headers: &axum::http::HeaderMap, kind: &str) -> Result<(), ApiError> {
    for value in headers.get_all(header::ACCEPT) {
        let text = String::from_utf8_lossy(value.as_bytes());
        for media in text.split(',').map(|m| m.split(';').next().unwrap_or("").trim()) {
            let zipped = media.ends_with("+zip") && media.contains(&format!("{kind}-list"));
            if zipped {
                return Err(ApiError::new(
                    StatusCode::NOT_ACCEPTABLE,
                    "not_acceptable",
                    format!("The export format '{media}' is not available in uko-mock; request application/json"),
                )
                .with_target(error::TargetType::Header, "Accept"));
            }
        }
    }
    Ok(())
}
