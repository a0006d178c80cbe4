//! Shared test setup: suite configurations, temporary directories, and the environment knobs
//! (`CONFORMANCE_CASES`, `TEST_LOG`).

use std::path::{Path, PathBuf};
use std::sync::atomic::{AtomicU32, Ordering};
use std::time::Duration;

use uko_conformance::properties::{Budget, Property};
use uko_conformance::runner::SuiteConfig;
use uko_conformance::shard::Shard;

/// Cases for the reference client: 200 by default (CI), more with `CONFORMANCE_CASES=5000`.
pub fn reference_cases() -> u32 {
    std::env::var("CONFORMANCE_CASES").ok().and_then(|value| value.parse().ok()).unwrap_or(200)
}

/// A suite configuration for tests: quiet unless `TEST_LOG=1`, modest parallelism because test binaries
/// run two tests at a time on CI's two cores.
pub fn suite_config(cases: u32, seed: u64, properties: &[Property], out_dir: &Path) -> SuiteConfig {
    SuiteConfig {
        cases,
        seed,
        shard: Shard::WHOLE,
        properties: properties.to_vec(),
        jobs: 24,
        timeout: Duration::from_secs(60),
        budget: Budget::default(),
        out_dir: out_dir.to_owned(),
        max_shrink_runs: 120,
        progress: std::env::var_os("TEST_LOG").is_some(),
        fleet: None,
    }
}

/// A fresh, empty directory under the system temp dir, unique per test and process. It is removed when
/// the test passes and kept (its path printed) when the test fails, so counterexamples can be read.
pub struct TempDir {
    path: PathBuf,
}

impl TempDir {
    pub fn new(name: &str) -> TempDir {
        static COUNTER: AtomicU32 = AtomicU32::new(0);
        let serial = COUNTER.fetch_add(1, Ordering::Relaxed);
        let path = std::env::temp_dir().join(format!("uko-conformance-it-{}-{serial}-{name}", std::process::id()));
        let _ = std::fs::remove_dir_all(&path);
        std::fs::create_dir_all(&path).unwrap();
        TempDir { path }
    }

    pub fn path(&self) -> &Path {
        &self.path
    }
}

impl Drop for TempDir {
    fn drop(&mut self) {
        if std::thread::panicking() {
            eprintln!("kept {} for inspection", self.path.display());
        } else {
            let _ = std::fs::remove_dir_all(&self.path);
        }
    }
}

/// The crate directory (for `examples/`).
pub fn crate_dir() -> PathBuf {
    PathBuf::from(env!("CARGO_MANIFEST_DIR"))
}

/// The `uko-conformance` binary built for these tests.
pub fn binary() -> PathBuf {
    PathBuf::from(env!("CARGO_BIN_EXE_uko-conformance"))
}
