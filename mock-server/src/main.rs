//! The `uko-mock` binary: parses the command line, sets up logging, loads the fixture (and the state file),
//! binds, prints how to connect, and serves until Ctrl-C or SIGTERM. All logic lives in the library.
//!
//! A startup error (port in use, a missing or malformed fixture, a bad state file) is one line on stderr
//! naming what is wrong and what to do, and exit code 1: never anyhow's multi-line report, never a
//! backtrace, whatever `RUST_BACKTRACE` says.

use std::net::SocketAddr;
use std::process::ExitCode;

use anyhow::{anyhow, Context};
use clap::Parser;
use tokio::net::TcpListener;
use uko_mock::config::{Command, Config, SnapshotArgs};
use uko_mock::domain::Profile;
use uko_mock::fixture::Fixture;
use uko_mock::server::{Limits, Listener};
use uko_mock::tls::TlsIdentity;
use uko_mock::web::access::AdminAccess;
use uko_mock::web::auth::{Auth, AuthMode};
use uko_mock::web::browser::BrowserPolicy;
use uko_mock::web::AppState;

#[tokio::main]
async fn main() -> ExitCode {
    let config = Config::parse();
    let outcome = match &config.command {
        Some(Command::Snapshot(args)) => snapshot(args).await,
        None => serve(&config).await,
    };
    match outcome {
        Ok(()) => ExitCode::SUCCESS,
        Err(error) => {
            // `{:#}` is the context chain on one line; a multi-line cause is folded into it.
            let line = format!("{error:#}").replace('\n', " ");
            eprintln!("uko-mock: error: {line}");
            ExitCode::FAILURE
        }
    }
}

/// Serves until Ctrl-C or SIGTERM. Every error says what to do in its last clause.
async fn serve(config: &Config) -> anyhow::Result<()> {
    let filter = tracing_subscriber::EnvFilter::try_new(&config.log)
        .map_err(|error| anyhow!("invalid --log filter '{}': {error}; try --log info", config.log))?;
    // Colour codes only for a terminal: a log redirected to a file or a CI log stays plain text.
    let ansi = std::io::IsTerminal::is_terminal(&std::io::stderr());
    tracing_subscriber::fmt().with_env_filter(filter).with_ansi(ansi).with_writer(std::io::stderr).init();

    let (store, description) = match &config.fixture {
        Some(path) => uko_mock::server::store_from_fixture_file(path, config.seed).map_err(|error| {
            anyhow!(
                "cannot serve the fixture: {error}; fix the file (fixtures/README.md describes the format) or pass another --fixture"
            )
        })?,
        None => {
            let fixture = Fixture::default_fixture().context("the built-in default fixture is invalid")?;
            let description = fixture.description.clone();
            let store = uko_mock::server::store_from_fixture(fixture, config.seed)
                .context("the built-in default fixture is invalid")?;
            (store, description)
        }
    };
    store.set_journal_capacity(config.journal_size);
    store.set_journal_max_bytes(config.journal_max_bytes);
    if let Some(path) = &config.state_file {
        uko_mock::persistence::attach_with_limit(&store, path, config.max_state_file_bytes).map_err(|error| {
            anyhow!(
                "cannot use the state file: {error:#}; it was left untouched: fix or move it, or pass another --state-file"
            )
        })?;
    }
    if let Some(profile) = config.profile {
        store.set_profile(profile);
    }
    let profile = store.with_instance(uko_mock::store::DEFAULT_INSTANCE, |instance| instance.settings.profile);
    let auth = Auth::new(config.auth, config.api_keys.clone(), config.tokens.clone(), config.token_ttl)
        .with_refresh_token_ttl(config.refresh_token_ttl);

    let address = SocketAddr::new(config.bind, config.port);
    let listener = TcpListener::bind(address).await.map_err(|error| cannot_listen(address, &error))?;
    let bound = listener.local_addr().context("cannot read the bound address")?;
    if !bound.ip().is_loopback() {
        tracing::warn!(%bound, "listening on a non-loopback address: other machines can reach this mock");
    }
    let https_listener = match config.https_port {
        Some(port) => {
            let address = SocketAddr::new(config.bind, port);
            let listener = TcpListener::bind(address)
                .await
                .with_context(|| format!("--https-port {port}: cannot listen on {address}"))?;
            Some(listener)
        }
        None => None,
    };
    let https_bound = https_listener.as_ref().map(TcpListener::local_addr).transpose()?;
    let tls = tls_identity(config, https_bound.map_or(bound.port(), |a| a.port()))?;
    print_banner(config, bound, &description, profile);
    if let Some(identity) = &tls {
        print_tls_banner(identity, https_bound.unwrap_or(bound));
    }

    let admin = AdminAccess::new(config.admin_token.clone(), bound.ip());
    let browser = BrowserPolicy::new(bound.ip(), &config.allowed_hosts, config.public_url.as_deref());
    let state = AppState::new(store.clone(), auth, config.public_url.clone(), admin).with_browser_policy(browser);
    let mut listeners = Vec::with_capacity(2);
    listeners.push(match (&tls, config.tls) {
        (Some(identity), true) => Listener::https(listener, identity.config.clone()),
        _ => Listener::plain(listener),
    });
    if let (Some(listener), Some(identity)) = (https_listener, &tls) {
        listeners.push(Listener::https(listener, identity.config.clone()));
    }
    uko_mock::server::serve_listeners(listeners, state, Limits::default(), shutdown_signal())
        .await
        .context("server error")?;
    // Changes were saved as they were acknowledged; this also keeps what reads moved (fault counters).
    store.persist().await.context("cannot save the state at shutdown")?;
    tracing::info!("uko-mock stopped");
    Ok(())
}

