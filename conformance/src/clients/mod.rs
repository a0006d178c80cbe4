//! The client under test: the environment contract every client receives, and the two ways to run one —
//! an external command (any language, spawned through `sh -c`) or an in-process Rust client.
//!
//! Whatever the kind, a run ends in a [`ClientOutcome`]: the exit code is the client's claim (0 = "the
//! key is in sync in every keystore"), stdout and stderr are kept for the report, and a client still
//! running at the case timeout is killed and counted as a hang. Judging the claim is `properties`' job.

pub mod fleet;
pub mod mutants;
pub mod reference;

use std::future::Future;
use std::path::PathBuf;
use std::pin::Pin;
use std::process::Stdio;
use std::sync::Arc;
use std::time::{Duration, Instant};

use anyhow::{bail, Context};
use tokio::io::AsyncReadExt;

use crate::fleet::{Scope, ScopeKind};

/// Most bytes of stdout and of stderr kept per run.
pub const MAX_OUTPUT_BYTES: usize = 64 * 1024;

/// The path prefix of UKO v4; IBM's SDK paths begin with it, so its service URL is the server root.
pub const API_PREFIX: &str = "/api/v4";

/// What a client is told about its task, passed to external clients as environment variables.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct ClientEnv {
    /// `UKO_URL`: the service URL as IBM's Go SDK (`ukov4`) means it, the server root
    /// `http://127.0.0.1:<port>`; requests go to `$UKO_URL/api/v4/...`.
    pub service_url: String,
    /// `UKO_API_URL`: the `/api/v4` base for plain HTTP clients, `http://127.0.0.1:<port>/api/v4`.
    pub api_url: String,
    /// `UKO_IAM_URL`: the IAM URL (the server root); tokens come from `POST <iam>/identity/token`.
    pub iam_url: String,
    /// `UKO_APIKEY`: an API key that IAM exchanges for a token.
    pub api_key: String,
    /// `UKO_TOKEN`: a bearer token that works as is.
    pub token: String,
    /// `UKO_KEY_ID`: the managed key to verify and sync.
    pub managed_key_id: String,
    /// `UKO_VAULT_ID`: the vault of that key (one-key contract), or the vault to sync (fleet contract,
    /// vault scope).
    pub vault_id: String,
    /// Fleet contract: `UKO_SCOPE` and `UKO_KEYSTORE_ID` or `UKO_VAULT_ID`; then `managed_key_id` is empty
    /// and `UKO_KEY_ID` is not set.
    pub scope: Option<Scope>,
}

/// How a client run ended.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum ClientExit {
    /// The client exited with this code (0 claims "in sync").
    Code(i32),
    /// Killed by a signal it did not get from us.
    Signal,
    /// Still running at the case timeout; killed.
    Hung,
    /// The command could not be started at all.
    NotStarted(String),
}

/// A finished client run.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct ClientOutcome {
    pub exit: ClientExit,
    pub stdout: String,
    pub stderr: String,
    /// From the start of the client to its exit (or to the kill at the timeout).
    pub duration: Duration,
}

/// The in-process result of a Rust client: `Ok(report)` claims the key is in sync everywhere,
/// `Err(reason)` says it could not sync it.
pub type InProcessResult = Result<String, String>;

/// A boxed future of an in-process client run.
pub type ClientFuture<'a> = Pin<Box<dyn Future<Output = InProcessResult> + Send + 'a>>;

/// A Rust client run inside the suite's process, without spawning anything (for speed).
pub trait InProcessClient: Send + Sync {
    /// Verifies and syncs `env.managed_key_id` like an external client would with the same environment.
    fn run<'a>(&'a self, env: &'a ClientEnv) -> ClientFuture<'a>;
}

/// The client a suite run tests.
#[derive(Clone)]
pub enum ClientUnderTest {
    /// A command line run with `sh -c`.
    Command {
        command_line: String,
        /// Put in front of `PATH`, so `uko-conformance reference-client` finds the running binary.
        extra_path: Option<PathBuf>,
    },
    /// A built-in Rust client (`builtin:<name>`).
    InProcess { name: String, client: Arc<dyn InProcessClient> },
}

