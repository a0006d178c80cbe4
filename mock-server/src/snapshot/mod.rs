//! `uko-mock snapshot`: reads a UKO v4 tenant through its public API and writes a fixture that
//! `uko-mock --fixture FILE` serves with the same ids, labels, states, ETags and divergence.
//!
//! The walk ([`walk`]) reads every page of vaults, templates, keystores (with one live status call per
//! keystore), managed keys (with their embedded `status_in_keystores`, read per key where a list does
//! not embed it), each key's versions and each keystore's associated resources; [`convert`] turns the answers into a fixture; [`write_atomically`]
//! writes it only once it is complete (temporary file in the same directory, fsync, rename), so a failed
//! walk never leaves half a file. This module knows UKO only through HTTP: it uses no part of the mock's
//! server, only the fixture format and the domain's public types.

mod client;
mod convert;

use std::fmt;
use std::io::Write;
use std::path::{Path, PathBuf};

use serde_json::Value;

pub use client::{service_root, Credentials};
pub use convert::PLACEHOLDER_SECRET;

use crate::fixture::Fixture;

/// Why a snapshot failed; the message names the URL or file concerned.
#[derive(Debug)]
pub struct SnapshotError {
    pub message: String,
    /// The HTTP status, when the service answered with an error.
    pub status: Option<reqwest::StatusCode>,
}

impl SnapshotError {
    pub fn new(message: impl Into<String>) -> Self {
        SnapshotError { message: message.into(), status: None }
    }
}

impl fmt::Display for SnapshotError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.message)
    }
}

impl std::error::Error for SnapshotError {}

/// What to snapshot and where to write it.
#[derive(Clone, Debug)]
pub struct Options {
    /// The service URL: the server root (`https://eu-de.uko.cloud.ibm.com`); a trailing `/api/v4` is accepted.
    pub from: String,
    pub credentials: Credentials,
    /// The fixture file; `-` writes to stdout.
    pub out: PathBuf,
    /// Stop after this many managed keys.
    pub include_keys_limit: Option<usize>,
}

/// What a finished snapshot wrote.
#[derive(Debug)]
pub struct Summary {
    pub vaults: usize,
    pub templates: usize,
    pub keystores: usize,
    pub managed_keys: usize,
    pub associated_resources: usize,
    pub notes: convert::Notes,
    /// Whether `--include-keys-limit` cut the managed keys short.
    pub truncated: bool,
}

/// Walks the service, builds the fixture and writes it. Progress and warnings go to `log` (stderr in
/// the binary).
pub async fn run(options: &Options, log: &mut dyn Write) -> Result<Summary, SnapshotError> {
    let client = client::Client::connect(&options.from, &options.credentials).await?;
    let (observed, truncated) = walk(&client, options.include_keys_limit, log).await?;
    let mut description = format!(
        "Snapshot of the UKO tenant at {} taken with uko-mock snapshot through the public API v4.",
        client.root
    );
    if let (true, Some(limit)) = (truncated, options.include_keys_limit) {
        description.push_str(&format!(
            " Only the first {limit} managed keys were included (--include-keys-limit); counters such as keys_count count those only."
        ));
    }
    // The notes the description ends with come from the conversion itself.
    let (mut fixture, notes) = convert::build(&observed, description.clone())?;
    if !notes.placeholder_keystores.is_empty() {
        description.push_str(&format!(
            " UKO does not return keystore credentials: those of {} are the placeholder '{PLACEHOLDER_SECRET}'.",
            notes.placeholder_keystores.join(", ")
        ));
    }
    if !notes.unreachable_keystores.is_empty() {
        description.push_str(&format!(
            " Seen unreachable during the walk, so unreachable here: {}.",
            notes.unreachable_keystores.join(", ")
        ));
    }
    fixture.description = description;
    if !notes.placeholder_keystores.is_empty() {
        say(
            log,
            &format!(
                "warning: UKO does not return keystore credentials; the fixture has the placeholder '{PLACEHOLDER_SECRET}' for: {}",
                notes.placeholder_keystores.join(", ")
            ),
        );
    }
    if !notes.unreachable_keystores.is_empty() {
        say(
            log,
            &format!(
                "warning: seen unreachable during the walk, written as unreachable: {}",
                notes.unreachable_keystores.join(", ")
            ),
        );
    }
    write_fixture(&fixture, &options.out)?;
    Ok(Summary {
        vaults: fixture.vaults.len(),
        templates: fixture.templates.len(),
        keystores: fixture.keystores.len(),
        managed_keys: fixture.managed_keys.len(),
        associated_resources: fixture.associated_resources.len(),
        notes,
        truncated,
    })
}