/// The bind failure with what to do about it: a port in use is the common case (another uko-mock).
fn cannot_listen(address: SocketAddr, error: &std::io::Error) -> anyhow::Error {
    match error.kind() {
        std::io::ErrorKind::AddrInUse => anyhow!(
            "cannot listen on {address}: the port is in use (another uko-mock?); stop that process, or pass --port 0 to pick a free port"
        ),
        std::io::ErrorKind::PermissionDenied => anyhow!(
            "cannot listen on {address}: permission denied; pick a port above 1023 with --port, or --port 0 for a free one"
        ),
        std::io::ErrorKind::AddrNotAvailable => anyhow!(
            "cannot listen on {address}: this machine has no such address; pass --bind 127.0.0.1 or another local address"
        ),
        _ => anyhow!("cannot listen on {address}: {error}; pass another --bind or --port (--port 0 picks a free port)"),
    }
}

/// `uko-mock snapshot`: a failure is one line on stderr and exit code 1.
async fn snapshot(args: &SnapshotArgs) -> anyhow::Result<()> {
    use uko_mock::snapshot::{Credentials, Options};
    let credentials = match (&args.token, &args.apikey) {
        (Some(token), _) => Credentials::Token(token.clone()),
        (None, Some(apikey)) => Credentials::ApiKey { apikey: apikey.clone(), iam_url: iam_url_for(args)? },
        (None, None) => Credentials::None,
    };
    let options = Options {
        from: args.from.clone(),
        credentials,
        out: args.out.clone(),
        include_keys_limit: args.include_keys_limit.map(|n| usize::try_from(n).unwrap_or(usize::MAX)),
    };
    let summary = match uko_mock::snapshot::run(&options, &mut std::io::stderr()).await {
        Ok(summary) => summary,
        Err(error) => {
            // One clear line, not a backtrace: these are operator errors (URL, token, network).
            eprintln!("uko-mock snapshot: error: {error}; nothing was written to {}", args.out.display());
            std::process::exit(1);
        }
    };
    eprintln!(
        "wrote {}: {} vaults, {} templates, {} keystores, {} managed keys, {} associated resources",
        args.out.display(),
        summary.vaults,
        summary.templates,
        summary.keystores,
        summary.managed_keys,
        summary.associated_resources
    );
    if args.out.as_os_str() != "-" {
        // A command that runs as printed (with uko-mock installed, README.md's Set-up).
        eprintln!("serve it with: uko-mock --fixture {}", shell_word(&args.out.display().to_string()));
    }
    Ok(())
}

