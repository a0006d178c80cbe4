//! The UKO v4 HTTP surface under `/api/v4`: routes, handlers, rendering. Handlers only translate: they
//! parse path, query, headers and body into one domain [`Command`], hand it to [`respond`] (one pass
//! through the instance lock in `Store::apply`), and render the answer's views after the lock is released.
//!
//! [`API_ROUTES`] lists every route once, expanded with each operation's handler from the one table in
//! `operations`. The app is wrapped (outside routing) by the web shell's
//! `Gateway`, which maps `/instances/{id}/api/v4/...` onto the same routes for an isolated instance.
//! Built on `crate::web`; never imports `crate::control`.

mod auth_and_record;
mod context;
mod operations;
pub mod query;
mod wire;

use axum::http::{header, HeaderValue, StatusCode};
use axum::response::{IntoResponse, Response};
use axum::routing::MethodRouter;
use axum::Router;
use serde::Serialize;

use crate::domain::command::{Answer, Command, Output};
use crate::domain::operation::Operation;
use crate::domain::view::ListPage;
use crate::store::ApiCall;
use crate::web::error;
use crate::web::{ApiError, AppState};
use context::Ctx;
use operations::handler;
pub use operations::API_ROUTES;
use wire::{Href, Links};

/// The UKO v4 routes (without the `/api/v4` prefix), from [`API_ROUTES`].
pub fn api_router() -> Router<AppState> {
    let mut by_path: std::collections::BTreeMap<&str, MethodRouter<AppState>> = std::collections::BTreeMap::new();
    for (_, path, operation) in API_ROUTES {
        let method_router = by_path.remove(path).unwrap_or_default().merge(handler(operation));
        by_path.insert(path, method_router);
    }
    by_path.into_iter().fold(Router::new(), |router, (path, method_router)| router.route(path, method_router))
}

/// The UKO surface as the app nests it under `/api/v4`: every route behind the one route layer (bearer
/// token, journal record).
pub(crate) fn surface(state: &AppState) -> Router<AppState> {
    api_router().route_layer(axum::middleware::from_fn_with_state(state.clone(), auth_and_record::authorize_and_record))
}

/// A successful answer: status, optional ETag/Location, optional JSON body.
#[derive(Debug)]
pub struct Reply {
    pub status: StatusCode,
    pub etag: Option<String>,
    pub location: Option<String>,
    pub body: ReplyBody,
}

/// What a [`Reply`] carries after its headers.
#[derive(Debug)]
pub enum ReplyBody {
    None,
    Json(Vec<u8>),
    /// The body could not be serialized: the reply becomes this 500 in UKO's error shape, never a
    /// success with an empty body.
    Unrendered(ApiError),
}

impl Reply {
    /// A JSON answer.
    pub fn json<T: Serialize>(status: StatusCode, body: &T) -> Reply {
        // A managed key renders to ~2 KB; starting there spares the first reallocations of every answer.
        let mut bytes = Vec::with_capacity(4096);
        let body = match serde_json::to_writer(&mut bytes, body) {
            Ok(()) => ReplyBody::Json(bytes),
            Err(error) => ReplyBody::Unrendered(ApiError::new(
                error::ErrorCode::InternalError,
                format!("The answer could not be rendered as JSON: {error}"),
            )),
        };
        Reply { status, etag: None, location: None, body }
    }

