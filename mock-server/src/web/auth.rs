//! IBM Cloud-style authentication: `Authorization: Bearer <token>` on the UKO surface, and an IAM token
//! endpoint (`POST /identity/token`) so IBM SDK `IamAuthenticator`s work with their IAM URL set to the mock.
//!
//! Access tokens are JWTs signed RS256 with IBM IAM's claim set (`iam_id`, `id`, `realmid`, `sub`,
//! `sub_type`, `account.bss`, `iss`, `grant_type`, `scope`, `client_id`, `iat`, `exp`), and the public key
//! is published as a JWK set at `GET /identity/keys`, as IBM IAM does: Terraform's provider decodes the
//! claims at configure time and fails on a token that is not such a JWT. The signing key is a fixed test
//! key shipped in the source (`iam-signing-key.pem`): a mock's signing key is no secret, and nothing is
//! generated at start. Tokens are checked against the wall clock, not the instance clock: clients compare
//! `expiration` with their own time.
//!
//! Refresh tokens are 256 random bits (two v4 UUIDs from the OS generator), opaque, kept apart from access
//! tokens: only the IAM endpoint's `refresh_token` grant accepts them, never the bearer check, and they
//! expire (`--refresh-token-ttl`, IBM's 30 days by default).

use std::collections::HashMap;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, Mutex, PoisonError};
use std::time::{SystemTime, UNIX_EPOCH};

use axum::extract::State;
use axum::http::StatusCode;
use axum::response::{IntoResponse, Response};
use axum::Json;
use serde::Serialize;

use super::error::ApiError;
use super::AppState;

/// Most access and refresh tokens remembered at once. Past it the oldest issued pair is forgotten, so a
/// client asking for tokens in a loop cannot grow memory without bound (refresh tokens live 30 days); the
/// newest 5,000 pairs always stay valid.
pub const MAX_ISSUED_TOKENS: usize = 10_000;

/// Lifetime of refresh tokens by default, in seconds: IBM IAM's 30 days.
pub const DEFAULT_REFRESH_TOKEN_TTL: u64 = 30 * 86_400;

/// The grant type IBM IAM uses for API keys.
pub const APIKEY_GRANT: &str = "urn:ibm:params:oauth:grant-type:apikey";

/// Whether the UKO surface checks bearer tokens.
#[derive(Clone, Copy, Debug, PartialEq, Eq, clap::ValueEnum)]
pub enum AuthMode {
    /// Bearer tokens required: static ones from flags/fixture, or tokens issued by `/identity/token`.
    Iam,
    /// No checks at all.
    None,
}

/// Token registry shared by the middleware and the IAM endpoint.
#[derive(Clone)]
pub struct Auth {
    inner: Arc<AuthInner>,
}

struct AuthInner {
    mode: AuthMode,
    api_keys: Vec<String>,
    static_tokens: Vec<String>,
    token_ttl_seconds: u64,
    /// Issued access tokens with their expiry (Unix milliseconds: a token lives its whole TTL from the
    /// moment it was issued, not to the end of a truncated second) and issue serial: what the bearer check
    /// accepts.
    issued: Mutex<HashMap<String, (u64, u64)>>,
    /// Issued refresh tokens, likewise: what the refresh grant accepts, and nothing else.
    refresh_tokens: Mutex<HashMap<String, (u64, u64)>>,
    /// Lifetime of refresh tokens, in seconds.
    refresh_ttl_seconds: std::sync::atomic::AtomicU64,
    counter: AtomicU64,
}

/// IBM IAM's token response.
#[derive(Serialize)]
struct TokenResponse {
    access_token: String,
    refresh_token: String,
    ims_user_id: u64,
    token_type: &'static str,
    expires_in: u64,
    expiration: u64,
    scope: &'static str,
}

/// IBM IAM's error shape (this endpoint is IAM, not UKO).
#[derive(Serialize)]
struct IamError {
    #[serde(rename = "errorCode")]
    error_code: &'static str,
    #[serde(rename = "errorMessage")]
    error_message: String,
}

