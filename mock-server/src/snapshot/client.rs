//! The HTTP side of a snapshot: one UKO v4 service reached through its public API only.
//!
//! It authenticates (a bearer token as given, or an API key exchanged at an IAM endpoint), reads every
//! page of a list by following `next.href`, and turns each way a walk can fail (refused token, wrong
//! service URL, network, TLS, unexpected answers) into one [`SnapshotError`] that names the URL.

use std::time::Duration;

use reqwest::StatusCode;
use serde_json::Value;

use super::SnapshotError;

/// Page size asked for first: UKO's documented maximum.
pub(super) const PAGE_LIMIT: usize = 1000;

/// Page size used when a service refuses [`PAGE_LIMIT`] with a 400 (a smaller maximum).
const FALLBACK_PAGE_LIMIT: usize = 100;

/// Answers worth retrying (rate limits, gateways), and how often.
const RETRIES: u32 = 3;

/// How the walk authenticates.
#[derive(Clone, Debug)]
pub enum Credentials {
    /// No `Authorization` header (a mock started with `--auth none`).
    None,
    /// `Authorization: Bearer TOKEN`, as given.
    Token(String),
    /// An API key exchanged for a token at `{iam_url}/identity/token`.
    ApiKey { apikey: String, iam_url: String },
}

/// A client for one service root (`https://eu-de.uko.cloud.ibm.com`, without `/api/v4`). Cloning is
/// cheap (one connection pool), for reads in parallel.
#[derive(Clone)]
pub(super) struct Client {
    http: reqwest::Client,
    /// The service root.
    pub root: String,
    /// `{root}/api/v4`.
    pub api: String,
    bearer: Option<String>,
    /// Where the token came from, for error messages.
    token_source: &'static str,
}

/// The service root of a `--from` URL: trailing slashes and one trailing `/api/v4` are removed (IBM's
/// SDKs take the root, but a URL copied from a request is accepted too).
pub fn service_root(from: &str) -> String {
    let trimmed = from.trim().trim_end_matches('/');
    let root = trimmed.strip_suffix("/api/v4").unwrap_or(trimmed);
    root.trim_end_matches('/').to_owned()
}

impl Client {
    /// Builds the client and, for an API key, fetches the token.
    pub(super) async fn connect(from: &str, credentials: &Credentials) -> Result<Client, SnapshotError> {
        let root = service_root(from);
        if !(root.starts_with("http://") || root.starts_with("https://")) {
            return Err(SnapshotError::new(format!(
                "--from must be an http:// or https:// URL (the server root, e.g. https://eu-de.uko.cloud.ibm.com), found '{from}'"
            )));
        }
        let http = reqwest::Client::builder()
            .timeout(Duration::from_secs(120))
            .connect_timeout(Duration::from_secs(20))
            .user_agent(concat!("uko-mock-snapshot/", env!("CARGO_PKG_VERSION")))
            .build()
            .map_err(|error| SnapshotError::new(format!("cannot set up the HTTP client: {}", chain(&error))))?;
        let (bearer, token_source) = match credentials {
            Credentials::None => (None, "no token"),
            Credentials::Token(token) => (Some(token.clone()), "the token given with --token/UKO_TOKEN"),
            Credentials::ApiKey { apikey, iam_url } => {
                (Some(exchange_apikey(&http, iam_url, apikey).await?), "the token issued for --apikey/UKO_APIKEY")
            }
        };
        let api = format!("{root}/api/v4");
        Ok(Client { http, root, api, bearer, token_source })
    }

    /// GET an absolute URL and parse the JSON body; 429 and 502–504 are retried with a short backoff.
    /// `vault` is sent as `UKO-Vault`, which services up to 4.9 require on per-resource reads (newer ones
    /// ignore it).
    pub(super) async fn get(&self, url: &str, vault: Option<&str>) -> Result<Value, SnapshotError> {
        let mut attempt = 0;
        loop {
            let mut request = self.http.get(url).header("Accept", "application/json");
            if let Some(token) = &self.bearer {
                request = request.bearer_auth(token);
            }
            if let Some(vault) = vault.filter(|v| !v.is_empty()) {
                request = request.header("UKO-Vault", vault);
            }
            let response = request
                .send()
                .await
                .map_err(|error| SnapshotError::new(format!("cannot reach {url}: {}", chain(&error))))?;
            let status = response.status();
            let retry = matches!(status.as_u16(), 429 | 502 | 503 | 504);
            if retry && attempt < RETRIES {
                attempt += 1;
                tokio::time::sleep(Duration::from_millis(500 * u64::from(attempt))).await;
                continue;
            }
            let text = response.text().await.map_err(|error| {
                SnapshotError::new(format!("reading the answer of {url} failed: {}", chain(&error)))
            })?;
            if !status.is_success() {
                return Err(self.refusal(url, status, &text));
            }
            return serde_json::from_str(&text).map_err(|error| {
                SnapshotError::new(format!("GET {url} answered {status} with a body that is not JSON ({error})"))
            });
        }
    }

