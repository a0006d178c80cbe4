//! The UKO v4 HTTP surface: routes, request context, rendering. Handlers only translate: they parse
//! path, query, headers and body, call one domain operation under the instance lock, and render.
//!
//! `router` lists every route once. The app is wrapped (outside routing) by `rewrite_instance_prefix`,
//! which maps `/instances/{id}/api/v4/...` onto the same routes for an isolated instance.

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
use axum::routing::{get, post};
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

/// The UKO v4 routes (without the `/api/v4` prefix).
pub fn api_router() -> Router<AppState> {
    Router::new()
        .route("/managed_keys", get(managed_keys::list_managed_keys).post(managed_keys::create_managed_key))
        .route(
            "/managed_keys/{id}",
            get(managed_keys::get_managed_key)
                .patch(managed_keys::update_managed_key)
                .delete(managed_keys::delete_managed_key),
        )
        .route("/managed_keys/{id}/associated_resources", get(managed_keys::list_associated_resources_for_managed_key))
        .route("/managed_keys/{id}/versions", get(managed_keys::list_managed_key_versions))
        .route("/managed_keys/{id}/status_in_keystores", get(managed_keys::get_key_distribution_status_for_keystores))
        .route("/managed_keys/{id}/update_from_template", post(managed_keys::update_managed_key_from_template))
        .route("/managed_keys/{id}/activate", post(managed_keys::activate_managed_key))
        .route("/managed_keys/{id}/deactivate", post(managed_keys::deactivate_managed_key))
        .route("/managed_keys/{id}/destroy", post(managed_keys::destroy_managed_key))
        .route("/managed_keys/{id}/sync_status_in_keystores", post(managed_keys::sync_managed_key))
        .route("/managed_keys/{id}/rotate", post(managed_keys::rotate_managed_key))
        .route("/templates", get(templates::list_key_templates).post(templates::create_key_template))
        .route(
            "/templates/{id}",
            get(templates::get_key_template)
                .patch(templates::update_key_template)
                .delete(templates::delete_key_template),
        )
        .route("/templates/{id}/archive", post(templates::archive_key_template))
        .route("/templates/{id}/unarchive", post(templates::unarchive_key_template))
        .route("/templates/{id}/expose", post(templates::expose_key_template))
        .route("/keystores", get(keystores::list_keystores).post(keystores::create_keystore))
        .route(
            "/keystores/{id}",
            get(keystores::get_keystore).patch(keystores::update_keystore).delete(keystores::delete_keystore),
        )
        .route("/keystores/{id}/associated_resources", get(keystores::list_associated_resources_for_target_keystore))
        .route("/keystores/{id}/status", get(keystores::get_keystore_status))
        .route("/keystores/{id}/managed_keys", get(keystores::list_managed_keys_from_keystore))
        .route("/vaults", get(vaults::list_vaults).post(vaults::create_vault))
        .route("/vaults/{id}", get(vaults::get_vault).patch(vaults::update_vault).delete(vaults::delete_vault))
}

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
        Reply { status, etag: None, location: None, body: Some(serde_json::to_vec(body).unwrap_or_default()) }
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
    let (result, decision) = state.store.with_instance(&ctx.instance_id, |instance| {
        let now = instance.clock.now();
        let decision = instance.faults.evaluate(operation, ctx.resource_id.as_deref(), now);
        if decision.drop_connection {
            return (Err(ApiError::from_status(StatusCode::SERVICE_UNAVAILABLE)), decision);
        }
        if let Some(injected) = &decision.error {
            let status = StatusCode::from_u16(injected.status).unwrap_or(StatusCode::SERVICE_UNAVAILABLE);
            let mut error = ApiError::new(status, injected_code(status), injected.message.clone());
            if let Some(seconds) = injected.retry_after_seconds {
                error = error.with_retry_after(seconds);
            }
            return (Err(error), decision);
        }
        instance.failing_keystores = decision.failing_keystores.clone();
        let result = handler(instance, &links);
        instance.failing_keystores.clear();
        for managed_key_id in &decision.concurrent_writes {
            instance.touch_managed_key_as_other_writer(managed_key_id);
        }
        (result, decision)
    });
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
    use axum::http::Method;
    let route = route.strip_prefix("/api/v4").unwrap_or(route);
    let operation = match (method.clone(), route) {
        (Method::GET, "/managed_keys") => Operation::ListManagedKeys,
        (Method::POST, "/managed_keys") => Operation::CreateManagedKey,
        (Method::DELETE, "/managed_keys/{id}") => Operation::DeleteManagedKey,
        (Method::GET, "/managed_keys/{id}") => Operation::GetManagedKey,
        (Method::PATCH, "/managed_keys/{id}") => Operation::UpdateManagedKey,
        (Method::GET, "/managed_keys/{id}/associated_resources") => Operation::ListAssociatedResourcesForManagedKey,
        (Method::GET, "/managed_keys/{id}/versions") => Operation::ListManagedKeyVersions,
        (Method::GET, "/managed_keys/{id}/status_in_keystores") => Operation::GetKeyDistributionStatusForKeystores,
        (Method::POST, "/managed_keys/{id}/update_from_template") => Operation::UpdateManagedKeyFromTemplate,
        (Method::POST, "/managed_keys/{id}/activate") => Operation::ActivateManagedKey,
        (Method::POST, "/managed_keys/{id}/deactivate") => Operation::DeactivateManagedKey,
        (Method::POST, "/managed_keys/{id}/destroy") => Operation::DestroyManagedKey,
        (Method::POST, "/managed_keys/{id}/sync_status_in_keystores") => Operation::SyncManagedKey,
        (Method::POST, "/managed_keys/{id}/rotate") => Operation::RotateManagedKey,
        (Method::GET, "/templates") => Operation::ListKeyTemplates,
        (Method::POST, "/templates") => Operation::CreateKeyTemplate,
        (Method::DELETE, "/templates/{id}") => Operation::DeleteKeyTemplate,
        (Method::GET, "/templates/{id}") => Operation::GetKeyTemplate,
        (Method::PATCH, "/templates/{id}") => Operation::UpdateKeyTemplate,
        (Method::POST, "/templates/{id}/archive") => Operation::ArchiveKeyTemplate,
        (Method::POST, "/templates/{id}/unarchive") => Operation::UnarchiveKeyTemplate,
        (Method::POST, "/templates/{id}/expose") => Operation::ExposeKeyTemplate,
        (Method::GET, "/keystores") => Operation::ListKeystores,
        (Method::POST, "/keystores") => Operation::CreateKeystore,
        (Method::DELETE, "/keystores/{id}") => Operation::DeleteKeystore,
        (Method::GET, "/keystores/{id}") => Operation::GetKeystore,
        (Method::PATCH, "/keystores/{id}") => Operation::UpdateKeystore,
        (Method::GET, "/keystores/{id}/associated_resources") => Operation::ListAssociatedResourcesForTargetKeystore,
        (Method::GET, "/keystores/{id}/status") => Operation::GetKeystoreStatus,
        (Method::GET, "/keystores/{id}/managed_keys") => Operation::ListManagedKeysFromKeystore,
        (Method::GET, "/vaults") => Operation::ListVaults,
        (Method::POST, "/vaults") => Operation::CreateVault,
        (Method::DELETE, "/vaults/{id}") => Operation::DeleteVault,
        (Method::GET, "/vaults/{id}") => Operation::GetVault,
        (Method::PATCH, "/vaults/{id}") => Operation::UpdateVault,
        _ => return None,
    };
    Some(operation)
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
