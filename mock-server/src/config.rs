//! The `uko-mock` command line: one clap-derived struct, every flag with help text and a default that
//! serves the default fixture.

use std::net::IpAddr;
use std::path::PathBuf;

use clap::{Args, Parser, Subcommand};

use crate::domain::Profile;
use crate::web::auth::AuthMode;

/// A stateful fake of IBM Unified Key Orchestrator (UKO) API v4 for offline client development and CI.
///
/// With no flags it serves the built-in default fixture on http://127.0.0.1:9549/api/v4 with IAM-style
/// authentication, and prints an API key, a token and a curl line to try.
#[derive(Clone, Debug, Parser)]
#[command(name = "uko-mock", version, about, long_about)]
pub struct Config {
    /// Without a subcommand, uko-mock serves (the flags below).
    #[command(subcommand)]
    pub command: Option<Command>,

    /// Address to listen on. Keep the loopback default unless other machines must reach the mock.
    #[arg(long, default_value = "127.0.0.1", env = "UKO_MOCK_BIND")]
    pub bind: IpAddr,

    /// TCP port; 0 picks a free port (the bound port is printed).
    #[arg(long, default_value_t = 9549, env = "UKO_MOCK_PORT")]
    pub port: u16,

    /// Scenario fixture (JSON, see fixtures/README.md) to serve; default: the built-in default fixture.
    #[arg(long, env = "UKO_MOCK_FIXTURE")]
    pub fixture: Option<PathBuf>,

    /// Time and lifecycle rules: `permissive` (no waiting; for quick tests) or `realistic` (IBM's rules: a
    /// deactivated key is destroyed only 4 hours after its deactivation, at most one rotation per hour, and a
    /// destroyed key's copies stay pending destruction for their keystore type's period (AWS 7 days, Azure
    /// 90, Google and IBM 30); advance the clock with POST /__mock/v1/clock/advance). Destroy from
    /// pre_activation is allowed in both. Default: the fixture's `settings.profile`, permissive in the
    /// built-in fixture.
    #[arg(long, value_parser = parse_profile, env = "UKO_MOCK_PROFILE")]
    pub profile: Option<Profile>,

    /// Seed for ids and fault decisions; overrides the fixture's seed. Same seed + same requests = same bytes.
    #[arg(long, env = "UKO_MOCK_SEED")]
    pub seed: Option<u64>,

    /// `iam`: require `Authorization: Bearer <token>` (tokens from /identity/token or --token);
    /// `none`: no checks.
    #[arg(long, value_enum, default_value_t = AuthMode::Iam, env = "UKO_MOCK_AUTH")]
    pub auth: AuthMode,

    /// API key accepted by the IAM endpoint POST /identity/token (repeatable).
    #[arg(long = "api-key", default_value = "uko-mock-apikey", env = "UKO_MOCK_API_KEY")]
    pub api_keys: Vec<String>,

    /// Static bearer token accepted without calling the IAM endpoint (repeatable).
    #[arg(long = "token", default_value = "uko-mock-token", env = "UKO_MOCK_TOKEN")]
    pub tokens: Vec<String>,

    /// Lifetime of tokens issued by the IAM endpoint, in seconds.
    #[arg(long, default_value_t = 3600)]
    pub token_ttl: u64,

    /// Lifetime of refresh tokens issued by the IAM endpoint, in seconds (IBM's 30 days by default). A
    /// refresh token is accepted only by the endpoint's refresh_token grant, never as a bearer token.
    #[arg(long, default_value_t = crate::web::auth::DEFAULT_REFRESH_TOKEN_TTL)]
    pub refresh_token_ttl: u64,

    /// Scheme and host used in `href`s instead of the request's Host header (e.g. behind a proxy).
    #[arg(long)]
    pub public_url: Option<String>,

