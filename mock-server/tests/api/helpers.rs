//! The test harness: [`TestApp`] runs the real uko-mock server on `127.0.0.1:0` and calls it over real
//! HTTP with one typed method per UKO operation; [`TestResponse`] checks the invariants every answer must
//! keep and renders it for snapshots.
//!
//! Snapshots are text: status line, every response header except `date` and `content-length`, then the
//! JSON body pretty-printed in the server's field order. Only values that are not deterministic are
//! redacted, through the checked redactions of [`redact`].

pub mod binary;
pub mod raw;
pub mod redact;

use std::path::PathBuf;

use reqwest::header::HeaderMap;
use reqwest::{Method, RequestBuilder, StatusCode};
use serde_json::Value;
use uko_mock::fixture::Fixture;
use uko_mock::web::auth::Auth;
use uko_mock::MockServer;

/// The vault of the default fixture.
pub const VAULT: &str = "11111111-1111-4111-8111-111111111111";

/// Templates of the default fixture.
pub const TEMPLATE_INTERNAL: &str = "22222222-2222-4222-8222-000000000001";
pub const TEMPLATE_AWS: &str = "22222222-2222-4222-8222-000000000002";
pub const TEMPLATE_AZURE: &str = "22222222-2222-4222-8222-000000000003";
pub const TEMPLATE_KEY_PROTECT: &str = "22222222-2222-4222-8222-000000000004";
pub const TEMPLATE_GOOGLE: &str = "22222222-2222-4222-8222-000000000005";

/// Keystores of the default fixture.
pub const KEYSTORE_INTERNAL: &str = "33333333-3333-4333-8333-000000000001";
pub const KEYSTORE_AWS: &str = "33333333-3333-4333-8333-000000000002";
pub const KEYSTORE_AZURE: &str = "33333333-3333-4333-8333-000000000003";
pub const KEYSTORE_KEY_PROTECT: &str = "33333333-3333-4333-8333-000000000004";
pub const KEYSTORE_GOOGLE: &str = "33333333-3333-4333-8333-000000000005";

/// Managed keys of the default fixture, named by what they show.
pub const KEY_ACTIVE: &str = "44444444-4444-4444-8444-000000000001";
pub const KEY_DEACTIVATED: &str = "44444444-4444-4444-8444-000000000002";
/// `A-PAYMENTS-AES256-PROD`: active, missing in AWS KMS, so out of sync until synced.
pub const KEY_OUT_OF_SYNC: &str = "44444444-4444-4444-8444-000000000003";
pub const KEY_DESTROYED: &str = "44444444-4444-4444-8444-000000000004";
pub const KEY_AZURE: &str = "44444444-4444-4444-8444-000000000005";
/// `cos-root-key-prod`: rotated once (two versions), protects a COS bucket.
pub const KEY_COS: &str = "44444444-4444-4444-8444-000000000006";
pub const KEY_GOOGLE: &str = "44444444-4444-4444-8444-000000000007";
pub const KEY_PRE_ACTIVE: &str = "44444444-4444-4444-8444-000000000008";

/// Every managed key of the default fixture.
pub const ALL_KEYS: [&str; 8] =
    [KEY_ACTIVE, KEY_DEACTIVATED, KEY_OUT_OF_SYNC, KEY_DESTROYED, KEY_AZURE, KEY_COS, KEY_GOOGLE, KEY_PRE_ACTIVE];

/// An ETag no resource of any fixture ever had.
pub const STALE_ETAG: &str = "2000-01-01T00:00:00Z";

/// API key and static token accepted by servers started with [`TestApp::with_auth`].
pub const TEST_API_KEY: &str = "test-apikey";
pub const TEST_STATIC_TOKEN: &str = "test-static-token";

/// A running server and a client for it.
pub struct TestApp {
    /// `http://127.0.0.1:<port>`.
    pub base_url: String,
    /// `http://127.0.0.1:<port>/api/v4`.
    pub api_url: String,
    pub client: reqwest::Client,
    /// Sent as `Authorization: Bearer …` when set.
    pub bearer: Option<String>,
    /// Kept only to keep the server running: it stops when dropped.
    _server: MockServer,
}

/// Options for [`TestApp`]: the library's own [`uko_mock::MockServerBuilder`], plus fixtures by file name.
#[derive(Default)]
pub struct TestAppBuilder {
    server: uko_mock::MockServerBuilder,
}

