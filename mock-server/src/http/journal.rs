//! Journal middleware (with the bearer-token check of the UKO surface): records every request that reached the UKO surface of an instance (method,
//! path, operation, resource id, `If-Match`, status, ETag, fault) — never bodies or credentials — and
//! carries out a dropped-connection fault.

use std::sync::{Arc, Mutex, PoisonError};

use axum::body::Body;
use axum::extract::{MatchedPath, OriginalUri, Request, State};
use axum::http::header;
use axum::middleware::Next;
use axum::response::{IntoResponse, Response};

use super::extract::InstanceScope;
use super::{operation_for, AppState};
use crate::domain::journal::JournalEntry;
use crate::store::DEFAULT_INSTANCE;

/// A slot the handler fills with what the fault plan did, read back by the journal middleware.
#[derive(Clone, Debug, Default)]
pub struct JournalNote(Arc<Mutex<NoteContents>>);

#[derive(Clone, Debug, Default)]
struct NoteContents {
    fault: Option<String>,
    drop_connection: bool,
}

impl JournalNote {
    /// Records the fired fault rules of this request.
    pub fn set_fault(&self, fault: Option<String>, drop_connection: bool) {
        let mut contents = self.0.lock().unwrap_or_else(PoisonError::into_inner);
        contents.fault = fault;
        contents.drop_connection = drop_connection;
    }

    fn take(&self) -> NoteContents {
        self.0.lock().unwrap_or_else(PoisonError::into_inner).clone()
    }
}

/// Checks the caller's bearer token, then records the request in its instance's journal after it was
/// served.
pub async fn authorize_and_record(State(state): State<AppState>, mut request: Request, next: Next) -> Response {
    let note = JournalNote::default();
    request.extensions_mut().insert(note.clone());
    let scope = request.extensions().get::<InstanceScope>().map(|s| s.0.clone());
    let instance_id = scope.clone().unwrap_or_else(|| DEFAULT_INSTANCE.to_owned());
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
    let if_match = request.headers().get(header::IF_MATCH).map(|v| String::from_utf8_lossy(v.as_bytes()).into_owned());
    let received_ms = u64::try_from(server_started().elapsed().as_millis()).unwrap_or(u64::MAX);

    // Authorization is checked here rather than in a layer of its own (one layer per request less); a
    // refused request is journaled like any other.
    let authorization = request.headers().get(header::AUTHORIZATION).and_then(|v| v.to_str().ok());
    let response = match state.auth.check(authorization) {
        Ok(()) => next.run(request).await,
        Err(error) => error.into_response(),
    };

    let contents = note.take();
    let etag = response.headers().get(header::ETAG).and_then(|v| v.to_str().ok()).map(str::to_owned);
    let status = if contents.drop_connection { 0 } else { response.status().as_u16() };
    if !state.store.admits(&instance_id) {
        // Refused before it reached the instance (there is no room to create it): nothing to record it in.
        return response;
    }
    state.store.with_instance(&instance_id, |instance| {
        let time = instance.clock.now().to_rfc3339_millis();
        instance.journal.record(JournalEntry {
            seq: 0,
            time,
            method: method.to_string(),
            path,
            operation: operation.map(|o| o.name().to_owned()),
            resource_id,
            if_match,
            status,
            etag,
            fault: contents.fault,
            received_ms,
        });
    });
    if contents.drop_connection {
        return dropped_connection();
    }
    response
}

/// The instant the process started serving, for `received_ms`.
pub fn server_started() -> std::time::Instant {
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

/// A response whose body fails at once: hyper then closes the connection without a complete answer,
/// which clients see as a dropped connection.
fn dropped_connection() -> Response {
    let failing = futures_stream_error();
    Response::new(Body::from_stream(failing))
}

fn futures_stream_error() -> impl futures_core::Stream<Item = Result<bytes::Bytes, std::io::Error>> + Send {
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
    Failing(false)
}