    /// Another host name this server answers to (repeatable), besides localhost, 127.0.0.1, [::1], the bound
    /// address and the --public-url host. Requests whose Host names anything else get 403 (against DNS
    /// rebinding), and state-changing requests from a web page of another origin get 403; a name given here
    /// is also accepted as such an origin. '*' accepts every host and origin.
    #[arg(long = "allowed-host", value_name = "NAME", value_parser = parse_allowed_host)]
    pub allowed_hosts: Vec<String>,

    /// Token the control plane (/__mock/v1, except /health) requires, as 'Authorization: Bearer TOKEN' or
    /// 'X-Admin-Token: TOKEN'. Without it the control plane is open on a loopback address and refused
    /// (403) on any other.
    #[arg(long, env = "UKO_MOCK_ADMIN_TOKEN", hide_env_values = true)]
    pub admin_token: Option<String>,

    /// Requests each instance's journal keeps (GET /__mock/v1/journal); older ones are forgotten.
    #[arg(long, default_value_t = crate::domain::request_journal::DEFAULT_CAPACITY, value_parser = parse_journal_size, env = "UKO_MOCK_JOURNAL_SIZE")]
    pub journal_size: usize,

    /// Memory each instance's journal may hold, in bytes; beyond it the oldest entries are forgotten even
    /// below --journal-size (long paths and If-Match values are cut to 2 KiB per field in any case).
    #[arg(long, default_value_t = crate::domain::request_journal::DEFAULT_MAX_BYTES, value_parser = parse_journal_max_bytes, env = "UKO_MOCK_JOURNAL_MAX_BYTES")]
    pub journal_max_bytes: usize,

    /// Keep every instance in this JSON file across restarts: loaded at start if it exists (a corrupt or
    /// foreign file stops the server and is left untouched), created otherwise, and rewritten before each
    /// change is acknowledged.
    #[arg(long, env = "UKO_MOCK_STATE_FILE")]
    pub state_file: Option<PathBuf>,

    /// Serve HTTPS on --port instead of plain HTTP (Terraform's IBM provider only speaks HTTPS). Without
    /// --tls-cert/--tls-key a certificate for localhost, 127.0.0.1 and ::1 is generated into --tls-dir and
    /// the banner prints how to trust it.
    #[arg(long, env = "UKO_MOCK_TLS")]
    pub tls: bool,

    /// Also serve HTTPS on this port, beside plain HTTP on --port (same instances, IAM, control plane and
    /// console on both); 0 picks a free port.
    #[arg(long, value_name = "PORT", env = "UKO_MOCK_HTTPS_PORT")]
    pub https_port: Option<u16>,

    /// Directory the generated certificate and key are written to, as uko-mock-<port>.pem and
    /// uko-mock-<port>-key.pem. Default: uko-mock-tls/ beside --state-file, else in the OS temporary
    /// directory.
    #[arg(long, value_name = "DIR", env = "UKO_MOCK_TLS_DIR")]
    pub tls_dir: Option<PathBuf>,

    /// Serve the certificate already in --tls-dir for this port if there is one, instead of generating a
    /// new one, so a trust set up once (SSL_CERT_FILE, curl --cacert) keeps working across restarts.
    #[arg(long, env = "UKO_MOCK_TLS_REUSE")]
    pub tls_reuse: bool,

    /// Serve this certificate (PEM, leaf first, then its chain) for HTTPS instead of a generated one;
    /// needs --tls-key.
    #[arg(long, value_name = "FILE", requires = "tls_key", env = "UKO_MOCK_TLS_CERT")]
    pub tls_cert: Option<PathBuf>,

    /// The private key (PEM: PKCS#8, PKCS#1 or SEC1) of --tls-cert.
    #[arg(long, value_name = "FILE", requires = "tls_cert", env = "UKO_MOCK_TLS_KEY")]
    pub tls_key: Option<PathBuf>,

    /// Largest --state-file loaded at start, in bytes; a larger file (or anything but a regular file) is
    /// refused before it is read.
    #[arg(long, default_value_t = crate::persistence::DEFAULT_MAX_STATE_FILE_BYTES, value_parser = parse_max_state_file_bytes, env = "UKO_MOCK_MAX_STATE_FILE_BYTES")]
    pub max_state_file_bytes: u64,

