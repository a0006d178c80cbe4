//! `ApiError`, the only error that becomes an HTTP response, rendered as UKO's error JSON.
//!
//! [`ErrorCode`] is the closed set of `errors[].code` values uko-mock sends, and [`ErrorCode::table`] the one
//! table of their wire names and statuses (ARCHITECTURE.md, Decisions); `From<domain::Error>` only picks a code
//! per domain error. An error is built with [`ApiError::new`] from a code, or with a named constructor. A handler's
//! `ApiError` travels as a response extension; the gateway (`middleware::finish_response`) renders the body with the
//! request's correlation id as `trace`, and also turns axum's own bare 404/405/413 answers into UKO's shape.

use axum::http::{header, HeaderValue, StatusCode};
use axum::response::{IntoResponse, Response};
use serde::Serialize;

use crate::domain::{self, Target};

/// Documentation link put in `errors[].more_info`.
pub const MORE_INFO: &str = "https://cloud.ibm.com/apidocs/uko";

/// Every `errors[].code` uko-mock answers with. Closed: a new code is a new variant and a row in
/// [`ErrorCode::table`], so no handler spells a wire string of its own.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum ErrorCode {
    BadRequest,
    InvalidJson,
    InvalidField,
    MissingField,
    InvalidQueryParameter,
    InvalidPathParameter,
    InvalidHeader,
    InvalidFixture,
    Unauthorized,
    ControlPlaneDisabled,
    HostNotAllowed,
    OriginNotAllowed,
    NotFound,
    MethodNotAllowed,
    NotAcceptable,
    RequestTimeout,
    Conflict,
    InvalidState,
    PreconditionFailed,
    PayloadTooLarge,
    UriTooLong,
    UnsupportedMediaType,
    PreconditionRequired,
    TooManyRequests,
    RequestHeaderFieldsTooLarge,
    InternalError,
    StateNotSaved,
    GatewayError,
    ServiceUnavailable,
    /// An injected fault whose status has no code of its own (the status comes from the fault).
    InjectedFault,
}

impl ErrorCode {
    /// The one status/code table: each code's wire name and the status it answers with. Only an injected
    /// fault and a bare status from outside our handlers ([`ApiError::at_status`]) may carry another status.
    pub const fn table(self) -> (StatusCode, &'static str) {
        match self {
            ErrorCode::BadRequest => (StatusCode::BAD_REQUEST, "bad_request"),
            ErrorCode::InvalidJson => (StatusCode::BAD_REQUEST, "invalid_json"),
            ErrorCode::InvalidField => (StatusCode::BAD_REQUEST, "invalid_field"),
            ErrorCode::MissingField => (StatusCode::BAD_REQUEST, "missing_field"),
            ErrorCode::InvalidQueryParameter => (StatusCode::BAD_REQUEST, "invalid_query_parameter"),
            ErrorCode::InvalidPathParameter => (StatusCode::BAD_REQUEST, "invalid_path_parameter"),
            ErrorCode::InvalidHeader => (StatusCode::BAD_REQUEST, "invalid_header"),
            ErrorCode::InvalidFixture => (StatusCode::BAD_REQUEST, "invalid_fixture"),
            ErrorCode::Unauthorized => (StatusCode::UNAUTHORIZED, "unauthorized"),
            ErrorCode::ControlPlaneDisabled => (StatusCode::FORBIDDEN, "control_plane_disabled"),
            ErrorCode::HostNotAllowed => (StatusCode::FORBIDDEN, "host_not_allowed"),
            ErrorCode::OriginNotAllowed => (StatusCode::FORBIDDEN, "origin_not_allowed"),
            ErrorCode::NotFound => (StatusCode::NOT_FOUND, "not_found"),
            ErrorCode::MethodNotAllowed => (StatusCode::METHOD_NOT_ALLOWED, "method_not_allowed"),
            ErrorCode::NotAcceptable => (StatusCode::NOT_ACCEPTABLE, "not_acceptable"),
            ErrorCode::RequestTimeout => (StatusCode::REQUEST_TIMEOUT, "request_timeout"),
            ErrorCode::Conflict => (StatusCode::CONFLICT, "conflict"),
            ErrorCode::InvalidState => (StatusCode::CONFLICT, "invalid_state"),
            ErrorCode::PreconditionFailed => (StatusCode::PRECONDITION_FAILED, "precondition_failed"),
            ErrorCode::PayloadTooLarge => (StatusCode::PAYLOAD_TOO_LARGE, "payload_too_large"),
            ErrorCode::UriTooLong => (StatusCode::URI_TOO_LONG, "uri_too_long"),
            ErrorCode::UnsupportedMediaType => (StatusCode::UNSUPPORTED_MEDIA_TYPE, "unsupported_media_type"),
            ErrorCode::PreconditionRequired => (StatusCode::PRECONDITION_REQUIRED, "precondition_required"),
            ErrorCode::TooManyRequests => (StatusCode::TOO_MANY_REQUESTS, "too_many_requests"),
            ErrorCode::RequestHeaderFieldsTooLarge => {
                (StatusCode::REQUEST_HEADER_FIELDS_TOO_LARGE, "request_header_fields_too_large")
            }
            ErrorCode::InternalError => (StatusCode::INTERNAL_SERVER_ERROR, "internal_error"),
            ErrorCode::StateNotSaved => (StatusCode::INTERNAL_SERVER_ERROR, "state_not_saved"),
            ErrorCode::GatewayError => (StatusCode::BAD_GATEWAY, "gateway_error"),
            ErrorCode::ServiceUnavailable => (StatusCode::SERVICE_UNAVAILABLE, "service_unavailable"),
            ErrorCode::InjectedFault => (StatusCode::SERVICE_UNAVAILABLE, "injected_fault"),
        }
    }