fn say(log: &mut dyn Write, line: &str) {
    // Progress is best effort: a closed stderr must not fail the snapshot.
    let _ = writeln!(log, "{line}");
}

/// Per-key reads in flight at once: a 20,000-key tenant is read in minutes, not hours, without
/// hammering the service.
const PARALLEL_READS: usize = 8;

fn vault_of(record: &Value) -> String {
    record.pointer("/vault/id").and_then(Value::as_str).unwrap_or("").to_owned()
}

/// Reads everything the fixture needs; returns whether the managed keys were cut at `keys_limit`.
async fn walk(
    client: &client::Client,
    keys_limit: Option<usize>,
    log: &mut dyn Write,
) -> Result<(convert::Observed, bool), SnapshotError> {
    let mut observed = convert::Observed::default();
    let mut quiet = |_: usize, _: usize| {};
    observed.vaults =
        client.get_all("/vaults", "vaults", None, None, &mut quiet).await.map_err(|e| client.wrong_service_url(e))?;
    say(log, &format!("vaults: {}", observed.vaults.len()));
    observed.templates = client.get_all("/templates", "templates", None, None, &mut quiet).await?;
    say(log, &format!("templates: {}", observed.templates.len()));
    observed.keystores = client.get_all("/keystores", "keystores", None, None, &mut quiet).await?;
    say(log, &format!("keystores: {}", observed.keystores.len()));
    for keystore in &observed.keystores {
        let Some(id) = keystore.get("id").and_then(Value::as_str) else { continue };
        // A live call: the keystore's health now, and the service's clock in the heartbeat.
        let url = format!("{}/keystores/{id}/status", client.api);
        match client.get(&url, Some(&vault_of(keystore))).await {
            Ok(status) => {
                observed.keystore_status.insert(id.to_owned(), status);
            }
            // A refused token stops the walk; any other refusal leaves the health the list showed.
            Err(error) if !matches!(error.status.map(|s| s.as_u16()), Some(401 | 403)) && error.status.is_some() => {
                say(log, &format!("warning: {error}; keeping the health the keystore list showed"));
            }
            Err(error) => return Err(error),
        }
    }
    let mut total_keys = 0;
    observed.managed_keys = client
        .get_all("/managed_keys", "managed_keys", None, keys_limit, &mut |done, total| {
            total_keys = total;
            say(log, &format!("managed keys: {done}/{total}"));
        })
        .await?;
    let truncated = keys_limit.is_some_and(|limit| observed.managed_keys.len() >= limit && total_keys > limit);
    if truncated {
        say(
            log,
            &format!(
                "stopped after {} of {total_keys} managed keys (--include-keys-limit)",
                observed.managed_keys.len()
            ),
        );
    }
    // (id, vault, whether the list item lacks its status_in_keystores and it must be read on its own)
    let keys: Vec<(String, String, bool)> = observed
        .managed_keys
        .iter()
        .filter_map(|k| {
            let id = k.get("id").and_then(Value::as_str)?;
            Some((id.to_owned(), vault_of(k), k.get("status_in_keystores").and_then(Value::as_array).is_none()))
        })
        .collect();
    let mut statuses: std::collections::HashMap<String, Value> = std::collections::HashMap::new();
    let count = keys.len();
    let mut reads = tokio::task::JoinSet::new();
    let mut done = 0;
    let mut keys = keys.into_iter();
    loop {
        while reads.len() < PARALLEL_READS {
            let Some((id, vault, needs_status)) = keys.next() else { break };
            let client = client.clone();
            reads.spawn(async move {
                let path = format!("/managed_keys/{id}/versions");
                let versions = client.get_all(&path, "managed_keys", Some(&vault), None, &mut |_, _| {}).await;
                let status = match needs_status {
                    true => {
                        let url = format!("{}/managed_keys/{id}/status_in_keystores", client.api);
                        Some(client.get(&url, Some(&vault)).await)
                    }
                    false => None,
                };
                (id, versions, status)
            });
        }
        let Some(joined) = reads.join_next().await else { break };
        let (id, versions, status) =
            joined.map_err(|error| SnapshotError::new(format!("reading key versions failed: {error}")))?;
        if let Some(status) = status {
            statuses.insert(id.clone(), status?.get("status_in_keystores").cloned().unwrap_or(Value::Null));
        }
        observed.versions.insert(id, versions?);
        done += 1;
        if done % 1000 == 0 || done == count {
            say(log, &format!("key versions: {done}/{count}"));
        }
    }
    for key in &mut observed.managed_keys {
        let id = key.get("id").and_then(Value::as_str).unwrap_or("").to_owned();
        if let (Some(status), Some(fields)) = (statuses.remove(&id), key.as_object_mut()) {
            fields.insert("status_in_keystores".to_owned(), status);
        }
    }
    for keystore in &observed.keystores {
        let Some(id) = keystore.get("id").and_then(Value::as_str) else { continue };
        let path = format!("/keystores/{id}/associated_resources");
        let vault = vault_of(keystore);
        let resources = client.get_all(&path, "associated_resources", Some(&vault), None, &mut quiet).await?;
        observed.associated_resources.extend(resources);
    }
    say(log, &format!("associated resources: {}", observed.associated_resources.len()));
    Ok((observed, truncated))
}

