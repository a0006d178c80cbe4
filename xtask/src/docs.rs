//! `cargo xtask docs`: runs the shell blocks of the README files against a live mock, so a documented
//! command that stops working fails CI instead of a new user.
//!
//! Which blocks run is said in the block's info string, so the rule is visible where the block is written:
//! in `README.md` every ```` ```sh ```` block runs unless it is marked ```` ```sh no-run ```` (a command that
//! keeps the terminal, needs IBM Cloud or a client of your own); in `conformance/README.md` only blocks marked
//! ```` ```sh runnable ```` run. Each block runs alone in `bash` with `set -euo pipefail`, in a scratch
//! directory, with the debug builds of `uko-mock` and `uko-conformance` first on `PATH`, against one
//! `uko-mock --port 0` whose port replaces the documented `127.0.0.1:9549`; the mock's default instance is
//! reset before each block. `curl` fails on an HTTP error (`--fail-with-body`), so a documented request
//! that the mock refuses fails the block.

use std::io::{BufRead, BufReader, Read};
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

use anyhow::{bail, Context};

use crate::{cargo, project_root};

/// The documents checked, and which of their blocks run.
const DOCUMENTS: &[(&str, Policy)] =
    &[("README.md", Policy::EveryShellBlock), ("conformance/README.md", Policy::MarkedRunnable)];

/// The address the documents use for the mock; replaced by the live one.
const DOCUMENTED_ADDRESS: &str = "127.0.0.1:9549";

/// Longest a block may run.
const BLOCK_TIMEOUT: Duration = Duration::from_secs(300);

#[derive(Clone, Copy, Debug, PartialEq, Eq)]
enum Policy {
    /// ```` ```sh ```` runs, ```` ```sh no-run ```` does not.
    EveryShellBlock,
    /// Only ```` ```sh runnable ```` runs.
    MarkedRunnable,
}

/// A fenced block to run.
#[derive(Debug, PartialEq, Eq)]
struct Block {
    /// 1-based line of the opening fence.
    line: usize,
    code: String,
}

/// The blocks of `markdown` that run under `policy`.
fn runnable_blocks(markdown: &str, policy: Policy) -> Vec<Block> {
    let mut blocks = Vec::new();
    let mut open: Option<(usize, bool, String)> = None;
    for (index, line) in markdown.lines().enumerate() {
        let trimmed = line.trim_start();
        match &mut open {
            None => {
                if let Some(info) = trimmed.strip_prefix("```") {
                    let words: Vec<&str> = info.split_whitespace().collect();
                    let is_shell = matches!(words.first(), Some(&"sh") | Some(&"bash"));
                    let runs = is_shell
                        && match policy {
                            Policy::EveryShellBlock => !words.contains(&"no-run"),
                            Policy::MarkedRunnable => words.contains(&"runnable"),
                        };
                    open = Some((index + 1, runs, String::new()));
                }
            }
            Some((start, runs, code)) => {
                if trimmed.starts_with("```") {
                    if *runs {
                        blocks.push(Block { line: *start, code: std::mem::take(code) });
                    }
                    open = None;
                } else {
                    code.push_str(line);
                    code.push('\n');
                }
            }
        }
    }
    blocks
}

/// `cargo xtask docs`.
pub fn run() -> anyhow::Result<()> {
    let root = project_root();
    let status = cargo()
        .args(["build", "--quiet", "-p", "uko-mock", "-p", "uko-conformance", "--bins"])
        .status()
        .context("cannot run cargo build")?;
    if !status.success() {
        bail!("cargo build of uko-mock and uko-conformance failed");
    }
    let bin = root.join("target").join("debug");
    let scratch = std::env::temp_dir().join(format!("uko-docs-{}", std::process::id()));
    std::fs::create_dir_all(&scratch).with_context(|| format!("cannot create {}", scratch.display()))?;
    let mut mock = Mock::start(&bin.join("uko-mock"), &scratch)?;
    let path = match std::env::var_os("PATH") {
        Some(path) => {
            let mut paths = vec![bin.clone()];
            paths.extend(std::env::split_paths(&path));
            std::env::join_paths(paths).context("PATH")?
        }
        None => bin.clone().into_os_string(),
    };

    let mut failures = Vec::new();
    let mut ran = 0;
    for (document, policy) in DOCUMENTS {
        let markdown =
            std::fs::read_to_string(root.join(document)).with_context(|| format!("cannot read {document}"))?;
        for block in runnable_blocks(&markdown, *policy) {
            ran += 1;
            let script = format!(
                "set -euo pipefail\n\
                 curl() {{ command curl --fail-with-body \"$@\"; }}\n\
                 command curl -s -f -X POST http://{address}/__mock/v1/reset >/dev/null\n{code}",
                address = mock.address,
                code = block.code.replace(DOCUMENTED_ADDRESS, &mock.address),
            );
            let started = Instant::now();
            let outcome = run_block(&script, &scratch, &path);
            match outcome {
                Ok(()) => println!("docs: {document}:{} ok ({:.1} s)", block.line, started.elapsed().as_secs_f64()),
                Err(error) => {
                    println!("docs: {document}:{} FAILED\n{error:#}", block.line);
                    failures.push(format!("{document}:{}", block.line));
                }
            }
        }
    }
    mock.stop();
    let _ = std::fs::remove_dir_all(&scratch);
    println!("docs: {} blocks ran, {} failed", ran, failures.len());
    if failures.is_empty() {
        Ok(())
    } else {
        bail!("documented commands failed: {}", failures.join(", "))
    }
}