impl TestAppBuilder {
    /// Serve a fixture file of `fixtures/` by name (without `.json`).
    pub fn fixture(self, name: &str) -> Self {
        self.fixture_value(load_fixture(name))
    }

    /// Serve a fixture built in the test.
    pub fn fixture_value(self, fixture: Fixture) -> Self {
        TestAppBuilder { server: self.server.fixture(fixture) }
    }

    /// Override the fixture's seed.
    pub fn seed(self, seed: u64) -> Self {
        TestAppBuilder { server: self.server.seed(seed) }
    }

    /// Require bearer tokens.
    pub fn auth(self, auth: Auth) -> Self {
        TestAppBuilder { server: self.server.auth(auth) }
    }

    /// Require this token on the control plane.
    pub fn admin_token(self, token: &str) -> Self {
        TestAppBuilder { server: self.server.admin_token(token) }
    }

    /// Keep this many journal entries per instance.
    pub fn journal_size(self, entries: usize) -> Self {
        TestAppBuilder { server: self.server.journal_size(entries) }
    }

    /// Starts the server.
    pub async fn spawn(self) -> TestApp {
        let server = self.server.start().await.expect("the mock server starts");
        TestApp {
            base_url: server.base_url(),
            api_url: server.api_url(),
            client: reqwest::Client::builder().build().expect("a reqwest client"),
            bearer: None,
            _server: server,
        }
    }
}

/// Reads and validates `fixtures/<name>.json`.
pub fn load_fixture(name: &str) -> Fixture {
    Fixture::load(fixture_path(name)).unwrap_or_else(|error| panic!("fixture {name}: {error:?}"))
}

/// `fixtures/<name>.json` in the workspace.
pub fn fixture_path(name: &str) -> PathBuf {
    PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("..").join("fixtures").join(format!("{name}.json"))
}

/// The default fixture as JSON, for tests that derive a fixture from it.
pub fn default_fixture_json() -> Value {
    let text = std::fs::read_to_string(fixture_path("default")).expect("fixtures/default.json is readable");
    serde_json::from_str(&text).expect("fixtures/default.json is JSON")
}

/// A fixture from JSON built in a test.
pub fn fixture_from_value(value: &Value) -> Fixture {
    let fixture = Fixture::from_json(&value.to_string()).expect("the fixture parses");
    fixture.validate().expect("the fixture is valid");
    fixture
}

impl TestApp {
    /// A server on the default fixture without authentication.
    pub async fn spawn() -> TestApp {
        TestApp::builder().spawn().await
    }

    /// A server on `fixtures/<name>.json` without authentication.
    pub async fn spawn_fixture(name: &str) -> TestApp {
        TestApp::builder().fixture(name).spawn().await
    }

    /// A server on the default fixture that requires bearer tokens: [`TEST_STATIC_TOKEN`], or tokens
    /// issued for [`TEST_API_KEY`] with this lifetime.
    pub async fn with_auth(token_ttl_seconds: u64) -> TestApp {
        let auth = Auth::new(
            uko_mock::web::auth::AuthMode::Iam,
            vec![TEST_API_KEY.to_owned()],
            vec![TEST_STATIC_TOKEN.to_owned()],
            token_ttl_seconds,
        );
        TestApp::builder().auth(auth).spawn().await
    }

    /// Options before spawning.
    pub fn builder() -> TestAppBuilder {
        TestAppBuilder::default()
    }

    /// A request to a path under `/api/v4` (`"/vaults"`), with the bearer token if one is set.
    pub fn request(&self, method: Method, path: &str) -> RequestBuilder {
        self.request_url(method, &format!("{}{path}", self.api_url))
    }

    /// A request to an absolute URL (for following `href`s), with the bearer token if one is set.
    pub fn request_url(&self, method: Method, url: &str) -> RequestBuilder {
        let builder = self.client.request(method, url);
        match &self.bearer {
            Some(token) => builder.bearer_auth(token),
            None => builder,
        }
    }

    /// Sends a request and reads the whole answer.
    pub async fn send(&self, builder: RequestBuilder) -> TestResponse {
        let request = builder.build().expect("a well-formed request");
        let sent_correlation_id =
            request.headers().get("x-correlation-id").and_then(|v| v.to_str().ok()).map(str::to_owned);
        let description = format!("{} {}", request.method(), request.url());
        let response = self.client.execute(request).await.unwrap_or_else(|e| panic!("{description}: {e}"));
        let status = response.status();
        let headers = response.headers().clone();
        let text = response.text().await.expect("a readable body");
        TestResponse { status, headers, text, sent_correlation_id, base_url: self.base_url.clone(), description }
    }

