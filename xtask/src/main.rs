//! Project automation, run as `cargo xtask <command>`:
//! - `ci`: what `.ci/run` checks (fmt, clippy, tests, the README's shell blocks), for running locally.
//! - `bench [--quick] [--only GROUP]`: the ratio benchmarks of BENCHMARKS.md.
//! - `baseline-server`: the bare axum server the benchmarks compare against (started by `bench`).
//! - `load URL`: the benchmarks' load generator alone, for profiling a running server.
//! - `hostile [--cases N]`: the hostile-input campaign at benchmark size (100,000 cases), figures recorded.
//! - `soak [--minutes N]`: mixed load on loopback against the real binary, RSS sampled and checked flat.
//! - `schemathesis`: schemathesis against the live mock and its OpenAPI document (`scripts/schemathesis.sh`).
//! - `docs`: the README files' shell blocks against a live mock (`docs.rs`).
//!
//! xtask depends on no workspace crate: it drives cargo and the built binaries.

mod bench;
mod docs;
mod process;
mod reliability;
mod tidy;

use std::path::PathBuf;
use std::process::Command;

use anyhow::{bail, Context};

fn main() -> anyhow::Result<()> {
    let arguments: Vec<String> = std::env::args().skip(1).collect();
    match arguments.first().map(String::as_str) {
        Some("ci") => ci(),
        Some("bench") => bench::run(&arguments[1..]),
        Some("baseline-server") => bench::baseline_server(&arguments[1..]),
        Some("load") => bench::load_command(&arguments[1..]),
        Some("hostile") => reliability::hostile(&arguments[1..]),
        Some("soak") => reliability::soak(&arguments[1..]),
        Some("schemathesis") => reliability::schemathesis(),
        Some("docs") => docs::run(),
        Some("tidy") => {
            let problems = tidy::problems(&project_root());
            for problem in &problems {
                println!("{problem}");
            }
            if problems.is_empty() {
                println!("tidy: no problems");
                Ok(())
            } else {
                bail!("tidy found {} problems", problems.len())
            }
        }
        Some("--help") | Some("-h") | None => {
            println!("usage: cargo xtask <command>\n");
            println!("  ci                 cargo fmt --check, clippy -D warnings, tests, docs (as .ci/run does)");
            println!("  bench [--quick]    build release binaries and measure the BENCHMARKS.md figures");
            println!("                     (--quick: a short smoke run that proves the benchmarks still work;");
            println!("                     --only start|memory|throughput|list|durable|conformance: one group)");
            println!("  tidy               module docs, whitespace, test attributes, fixtures, ARCHITECTURE.md names");
            println!("  baseline-server    bare axum server used as the benchmarks' baseline (internal)");
            println!("  load URL [--seconds N] [--method M] [--header NAME:VALUE]");
            println!("                     the benchmarks' load generator alone, for profiling a running server");
            println!("                     (run target/release/xtask load …: a debug build cannot load the server)");
            println!("  hostile [--cases N]  hostile-input campaign over real HTTP (default 100000 cases);");
            println!("                     figures in target/hostile/results.json");
            println!("  soak [--minutes N] mixed load against the real binary, RSS sampled every 5 s (default 10);");
            println!("                     figures in target/soak/results.json");
            println!("  schemathesis       schemathesis against the live mock and its OpenAPI document");
            println!("  docs               run the README files' shell blocks against a live mock (as CI does)");
            Ok(())
        }
        Some(other) => bail!("unknown command '{other}'; run `cargo xtask --help`"),
    }
}

/// The workspace root (xtask lives one level below it).
pub fn project_root() -> PathBuf {
    let manifest = std::env::var("CARGO_MANIFEST_DIR").map(PathBuf::from).unwrap_or_else(|_| PathBuf::from("xtask"));
    manifest.parent().map(PathBuf::from).unwrap_or(manifest)
}

/// `cargo`, as the environment names it.
pub fn cargo() -> Command {
    let mut command = Command::new(std::env::var("CARGO").unwrap_or_else(|_| "cargo".to_owned()));
    command.current_dir(project_root());
    command
}

fn ci() -> anyhow::Result<()> {
    let steps: [&[&str]; 3] = [
        &["fmt", "--all", "--", "--check"],
        &["clippy", "--workspace", "--all-targets", "--locked", "--", "-D", "warnings"],
        &["test", "--workspace", "--locked"],
    ];
    for step in steps {
        println!("== cargo {}", step.join(" "));
        let status = cargo().args(step).status().with_context(|| format!("cannot run cargo {}", step.join(" ")))?;
        if !status.success() {
            bail!("cargo {} failed", step.join(" "));
        }
    }
    println!("== cargo xtask docs");
    docs::run()
}
