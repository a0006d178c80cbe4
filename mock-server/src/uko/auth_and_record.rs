//! The one route layer of the UKO surface: checks the caller's bearer token and opens the request's journal
//! record — method, path, operation, resource id and `If-Match` (read here, once, for the journal and the
//! operation alike); never bodies or credentials.
//!
//! A request that reaches its operation is journaled by `Store::apply`, in the same critical section as
//! the operation, so the journal lists requests in the order they ran. A request answered before that
//! (refused token, undecodable body, bad flag) is journaled here, after its answer, with `Store::record`.

use std::sync::{Arc, Mutex, PoisonError};

use axum::extract::{MatchedPath, OriginalUri, Request, State};
use axum::http::header;
use axum::middleware::Next;
use axum::response::{IntoResponse, Response};

use super::operation_for;
use crate::domain::request_journal::JournalEntry;
use crate::domain::IfMatch;
use crate::store::InstanceId;
use crate::web::extract::InstanceScope;
use crate::web::AppState;

/// The journal record of one UKO request, until the operation takes it (or the layer records a request
/// that never reached one). Cloning shares it (the layer, the request's extensions and `Ctx` hold it).
#[derive(Clone, Debug)]
pub struct RequestRecord(Arc<RecordContents>);

#[derive(Debug)]
struct RecordContents {
    instance_id: InstanceId,
    scoped: bool,
    if_match: Option<IfMatch>,
    entry: Mutex<Option<JournalEntry>>,
}

impl RequestRecord {
    /// The instance the request addresses.
    pub fn instance_id(&self) -> &InstanceId {
        &self.0.instance_id
    }

    /// Whether the client addressed the instance with an `/instances/{id}` prefix.
    pub fn scoped(&self) -> bool {
        self.0.scoped
    }

    /// The request's `If-Match`, parsed once.
    pub fn if_match(&self) -> Option<&IfMatch> {
        self.0.if_match.as_ref()
    }

    /// The journal entry, for the operation to complete; `None` once taken.
    pub fn take_entry(&self) -> Option<JournalEntry> {
        self.0.entry.lock().unwrap_or_else(PoisonError::into_inner).take()
    }
}

/// Checks the bearer token, runs the request, and journals it if no operation did.
pub(super) async fn authorize_and_record(State(state): State<AppState>, mut request: Request, next: Next) -> Response {
    let scope = request.extensions().get::<InstanceScope>().map(|s| s.0.clone());
    let method = request.method().clone();
    // Inside the router nested at /api/v4 the URI has lost that prefix; the original one (after the
    // instance rewrite) still has it.
    let api_path = match request.extensions().get::<OriginalUri>() {
        Some(original) => original.path().to_owned(),
        None => request.uri().path().to_owned(),
    };
    let route = request.extensions().get::<MatchedPath>().map(|m| m.as_str().to_owned());
    let operation = route.as_deref().and_then(|r| operation_for(&method, r));
    let resource_id = route.as_deref().filter(|r| r.contains("{id}")).and_then(|_| path_id(&api_path));
    // The path as the client sent it, instance prefix included.
    let path = match &scope {
        Some(instance_id) => format!("/instances/{instance_id}{api_path}"),
        None => api_path,
    };
    let if_match =
        request.headers().get(header::IF_MATCH).map(|v| IfMatch::parse(String::from_utf8_lossy(v.as_bytes())));
    let entry = JournalEntry {
        seq: 0,
        time: String::new(),
        method: method.to_string(),
        path,
        operation: operation.map(|o| o.name().to_owned()),
        resource_id,
        if_match: if_match.as_ref().map(|i| i.as_sent().to_owned()),
        status: 0,
        etag: None,
        fault: None,
        received_ms: u64::try_from(server_started().elapsed().as_millis()).unwrap_or(u64::MAX),
        connection: request.extensions().get::<crate::web::ConnectionId>().map(|connection| connection.0),
    };
    let record = RequestRecord(Arc::new(RecordContents {
        scoped: scope.is_some(),
        instance_id: scope.unwrap_or_else(InstanceId::default_instance),
        if_match,
        entry: Mutex::new(Some(entry)),
    }));
    request.extensions_mut().insert(record.clone());

    let authorization = request.headers().get(header::AUTHORIZATION).and_then(|v| v.to_str().ok());
    let response = match state.auth.check(authorization) {
        Ok(()) => next.run(request).await,
        Err(error) => error.into_response(),
    };

    if let Some(mut entry) = record.take_entry() {
        // Answered before any operation ran.
        entry.status = response.status().as_u16();
        entry.etag = response.headers().get(header::ETAG).and_then(|v| v.to_str().ok()).map(str::to_owned);
        state.store.record(record.instance_id(), entry);
    }
    response
}

/// The instant the process started serving, for `received_ms`.
pub(super) fn server_started() -> std::time::Instant {
    static STARTED: std::sync::OnceLock<std::time::Instant> = std::sync::OnceLock::new();
    *STARTED.get_or_init(std::time::Instant::now)
}

/// The `{id}` segment of `/api/v4/<collection>/{id}[/...]`.
fn path_id(path: &str) -> Option<String> {
    let mut segments = path.trim_start_matches('/').split('/');
    let _api = segments.next()?;
    let _version = segments.next()?;
    let _collection = segments.next()?;
    segments.next().filter(|s| !s.is_empty()).map(str::to_owned)
}