    /// Log filter (tracing env-filter syntax), e.g. `info`, `debug`, `uko_mock=trace`.
    #[arg(long, default_value = "info", env = "UKO_MOCK_LOG")]
    pub log: String,
}

/// What `uko-mock` does besides serving.
#[derive(Clone, Debug, Subcommand)]
pub enum Command {
    /// Read a UKO v4 tenant through its public API and write it as a fixture that `uko-mock --fixture FILE`
    /// serves with the same ids, labels, states, ETags and divergence.
    ///
    /// Reads every page of vaults, templates, keystores (one live status call each), managed keys with
    /// their status in keystores, each key's versions and the associated resources. Keystore credentials
    /// (never returned by UKO) are written as placeholders; keystores seen unreachable stay unreachable.
    /// The file is written only when the walk is complete. Progress and warnings go to stderr.
    Snapshot(SnapshotArgs),
}

/// The flags of `uko-mock snapshot`.
#[derive(Clone, Debug, Args)]
pub struct SnapshotArgs {
    /// Service URL: the server root, e.g. https://eu-de.uko.cloud.ibm.com or http://127.0.0.1:9549
    /// (a trailing /api/v4 is accepted and dropped).
    #[arg(long, env = "UKO_URL")]
    pub from: String,

    /// IBM Cloud API key, exchanged for a token at --iam-url.
    #[arg(long, env = "UKO_APIKEY", hide_env_values = true)]
    pub apikey: Option<String>,

    /// IAM endpoint for --apikey (POST {iam-url}/identity/token); for a uko-mock, its own root URL.
    /// Default: https://iam.cloud.ibm.com when --from is an IBM Cloud host; required otherwise, so an API
    /// key meant for a mock is never sent to IBM.
    #[arg(long, env = "UKO_IAM_URL")]
    pub iam_url: Option<String>,

    /// Bearer token sent as-is (wins over --apikey). Without either, no Authorization header is sent.
    #[arg(long, env = "UKO_TOKEN", hide_env_values = true)]
    pub token: Option<String>,

    /// Fixture file to write (replaced only once the walk is complete); `-` writes to stdout.
    #[arg(long, default_value = "snapshot.json")]
    pub out: PathBuf,

    /// Stop after this many managed keys (said on stderr and in the fixture's description).
    #[arg(long, value_parser = clap::value_parser!(u64).range(1..))]
    pub include_keys_limit: Option<u64>,
}

fn parse_journal_size(text: &str) -> Result<usize, String> {
    match text.parse::<usize>() {
        Ok(entries) if entries >= 1 => Ok(entries),
        _ => Err(format!("expected a number of entries of at least 1, found '{text}'")),
    }
}

fn parse_allowed_host(text: &str) -> Result<String, String> {
    let valid = text == "*"
        || (!text.is_empty()
            && text.len() <= 253
            && text.chars().all(|c| c.is_ascii_alphanumeric() || "-._[]:".contains(c)));
    if valid {
        Ok(text.to_ascii_lowercase())
    } else {
        Err(format!("expected a host name (letters, digits, '-', '.'), an IP address or '*', found '{text}'"))
    }
}

fn parse_journal_max_bytes(text: &str) -> Result<usize, String> {
    match text.parse::<usize>() {
        Ok(bytes) if bytes >= 1 => Ok(bytes),
        _ => Err(format!("expected a number of bytes of at least 1, found '{text}'")),
    }
}

fn parse_max_state_file_bytes(text: &str) -> Result<u64, String> {
    match text.parse::<u64>() {
        Ok(bytes) if bytes >= 1 => Ok(bytes),
        _ => Err(format!("expected a number of bytes of at least 1, found '{text}'")),
    }
}

fn parse_profile(text: &str) -> Result<Profile, String> {
    Profile::parse(text).ok_or_else(|| {
        let names: Vec<&str> = Profile::ALL.iter().map(|p| p.as_str()).collect();
        format!("expected one of {}, found '{text}'", names.join(", "))
    })
}
