//! `ApiError`, the only error that becomes an HTTP response, rendered as UKO's error JSON.
//!
//! `From<domain::Error>` below is the whole status-and-code table (ARCHITECTURE.md, Decisions). A handler's
//! `ApiError` travels as a response extension; the gateway (`middleware::finish_response`) renders the body with the
//! request's correlation id as `trace`, and also turns axum's own bare 404/405/413 answers into UKO's shape.

use axum::http::{header, HeaderValue, StatusCode};
use axum::response::{IntoResponse, Response};
use serde::Serialize;

use crate::domain::{self, Target};

/// Documentation link put in `errors[].more_info`.
pub const MORE_INFO: &str = "https://cloud.ibm.com/apidocs/uko";

/// A UKO-shaped error answer.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct ApiError {
    pub status: StatusCode,
    pub code: String,
    pub message: String,
    pub target: Option<(TargetType, String)>,
    /// Seconds for a `Retry-After` header (429 and injected 503s).
    pub retry_after: Option<u64>,
}

/// `errors[].target.type`.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize)]
#[serde(rename_all = "snake_case")]
pub enum TargetType {
    Field,
    Parameter,
    Header,
}

impl ApiError {
    /// An error without a target.
    pub fn new(status: StatusCode, code: &str, message: impl Into<String>) -> Self {
        ApiError { status, code: code.to_owned(), message: message.into(), target: None, retry_after: None }
    }

    /// Adds `errors[].target`.
    pub fn with_target(mut self, target_type: TargetType, name: impl Into<String>) -> Self {
        self.target = Some((target_type, name.into()));
        self
    }

    /// Adds a `Retry-After` header.
    pub fn with_retry_after(mut self, seconds: u64) -> Self {
        self.retry_after = Some(seconds);
        self
    }

    /// 400 for a body that is not the JSON the operation expects.
    pub fn invalid_json(message: impl Into<String>) -> Self {
        ApiError::new(StatusCode::BAD_REQUEST, "invalid_json", message)
    }

    /// 409 for a request that would create an instance beyond [`crate::store::MAX_INSTANCES`].
    pub fn too_many_instances(instance_id: &str) -> Self {
        ApiError::new(
            StatusCode::CONFLICT,
            "conflict",
            format!(
                "uko-mock holds {} instances, the most it keeps, so instance '{instance_id}' cannot be created; delete one with DELETE /__mock/v1/instances/{{id}}",
                crate::store::MAX_INSTANCES
            ),
        )
    }

    /// 400 for an instance id (`/instances/{id}/…`, `/__mock/v1/instances/{id}/…`) that breaks the rules
    /// of `store::InstanceId`.
    pub fn invalid_instance_id(instance_id: &str) -> Self {
        ApiError::new(
            StatusCode::BAD_REQUEST,
            "invalid_path_parameter",
            format!(
                "The instance id must be 1 to 64 letters, digits, '-', '_' or '.', not starting with '.'; found '{instance_id}'"
            ),
        )
        .with_target(TargetType::Parameter, "instance_id")
    }

    /// 401.
    pub fn unauthorized(message: impl Into<String>) -> Self {
        ApiError::new(StatusCode::UNAUTHORIZED, "unauthorized", message)
            .with_target(TargetType::Header, "Authorization")
    }

    /// The generic error for a bare status produced outside our handlers (routing, body limits).
    pub fn from_status(status: StatusCode) -> Self {
        let (code, message) = match status {
            StatusCode::NOT_FOUND => ("not_found", "The requested resource path does not exist in UKO API v4"),
            StatusCode::METHOD_NOT_ALLOWED => ("method_not_allowed", "The HTTP method is not allowed on this path"),
            StatusCode::PAYLOAD_TOO_LARGE => {
                ("payload_too_large", "The request body is larger than the server accepts")
            }
            StatusCode::UNSUPPORTED_MEDIA_TYPE => {
                ("unsupported_media_type", "The request body must be application/json")
            }
            StatusCode::REQUEST_TIMEOUT => ("request_timeout", "The request was not received in time"),
            StatusCode::REQUEST_HEADER_FIELDS_TOO_LARGE => {
                ("request_header_fields_too_large", "The request headers are larger than the server accepts")
            }
            status if status.is_server_error() => ("internal_error", "The service had an internal error"),
            _ => ("bad_request", "The request could not be processed"),
        };
        ApiError::new(status, code, message)
    }

