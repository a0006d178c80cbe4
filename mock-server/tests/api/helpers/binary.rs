//! The real `uko-mock` binary as a child process on a free port, for tests of what only the binary does
//! (state file across restarts, kill -9, bind address, what it prints).

use std::process::Stdio;
use std::time::Duration;

use tokio::io::{AsyncBufReadExt, AsyncReadExt, BufReader};
use tokio::process::{Child, Command};
use tokio::task::JoinHandle;

/// A running `uko-mock`: its URL and, once stopped, everything it printed.
pub struct Binary {
    child: Child,
    pub base_url: String,
    output: JoinHandle<String>,
}

impl Binary {
    /// Starts `uko-mock --port 0 <arguments>` and waits for the banner line `… listening on http://…`.
    /// If the process exits first, the test fails with everything it printed.
    pub async fn start(arguments: &[&str]) -> Binary {
        let mut child = Command::new(env!("CARGO_BIN_EXE_uko-mock"))
            .args(["--port", "0"])
            .args(arguments)
            .stdout(Stdio::piped())
            .stderr(Stdio::piped())
            .kill_on_drop(true)
            .spawn()
            .unwrap();
        let mut stdout = BufReader::new(child.stdout.take().unwrap()).lines();
        let mut stderr = child.stderr.take().unwrap();
        let mut printed = String::new();
        let base_url = tokio::time::timeout(Duration::from_secs(30), async {
            while let Ok(Some(line)) = stdout.next_line().await {
                printed.push_str(&line);
                printed.push('\n');
                if let Some((_, url)) = line.split_once("listening on ") {
                    return Some(url.trim().to_owned());
                }
            }
            None
        })
        .await
        .expect("uko-mock did not start within 30 s");
        let Some(base_url) = base_url else {
            let mut logs = String::new();
            let _ = stderr.read_to_string(&mut logs).await;
            panic!("uko-mock {arguments:?} exited before listening:\n{printed}{logs}");
        };
        // Keep draining both pipes: a full pipe would block the server.
        let output = tokio::spawn(async move {
            let mut rest = String::new();
            while let Ok(Some(line)) = stdout.next_line().await {
                rest.push_str(&line);
                rest.push('\n');
            }
            let mut logs = String::new();
            let _ = stderr.read_to_string(&mut logs).await;
            format!("{printed}{rest}{logs}")
        });
        Binary { child, base_url, output }
    }

    /// `uko-mock` keeping its state in `state_file` (no authentication, errors-only logs): the server of
    /// the tests that restart it or kill it.
    pub async fn with_state_file(state_file: &std::path::Path) -> Binary {
        let state_file = state_file.display().to_string();
        Binary::start(&["--auth", "none", "--log", "error", "--state-file", &state_file]).await
    }

    /// The process id, for reading `/proc/<pid>/status`.
    pub fn pid(&self) -> u32 {
        self.child.id().unwrap_or(0)
    }

    /// SIGKILL: nothing gets a chance to flush, so only what was durable before each answer survives.
    pub async fn kill(mut self) {
        self.child.kill().await.unwrap();
    }

    /// Stops the process and returns everything it printed on stdout and stderr.
    pub async fn stop(mut self) -> String {
        self.child.kill().await.unwrap();
        self.output.await.unwrap()
    }
}