impl Auth {
    /// A registry accepting these API keys and static tokens.
    pub fn new(mode: AuthMode, api_keys: Vec<String>, static_tokens: Vec<String>, token_ttl_seconds: u64) -> Auth {
        Auth {
            inner: Arc::new(AuthInner {
                mode,
                api_keys,
                static_tokens,
                token_ttl_seconds,
                issued: Mutex::new(HashMap::new()),
                refresh_tokens: Mutex::new(HashMap::new()),
                refresh_ttl_seconds: AtomicU64::new(DEFAULT_REFRESH_TOKEN_TTL),
                counter: AtomicU64::new(0),
            }),
        }
    }

    /// Sets the lifetime of refresh tokens issued from now on (`--refresh-token-ttl`).
    pub fn with_refresh_token_ttl(self, seconds: u64) -> Auth {
        self.inner.refresh_ttl_seconds.store(seconds, Ordering::Relaxed);
        self
    }

    /// No authentication (tests, `--auth none`).
    pub fn disabled() -> Auth {
        Auth::new(AuthMode::None, Vec::new(), Vec::new(), 3600)
    }

    /// The mode in force.
    pub fn mode(&self) -> AuthMode {
        self.inner.mode
    }

    /// API keys that `/identity/token` accepts.
    pub fn api_keys(&self) -> &[String] {
        &self.inner.api_keys
    }

    /// Static bearer tokens that never expire.
    pub fn static_tokens(&self) -> &[String] {
        &self.inner.static_tokens
    }

    /// Checks an `Authorization` header value.
    pub fn check(&self, authorization: Option<&str>) -> Result<(), ApiError> {
        if self.inner.mode == AuthMode::None {
            return Ok(());
        }
        let header = authorization.ok_or_else(|| {
            ApiError::unauthorized(
                "The request has no Authorization header; send 'Authorization: Bearer <IAM access token>'",
            )
        })?;
        let token =
            header.strip_prefix("Bearer ").or_else(|| header.strip_prefix("bearer ")).map(str::trim).ok_or_else(
                || ApiError::unauthorized("The Authorization header must have the form 'Bearer <IAM access token>'"),
            )?;
        if self.inner.static_tokens.iter().any(|t| t == token) {
            return Ok(());
        }
        let expiry =
            self.inner.issued.lock().unwrap_or_else(PoisonError::into_inner).get(token).map(|(expiry, _)| *expiry);
        match expiry {
            Some(expiry) if unix_now_ms() < expiry => Ok(()),
            Some(_) => Err(ApiError::unauthorized("The IAM access token has expired; request a new one")),
            None => Err(ApiError::unauthorized("The IAM access token is not valid")),
        }
    }

    /// Issues an access/refresh token pair.
    fn issue(&self) -> TokenResponse {
        let now_ms = unix_now_ms();
        let now = now_ms / 1000;
        let expiration = now + self.inner.token_ttl_seconds;
        let serial = self.inner.counter.fetch_add(1, Ordering::Relaxed);
        let access_token = signed_access_token(serial, now, expiration);
        let refresh_token = random_refresh_token();
        let access_expiry = now_ms.saturating_add(self.inner.token_ttl_seconds.saturating_mul(1000));
        remember(&self.inner.issued, access_token.clone(), access_expiry, serial, now_ms);
        let refresh_ttl = self.inner.refresh_ttl_seconds.load(Ordering::Relaxed);
        let refresh_expiry = now_ms.saturating_add(refresh_ttl.saturating_mul(1000));
        remember(&self.inner.refresh_tokens, refresh_token.clone(), refresh_expiry, serial, now_ms);
        TokenResponse {
            access_token,
            refresh_token,
            ims_user_id: 1,
            token_type: "Bearer",
            expires_in: self.inner.token_ttl_seconds,
            expiration,
            scope: "ibm openid",
        }
    }

    fn refresh_token_valid(&self, token: &str) -> bool {
        let refresh_tokens = self.inner.refresh_tokens.lock().unwrap_or_else(PoisonError::into_inner);
        refresh_tokens.get(token).is_some_and(|(expiry, _)| unix_now_ms() < *expiry)
    }
}

