//! Request extractors whose rejections are UKO-shaped: the request context (instance, links, `If-Match`,
//! query) and JSON bodies with the failing field named.

use axum::body::Bytes;
use axum::extract::{FromRequest, FromRequestParts, Request};
use axum::http::request::Parts;
use axum::http::{header, StatusCode};
use serde::de::DeserializeOwned;

use super::error::{ApiError, TargetType};
use super::AppState;
use crate::domain::query::Params;
use crate::store::DEFAULT_INSTANCE;

/// Set by the instance-prefix rewrite for `/instances/{id}/api/v4/...` requests.
#[derive(Clone, Debug)]
pub struct InstanceScope(pub String);

/// The correlation id of the request (echoed or generated); becomes `trace` in error bodies.
#[derive(Clone, Debug)]
pub struct CorrelationId(pub String);

/// Everything a handler needs besides its path and body.
#[derive(Clone, Debug)]
pub struct Ctx {
    /// Which UKO instance the request addresses.
    pub instance_id: String,
    /// Absolute URL of the API root for `href`s, e.g. `http://127.0.0.1:9549/api/v4`.
    pub api_base: String,
    /// Path of the API root as the client used it, e.g. `/instances/ci-7/api/v4`.
    pub api_path: String,
    /// Raw `If-Match` value, if any.
    pub if_match: Option<String>,
    /// Decoded query pairs.
    pub params: Params,
    /// The request's correlation id (also `trace` of embedded keystore errors).
    pub trace: String,
    /// The `{id}` path parameter, if the route has one.
    pub resource_id: Option<String>,
    /// Where `run` reports fired faults to the journal middleware.
    pub journal_note: Option<super::journal::JournalNote>,
}

impl Ctx {
    /// The `If-Match` value as the domain takes it.
    pub fn if_match(&self) -> Option<&str> {
        self.if_match.as_deref()
    }

    /// A boolean query flag (`dry_run`, `force`); anything but `true`/`false` is a 400.
    pub fn flag(&self, name: &str) -> Result<bool, ApiError> {
        match self.params.one(name) {
            None => Ok(false),
            Some("true") => Ok(true),
            Some("false") => Ok(false),
            Some(other) => Err(ApiError::new(
                StatusCode::BAD_REQUEST,
                "invalid_query_parameter",
                format!("The {name} parameter must be true or false, found '{other}'"),
            )
            .with_target(TargetType::Parameter, name)),
        }
    }
}

impl FromRequestParts<AppState> for Ctx {
    type Rejection = ApiError;

    async fn from_request_parts(parts: &mut Parts, state: &AppState) -> Result<Self, Self::Rejection> {
        let instance_id =
            parts.extensions.get::<InstanceScope>().map(|s| s.0.clone()).unwrap_or_else(|| DEFAULT_INSTANCE.to_owned());
        if !state.store.admits(&instance_id) {
            return Err(ApiError::too_many_instances(&instance_id));
        }
        let api_path = if instance_id == DEFAULT_INSTANCE && parts.extensions.get::<InstanceScope>().is_none() {
            "/api/v4".to_owned()
        } else {
            format!("/instances/{instance_id}/api/v4")
        };
        let origin = match &state.public_url {
            Some(url) => url.trim_end_matches('/').to_owned(),
            None => {
                let host = parts
                    .headers
                    .get(header::HOST)
                    .and_then(|h| h.to_str().ok())
                    .filter(|h| !h.is_empty() && h.chars().all(|c| c.is_ascii_graphic()))
                    .unwrap_or("localhost");
                format!("http://{host}")
            }
        };
        let if_match = parts.headers.get(header::IF_MATCH).map(|v| String::from_utf8_lossy(v.as_bytes()).into_owned());
        let pairs = parts
            .uri
            .query()
            .map(|q| form_urlencoded::parse(q.as_bytes()).map(|(k, v)| (k.into_owned(), v.into_owned())).collect())
            .unwrap_or_default();
        let trace = parts.extensions.get::<CorrelationId>().map(|c| c.0.clone()).unwrap_or_default();
        let resource_id = match axum::extract::RawPathParams::from_request_parts(parts, state).await {
            Ok(params) => params.iter().find(|(name, _)| *name == "id").map(|(_, value)| value.to_owned()),
            Err(_) => None,
        };
        let journal_note = parts.extensions.get::<super::journal::JournalNote>().cloned();
        Ok(Ctx {
            instance_id,
            api_base: format!("{origin}{api_path}"),
            api_path,
            if_match,
            params: Params::new(pairs),
            trace,
            resource_id,
            journal_note,
        })
    }
}

/// A JSON request body deserialized into `T`; errors name the offending field.
pub struct JsonBody<T>(pub T);

impl<T: DeserializeOwned, S: Send + Sync> FromRequest<S> for JsonBody<T> {
    type Rejection = ApiError;

    async fn from_request(request: Request, state: &S) -> Result<Self, Self::Rejection> {
        let bytes = Bytes::from_request(request, state).await.map_err(|rejection| {
            let status = rejection.status();
            if status == StatusCode::PAYLOAD_TOO_LARGE {
                ApiError::from_status(status)
            } else {
                ApiError::invalid_json(format!("The request body could not be read: {rejection}"))
            }
        })?;
        parse_json(&bytes).map(JsonBody)
    }
}

/// Parses a body: syntax errors are `invalid_json`, type errors `invalid_field` with the JSON path.
pub fn parse_json<T: DeserializeOwned>(bytes: &[u8]) -> Result<T, ApiError> {
    if bytes.iter().all(u8::is_ascii_whitespace) {
        return Err(ApiError::invalid_json("The request body is required and must be a JSON object"));
    }
    let value: serde_json::Value = serde_json::from_slice(bytes)
        .map_err(|error| ApiError::invalid_json(format!("The request body is not valid JSON: {error}")))?;
    if !value.is_object() {
        return Err(ApiError::invalid_json("The request body must be a JSON object"));
    }
    serde_path_to_error::deserialize(value).map_err(|error| {
        let path = error.path().to_string();
        let inner = error.into_inner().to_string();
        let field = if path == "." { String::new() } else { path };
        let message = if field.is_empty() { inner } else { format!("The {field} field is invalid: {inner}") };
        let error = ApiError::new(StatusCode::BAD_REQUEST, "invalid_field", message);
        if field.is_empty() {
            error
        } else {
            error.with_target(TargetType::Field, field)
        }
    })
}