    async fn call(&self, method: Method, path: &str, if_match: Option<&str>, body: Option<&Value>) -> TestResponse {
        let mut builder = self.request(method, path);
        if let Some(if_match) = if_match {
            builder = builder.header("If-Match", if_match);
        }
        if let Some(body) = body {
            builder = builder.json(body);
        }
        self.send(builder).await
    }

    async fn list(&self, path: &str, query: &[(&str, &str)]) -> TestResponse {
        self.send(self.request(Method::GET, path).query(query)).await
    }

    // Managed keys (uko-api-v4.md §3).

    /// ListManagedKeys.
    pub async fn list_managed_keys(&self, query: &[(&str, &str)]) -> TestResponse {
        self.list("/managed_keys", query).await
    }

    /// CreateManagedKey.
    pub async fn create_managed_key(&self, body: &Value) -> TestResponse {
        self.call(Method::POST, "/managed_keys", None, Some(body)).await
    }

    /// DeleteManagedKey.
    pub async fn delete_managed_key(&self, id: &str, if_match: Option<&str>) -> TestResponse {
        self.call(Method::DELETE, &format!("/managed_keys/{id}"), if_match, None).await
    }

    /// GetManagedKey.
    pub async fn get_managed_key(&self, id: &str) -> TestResponse {
        self.call(Method::GET, &format!("/managed_keys/{id}"), None, None).await
    }

    /// UpdateManagedKey.
    pub async fn update_managed_key(&self, id: &str, if_match: Option<&str>, body: &Value) -> TestResponse {
        self.call(Method::PATCH, &format!("/managed_keys/{id}"), if_match, Some(body)).await
    }

    /// ListAssociatedResourcesForManagedKey.
    pub async fn list_associated_resources_for_managed_key(&self, id: &str, query: &[(&str, &str)]) -> TestResponse {
        self.list(&format!("/managed_keys/{id}/associated_resources"), query).await
    }

    /// ListManagedKeyVersions.
    pub async fn list_managed_key_versions(&self, id: &str, query: &[(&str, &str)]) -> TestResponse {
        self.list(&format!("/managed_keys/{id}/versions"), query).await
    }

    /// GetKeyDistributionStatusForKeystores.
    pub async fn get_key_distribution_status_for_keystores(&self, id: &str) -> TestResponse {
        self.call(Method::GET, &format!("/managed_keys/{id}/status_in_keystores"), None, None).await
    }

    /// UpdateManagedKeyFromTemplate (`dry_run` only when `Some`).
    pub async fn update_managed_key_from_template(
        &self,
        id: &str,
        if_match: Option<&str>,
        dry_run: Option<bool>,
    ) -> TestResponse {
        let mut builder = self.request(Method::POST, &format!("/managed_keys/{id}/update_from_template"));
        if let Some(dry_run) = dry_run {
            builder = builder.query(&[("dry_run", dry_run.to_string())]);
        }
        if let Some(if_match) = if_match {
            builder = builder.header("If-Match", if_match);
        }
        self.send(builder).await
    }

    /// ActivateManagedKey.
    pub async fn activate_managed_key(&self, id: &str, if_match: Option<&str>) -> TestResponse {
        self.call(Method::POST, &format!("/managed_keys/{id}/activate"), if_match, None).await
    }

    /// DeactivateManagedKey.
    pub async fn deactivate_managed_key(&self, id: &str, if_match: Option<&str>) -> TestResponse {
        self.call(Method::POST, &format!("/managed_keys/{id}/deactivate"), if_match, None).await
    }

    /// DestroyManagedKey.
    pub async fn destroy_managed_key(&self, id: &str, if_match: Option<&str>) -> TestResponse {
        self.call(Method::POST, &format!("/managed_keys/{id}/destroy"), if_match, None).await
    }

    /// SyncManagedKey.
    pub async fn sync_managed_key(&self, id: &str, if_match: Option<&str>) -> TestResponse {
        self.call(Method::POST, &format!("/managed_keys/{id}/sync_status_in_keystores"), if_match, None).await
    }

    /// RotateManagedKey.
    pub async fn rotate_managed_key(&self, id: &str, if_match: Option<&str>) -> TestResponse {
        self.call(Method::POST, &format!("/managed_keys/{id}/rotate"), if_match, None).await
    }

    // Key templates (§4).

    /// ListKeyTemplates.
    pub async fn list_key_templates(&self, query: &[(&str, &str)]) -> TestResponse {
        self.list("/templates", query).await
    }

