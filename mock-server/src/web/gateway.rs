//! Cross-cutting request handling, in one [`Gateway`] service in front of the router: the
//! `/instances/{id}` prefix rewrite, correlation ids, request size and time limits, UKO-shaped bodies for
//! every error (ours and axum's) and one log line per request.
//!
//! One hand-written service rather than one `axum::middleware::from_fn` layer per concern: each such layer
//! clones the boxed routes below it and boxes a future on every request, which cost more than the GET
//! handler itself (see BENCHMARKS.md).

use std::convert::Infallible;
use std::future::Future;
use std::pin::Pin;
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::sync::Arc;
use std::task::{Context, Poll};

use axum::body::{Body, HttpBody};
use axum::extract::Request;
use axum::http::{header, HeaderValue, Uri};
use axum::response::{IntoResponse, Response};
use http_body_util::BodyExt;
use tower::{Service, ServiceExt};

use super::browser::{self, BrowserPolicy};
use super::error::{ApiError, ErrorCode};
use super::extract::{CorrelationId, InstanceScope};
use super::limits::Limits;
use crate::store::InstanceId;

/// The header UKO uses for correlation ids.
pub(crate) const CORRELATION_HEADER: &str = "x-correlation-id";

static REQUEST_SERIAL: AtomicU64 = AtomicU64::new(0);

/// The service in front of the router, cloned per connection (cloning clones the router's `Arc`).
#[derive(Clone)]
pub(crate) struct Gateway<S> {
    inner: S,
    limits: Limits,
    browser: Arc<BrowserPolicy>,
}

impl<S> Gateway<S> {
    /// Puts the gateway in front of `inner` (the router).
    pub(crate) fn new(inner: S, limits: Limits, browser: Arc<BrowserPolicy>) -> Self {
        Gateway { inner, limits, browser }
    }
}

impl<S, B> Service<axum::http::Request<B>> for Gateway<S>
where
    S: Service<Request, Response = Response, Error = Infallible> + Clone + Send + 'static,
    S::Future: Send,
    B: HttpBody<Data = bytes::Bytes> + Send + 'static,
    B::Error: Into<axum::BoxError>,
{
    type Response = Response;
    type Error = Infallible;
    type Future = Pin<Box<dyn Future<Output = Result<Response, Infallible>> + Send>>;

    fn poll_ready(&mut self, _: &mut Context<'_>) -> Poll<Result<(), Self::Error>> {
        Poll::Ready(Ok(()))
    }

    fn call(&mut self, request: axum::http::Request<B>) -> Self::Future {
        let inner = self.inner.clone();
        let limits = self.limits;
        let browser = self.browser.clone();
        Box::pin(async move { Ok(serve_request(inner, limits, &browser, request.map(Body::new)).await) })
    }
}

/// One request through the gateway: rewrite, correlate, limit, route, finish.
async fn serve_request<S>(inner: S, limits: Limits, browser: &BrowserPolicy, request: Request) -> Response
where
    S: Service<Request, Response = Response, Error = Infallible>,
{
    let (mut request, invalid_instance) = match rewrite_instance_prefix(request) {
        Ok(request) => (collapse_doubled_api_prefix(request), None),
        Err((request, error)) => (request, Some(error)),
    };
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
    // Browser defences first (`browser`): a refused Host or Origin costs no body read.
    let response = match browser.check_request(&method, request.headers()) {
        Err(refused) => refused.into_response(),
        Ok(()) => match invalid_instance {
            Some(error) => error.into_response(),
            None => match limit_request(limits, request).await {
                Ok(request) => {
                    let empty = request.body().size_hint().exact() == Some(0);
                    match browser::check_body_type(uri.path(), request.headers(), empty) {
                        Ok(()) => match inner.oneshot(request).await {
                            Ok(response) => response,
                            Err(never) => match never {},
                        },
                        Err(refused) => refused.into_response(),
                    }
                }
                Err(refused) => refused,
            },
        },
    };
    finish_response(response, &method, &uri, correlation_id)
}

