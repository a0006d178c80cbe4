//! A server binary started by xtask (the mock or the baseline), on a free port, killed on drop.

use std::io::{BufRead, BufReader};
use std::path::Path;
use std::process::{Child, Command, Stdio};

use anyhow::{bail, Context};

/// A running server process.
pub struct ServerProcess {
    child: Child,
    /// `http://127.0.0.1:<port>`.
    pub base_url: String,
}

impl ServerProcess {
    /// Starts `binary <arguments>` and waits for the first stdout line containing an `http://` URL
    /// (uko-mock's banner "… listening on http://…", or the baseline server's bare URL).
    pub fn start(binary: &Path, arguments: &[&str]) -> anyhow::Result<ServerProcess> {
        let mut child = Command::new(binary)
            .args(arguments)
            .stdout(Stdio::piped())
            .stderr(Stdio::null())
            .spawn()
            .with_context(|| format!("cannot start {}", binary.display()))?;
        let stdout = child.stdout.take().context("no stdout")?;
        let mut lines = BufReader::new(stdout).lines();
        let base_url = loop {
            let Some(line) = lines.next() else { bail!("{} exited before printing its address", binary.display()) };
            if let Some(start) = line?.split_whitespace().find(|word| word.starts_with("http://")) {
                break start.to_owned();
            }
        };
        // Keep draining stdout so the child never blocks on a full pipe.
        std::thread::spawn(move || for _ in lines {});
        Ok(ServerProcess { child, base_url })
    }

    /// The process id (for `/proc/<pid>/status`).
    pub fn pid(&self) -> u32 {
        self.child.id()
    }
}

impl Drop for ServerProcess {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}