/// Writes the fixture to `out` (`-`: stdout) only once it is whole.
fn write_fixture(fixture: &Fixture, out: &Path) -> Result<(), SnapshotError> {
    let mut text = fixture.to_json();
    text.push('\n');
    if out == Path::new("-") {
        let mut stdout = std::io::stdout().lock();
        return stdout
            .write_all(text.as_bytes())
            .and_then(|()| stdout.flush())
            .map_err(|error| SnapshotError::new(format!("cannot write the fixture to stdout: {error}")));
    }
    write_atomically(out, text.as_bytes())
}

/// Temporary file in the same directory, fsync, rename over `path`, fsync of the directory: readers see
/// either the old file or the whole new one, never a part.
pub fn write_atomically(path: &Path, bytes: &[u8]) -> Result<(), SnapshotError> {
    let directory = match path.parent() {
        Some(parent) if !parent.as_os_str().is_empty() => parent.to_owned(),
        _ => PathBuf::from("."),
    };
    let file_name = path.file_name().map(|n| n.to_string_lossy().into_owned()).unwrap_or_default();
    if file_name.is_empty() {
        return Err(SnapshotError::new(format!("--out {} names no file", path.display())));
    }
    let temporary = directory.join(format!(".{file_name}.{}.tmp", std::process::id()));
    let failed = |step: &str, error: std::io::Error| {
        let _ = std::fs::remove_file(&temporary);
        SnapshotError::new(format!("cannot write {} ({step} {}): {error}", path.display(), temporary.display()))
    };
    let mut file = std::fs::File::create(&temporary).map_err(|e| failed("creating", e))?;
    file.write_all(bytes).map_err(|e| failed("writing", e))?;
    file.sync_all().map_err(|e| failed("syncing", e))?;
    drop(file);
    std::fs::rename(&temporary, path).map_err(|e| failed("renaming", e))?;
    // The rename is durable once the directory is; not every platform can open a directory, so best effort.
    if let Ok(directory) = std::fs::File::open(&directory) {
        let _ = directory.sync_all();
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::write_atomically;

    #[test]
    fn an_atomic_write_leaves_the_whole_file_or_nothing() {
        let directory = std::env::temp_dir().join(format!("uko-mock-snapshot-write-{}", std::process::id()));
        let _ = std::fs::remove_dir_all(&directory);
        std::fs::create_dir_all(&directory).expect("a scratch directory");
        let file = directory.join("out.json");
        write_atomically(&file, b"{}\n").expect("written");
        write_atomically(&file, b"{\"second\": true}\n").expect("replaced");
        assert_eq!(std::fs::read_to_string(&file).expect("readable"), "{\"second\": true}\n");
        let names: Vec<_> = std::fs::read_dir(&directory).expect("listable").flatten().map(|e| e.file_name()).collect();
        assert_eq!(names, vec![std::ffi::OsString::from("out.json")], "no temporary file is left");
        // A directory that does not exist: an error naming the file, and nothing written.
        let missing = directory.join("missing").join("out.json");
        let error = write_atomically(&missing, b"{}").expect_err("no directory");
        assert!(error.message.contains("missing/out.json"), "{error}");
        let _ = std::fs::remove_dir_all(&directory);
    }
}
