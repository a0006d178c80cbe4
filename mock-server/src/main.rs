//! The `uko-mock` binary: parses the command line, sets up logging, loads the fixture (and the state file),
//! binds, prints how to connect, and serves until Ctrl-C or SIGTERM. All logic lives in the library.

use std::net::SocketAddr;

use anyhow::Context;
use clap::Parser;
use tokio::net::TcpListener;
use uko_mock::config::{Command, Config, SnapshotArgs};
use uko_mock::domain::Profile;
use uko_mock::fixture::Fixture;
use uko_mock::web::access::AdminAccess;
use uko_mock::web::auth::{Auth, AuthMode};
use uko_mock::web::browser::BrowserPolicy;
use uko_mock::web::AppState;

#[tokio::main]
async fn main() -> anyhow::Result<()> {
    let config = Config::parse();
    if let Some(Command::Snapshot(args)) = &config.command {
        return snapshot(args).await;
    }
    tracing_subscriber::fmt()
        .with_env_filter(tracing_subscriber::EnvFilter::try_new(&config.log).context("invalid --log filter")?)
        .with_writer(std::io::stderr)
        .init();

    let (store, description) = match &config.fixture {
        Some(path) => uko_mock::server::store_from_fixture_file(path, config.seed)
            .with_context(|| format!("cannot serve fixture {}", path.display()))?,
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
        uko_mock::persistence::attach_with_limit(&store, path, config.max_state_file_bytes).context(
            "refusing to start: the state file cannot be used (an existing one is left untouched; fix or move it, or pass another --state-file)",
        )?;
    }
    if let Some(profile) = config.profile {
        store.set_profile(profile);
    }
    let profile = store.with_instance(uko_mock::store::DEFAULT_INSTANCE, |instance| instance.settings.profile);
    let auth = Auth::new(config.auth, config.api_keys.clone(), config.tokens.clone(), config.token_ttl)
        .with_refresh_token_ttl(config.refresh_token_ttl);

    let address = SocketAddr::new(config.bind, config.port);
    let listener = TcpListener::bind(address).await.with_context(|| format!("cannot listen on {address}"))?;
    let bound = listener.local_addr()?;
    if !bound.ip().is_loopback() {
        tracing::warn!(%bound, "listening on a non-loopback address: other machines can reach this mock");
    }
    print_banner(&config, bound, &description, profile);

    let admin = AdminAccess::new(config.admin_token.clone(), bound.ip());
    let browser = BrowserPolicy::new(bound.ip(), &config.allowed_hosts, config.public_url.as_deref());
    let state = AppState::new(store.clone(), auth, config.public_url.clone(), admin).with_browser_policy(browser);
    uko_mock::serve(listener, state, shutdown_signal()).await.context("server error")?;
    // Changes were saved as they were acknowledged; this also keeps what reads moved (fault counters).
    store.persist().await.context("cannot save the state at shutdown")?;
    tracing::info!("uko-mock stopped");
    Ok(())
}

/// `uko-mock snapshot`: a failure is one line on stderr and exit code 1.
async fn snapshot(args: &SnapshotArgs) -> anyhow::Result<()> {
    use uko_mock::snapshot::{Credentials, Options};
    let credentials = match (&args.token, &args.apikey) {
        (Some(token), _) => Credentials::Token(token.clone()),
        (None, Some(apikey)) => Credentials::ApiKey { apikey: apikey.clone(), iam_url: args.iam_url.clone() },
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
    Ok(())
}

fn print_banner(config: &Config, bound: SocketAddr, description: &str, profile: Profile) {
    let host = if bound.ip().is_unspecified() { format!("127.0.0.1:{}", bound.port()) } else { bound.to_string() };
    let base = format!("http://{host}");
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
