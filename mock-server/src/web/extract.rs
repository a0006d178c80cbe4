//! Request extractors and request facts shared by every surface, with UKO-shaped rejections: JSON bodies
//! with the failing field named, the instance scope set by the gateway, the correlation id.

use axum::body::Bytes;
use axum::extract::{FromRequest, Request};
use axum::http::StatusCode;
use serde::de::DeserializeOwned;

use super::error::{ApiError, ErrorCode, TargetType};
use crate::store::InstanceId;

/// Set by the instance-prefix rewrite for `/instances/{id}/api/v4/...` requests.
#[derive(Clone, Debug)]
pub struct InstanceScope(pub InstanceId);

/// The correlation id of the request (echoed or generated); becomes `trace` in error bodies.
#[derive(Clone, Debug)]
pub struct CorrelationId(pub String);

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
    let unknown: Vec<String> =
        super::unknown::unknown_body_fields::<T>(&value).into_iter().map(str::to_owned).collect();
    let parsed = serde_path_to_error::deserialize(value).map_err(|error| {
        let path = error.path().to_string();
        let inner = error.into_inner().to_string();
        let field = if path == "." { String::new() } else { path };
        let message = if field.is_empty() { inner } else { format!("The {field} field is invalid: {inner}") };
        let error = ApiError::new(ErrorCode::InvalidField, message);
        if field.is_empty() {
            error
        } else {
            error.with_target(TargetType::Field, field)
        }
    })?;
    super::unknown::warn_unknown_body_fields(&unknown);
    Ok(parsed)
}