/// Adds a token to a registry, forgetting expired ones and, past [`MAX_ISSUED_TOKENS`] / 2, the oldest, so
/// a client asking for tokens in a loop cannot grow memory without bound.
fn remember(registry: &Mutex<HashMap<String, (u64, u64)>>, token: String, expiry: u64, serial: u64, now: u64) {
    let mut issued = registry.lock().unwrap_or_else(PoisonError::into_inner);
    issued.retain(|_, (expiry, _)| *expiry > now);
    while issued.len() + 1 > MAX_ISSUED_TOKENS / 2 {
        let oldest = issued.iter().min_by_key(|(_, (_, serial))| *serial).map(|(token, _)| token.clone());
        let Some(oldest) = oldest else { break };
        issued.remove(&oldest);
    }
    issued.insert(token, (expiry, serial));
}

/// 256 bits from the OS's random generator, as 64 hex digits: nothing about it can be guessed or counted.
fn random_refresh_token() -> String {
    format!("{}{}", uuid::Uuid::new_v4().simple(), uuid::Uuid::new_v4().simple())
}

/// `POST /identity/token`: `grant_type=urn:ibm:params:oauth:grant-type:apikey&apikey=…` (or a refresh).
pub async fn iam_token(State(state): State<AppState>, body: axum::body::Bytes) -> Response {
    let form: HashMap<String, String> = form_urlencoded::parse(&body).into_owned().collect();
    let auth = &state.auth;
    let failure = |status: StatusCode, code: &'static str, message: String| {
        (status, Json(IamError { error_code: code, error_message: message })).into_response()
    };
    match form.get("grant_type").map(String::as_str) {
        Some(APIKEY_GRANT) => {
            let Some(apikey) = form.get("apikey") else {
                return failure(StatusCode::BAD_REQUEST, "BXNIM0103E", "Property missing or empty: apikey".to_owned());
            };
            let accepted = auth.mode() == AuthMode::None || auth.api_keys().iter().any(|k| k == apikey);
            if !accepted {
                return failure(
                    StatusCode::BAD_REQUEST,
                    "BXNIM0415E",
                    "Provided API key could not be found.".to_owned(),
                );
            }
            Json(auth.issue()).into_response()
        }
        Some("refresh_token") => match form.get("refresh_token") {
            Some(token) if auth.refresh_token_valid(token) => Json(auth.issue()).into_response(),
            _ => failure(
                StatusCode::BAD_REQUEST,
                "BXNIM0407E",
                "Provided refresh token is invalid or expired.".to_owned(),
            ),
        },
        other => failure(
            StatusCode::BAD_REQUEST,
            "BXNIM0109E",
            format!("Property grant_type must be '{APIKEY_GRANT}' or 'refresh_token', found '{}'", other.unwrap_or("")),
        ),
    }
}

fn unix_now_ms() -> u64 {
    SystemTime::now().duration_since(UNIX_EPOCH).map(|d| u64::try_from(d.as_millis()).unwrap_or(u64::MAX)).unwrap_or(0)
}

/// The `kid` of the mock's signing key, in every token header and in the JWK set.
pub const SIGNING_KEY_ID: &str = "uko-mock-20260101";

/// The issuer IBM IAM writes; Terraform's provider takes any other issuer for IBM's staging cloud.
pub const ISSUER: &str = "https://iam.cloud.ibm.com/identity";

/// The service ID every token names (IBM's shape: `iam-ServiceId-<uuid>`).
pub const SERVICE_ID: &str = "ServiceId-00000000-0000-4000-8000-0000000000a1";

/// The account (`account.bss`) every token names.
pub const ACCOUNT_BSS: &str = "00000000000000000000000000ac0001";

/// The fixed RS256 test key (PKCS#8 PEM). Public on purpose: it signs mock tokens only.
const SIGNING_KEY_PEM: &str = include_str!("iam-signing-key.pem");