    /// The JSON body with `trace` = the request's correlation id.
    pub fn body(&self, trace: &str) -> Vec<u8> {
        let body = ErrorBody {
            status_code: self.status.as_u16(),
            trace,
            errors: [ErrorModel {
                code: &self.code,
                message: &self.message,
                more_info: MORE_INFO,
                target: self.target.as_ref().map(|(target_type, name)| ErrorTarget { target_type: *target_type, name }),
            }],
        };
        serde_json::to_vec(&body).unwrap_or_default()
    }
}

#[derive(Serialize)]
struct ErrorBody<'a> {
    status_code: u16,
    trace: &'a str,
    errors: [ErrorModel<'a>; 1],
}

#[derive(Serialize)]
struct ErrorModel<'a> {
    code: &'a str,
    message: &'a str,
    more_info: &'a str,
    #[serde(skip_serializing_if = "Option::is_none")]
    target: Option<ErrorTarget<'a>>,
}

#[derive(Serialize)]
struct ErrorTarget<'a> {
    #[serde(rename = "type")]
    target_type: TargetType,
    name: &'a str,
}

impl From<domain::Error> for ApiError {
    fn from(error: domain::Error) -> Self {
        let message = error.to_string();
        match error {
            domain::Error::NotFound { .. } | domain::Error::NotFoundNamed { .. } => {
                ApiError::new(StatusCode::NOT_FOUND, "not_found", message)
            }
            domain::Error::PreconditionRequired => {
                ApiError::new(StatusCode::PRECONDITION_REQUIRED, "precondition_required", message)
                    .with_target(TargetType::Header, "If-Match")
            }
            domain::Error::PreconditionFailed { .. } => {
                ApiError::new(StatusCode::PRECONDITION_FAILED, "precondition_failed", message)
                    .with_target(TargetType::Header, "If-Match")
            }
            domain::Error::MissingField { field } => {
                ApiError::new(StatusCode::BAD_REQUEST, "missing_field", message).with_target(TargetType::Field, field)
            }
            domain::Error::Invalid { target, .. } => match target {
                Target::Field(name) => ApiError::new(StatusCode::BAD_REQUEST, "invalid_field", message)
                    .with_target(TargetType::Field, name),
                Target::Parameter(name) => ApiError::new(StatusCode::BAD_REQUEST, "invalid_query_parameter", message)
                    .with_target(TargetType::Parameter, name),
                Target::Header(name) => ApiError::new(StatusCode::BAD_REQUEST, "invalid_header", message)
                    .with_target(TargetType::Header, name),
            },
            domain::Error::InvalidState { .. } => ApiError::new(StatusCode::CONFLICT, "invalid_state", message),
            domain::Error::Conflict { .. } => ApiError::new(StatusCode::CONFLICT, "conflict", message),
            domain::Error::TooManyRequests { retry_after_seconds, .. } => {
                ApiError::new(StatusCode::TOO_MANY_REQUESTS, "too_many_requests", message)
                    .with_retry_after(retry_after_seconds)
            }
        }
    }
}

impl From<crate::persistence::SaveError> for ApiError {
    fn from(error: crate::persistence::SaveError) -> Self {
        ApiError::not_saved(error, true)
    }
}

impl ApiError {
    /// 500 `state_not_saved`: a change that could not be written was taken back (`changed`), or the state
    /// a read saw held such a change. Either way nothing of it is kept: retrying is safe.
    pub fn not_saved(error: crate::persistence::SaveError, changed: bool) -> ApiError {
        let what = if changed {
            "The change was not applied"
        } else {
            "The state this request read held a change that was not applied"
        };
        ApiError::new(
            StatusCode::INTERNAL_SERVER_ERROR,
            "state_not_saved",
            format!("{what}: {error}. Nothing of it is kept; retry once the state file can be written"),
        )
    }
}

impl IntoResponse for ApiError {
    fn into_response(self) -> Response {
        let mut response = self.status.into_response();
        response.headers_mut().insert(header::CONTENT_TYPE, HeaderValue::from_static("application/json"));
        if let Some(seconds) = self.retry_after {
            response.headers_mut().insert(header::RETRY_AFTER, HeaderValue::from(seconds));
        }
        response.extensions_mut().insert(self);
        response
    }
}