impl ClientEnv {
    /// The environment variables of the client contract.
    pub fn variables(&self) -> Vec<(&'static str, &str)> {
        let mut variables = vec![
            ("UKO_URL", self.service_url.as_str()),
            ("UKO_API_URL", &self.api_url),
            ("UKO_IAM_URL", &self.iam_url),
            ("UKO_APIKEY", &self.api_key),
            ("UKO_TOKEN", &self.token),
        ];
        match &self.scope {
            None => variables.extend([("UKO_KEY_ID", self.managed_key_id.as_str()), ("UKO_VAULT_ID", &self.vault_id)]),
            Some(scope) => match scope.kind {
                ScopeKind::Keystore => variables.extend([("UKO_SCOPE", "keystore"), ("UKO_KEYSTORE_ID", &scope.id)]),
                ScopeKind::Vault => variables.extend([("UKO_SCOPE", "vault"), ("UKO_VAULT_ID", &scope.id)]),
            },
        }
        variables
    }

    /// Every variable of either contract: removed from an external client's inherited environment first,
    /// so a `UKO_KEY_ID` of the caller's shell never reaches a fleet client.
    pub const ALL_VARIABLES: [&'static str; 9] = [
        "UKO_URL",
        "UKO_API_URL",
        "UKO_IAM_URL",
        "UKO_APIKEY",
        "UKO_TOKEN",
        "UKO_KEY_ID",
        "UKO_VAULT_ID",
        "UKO_SCOPE",
        "UKO_KEYSTORE_ID",
    ];

    /// Reads the contract from the process environment (for `uko-conformance reference-client`), printing
    /// [`ClientEnv::from_lookup`]'s warning, if any, on stderr.
    pub fn from_process_env() -> anyhow::Result<ClientEnv> {
        let (env, warning) = ClientEnv::from_lookup(|name| std::env::var(name).ok())?;
        if let Some(warning) = warning {
            eprintln!("warning: {warning}");
        }
        Ok(env)
    }

    /// Reads the contract through `lookup` (a variable's value, `None` when unset).
    /// `UKO_URL` and `UKO_KEY_ID` are required; a client without credentials sends no Authorization.
    /// Without `UKO_API_URL` the API base is `UKO_URL` + `/api/v4`. A `UKO_URL` that itself ends in
    /// `/api/v4` (the contract before the SDK's meaning was adopted) is accepted as the API base, with
    /// the server root derived from it and a warning returned.
    pub fn from_lookup(lookup: impl Fn(&str) -> Option<String>) -> anyhow::Result<(ClientEnv, Option<String>)> {
        let variable = |name: &str| lookup(name).unwrap_or_default();
        let given_url = variable("UKO_URL");
        let managed_key_id = variable("UKO_KEY_ID");
        let scope = match variable("UKO_SCOPE").as_str() {
            "" => None,
            "keystore" => Some(Scope { kind: ScopeKind::Keystore, id: variable("UKO_KEYSTORE_ID") }),
            "vault" => Some(Scope { kind: ScopeKind::Vault, id: variable("UKO_VAULT_ID") }),
            other => bail!("expected UKO_SCOPE=keystore or UKO_SCOPE=vault, found UKO_SCOPE='{other}'"),
        };
        if let Some(scope) = scope.as_ref().filter(|scope| scope.id.is_empty()) {
            let name = if scope.kind == ScopeKind::Keystore { "UKO_KEYSTORE_ID" } else { "UKO_VAULT_ID" };
            bail!("UKO_SCOPE={} needs {name} in the environment", scope.kind);
        }
        if given_url.is_empty() || (managed_key_id.is_empty() && scope.is_none()) {
            bail!(
                "expected UKO_URL and UKO_KEY_ID in the environment, found UKO_URL='{given_url}' UKO_KEY_ID='{managed_key_id}'"
            );
        }
        let trimmed = given_url.trim_end_matches('/');
        let (service_url, warning) = match trimmed.strip_suffix(API_PREFIX) {
            Some(root) => (
                root.to_owned(),
                Some(format!(
                    "UKO_URL='{given_url}' ends in {API_PREFIX}; UKO_URL is now the server root (the service URL of \
                     IBM's SDK) and UKO_API_URL the {API_PREFIX} base. Using '{root}' as the root."
                )),
            ),
            None => (trimmed.to_owned(), None),
        };
        let api_url = match lookup("UKO_API_URL").filter(|url| !url.is_empty()) {
            Some(url) => url.trim_end_matches('/').to_owned(),
            None => format!("{service_url}{API_PREFIX}"),
        };
        let env = ClientEnv {
            service_url,
            api_url,
            iam_url: variable("UKO_IAM_URL"),
            api_key: variable("UKO_APIKEY"),
            token: variable("UKO_TOKEN"),
            managed_key_id,
            vault_id: variable("UKO_VAULT_ID"),
            scope,
        };
        Ok((env, warning))
    }
}