/// The signing key, parsed on first use (not at start: start-up stays within its target).
fn signing_key() -> Option<&'static ring::signature::RsaKeyPair> {
    static KEY: std::sync::OnceLock<Option<ring::signature::RsaKeyPair>> = std::sync::OnceLock::new();
    KEY.get_or_init(|| {
        use rustls_pki_types::pem::PemObject;
        let der = rustls_pki_types::PrivatePkcs8KeyDer::from_pem_slice(SIGNING_KEY_PEM.as_bytes()).ok()?;
        ring::signature::RsaKeyPair::from_pkcs8(der.secret_pkcs8_der()).ok()
    })
    .as_ref()
}

/// IBM IAM's claims of an API-key token for a service ID.
#[derive(Serialize)]
struct Claims<'a> {
    iam_id: &'a str,
    id: &'a str,
    realmid: &'static str,
    jti: String,
    identifier: &'static str,
    name: &'static str,
    sub: &'static str,
    sub_type: &'static str,
    authn: Authn<'a>,
    account: Account,
    iat: u64,
    exp: u64,
    iss: &'static str,
    grant_type: &'static str,
    scope: &'static str,
    client_id: &'static str,
    acr: u8,
    amr: [&'static str; 1],
}

#[derive(Serialize)]
struct Authn<'a> {
    sub: &'static str,
    iam_id: &'a str,
    sub_type: &'static str,
    name: &'static str,
}

#[derive(Serialize)]
struct Account {
    valid: bool,
    bss: &'static str,
    frozen: bool,
}