    /// CreateKeyTemplate.
    pub async fn create_key_template(&self, body: &Value) -> TestResponse {
        self.call(Method::POST, "/templates", None, Some(body)).await
    }

    /// DeleteKeyTemplate.
    pub async fn delete_key_template(&self, id: &str, if_match: Option<&str>) -> TestResponse {
        self.call(Method::DELETE, &format!("/templates/{id}"), if_match, None).await
    }

    /// GetKeyTemplate.
    pub async fn get_key_template(&self, id: &str) -> TestResponse {
        self.call(Method::GET, &format!("/templates/{id}"), None, None).await
    }

    /// UpdateKeyTemplate.
    pub async fn update_key_template(&self, id: &str, if_match: Option<&str>, body: &Value) -> TestResponse {
        self.call(Method::PATCH, &format!("/templates/{id}"), if_match, Some(body)).await
    }

    /// ArchiveKeyTemplate.
    pub async fn archive_key_template(&self, id: &str, if_match: Option<&str>) -> TestResponse {
        self.call(Method::POST, &format!("/templates/{id}/archive"), if_match, None).await
    }

    /// UnarchiveKeyTemplate.
    pub async fn unarchive_key_template(&self, id: &str, if_match: Option<&str>) -> TestResponse {
        self.call(Method::POST, &format!("/templates/{id}/unarchive"), if_match, None).await
    }

    /// ExposeKeyTemplate.
    pub async fn expose_key_template(&self, id: &str, if_match: Option<&str>) -> TestResponse {
        self.call(Method::POST, &format!("/templates/{id}/expose"), if_match, None).await
    }

    // Keystores (§5).

    /// ListKeystores.
    pub async fn list_keystores(&self, query: &[(&str, &str)]) -> TestResponse {
        self.list("/keystores", query).await
    }

    /// CreateKeystore (`dry_run` only when `Some`).
    pub async fn create_keystore(&self, body: &Value, dry_run: Option<bool>) -> TestResponse {
        let mut builder = self.request(Method::POST, "/keystores").json(body);
        if let Some(dry_run) = dry_run {
            builder = builder.query(&[("dry_run", dry_run.to_string())]);
        }
        self.send(builder).await
    }

    /// DeleteKeystore (`mode` only when `Some`).
    pub async fn delete_keystore(&self, id: &str, if_match: Option<&str>, mode: Option<&str>) -> TestResponse {
        let mut builder = self.request(Method::DELETE, &format!("/keystores/{id}"));
        if let Some(mode) = mode {
            builder = builder.query(&[("mode", mode)]);
        }
        if let Some(if_match) = if_match {
            builder = builder.header("If-Match", if_match);
        }
        self.send(builder).await
    }

    /// GetKeystore.
    pub async fn get_keystore(&self, id: &str) -> TestResponse {
        self.call(Method::GET, &format!("/keystores/{id}"), None, None).await
    }

    /// UpdateKeystore.
    pub async fn update_keystore(&self, id: &str, if_match: Option<&str>, body: &Value) -> TestResponse {
        self.call(Method::PATCH, &format!("/keystores/{id}"), if_match, Some(body)).await
    }

    /// ListAssociatedResourcesForTargetKeystore.
    pub async fn list_associated_resources_for_target_keystore(
        &self,
        id: &str,
        query: &[(&str, &str)],
    ) -> TestResponse {
        self.list(&format!("/keystores/{id}/associated_resources"), query).await
    }

    /// GetKeystoreStatus.
    pub async fn get_keystore_status(&self, id: &str) -> TestResponse {
        self.call(Method::GET, &format!("/keystores/{id}/status"), None, None).await
    }

    /// ListManagedKeysFromKeystore.
    pub async fn list_managed_keys_from_keystore(&self, id: &str, query: &[(&str, &str)]) -> TestResponse {
        self.list(&format!("/keystores/{id}/managed_keys"), query).await
    }

    // Vaults (§6).

    /// ListVaults.
    pub async fn list_vaults(&self, query: &[(&str, &str)]) -> TestResponse {
        self.list("/vaults", query).await
    }

    /// CreateVault.
    pub async fn create_vault(&self, body: &Value) -> TestResponse {
        self.call(Method::POST, "/vaults", None, Some(body)).await
    }

    /// DeleteVault.
    pub async fn delete_vault(&self, id: &str, if_match: Option<&str>) -> TestResponse {
        self.call(Method::DELETE, &format!("/vaults/{id}"), if_match, None).await
    }