    /// 204 without a body.
    pub fn no_content() -> Reply {
        Reply { status: StatusCode::NO_CONTENT, etag: None, location: None, body: ReplyBody::None }
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
            ReplyBody::Json(body) => {
                let mut response = (self.status, body).into_response();
                response.headers_mut().insert(header::CONTENT_TYPE, HeaderValue::from_static("application/json"));
                response
            }
            ReplyBody::None => self.status.into_response(),
            ReplyBody::Unrendered(error) => return error.into_response(),
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

/// Runs a command for a request: one pass through the instance lock (`Store::apply`: fault plan,
/// `If-Match`, operation, views, journal entry), then, after the lock is released, the change (or the unsaved
/// change it read) settled on disk (`Store::settle`, a no-op without a state file), injected latency slept,
/// and the answer rendered.
pub async fn respond(state: &AppState, ctx: &Ctx, command: Command) -> Result<Response, ApiError> {
    let call = ApiCall {
        command,
        if_match: ctx.if_match(),
        entry: ctx.record.as_ref().and_then(|r| r.take_entry()),
        status_of: answer_status,
    };
    let outcome = state.store.apply(&ctx.instance_id, call);
    // With a state file, nothing is answered before what it shows is on disk (`persistence`).
    if let Err(error) = state.store.settle(outcome.pending).await {
        if let Some(seq) = outcome.journal_seq {
            state.store.amend_journal(&ctx.instance_id, seq, StatusCode::INTERNAL_SERVER_ERROR.as_u16());
        }
        return Err(ApiError::not_saved(error, outcome.changed));
    }
    if outcome.faults.latency_millis > 0 {
        tokio::time::sleep(std::time::Duration::from_millis(outcome.faults.latency_millis)).await;
    }
    if outcome.faults.drop_connection {
        return Ok(dropped_connection());
    }
    match (outcome.result, outcome.faults.error) {
        (Some(Ok(answer)), _) => {
            // Only on success: after a refused parameter the lookups stop, and the rest would look unknown.
            crate::web::unknown::warn_unknown_query_parameters(ctx.params.unread());
            Ok(render(ctx, answer).into_response())
        }
        (Some(Err(error)), _) => Err(error.into()),
        (None, Some(injected)) => {
            let status = StatusCode::from_u16(injected.status).unwrap_or(StatusCode::SERVICE_UNAVAILABLE);
            let error = ApiError::injected(status, injected.message);
            Err(match injected.retry_after_seconds {
                Some(seconds) => error.with_retry_after(seconds),
                None => error,
            })
        }
        (None, None) => Err(ApiError::from_status(StatusCode::SERVICE_UNAVAILABLE)),
    }
}

/// The status the answer to an operation's result has (the journal records it under the lock).
fn answer_status(result: &crate::domain::Result<Answer>) -> u16 {
    match result {
        Ok(answer) if matches!(answer.output, Output::Deleted) => StatusCode::NO_CONTENT.as_u16(),
        Ok(answer) if answer.created => StatusCode::CREATED.as_u16(),
        Ok(_) => StatusCode::OK.as_u16(),
        Err(error) => ApiError::from(error.clone()).status.as_u16(),
    }
}

/// Renders an answer's views into UKO's bytes, with its ETag and, for a created resource, its `Location`.
fn render(ctx: &Ctx, answer: Answer) -> Reply {
    let links = Links { api_base: &ctx.api_base };
    let status = if answer.created { StatusCode::CREATED } else { StatusCode::OK };
    let (reply, created) = match &answer.output {
        Output::ManagedKey(view) => {
            let body = wire::managed_key(view, &links, &ctx.trace);
            (Reply::json(status, &body), Some(("managed_keys", view.key.id.as_str())))
        }
        Output::ManagedKeys(page) => {
            let items = page.items.iter().map(|view| wire::managed_key(view, &links, &ctx.trace)).collect();
            (Reply::json(status, &envelope("managed_keys", items, page, paging_links(ctx, page))), None)
        }
        Output::StatusInKeystores(statuses) => {
            let body =
                wire::StatusInKeystoresBody { status_in_keystores: wire::status_entries(statuses, &links, &ctx.trace) };
            (Reply::json(status, &body), None)
        }
        Output::Template(view) => {
            (Reply::json(status, &wire::template(view, &links)), Some(("templates", view.template.id.as_str())))
        }
        Output::Templates(page) => {
            let items = page.items.iter().map(|view| wire::template(view, &links)).collect();
            (Reply::json(status, &envelope("templates", items, page, paging_links(ctx, page))), None)
        }
        Output::Keystore(view) => {
            (Reply::json(status, &wire::keystore(view, &links)), Some(("keystores", view.keystore.id.as_str())))
        }
        Output::Keystores(page) => {
            let items = page.items.iter().map(|view| wire::keystore(view, &links)).collect();
            (Reply::json(status, &envelope("keystores", items, page, paging_links(ctx, page))), None)
        }
        Output::KeystoreStatus(health) => (Reply::json(status, &wire::keystore_status(health)), None),
        Output::Vault(view) => {
            (Reply::json(status, &wire::vault(view, &links)), Some(("vaults", view.vault.id.as_str())))
        }
        Output::Vaults(page) => {
            let items = page.items.iter().map(|view| wire::vault(view, &links)).collect();
            (Reply::json(status, &envelope("vaults", items, page, paging_links(ctx, page))), None)
        }
        Output::AssociatedResources(page) => {
            let items = page.items.iter().map(|view| wire::associated_resource(view, &links)).collect();
            let paging = paging_links(ctx, page);
            (Reply::json(status, &envelope("associated_resources", items, page, paging)), None)
        }
        Output::Deleted => (Reply::no_content(), None),
    };
    let reply = match answer.etag {
        Some(etag) => reply.with_etag(etag),
        None => reply,
    };
    match created {
        Some((collection, id)) if answer.created => reply.with_location(format!("{}/{collection}/{id}", ctx.api_path)),
        _ => reply,
    }
}

/// A response whose body fails at once: hyper then closes the connection without a complete answer,
/// which clients see as a dropped connection.
fn dropped_connection() -> Response {
    struct Failing(bool);
    impl futures_core::Stream for Failing {
        type Item = Result<bytes::Bytes, std::io::Error>;
        fn poll_next(
            mut self: std::pin::Pin<&mut Self>,
            _: &mut std::task::Context<'_>,
        ) -> std::task::Poll<Option<Self::Item>> {
            if self.0 {
                return std::task::Poll::Ready(None);
            }
            self.0 = true;
            std::task::Poll::Ready(Some(Err(std::io::Error::new(
                std::io::ErrorKind::ConnectionAborted,
                "injected dropped connection",
            ))))
        }
    }
    Response::new(axum::body::Body::from_stream(Failing(false)))
}

/// The UKO operation served by a route (for the journal), from the method and the matched route.
pub fn operation_for(method: &axum::http::Method, route: &str) -> Option<Operation> {
    let route = route.strip_prefix("/api/v4").unwrap_or(route);
    API_ROUTES.iter().find(|(m, path, _)| *path == route && method.as_str() == *m).map(|(_, _, operation)| *operation)
}

/// Paging links: `first`/`last` always, `previous`/`next` only when they exist, other parameters kept.
fn paging_links<T>(ctx: &Ctx, list: &ListPage<T>) -> PagingLinks {
    let (page, total_count) = (list.page, list.total_count);
    let url = |offset: Option<usize>| {
        let mut serializer = form_urlencoded::Serializer::new(String::new());
        for (name, value) in ctx.params.pairs().iter().filter(|(n, _)| n != "limit" && n != "offset") {
            serializer.append_pair(name, value);
        }
        serializer.append_pair("limit", &page.limit.to_string());
        if let Some(offset) = offset {
            serializer.append_pair("offset", &offset.to_string());
        }
        Href { href: format!("{}{}?{}", ctx.api_base, ctx.path, serializer.finish()) }
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
struct PagingLinks {
    first: Href,
    last: Href,
    previous: Option<Href>,
    next: Option<Href>,
}

/// Builds a list envelope from rendered items.
fn envelope<T, V>(
    items_name: &'static str,
    items: Vec<T>,
    list: &ListPage<V>,
    links: PagingLinks,
) -> wire::ListEnvelope<T> {
    wire::ListEnvelope {
        items_name,
        items,
        total_count: list.total_count,
        limit: list.page.limit,
        offset: list.page.offset,
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
                    error::ErrorCode::NotAcceptable,
                    format!("The export format '{media}' is not available in uko-mock; request application/json"),
                )
                .with_target(error::TargetType::Header, "Accept"));
            }
        }
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    /// A body serde cannot write (a map with non-string keys) is a 500 in UKO's shape, not a 200 without a body.
    #[test]
    fn a_reply_that_cannot_be_serialized_is_a_500_error() {
        let unwritable: std::collections::BTreeMap<(u8, u8), u8> = [((1, 2), 3)].into();
        let response = Reply::json(StatusCode::OK, &unwritable).with_etag("\"1\"".to_owned()).into_response();
        assert_eq!(response.status(), StatusCode::INTERNAL_SERVER_ERROR);
        assert!(response.headers().get(header::ETAG).is_none());
        let error = response.extensions().get::<ApiError>().expect("the error travels as an extension");
        assert_eq!(error.code.as_str(), "internal_error");
        assert!(error.message.starts_with("The answer could not be rendered as JSON: "), "{}", error.message);
    }
}