/// Renders error bodies with the correlation id as `trace`, sets the correlation header and logs the
/// request.
fn finish_response(mut response: Response, method: &axum::http::Method, uri: &Uri, correlation_id: String) -> Response {
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
        // The answer keeps its headers (Retry-After, Connection: close, a 405's Allow, …); only the body and
        // its type are UKO's.
        let (mut parts, _) = response.into_parts();
        parts.status = error.status;
        parts.headers.remove(header::CONTENT_LENGTH);
        parts.headers.insert(header::CONTENT_TYPE, HeaderValue::from_static("application/json"));
        response = Response::from_parts(parts, Body::from(error.body(&correlation_id)));
    } else {
        tracing::debug!(%method, %uri, status = status.as_u16(), trace = %correlation_id, "request served");
    }
    if let Ok(value) = HeaderValue::from_str(&correlation_id) {
        response.headers_mut().insert(CORRELATION_HEADER, value);
    }
    response
}

/// Enforces the request limits of [`crate::server::Limits`] before routing, so every route answers alike
/// whether or not it reads a body: header bytes over the limit → 431, a body over the limit → 413
/// (announced by `Content-Length` or found while reading), a body not sent within the body timeout → 408.
///
/// The body is read here, whole, and handed on as bytes. After a 413 the rest of the body is drained (up
/// to [`DRAIN_LIMIT_BYTES`], within the body timeout) before answering with `Connection: close`: a client
/// still writing a large body would otherwise get a connection reset instead of the 413.
async fn limit_request(limits: Limits, request: Request) -> Result<Request, Response> {
    let header_bytes: usize = request.headers().iter().map(|(name, value)| name.as_str().len() + value.len()).sum();
    if header_bytes > limits.max_header_bytes {
        return Err(ApiError::new(
            ErrorCode::RequestHeaderFieldsTooLarge,
            format!("The request headers must total at most {} bytes, found {header_bytes}", limits.max_header_bytes),
        )
        .into_response());
    }
    if request.body().is_end_stream() {
        // No body (most GETs): nothing to read, limit or time.
        return Ok(request);
    }
    let (parts, body) = request.into_parts();
    let announced = parts
        .headers
        .get(header::CONTENT_LENGTH)
        .and_then(|v| v.to_str().ok())
        .and_then(|v| v.trim().parse::<u64>().ok());
    let too_large = || {
        let mut response = ApiError::new(
            ErrorCode::PayloadTooLarge,
            format!("The request body must be at most {} bytes", limits.max_body_bytes),
        )
        .into_response();
        response.headers_mut().insert(header::CONNECTION, HeaderValue::from_static("close"));
        response
    };
    let max = limits.max_body_bytes;
    let read = read_body(body, max, announced.is_some_and(|length| length > max as u64));
    let bytes = match tokio::time::timeout(limits.body_read_timeout, read).await {
        Ok(BodyRead::Complete(bytes)) => bytes,
        Ok(BodyRead::TooLarge) => return Err(too_large()),
        Ok(BodyRead::Failed(error)) => {
            return Err(ApiError::invalid_json(format!("The request body could not be read: {error}")).into_response())
        }
        Err(_elapsed) => {
            let mut response = ApiError::new(
                ErrorCode::RequestTimeout,
                format!("The request body was not received within {:?}", limits.body_read_timeout),
            )
            .into_response();
            response.headers_mut().insert(header::CONNECTION, HeaderValue::from_static("close"));
            return Err(response);
        }
    };
    Ok(Request::from_parts(parts, Body::from(bytes)))
}

/// Most bytes of an oversized body read and discarded before its 413 is sent.
pub(crate) const DRAIN_LIMIT_BYTES: usize = 64 * 1024 * 1024;

enum BodyRead {
    Complete(bytes::Bytes),
    TooLarge,
    Failed(axum::Error),
}

/// Reads a whole body of at most `max` bytes. An oversized one (or one already `known_too_large` from its
/// `Content-Length`) is read on and discarded up to [`DRAIN_LIMIT_BYTES`], so the client gets to read
/// the 413 instead of a reset.
async fn read_body(mut body: Body, max: usize, known_too_large: bool) -> BodyRead {
    let mut buffer = bytes::BytesMut::new();
    let mut too_large = known_too_large;
    let mut seen = 0usize;
    while let Some(frame) = body.frame().await {
        let frame = match frame {
            Ok(frame) => frame,
            Err(_) if too_large => return BodyRead::TooLarge,
            Err(error) => return BodyRead::Failed(error),
        };
        let Ok(data) = frame.into_data() else { continue };
        seen = seen.saturating_add(data.len());
        if seen > max {
            too_large = true;
            buffer = bytes::BytesMut::new();
        }
        if too_large {
            if seen >= DRAIN_LIMIT_BYTES {
                break;
            }
        } else {
            buffer.extend_from_slice(&data);
        }
    }
    if too_large {
        BodyRead::TooLarge
    } else {
        BodyRead::Complete(buffer.freeze())
    }
}