impl ClientExit {
    /// True when the client claimed the key is in sync.
    pub fn claims_in_sync(&self) -> bool {
        *self == ClientExit::Code(0)
    }
}

impl std::fmt::Display for ClientExit {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            ClientExit::Code(code) => write!(f, "exit {code}"),
            ClientExit::Signal => f.write_str("killed by a signal"),
            ClientExit::Hung => f.write_str("hung (killed at the case timeout)"),
            ClientExit::NotStarted(reason) => write!(f, "could not start: {reason}"),
        }
    }
}

impl ClientUnderTest {
    /// Parses `--client`: `builtin:<name>` for an in-process client, anything else is a command line.
    pub fn from_spec(spec: &str) -> anyhow::Result<ClientUnderTest> {
        if let Some(name) = spec.strip_prefix("builtin:") {
            let client = builtin(name).with_context(|| {
                format!(
                    "expected builtin:reference or builtin:<mutant> ({}), found 'builtin:{name}'",
                    builtin_names().join(", ")
                )
            })?;
            return Ok(ClientUnderTest::InProcess { name: name.to_owned(), client });
        }
        if spec.trim().is_empty() {
            bail!("expected a client command line or builtin:<name>, found an empty --client");
        }
        let extra_path = std::env::current_exe().ok().and_then(|exe| exe.parent().map(PathBuf::from));
        Ok(ClientUnderTest::Command { command_line: spec.to_owned(), extra_path })
    }

    /// What `--client` reproduces this client (for replay command lines).
    pub fn spec(&self) -> String {
        match self {
            ClientUnderTest::Command { command_line, .. } => command_line.clone(),
            ClientUnderTest::InProcess { name, .. } => format!("builtin:{name}"),
        }
    }

    /// Runs the client once against `env`, killing it at `timeout`.
    pub async fn run(&self, env: &ClientEnv, timeout: Duration) -> ClientOutcome {
        match self {
            ClientUnderTest::Command { command_line, extra_path } => {
                run_command(command_line, extra_path.as_ref(), env, timeout).await
            }
            ClientUnderTest::InProcess { client, .. } => {
                let started = Instant::now();
                match tokio::time::timeout(timeout, client.run(env)).await {
                    Ok(Ok(report)) => ClientOutcome {
                        exit: ClientExit::Code(0),
                        stdout: report,
                        stderr: String::new(),
                        duration: started.elapsed(),
                    },
                    Ok(Err(reason)) => ClientOutcome {
                        exit: ClientExit::Code(1),
                        stdout: String::new(),
                        stderr: reason,
                        duration: started.elapsed(),
                    },
                    Err(_) => ClientOutcome {
                        exit: ClientExit::Hung,
                        stdout: String::new(),
                        stderr: String::new(),
                        duration: started.elapsed(),
                    },
                }
            }
        }
    }
}

/// The built-in client with this name: `reference` or a mutant.
pub fn builtin(name: &str) -> Option<Arc<dyn InProcessClient>> {
    if name == "reference" {
        return Some(Arc::new(reference::ReferenceClient::new()));
    }
    if name == "reference-concurrent" {
        return Some(Arc::new(reference::ReferenceClient::concurrent()));
    }
    if name == "reference-fleet" {
        return Some(Arc::new(fleet::FleetClient::new()));
    }
    if name == "reference-fleet-concurrent" {
        return Some(Arc::new(fleet::FleetClient::concurrent()));
    }
    if let Some(mutant) = fleet::FleetMutant::parse(name) {
        return Some(Arc::new(mutant.client()));
    }
    mutants::Mutant::parse(name).map(|mutant| Arc::new(mutant.client()) as Arc<dyn InProcessClient>)
}