/// An access token: a JWT signed RS256 with [`SIGNING_KEY_ID`], carrying IBM IAM's claims.
fn signed_access_token(serial: u64, issued_at: u64, expiration: u64) -> String {
    let iam_id = format!("iam-{SERVICE_ID}");
    let claims = Claims {
        iam_id: &iam_id,
        id: &iam_id,
        realmid: "iam",
        jti: format!("{serial:016x}"),
        identifier: SERVICE_ID,
        name: "uko-mock",
        sub: SERVICE_ID,
        sub_type: "ServiceId",
        authn: Authn { sub: SERVICE_ID, iam_id: &iam_id, sub_type: "ServiceId", name: "uko-mock" },
        account: Account { valid: true, bss: ACCOUNT_BSS, frozen: true },
        iat: issued_at,
        exp: expiration,
        iss: ISSUER,
        grant_type: APIKEY_GRANT,
        scope: "ibm openid",
        client_id: "default",
        acr: 3,
        amr: ["pwd"],
    };
    let header = base64url(format!(r#"{{"kid":"{SIGNING_KEY_ID}","alg":"RS256"}}"#).as_bytes());
    let payload = base64url(serde_json::to_string(&claims).unwrap_or_default().as_bytes());
    let signing_input = format!("{header}.{payload}");
    let signature = signing_key()
        .and_then(|key| {
            let mut signature = vec![0; key.public().modulus_len()];
            let rng = ring::rand::SystemRandom::new();
            key.sign(&ring::signature::RSA_PKCS1_SHA256, &rng, signing_input.as_bytes(), &mut signature)
                .ok()
                .map(|()| signature)
        })
        // Unreachable with the shipped key; a token without a valid signature is still accepted here.
        .unwrap_or_default();
    format!("{signing_input}.{}", base64url(&signature))
}

/// IBM IAM's JWK set answer.
#[derive(Serialize)]
struct JwkSet {
    keys: Vec<Jwk>,
}

#[derive(Serialize)]
struct Jwk {
    kty: &'static str,
    n: String,
    e: String,
    alg: &'static str,
    kid: &'static str,
}

/// `GET /identity/keys`: the public key tokens are signed with, as IBM IAM publishes it.
pub async fn iam_keys() -> Response {
    let Some(key) = signing_key() else {
        return (StatusCode::INTERNAL_SERVER_ERROR, "the signing key cannot be read").into_response();
    };
    let public = ring::rsa::PublicKeyComponents::<Vec<u8>>::from(key.public());
    let jwk = Jwk { kty: "RSA", n: base64url(&public.n), e: base64url(&public.e), alg: "RS256", kid: SIGNING_KEY_ID };
    Json(JwkSet { keys: vec![jwk] }).into_response()
}

fn base64url(bytes: &[u8]) -> String {
    const ALPHABET: &[u8; 64] = b"ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789-_";
    let mut out = String::with_capacity(bytes.len() * 4 / 3 + 4);
    for chunk in bytes.chunks(3) {
        let buffer = [chunk[0], chunk.get(1).copied().unwrap_or(0), chunk.get(2).copied().unwrap_or(0)];
        let n = (u32::from(buffer[0]) << 16) | (u32::from(buffer[1]) << 8) | u32::from(buffer[2]);
        let symbols = chunk.len() + 1;
        for index in 0..symbols {
            out.push(ALPHABET[((n >> (18 - 6 * index)) & 63) as usize] as char);
        }
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn base64url_matches_known_vectors() {
        assert_eq!(base64url(b"f"), "Zg");
        assert_eq!(base64url(b"fo"), "Zm8");
        assert_eq!(base64url(b"foo"), "Zm9v");
        assert_eq!(base64url(b"\xfb\xff"), "-_8");
    }

    #[test]
    fn issued_tokens_are_accepted_and_unknown_ones_refused() {
        let auth = Auth::new(AuthMode::Iam, vec!["key".into()], vec!["static".into()], 3600);
        let token = auth.issue().access_token;
        assert!(auth.check(Some(&format!("Bearer {token}"))).is_ok());
        assert!(auth.check(Some("Bearer static")).is_ok());
        assert_eq!(auth.check(Some("Bearer nope")).unwrap_err().status, StatusCode::UNAUTHORIZED);
        assert_eq!(auth.check(None).unwrap_err().status, StatusCode::UNAUTHORIZED);
    }

    #[test]
    fn the_token_registry_stays_bounded() {
        let auth = Auth::new(AuthMode::Iam, vec![], vec![], 3600);
        let first = auth.issue().access_token;
        // The registry as MAX_ISSUED_TOKENS / 2 later issues leave it (issuing them would sign each: an RSA
        // signature is about a millisecond, 10,000 of them tens of seconds in a debug test).
        {
            let mut issued = auth.inner.issued.lock().unwrap();
            let expiry = unix_now_ms() + 3_600_000;
            for n in 0..MAX_ISSUED_TOKENS as u64 {
                issued.insert(format!("earlier-{n}"), (expiry, 1 + n / 2));
            }
        }
        auth.inner.counter.store(1 + MAX_ISSUED_TOKENS as u64 / 2, Ordering::Relaxed);
        let latest = auth.issue().access_token;
        assert!(
            auth.inner.issued.lock().unwrap().len() + auth.inner.refresh_tokens.lock().unwrap().len()
                <= MAX_ISSUED_TOKENS
        );
        assert!(auth.check(Some(&format!("Bearer {latest}"))).is_ok());
        assert!(auth.check(Some(&format!("Bearer {first}"))).is_err(), "the oldest token was forgotten");
    }

    #[test]
    fn refresh_tokens_are_random_open_only_the_refresh_grant_and_expire() {
        let auth = Auth::new(AuthMode::Iam, vec![], vec![], 3600);
        let (first, second) = (auth.issue().refresh_token, auth.issue().refresh_token);
        assert_ne!(first, second);
        assert_eq!(first.len(), 64);
        assert!(auth.refresh_token_valid(&first));
        assert!(auth.check(Some(&format!("Bearer {first}"))).is_err(), "a refresh token opened the API");
        let expiring = Auth::new(AuthMode::Iam, vec![], vec![], 3600).with_refresh_token_ttl(0);
        assert!(!expiring.refresh_token_valid(&expiring.issue().refresh_token));
    }

    #[test]
    fn expired_tokens_are_refused() {
        let auth = Auth::new(AuthMode::Iam, vec![], vec![], 0);
        let token = auth.issue().access_token;
        let error = auth.check(Some(&format!("Bearer {token}"))).unwrap_err();
        assert!(error.message.contains("expired"), "{}", error.message);
    }
}