/// The certificate HTTPS serves, when `--tls` or `--https-port` asks for HTTPS: the user's pair, or one
/// generated (or kept, with `--tls-reuse`) in `--tls-dir` under the HTTPS port's name. Only then is any
/// certificate work done, so start-up without TLS costs nothing more.
fn tls_identity(config: &Config, https_port: u16) -> anyhow::Result<Option<TlsIdentity>> {
    if !config.tls && config.https_port.is_none() {
        let unused = [
            (config.tls_cert.is_some(), "--tls-cert"),
            (config.tls_dir.is_some(), "--tls-dir"),
            (config.tls_reuse, "--tls-reuse"),
        ];
        if let Some((_, flag)) = unused.iter().find(|(given, _)| *given) {
            anyhow::bail!("{flag} is only used with --tls or --https-port");
        }
        return Ok(None);
    }
    let identity = match (&config.tls_cert, &config.tls_key) {
        (Some(cert), Some(key)) => TlsIdentity::from_files(cert, key)?,
        _ => {
            let dir =
                config.tls_dir.clone().unwrap_or_else(|| uko_mock::tls::default_dir(config.state_file.as_deref()));
            TlsIdentity::generated(&dir, https_port, config.tls_reuse)?
        }
    };
    Ok(Some(identity))
}

/// The HTTPS lines of the banner: the service URL, the certificate and the exact lines that trust it.
fn print_tls_banner(identity: &TlsIdentity, https: SocketAddr) {
    let host = if https.ip().is_unspecified() { format!("127.0.0.1:{}", https.port()) } else { https.to_string() };
    let cert = identity.cert_path.display();
    let origin = if identity.generated {
        "generated for localhost, 127.0.0.1, ::1"
    } else {
        "kept or given; --tls-dir/--tls-cert"
    };
    let mut banner = String::new();
    banner.push_str(&format!("  HTTPS:        https://{host}  (service URL for Terraform: IBMCLOUD_HPCS_UKO_URL)\n"));
    banner.push_str(&format!("  certificate:  {cert}  ({origin})\n"));
    banner.push_str(&format!(
        "  trust (Go):   SSL_CERT_FILE={cert}  (Go on Linux: terraform plan/apply, IBM's Go SDK)\n"
    ));
    banner.push_str(&format!("  trust (curl): curl --cacert {cert} https://{host}/__mock/v1/health\n"));
    print!("{banner}");
}

/// `text` as one shell word: as is when it needs no quoting, else in single quotes.
fn shell_word(text: &str) -> String {
    let plain = !text.is_empty() && text.chars().all(|c| c.is_ascii_alphanumeric() || "-_./=:,+@%".contains(c));
    if plain {
        text.to_owned()
    } else {
        format!("'{}'", text.replace('\'', r"'\''"))
    }
}

/// IBM's public IAM endpoint, the default for an IBM Cloud `--from`.
const IBM_CLOUD_IAM_URL: &str = "https://iam.cloud.ibm.com";