/// Names accepted after `builtin:`.
pub fn builtin_names() -> Vec<&'static str> {
    ["reference", "reference-concurrent", "reference-fleet", "reference-fleet-concurrent"]
        .into_iter()
        .chain(mutants::Mutant::ALL.iter().map(|mutant| mutant.name()))
        .chain(fleet::FleetMutant::ALL.iter().map(|mutant| mutant.name()))
        .collect()
}

async fn run_command(
    command_line: &str,
    extra_path: Option<&PathBuf>,
    env: &ClientEnv,
    timeout: Duration,
) -> ClientOutcome {
    let started = Instant::now();
    let mut command = tokio::process::Command::new("sh");
    command.arg("-c").arg(command_line).stdin(Stdio::null()).stdout(Stdio::piped()).stderr(Stdio::piped());
    for name in ClientEnv::ALL_VARIABLES {
        command.env_remove(name);
    }
    command.envs(env.variables());
    if let Some(directory) = extra_path {
        let path = std::env::var_os("PATH").unwrap_or_default();
        let mut directories = vec![directory.clone()];
        directories.extend(std::env::split_paths(&path));
        if let Ok(joined) = std::env::join_paths(directories) {
            command.env("PATH", joined);
        }
    }
    // Its own process group, so a hang kills the whole pipeline `sh -c` started, not just the shell.
    command.process_group(0).kill_on_drop(true);
    let mut child = match command.spawn() {
        Ok(child) => child,
        Err(error) => {
            return ClientOutcome {
                exit: ClientExit::NotStarted(format!("sh -c '{command_line}': {error}")),
                stdout: String::new(),
                stderr: String::new(),
                duration: started.elapsed(),
            }
        }
    };
    let stdout_reader = child.stdout.take().map(|pipe| tokio::spawn(read_bounded(pipe)));
    let stderr_reader = child.stderr.take().map(|pipe| tokio::spawn(read_bounded(pipe)));
    let exit = match tokio::time::timeout(timeout, child.wait()).await {
        Ok(Ok(status)) => status.code().map_or(ClientExit::Signal, ClientExit::Code),
        Ok(Err(error)) => ClientExit::NotStarted(format!("waiting for the client failed: {error}")),
        Err(_) => {
            kill_process_group(&mut child).await;
            ClientExit::Hung
        }
    };
    let duration = started.elapsed();
    let stdout = join_reader(stdout_reader).await;
    let stderr = join_reader(stderr_reader).await;
    ClientOutcome { exit, stdout, stderr, duration }
}

async fn kill_process_group(child: &mut tokio::process::Child) {
    if let Some(process_id) = child.id() {
        // The group id is the shell's pid (process_group(0)); `kill` reaches every process in it.
        let _ = tokio::process::Command::new("kill")
            .args(["-KILL", "--", &format!("-{process_id}")])
            .stdout(Stdio::null())
            .stderr(Stdio::null())
            .status()
            .await;
    }
    let _ = child.kill().await;
}

async fn read_bounded(mut pipe: impl tokio::io::AsyncRead + Unpin) -> String {
    let mut kept = Vec::new();
    let mut buffer = [0u8; 8192];
    loop {
        match pipe.read(&mut buffer).await {
            Ok(0) | Err(_) => break,
            Ok(read) => {
                let room = MAX_OUTPUT_BYTES.saturating_sub(kept.len());
                kept.extend_from_slice(&buffer[..read.min(room)]);
            }
        }
    }
    String::from_utf8_lossy(&kept).into_owned()
}

async fn join_reader(reader: Option<tokio::task::JoinHandle<String>>) -> String {
    match reader {
        // A grandchild that escaped the kill could hold the pipe open; do not wait for it forever.
        Some(handle) => {
            tokio::time::timeout(Duration::from_secs(5), handle).await.ok().and_then(Result::ok).unwrap_or_default()
        }
        None => String::new(),
    }
}