/// The prefix a client gets twice when it passes `…/api/v4` as the service URL to an IBM SDK, whose
/// operation paths already begin with `/api/v4`.
const DOUBLED_API_PREFIX: &str = "/api/v4/api/v4/";

/// Whether the doubled-prefix warning was logged already (once per process: a misconfigured client sends
/// it on every request).
static DOUBLED_PREFIX_WARNED: AtomicBool = AtomicBool::new(false);

/// Serves `/api/v4/api/v4/...` as `/api/v4/...`, and says so in the log: the client was given the API base
/// where the service URL (the server root) was meant. Tolerated because the mock's own banner and README
/// said `…/api/v4` before, and a test run should not fail on that alone.
fn collapse_doubled_api_prefix(mut request: Request) -> Request {
    let path = request.uri().path();
    if !path.starts_with(DOUBLED_API_PREFIX) {
        return request;
    }
    let Some(uri) = with_path(request.uri(), &path["/api/v4".len()..]) else {
        return request;
    };
    if !DOUBLED_PREFIX_WARNED.swap(true, Ordering::Relaxed) {
        // The root the client reached, from its Host header: the port this server really listens on.
        let root = match request
            .headers()
            .get(header::HOST)
            .and_then(|host| host.to_str().ok())
            .filter(|host| host.len() <= 255)
        {
            Some(host) => format!("{}://{host}", super::ServedOverTls::scheme(request.extensions())),
            None => "the server root".to_owned(),
        };
        tracing::warn!(
            path = %request.uri().path(),
            "a client sent /api/v4/api/v4/...: its service URL ends in /api/v4, but IBM's SDKs add /api/v4 themselves; \
             give them the server root ({root}). Served as /api/v4/... (logged once; later ones at debug)"
        );
    } else {
        tracing::debug!(path = %request.uri().path(), "doubled /api/v4 prefix served as /api/v4");
    }
    *request.uri_mut() = uri;
    request
}

/// Maps `/instances/{id}/api/v4/...` onto `/api/v4/...` with the instance id as an extension. Runs
/// before routing so the rewritten path is the one routed. An id that breaks the rules is a 400 naming
/// them (not a 404: the client addressed an instance, just not a valid one).
#[allow(clippy::result_large_err)] // Handed back whole so the refusal is answered like any other request.
fn rewrite_instance_prefix(mut request: Request) -> Result<Request, (Request, ApiError)> {
    let path = request.uri().path();
    if let Some(rest) = path.strip_prefix("/instances/") {
        let (instance_id, tail) = rest.split_once('/').unwrap_or((rest, ""));
        let Some(instance_id) = InstanceId::parse(instance_id) else {
            let error = ApiError::invalid_instance_id(instance_id);
            return Err((request, error));
        };
        if let Some(uri) = with_path(request.uri(), &format!("/{tail}")) {
            *request.uri_mut() = uri;
            request.extensions_mut().insert(InstanceScope(instance_id));
        }
    }
    Ok(request)
}

/// The request's path-and-query with another path (the query kept), as the router will see it.
fn with_path(uri: &Uri, path: &str) -> Option<Uri> {
    let new_uri = match uri.query() {
        Some(query) => format!("{path}?{query}"),
        None => path.to_owned(),
    };
    new_uri.parse().ok()
}

/// A UUID-shaped id from a process-wide counter: deterministic for a given request order.
pub(crate) fn generated_correlation_id() -> String {
    let serial = REQUEST_SERIAL.fetch_add(1, Ordering::Relaxed);
    let mut rng = crate::domain::Rng::new(serial ^ 0x756b_6f2d_6d6f_636b);
    rng.uuid()
}
