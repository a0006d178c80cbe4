//! Who may use the control plane: anyone on a loopback-only server, holders of the admin token when one is
//! set (`--admin-token`), nobody when the server listens beyond loopback without a token. `/health` is
//! always open (readiness probes); everything else goes through [`require_admin`].

use std::net::IpAddr;

use axum::extract::{Request, State};
use axum::http::{header, HeaderMap};
use axum::middleware::Next;
use axum::response::{IntoResponse, Response};

use crate::web::error::{ErrorCode, TargetType};
use crate::web::{ApiError, AppState};

/// The header that carries the admin token as an alternative to `Authorization: Bearer`.
pub const ADMIN_TOKEN_HEADER: &str = "x-admin-token";

/// The control plane's access rule. `Debug` is not derived: the token must not reach logs.
#[derive(Clone)]
pub enum AdminAccess {
    /// Anyone who can connect: the server listens on loopback only and no token was set.
    Open,
    /// Requests must carry this token.
    Token(String),
    /// Nobody: the server listens beyond loopback and no token was set.
    Refused,
}

impl AdminAccess {
    /// The rule for a server bound to `bound` with an optional admin token.
    pub fn new(token: Option<String>, bound: IpAddr) -> AdminAccess {
        match token.filter(|t| !t.is_empty()) {
            Some(token) => AdminAccess::Token(token),
            None if bound.is_loopback() => AdminAccess::Open,
            None => AdminAccess::Refused,
        }
    }

    /// Checks a request's headers against the rule.
    pub fn check(&self, headers: &HeaderMap) -> Result<(), ApiError> {
        match self {
            AdminAccess::Open => Ok(()),
            AdminAccess::Refused => Err(ApiError::new(
                ErrorCode::ControlPlaneDisabled,
                "The control plane is disabled because uko-mock listens on a non-loopback address without an admin token; restart it with --admin-token TOKEN (or UKO_MOCK_ADMIN_TOKEN) and send 'Authorization: Bearer TOKEN' or 'X-Admin-Token: TOKEN'",
            )),
            AdminAccess::Token(token) => {
                let bearer = headers
                    .get(header::AUTHORIZATION)
                    .and_then(|v| v.to_str().ok())
                    .and_then(|v| v.strip_prefix("Bearer ").or_else(|| v.strip_prefix("bearer ")))
                    .map(str::trim);
                let explicit = headers.get(ADMIN_TOKEN_HEADER).and_then(|v| v.to_str().ok()).map(str::trim);
                if [bearer, explicit].into_iter().flatten().any(|given| same_secret(given, token)) {
                    Ok(())
                } else {
                    Err(ApiError::new(
                        ErrorCode::Unauthorized,
                        "The control plane requires the admin token: send 'Authorization: Bearer TOKEN' or 'X-Admin-Token: TOKEN' with the value given to --admin-token",
                    )
                    .with_target(TargetType::Header, "Authorization"))
                }
            }
        }
    }
}

/// Middleware on every control route but `/health`.
pub async fn require_admin(State(state): State<AppState>, request: Request, next: Next) -> Response {
    match state.admin.check(request.headers()) {
        Ok(()) => next.run(request).await,
        Err(error) => error.into_response(),
    }
}

/// Compares without stopping at the first difference, so response time does not reveal a token prefix.
fn same_secret(given: &str, expected: &str) -> bool {
    let (given, expected) = (given.as_bytes(), expected.as_bytes());
    let differences = given.iter().zip(expected).fold(0u8, |acc, (a, b)| acc | (a ^ b));
    given.len() == expected.len() && differences == 0
}

#[cfg(test)]
mod tests {
    use super::*;
    use axum::http::StatusCode;

    fn headers(name: &'static str, value: &str) -> HeaderMap {
        let mut headers = HeaderMap::new();
        headers.insert(name, value.parse().unwrap());
        headers
    }

    #[test]
    fn a_token_is_accepted_as_bearer_or_admin_header_only_when_equal() {
        let access = AdminAccess::new(Some("s3cret".into()), "0.0.0.0".parse().unwrap());
        assert!(access.check(&headers("authorization", "Bearer s3cret")).is_ok());
        assert!(access.check(&headers(ADMIN_TOKEN_HEADER, "s3cret")).is_ok());
        assert_eq!(access.check(&headers(ADMIN_TOKEN_HEADER, "s3cre")).unwrap_err().status, StatusCode::UNAUTHORIZED);
        assert_eq!(access.check(&HeaderMap::new()).unwrap_err().status, StatusCode::UNAUTHORIZED);
    }

    #[test]
    fn without_a_token_only_loopback_servers_are_open() {
        assert!(AdminAccess::new(None, "127.0.0.1".parse().unwrap()).check(&HeaderMap::new()).is_ok());
        assert!(AdminAccess::new(None, "::1".parse().unwrap()).check(&HeaderMap::new()).is_ok());
        let refused = AdminAccess::new(None, "0.0.0.0".parse().unwrap()).check(&HeaderMap::new()).unwrap_err();
        assert_eq!(refused.status, StatusCode::FORBIDDEN);
        assert!(refused.message.contains("--admin-token"), "{}", refused.message);
    }
}