    /// GetVault.
    pub async fn get_vault(&self, id: &str) -> TestResponse {
        self.call(Method::GET, &format!("/vaults/{id}"), None, None).await
    }

    /// UpdateVault.
    pub async fn update_vault(&self, id: &str, if_match: Option<&str>, body: &Value) -> TestResponse {
        self.call(Method::PATCH, &format!("/vaults/{id}"), if_match, Some(body)).await
    }

    // IAM (outside /api/v4).

    /// `POST /identity/token` with a form body.
    pub async fn iam_token(&self, form: &[(&str, &str)]) -> TestResponse {
        self.send(self.client.post(format!("{}/identity/token", self.base_url)).form(form)).await
    }

    // Conveniences.

    /// The current ETag of a managed key, from GetManagedKey.
    pub async fn managed_key_etag(&self, id: &str) -> String {
        self.get_managed_key(id).await.assert_status(StatusCode::OK).etag()
    }

    /// The current state of a managed key, from GetManagedKey.
    pub async fn managed_key_state(&self, id: &str) -> String {
        self.get_managed_key(id).await.assert_status(StatusCode::OK).json()["state"]
            .as_str()
            .expect("state is a string")
            .to_owned()
    }
}

/// One answer, fully read.
#[derive(Debug)]
pub struct TestResponse {
    pub status: StatusCode,
    pub headers: HeaderMap,
    pub text: String,
    /// The `X-Correlation-ID` the test sent, if any.
    pub sent_correlation_id: Option<String>,
    base_url: String,
    description: String,
}

impl TestResponse {
    /// Panics with the body unless the status is `expected`.
    #[track_caller]
    pub fn assert_status(self, expected: StatusCode) -> Self {
        assert_eq!(self.status, expected, "{} answered {}:\n{}", self.description, self.status, self.text);
        self
    }

    /// The body as JSON; panics if it is not JSON.
    #[track_caller]
    pub fn json(&self) -> Value {
        serde_json::from_str(&self.text)
            .unwrap_or_else(|e| panic!("{} answered a non-JSON body ({e}):\n{}", self.description, self.text))
    }

    /// A header as text.
    pub fn header(&self, name: &str) -> Option<&str> {
        self.headers.get(name).map(|v| v.to_str().expect("an ASCII header value"))
    }

    /// The `ETag` header; panics if absent.
    #[track_caller]
    pub fn etag(&self) -> String {
        self.header("etag").unwrap_or_else(|| panic!("{} answered without an ETag", self.description)).to_owned()
    }

    /// The `errors[0].code` of an error body.
    #[track_caller]
    pub fn error_code(&self) -> String {
        self.json()["errors"][0]["code"]
            .as_str()
            .unwrap_or_else(|| panic!("no errors[0].code in {}", self.text))
            .to_owned()
    }

    /// Checks what every answer must satisfy, whatever the operation:
    /// - `X-Correlation-ID` is present, and echoes the one sent;
    /// - a body is compact JSON in the server's own serialization, with `Content-Type: application/json`;
    ///   no body means no `Content-Type`;
    /// - an `ETag` has UKO's format and equals the body's `updated_at` truncated to seconds;
    /// - an error body has `status_code` equal to the HTTP status, `trace` equal to the correlation id and
    ///   a non-empty `errors[]` whose items have a non-empty `code` and `message`.
    #[track_caller]
    pub fn check_invariants(&self) {
        let correlation =
            self.header("x-correlation-id").unwrap_or_else(|| panic!("{}: no X-Correlation-ID", self.description));
        if let Some(sent) = &self.sent_correlation_id {
            assert_eq!(correlation, sent, "{}: X-Correlation-ID not echoed", self.description);
        }
        if self.text.is_empty() {
            assert!(self.header("content-type").is_none(), "{}: Content-Type without a body", self.description);
        } else {
            assert_eq!(self.header("content-type"), Some("application/json"), "{}", self.description);
            let parsed = self.json();
            assert_eq!(
                serde_json::to_string(&parsed).expect("JSON serializes"),
                self.text,
                "{}: the body is not compact JSON in serialization order",
                self.description
            );
        }
        if let Some(etag) = self.header("etag") {
            assert!(redact::is_etag(etag), "{}: malformed ETag {etag:?}", self.description);
            if let Some(updated_at) = self.json().get("updated_at").and_then(Value::as_str) {
                assert_eq!(etag, etag_of(updated_at), "{}: ETag is not updated_at to the second", self.description);
            }
        }
        if self.status.is_client_error() || self.status.is_server_error() {
            let body = self.json();
            assert_eq!(body["status_code"], self.status.as_u16(), "{}: status_code", self.description);
            assert_eq!(body["trace"], correlation, "{}: trace must equal X-Correlation-ID", self.description);
            let errors = body["errors"].as_array().unwrap_or_else(|| panic!("{}: no errors[]", self.description));
            assert!(!errors.is_empty(), "{}: errors[] is empty", self.description);
            for error in errors {
                for field in ["code", "message"] {
                    assert!(
                        error[field].as_str().is_some_and(|text| !text.is_empty()),
                        "{}: errors[].{field} missing or empty in {}",
                        self.description,
                        self.text
                    );
                }
            }
        }
    }