/// Where `--apikey` is exchanged: `--iam-url`, else IBM's IAM for an IBM Cloud host (said on stderr), else
/// an error: an API key meant for a mock or a private endpoint must not travel to IBM unasked.
fn iam_url_for(args: &SnapshotArgs) -> anyhow::Result<String> {
    if let Some(iam_url) = &args.iam_url {
        return Ok(iam_url.clone());
    }
    let host = reqwest::Url::parse(&args.from).ok().and_then(|url| url.host_str().map(str::to_owned));
    let is_ibm_cloud = host.as_deref().is_some_and(|host| {
        host.ends_with(".cloud.ibm.com") || host.ends_with(".appdomain.cloud") || host == "cloud.ibm.com"
    });
    if is_ibm_cloud {
        eprintln!("exchanging the API key at {IBM_CLOUD_IAM_URL} (IBM Cloud IAM; --iam-url changes it)");
        Ok(IBM_CLOUD_IAM_URL.to_owned())
    } else {
        Err(anyhow!(
            "--apikey needs --iam-url when --from ({}) is not an IBM Cloud host; for a uko-mock pass its root, e.g. --iam-url {}, or send a token with --token",
            args.from,
            args.from.trim_end_matches('/').trim_end_matches("/api/v4")
        ))
    }
}

fn print_banner(config: &Config, bound: SocketAddr, description: &str, profile: Profile) {
    let host = if bound.ip().is_unspecified() { format!("127.0.0.1:{}", bound.port()) } else { bound.to_string() };
    let base = if config.tls { format!("https://{host}") } else { format!("http://{host}") };
    // Written in one piece, so that a reader who stops at the first line still finds the rest in the pipe.
    let mut banner = String::new();
    macro_rules! say {
        ($($argument:tt)*) => {{
            banner.push_str(&format!($($argument)*));
            banner.push('\n');
        }};
    }
    say!("uko-mock {} listening on {base}", env!("CARGO_PKG_VERSION"));
    say!("  fixture:      {description}");
    // IBM's SDKs take the server root as their service URL: their operation paths begin with /api/v4.
    say!("  service URL:  {base}  (IBM SDKs, Terraform)");
    say!("  API base:     {base}/api/v4  (curl, plain HTTP clients)");
    say!("  IAM URL:      {base}  (POST /identity/token)");
    say!("  console:      {base}/  (the web console: open it in a browser)");
    say!("  profile:      {}  ({})", profile.as_str(), profile.summary());
    match config.auth {
        AuthMode::Iam => {
            say!("  API key:      {}", config.api_keys.first().map(String::as_str).unwrap_or("(none)"));
            say!("  bearer token: {}", config.tokens.first().map(String::as_str).unwrap_or("(none)"));
            if let Some(token) = config.tokens.first() {
                say!("  try:          curl -H 'Authorization: Bearer {token}' {base}/api/v4/managed_keys");
            }
        }
        AuthMode::None => {
            say!("  auth:         none");
            say!("  try:          curl {base}/api/v4/managed_keys");
        }
    }
    let control = match (&config.admin_token, bound.ip().is_loopback()) {
        (Some(_), _) => "admin token required",
        (None, true) => "open to local clients",
        (None, false) => "disabled: pass --admin-token to use it on a non-loopback address",
    };
    say!("  control:      {base}/__mock/v1/health  ({control})");
    if let Some(path) = &config.state_file {
        say!("  state file:   {}", path.display());
    }
    print!("{banner}");
}

async fn shutdown_signal() {
    let interrupt = async {
        if let Err(error) = tokio::signal::ctrl_c().await {
            tracing::error!(%error, "cannot listen for Ctrl-C");
            std::future::pending::<()>().await;
        }
    };
    #[cfg(unix)]
    let terminate = async {
        match tokio::signal::unix::signal(tokio::signal::unix::SignalKind::terminate()) {
            Ok(mut signal) => {
                signal.recv().await;
            }
            Err(error) => {
                tracing::error!(%error, "cannot listen for SIGTERM");
                std::future::pending::<()>().await;
            }
        }
    };
    #[cfg(not(unix))]
    let terminate = std::future::pending::<()>();
    tokio::select! {
        _ = interrupt => tracing::info!("Ctrl-C received, shutting down"),
        _ = terminate => tracing::info!("SIGTERM received, shutting down"),
    }
}