    /// The status this code answers with.
    pub const fn status(self) -> StatusCode {
        self.table().0
    }

    /// The wire name (`errors[].code`).
    pub const fn as_str(self) -> &'static str {
        self.table().1
    }
}

impl std::fmt::Display for ErrorCode {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(self.as_str())
    }
}

/// A UKO-shaped error answer.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct ApiError {
    pub status: StatusCode,
    pub code: ErrorCode,
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
    /// An error without a target, with its code's status.
    pub fn new(code: ErrorCode, message: impl Into<String>) -> Self {
        ApiError::at_status(code.status(), code, message)
    }

    /// An error whose status is given by something else than its code: an injected fault, or a bare status.
    fn at_status(status: StatusCode, code: ErrorCode, message: impl Into<String>) -> Self {
        ApiError { status, code, message: message.into(), target: None, retry_after: None }
    }

    /// 400 `invalid_query_parameter` for a query parameter whose value is not what it must be:
    /// "The {name} parameter must be {expected}, found '{found}'".
    pub fn invalid_parameter(name: &str, expected: impl std::fmt::Display, found: &str) -> Self {
        ApiError::new(
            ErrorCode::InvalidQueryParameter,
            format!("The {name} parameter must be {expected}, found '{found}'"),
        )
        .with_target(TargetType::Parameter, name)
    }

    /// An injected fault (`/__mock/v1/faults`) answering `status`: the code the status has in UKO's
    /// vocabulary, or `injected_fault` for one that has none.
    pub fn injected(status: StatusCode, message: impl Into<String>) -> Self {
        let code = match status {
            StatusCode::TOO_MANY_REQUESTS => ErrorCode::TooManyRequests,
            StatusCode::SERVICE_UNAVAILABLE => ErrorCode::ServiceUnavailable,
            StatusCode::INTERNAL_SERVER_ERROR => ErrorCode::InternalError,
            StatusCode::BAD_GATEWAY | StatusCode::GATEWAY_TIMEOUT => ErrorCode::GatewayError,
            _ => ErrorCode::InjectedFault,
        };
        ApiError::at_status(status, code, message)
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
        ApiError::new(ErrorCode::InvalidJson, message)
    }

    /// 409 for a request that would create an instance beyond [`crate::store::MAX_INSTANCES`].
    pub fn too_many_instances(instance_id: &str) -> Self {
        ApiError::new(
            ErrorCode::Conflict,
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
            ErrorCode::InvalidPathParameter,
            format!(
                "The instance id must be 1 to 64 letters, digits, '-', '_' or '.', not starting with '.'; found '{instance_id}'"
            ),
        )
        .with_target(TargetType::Parameter, "instance_id")
    }

    /// 401.
    pub fn unauthorized(message: impl Into<String>) -> Self {
        ApiError::new(ErrorCode::Unauthorized, message).with_target(TargetType::Header, "Authorization")
    }

    /// The generic error for a bare status produced outside our handlers (routing, body limits).
    pub fn from_status(status: StatusCode) -> Self {
        let (code, message) = match status {
            StatusCode::NOT_FOUND => (ErrorCode::NotFound, "The requested resource path does not exist in UKO API v4"),
            StatusCode::METHOD_NOT_ALLOWED => {
                (ErrorCode::MethodNotAllowed, "The HTTP method is not allowed on this path")
            }
            StatusCode::PAYLOAD_TOO_LARGE => {
                (ErrorCode::PayloadTooLarge, "The request body is larger than the server accepts")
            }
            StatusCode::UNSUPPORTED_MEDIA_TYPE => {
                (ErrorCode::UnsupportedMediaType, "The request body must be application/json")
            }
            StatusCode::REQUEST_TIMEOUT => (ErrorCode::RequestTimeout, "The request was not received in time"),
            StatusCode::REQUEST_HEADER_FIELDS_TOO_LARGE => {
                (ErrorCode::RequestHeaderFieldsTooLarge, "The request headers are larger than the server accepts")
            }
            status if status.is_server_error() => (ErrorCode::InternalError, "The service had an internal error"),
            _ => (ErrorCode::BadRequest, "The request could not be processed"),
        };
        // The status stays the one given (a 502 from outside stays a 502), with the nearest code.
        ApiError::at_status(status, code, message)
    }

    /// The JSON body with `trace` = the request's correlation id.
    pub fn body(&self, trace: &str) -> Vec<u8> {
        let body = ErrorBody {
            status_code: self.status.as_u16(),
            trace,
            errors: [ErrorModel {
                code: self.code.as_str(),
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
                ApiError::new(ErrorCode::NotFound, message)
            }
            domain::Error::PreconditionRequired => {
                ApiError::new(ErrorCode::PreconditionRequired, message).with_target(TargetType::Header, "If-Match")
            }
            domain::Error::PreconditionFailed { .. } => {
                ApiError::new(ErrorCode::PreconditionFailed, message).with_target(TargetType::Header, "If-Match")
            }
            domain::Error::MissingField { field } => {
                ApiError::new(ErrorCode::MissingField, message).with_target(TargetType::Field, field)
            }
            domain::Error::Invalid { target, .. } => match target {
                Target::Field(name) => {
                    ApiError::new(ErrorCode::InvalidField, message).with_target(TargetType::Field, name)
                }
                Target::Parameter(name) => {
                    ApiError::new(ErrorCode::InvalidQueryParameter, message).with_target(TargetType::Parameter, name)
                }
                Target::Header(name) => {
                    ApiError::new(ErrorCode::InvalidHeader, message).with_target(TargetType::Header, name)
                }
            },
            domain::Error::InvalidState { .. } => ApiError::new(ErrorCode::InvalidState, message),
            domain::Error::Conflict { .. } => ApiError::new(ErrorCode::Conflict, message),
            domain::Error::TooManyRequests { retry_after_seconds, .. } => {
                ApiError::new(ErrorCode::TooManyRequests, message).with_retry_after(retry_after_seconds)
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
            ErrorCode::StateNotSaved,
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

#[cfg(test)]
mod tests {
    use super::*;

    /// The `errors[].code` values and statuses uko-mock answered with before the codes were a closed set.
    #[test]
    fn the_table_keeps_every_wire_name_and_status() {
        let rows = [
            (ErrorCode::InvalidQueryParameter, 400, "invalid_query_parameter"),
            (ErrorCode::InvalidPathParameter, 400, "invalid_path_parameter"),
            (ErrorCode::PreconditionRequired, 428, "precondition_required"),
            (ErrorCode::RequestHeaderFieldsTooLarge, 431, "request_header_fields_too_large"),
            (ErrorCode::StateNotSaved, 500, "state_not_saved"),
            (ErrorCode::ControlPlaneDisabled, 403, "control_plane_disabled"),
        ];
        for (code, status, name) in rows {
            assert_eq!((code.status().as_u16(), code.as_str()), (status, name));
        }
    }

    #[test]
    fn an_invalid_parameter_names_what_it_expected_and_found() {
        let error = ApiError::invalid_parameter("mode", "replace or merge", "both");
        assert_eq!(error.status, StatusCode::BAD_REQUEST);
        assert_eq!(error.code, ErrorCode::InvalidQueryParameter);
        assert_eq!(error.message, "The mode parameter must be replace or merge, found 'both'");
        assert_eq!(error.target, Some((TargetType::Parameter, "mode".to_owned())));
    }

    /// An injected fault keeps its own status; the code is UKO's for that status when there is one.
    #[test]
    fn an_injected_fault_keeps_its_status() {
        let cases = [(504, "gateway_error"), (503, "service_unavailable"), (418, "injected_fault")];
        for (status, code) in cases {
            let status = StatusCode::from_u16(status).expect("a valid status");
            let error = ApiError::injected(status, "injected");
            assert_eq!((error.status, error.code.as_str()), (status, code));
        }
    }
}