    /// The snapshot text: checks the invariants, then renders status, headers and pretty body with the
    /// non-deterministic parts redacted (server origin, generated correlation ids).
    #[track_caller]
    pub fn render(&self) -> String {
        self.render_with(|_| {})
    }

    /// Like [`TestResponse::render`], with extra redactions applied to the parsed body first.
    #[track_caller]
    pub fn render_with(&self, redactions: impl FnOnce(&mut Value)) -> String {
        self.check_invariants();
        self.render_without_invariants(redactions)
    }

    /// Renders like [`TestResponse::render_with`] without the UKO invariants, for answers that are not
    /// UKO's (the IAM token endpoint has its own error shape).
    #[track_caller]
    pub fn render_without_invariants(&self, redactions: impl FnOnce(&mut Value)) -> String {
        let correlation = self.header("x-correlation-id").unwrap_or_default().to_owned();
        let generated = self.sent_correlation_id.is_none();
        let mut out = format!("{}\n", self.status);
        let mut names: Vec<&str> = self.headers.keys().map(|name| name.as_str()).collect();
        names.sort_unstable();
        names.dedup();
        for name in names.into_iter().filter(|name| !matches!(*name, "date" | "content-length")) {
            for value in self.headers.get_all(name) {
                let value = value.to_str().expect("an ASCII header value");
                let value = match name {
                    "x-correlation-id" if generated => redact::correlation_id(value, &correlation),
                    _ => value.to_owned(),
                };
                out.push_str(&format!("{name}: {value}\n"));
            }
        }
        if !self.text.is_empty() {
            let mut body = self.json();
            if generated {
                redact::strings_named(&mut body, "trace", &|trace| redact::correlation_id(trace, &correlation));
            }
            redactions(&mut body);
            out.push('\n');
            out.push_str(&serde_json::to_string_pretty(&body).expect("JSON serializes"));
            out.push('\n');
        }
        redact::host(&out, &self.base_url)
    }
}

/// The ETag a resource with this `updated_at` must have: the same instant to the second, `Z`, unquoted.
pub fn etag_of(updated_at: &str) -> String {
    assert!(updated_at.len() >= 19 && updated_at.ends_with('Z'), "unexpected updated_at {updated_at:?}");
    format!("{}Z", &updated_at[..19])
}

/// Ids of the items of a list answer, in order.
pub fn ids(body: &Value, items: &str) -> Vec<String> {
    body[items]
        .as_array()
        .unwrap_or_else(|| panic!("no {items} array in {body}"))
        .iter()
        .map(|item| item["id"].as_str().expect("an id").to_owned())
        .collect()
}

/// A body for CreateManagedKey from the default fixture's INTERNAL-AES256 template.
pub fn internal_key_body(label: &str) -> Value {
    serde_json::json!({
        "template_name": "INTERNAL-AES256",
        "vault": {"id": VAULT},
        "label": label,
        "description": "Created by the API tests"
    })
}

/// Snapshots a [`TestResponse`] (named after the test, or explicitly).
macro_rules! assert_response_snapshot {
    ($response:expr) => {
        insta::assert_snapshot!($response.render())
    };
    ($name:expr, $response:expr) => {
        insta::assert_snapshot!($name, $response.render())
    };
}

/// The next state of a SplitMix64 generator: the tests' seeded source of interleavings and kill moments.
pub fn splitmix(state: u64) -> u64 {
    let mut z = state.wrapping_add(0x9e37_79b9_7f4a_7c15);
    z = (z ^ (z >> 30)).wrapping_mul(0xbf58_476d_1ce4_e5b9);
    z = (z ^ (z >> 27)).wrapping_mul(0x94d0_49bb_1331_11eb);
    z ^ (z >> 31)
}