    /// Every item of a list endpoint (`path` under `/api/v4`, e.g. `/managed_keys`), page by page.
    /// `progress` gets (items so far, total_count) after each page.
    pub(super) async fn get_all(
        &self,
        path: &str,
        items_name: &str,
        vault: Option<&str>,
        max_items: Option<usize>,
        progress: &mut impl FnMut(usize, usize),
    ) -> Result<Vec<Value>, SnapshotError> {
        let first = format!("{}{path}?limit={PAGE_LIMIT}&offset=0", self.api);
        let page = match self.get(&first, vault).await {
            Err(error) if error.status == Some(StatusCode::BAD_REQUEST) => {
                // A service with a smaller maximum page size; the links it returns carry its own limit.
                self.get(&format!("{}{path}?limit={FALLBACK_PAGE_LIMIT}&offset=0", self.api), vault).await?
            }
            other => other?,
        };
        let mut items = Vec::new();
        let mut page = page;
        let mut seen_urls = std::collections::HashSet::new();
        loop {
            let total = page.get("total_count").and_then(Value::as_u64).unwrap_or(0) as usize;
            let batch = page.get(items_name).and_then(Value::as_array).cloned().ok_or_else(|| {
                SnapshotError::new(format!(
                    "GET {}{path} answered a list without '{items_name}': is this a UKO v4 service?",
                    self.api
                ))
            })?;
            let empty = batch.is_empty();
            items.extend(batch);
            if let Some(max) = max_items {
                if items.len() >= max {
                    items.truncate(max);
                    progress(items.len(), total);
                    return Ok(items);
                }
            }
            progress(items.len(), total.max(items.len()));
            let next = page.get("next").and_then(|n| n.get("href")).and_then(Value::as_str).map(str::to_owned);
            match next {
                // An empty page or a link seen before would loop forever: the list is complete.
                Some(next) if !empty && seen_urls.insert(next.clone()) => page = self.get(&next, vault).await?,
                _ => return Ok(items),
            }
        }
    }

    fn refusal(&self, url: &str, status: StatusCode, body: &str) -> SnapshotError {
        let message = serde_json::from_str::<Value>(body)
            .ok()
            .and_then(|v| v.pointer("/errors/0/message").and_then(Value::as_str).map(str::to_owned))
            .unwrap_or_else(|| body.chars().take(200).collect());
        let text = match status {
            StatusCode::UNAUTHORIZED | StatusCode::FORBIDDEN => format!(
                "the service refused {} (HTTP {}) for GET {url}: {message}; check --token/--apikey and --iam-url",
                self.token_source,
                status.as_u16()
            ),
            _ => format!("GET {url} answered HTTP {}: {message}", status.as_u16()),
        };
        SnapshotError { message: text, status: Some(status) }
    }
}

impl Client {
    /// The first request's 404, explained: the URL is not a UKO v4 service root.
    pub(super) fn wrong_service_url(&self, error: SnapshotError) -> SnapshotError {
        if error.status != Some(StatusCode::NOT_FOUND) {
            return error;
        }
        SnapshotError::new(format!(
            "no UKO v4 API at {}: {}. --from must be the service's server root (e.g. \
             https://eu-de.uko.cloud.ibm.com or http://127.0.0.1:9549), optionally ending in /api/v4",
            self.api, error.message
        ))
    }
}

/// `POST {iam_url}/identity/token` with the API key grant, as IBM's SDK authenticators do.
async fn exchange_apikey(http: &reqwest::Client, iam_url: &str, apikey: &str) -> Result<String, SnapshotError> {
    let url = format!("{}/identity/token", iam_url.trim_end_matches('/'));
    let response = http
        .post(&url)
        .header("Accept", "application/json")
        .form(&[("grant_type", "urn:ibm:params:oauth:grant-type:apikey"), ("apikey", apikey)])
        .send()
        .await
        .map_err(|error| SnapshotError::new(format!("cannot reach the IAM endpoint {url}: {}", chain(&error))))?;
    let status = response.status();
    let text = response.text().await.unwrap_or_default();
    if !status.is_success() {
        let message = serde_json::from_str::<Value>(&text)
            .ok()
            .and_then(|v| {
                v.get("errorMessage")
                    .or_else(|| v.pointer("/errors/0/message"))
                    .and_then(Value::as_str)
                    .map(str::to_owned)
            })
            .unwrap_or_else(|| text.chars().take(200).collect());
        return Err(SnapshotError {
            message: format!(
                "the IAM endpoint {url} refused the API key (HTTP {}): {message}; check --apikey and --iam-url",
                status.as_u16()
            ),
            status: Some(status),
        });
    }
    serde_json::from_str::<Value>(&text)
        .ok()
        .and_then(|v| v.get("access_token").and_then(Value::as_str).map(str::to_owned))
        .ok_or_else(|| SnapshotError::new(format!("the IAM endpoint {url} answered without an access_token")))
}

/// An error with its causes (`connection refused`, DNS and TLS failures sit in the source chain).
fn chain(error: &dyn std::error::Error) -> String {
    // reqwest's own message repeats the URL the caller already names; its causes say what went wrong.
    let (mut text, mut source) = match error.source() {
        Some(cause) => (cause.to_string(), cause.source()),
        None => (error.to_string(), None),
    };
    while let Some(cause) = source {
        let cause_text = cause.to_string();
        if !text.contains(&cause_text) {
            text.push_str(": ");
            text.push_str(&cause_text);
        }
        source = cause.source();
    }
    text
}

#[cfg(test)]
mod tests {
    use super::service_root;

    #[test]
    fn the_service_root_drops_api_v4_and_slashes() {
        assert_eq!(service_root("https://eu-de.uko.cloud.ibm.com"), "https://eu-de.uko.cloud.ibm.com");
        assert_eq!(service_root("https://eu-de.uko.cloud.ibm.com/"), "https://eu-de.uko.cloud.ibm.com");
        assert_eq!(service_root("http://127.0.0.1:9549/api/v4"), "http://127.0.0.1:9549");
        assert_eq!(service_root("http://127.0.0.1:9549/api/v4/"), "http://127.0.0.1:9549");
        assert_eq!(service_root("http://h/instances/x/api/v4"), "http://h/instances/x");
    }
}