fn run_block(script: &str, directory: &Path, path: &std::ffi::OsStr) -> anyhow::Result<()> {
    let mut child = Command::new("bash")
        .arg("-c")
        .arg(script)
        .current_dir(directory)
        .env("PATH", path)
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .context("cannot run bash")?;
    let stdout = drain(child.stdout.take());
    let stderr = drain(child.stderr.take());
    let started = Instant::now();
    let status = loop {
        if let Some(status) = child.try_wait()? {
            break status;
        }
        if started.elapsed() > BLOCK_TIMEOUT {
            let _ = child.kill();
            bail!("still running after {BLOCK_TIMEOUT:?}");
        }
        std::thread::sleep(Duration::from_millis(20));
    };
    let stdout = stdout.join().unwrap_or_default();
    let stderr = stderr.join().unwrap_or_default();
    if status.success() {
        Ok(())
    } else {
        bail!("exit {status}\n--- script\n{script}--- stdout\n{stdout}--- stderr\n{stderr}")
    }
}

fn drain(stream: Option<impl Read + Send + 'static>) -> std::thread::JoinHandle<String> {
    std::thread::spawn(move || {
        let mut text = String::new();
        if let Some(mut stream) = stream {
            let _ = stream.read_to_string(&mut text);
        }
        text
    })
}

/// The mock the blocks talk to: the debug binary with its defaults on a free port.
struct Mock {
    child: Child,
    address: String,
}

impl Mock {
    fn start(binary: &PathBuf, directory: &Path) -> anyhow::Result<Mock> {
        let mut child = Command::new(binary)
            .args(["--port", "0", "--log", "warn"])
            .current_dir(directory)
            .stdout(Stdio::piped())
            .stderr(Stdio::inherit())
            .spawn()
            .with_context(|| format!("cannot start {}", binary.display()))?;
        let stdout = child.stdout.take().context("no stdout")?;
        let mut lines = BufReader::new(stdout).lines();
        let mut address = None;
        for line in lines.by_ref() {
            let line = line?;
            if let Some(url) = line.split(" listening on http://").nth(1) {
                address = Some(url.trim().to_owned());
                break;
            }
        }
        // Keep reading, so the mock never blocks on a full pipe.
        std::thread::spawn(move || for _ in lines {});
        match address {
            Some(address) => Ok(Mock { child, address }),
            None => {
                let _ = child.kill();
                bail!("uko-mock exited before printing its address")
            }
        }
    }

    fn stop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

impl Drop for Mock {
    fn drop(&mut self) {
        self.stop();
    }
}

#[cfg(test)]
mod tests {
    use super::{runnable_blocks, Block, Policy};

    const MARKDOWN: &str =
        "text\n```sh\necho one\n```\n```sh no-run\nuko-mock\n```\n```sh runnable\necho three\n```\n```go\nx\n```\n";

    #[test]
    fn every_shell_block_runs_unless_marked_no_run() {
        let blocks = runnable_blocks(MARKDOWN, Policy::EveryShellBlock);
        assert_eq!(
            blocks,
            [Block { line: 2, code: "echo one\n".into() }, Block { line: 8, code: "echo three\n".into() }]
        );
    }

    #[test]
    fn only_blocks_marked_runnable_run_where_that_is_the_rule() {
        let blocks = runnable_blocks(MARKDOWN, Policy::MarkedRunnable);
        assert_eq!(blocks, [Block { line: 8, code: "echo three\n".into() }]);
    }
}
