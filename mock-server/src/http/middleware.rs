//! Cross-cutting request handling: correlation ids, UKO-shaped bodies for every error (ours and
//! axum's), one log line per request, and the `/instances/{id}` prefix rewrite.

use std::sync::atomic::{AtomicU64, Ordering};

use axum::body::Body;
use axum::extract::Request;
use axum::http::{header, HeaderValue, Uri};
use axum::middleware::Next;
use axum::response::Response;

use super::error::ApiError;
use super::extract::{CorrelationId, InstanceScope};

/// The header UKO uses for correlation ids.
pub const CORRELATION_HEADER: &str = "x-correlation-id";

static REQUEST_SERIAL: AtomicU64 = AtomicU64::new(0);

/// Assigns the correlation id, renders error bodies with it as `trace`, and logs the request.
pub async fn finish_response(mut request: Request, next: Next) -> Response {
    let correlation_id = request
        .headers()
        .get(CORRELATION_HEADER)
        .and_then(|v| v.to_str().ok())
        .filter(|v| !v.is_empty() && v.len() <= 128 && v.chars().all(|c| c.is_ascii_graphic()))
        .map(str::to_owned)
        .unwrap_or_else(generated_correlation_id);
    request.extensions_mut().insert(CorrelationId(correlation_id.clone()));
    let method = request.method().clone();
    let uri = request.uri().clone();
    let mut response = next.run(request).await;
    let error = response.extensions_mut().remove::<ApiError>();
    let status = response.status();
    let is_json =
        response.headers().get(header::CONTENT_TYPE).is_some_and(|v| v.as_bytes().starts_with(b"application/json"));
    let error = match error {
        Some(error) => Some(error),
        None if status.is_client_error() || status.is_server_error() => {
            (!is_json).then(|| ApiError::from_status(status))
        }
        None => None,
    };
    if let Some(error) = error {
        tracing::info!(%method, %uri, status = status.as_u16(), code = %error.code, message = %error.message, trace = %correlation_id, "request refused");
        let retry_after = response.headers().get(header::RETRY_AFTER).cloned();
        let mut rendered = Response::new(Body::from(error.body(&correlation_id)));
        *rendered.status_mut() = error.status;
        rendered.headers_mut().insert(header::CONTENT_TYPE, HeaderValue::from_static("application/json"));
        if let Some(retry_after) = retry_after {
            rendered.headers_mut().insert(header::RETRY_AFTER, retry_after);
        }
        response = rendered;
    } else {
        tracing::debug!(%method, %uri, status = status.as_u16(), trace = %correlation_id, "request served");
    }
    if let Ok(value) = HeaderValue::from_str(&correlation_id) {
        response.headers_mut().insert(CORRELATION_HEADER, value);
    }
    response
}

/// Maps `/instances/{id}/api/v4/...` onto `/api/v4/...` with the instance id as an extension. Runs
/// outside routing (it wraps the whole router) so the rewritten path is the one routed.
pub async fn rewrite_instance_prefix(mut request: Request, next: Next) -> Response {
    let path = request.uri().path();
    if let Some(rest) = path.strip_prefix("/instances/") {
        let (instance_id, tail) = rest.split_once('/').unwrap_or((rest, ""));
        if !valid_instance_id(instance_id) {
            // Left unrewritten, the path matches no route and gets the UKO-shaped 404.
            return next.run(request).await;
        }
        let instance_id = instance_id.to_owned();
        let new_path = format!("/{tail}");
        let new_uri = match request.uri().query() {
            Some(query) => format!("{new_path}?{query}"),
            None => new_path,
        };
        if let Ok(uri) = new_uri.parse::<Uri>() {
            *request.uri_mut() = uri;
            request.extensions_mut().insert(InstanceScope(instance_id));
        }
    }
    next.run(request).await
}

/// True for instance ids usable in a path and a file name.
pub fn valid_instance_id(id: &str) -> bool {
    (1..=64).contains(&id.len())
        && id.chars().all(|c| c.is_ascii_alphanumeric() || "-_.".contains(c))
        && !id.starts_with('.')
}

/// A UUID-shaped id from a process-wide counter: deterministic for a given request order.
fn generated_correlation_id() -> String {
    let serial = REQUEST_SERIAL.fetch_add(1, Ordering::Relaxed);
    let mut rng = crate::domain::Rng::new(serial ^ 0x756b_6f2d_6d6f_636b);
    rng.uuid()
}
