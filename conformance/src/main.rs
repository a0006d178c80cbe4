//! The `uko-conformance` command line: parses arguments and wires them to the library — `runner` runs
//! and shrinks cases, `shard` splits runs and merges shard reports, `report` renders results,
//! `clients::reference` is the reference client. No suite logic lives here.
//!
//! Exit codes: 0 when every judged property holds (or the reference client synced the key), 1 when a
//! property is broken (or the key could not be synced), 2 on usage or infrastructure errors (for
//! `merge`: reports that are not the shards of one run).

use std::path::PathBuf;
use std::process::ExitCode;
use std::time::{Duration, SystemTime, UNIX_EPOCH};

use anyhow::Context;
use clap::{Parser, Subcommand};
use uko_conformance::clients::fleet::{FleetClient, FleetMutant};
use uko_conformance::clients::mutants::Mutant;
use uko_conformance::clients::reference::ReferenceClient;
use uko_conformance::clients::{ClientEnv, ClientUnderTest};
use uko_conformance::fleet::ScopeKind;
use uko_conformance::properties::{Budget, Property};
use uko_conformance::report;
use uko_conformance::runner::{self, SuiteConfig, SuiteReport};
use uko_conformance::shard::{self, Shard};

/// Property-based conformance suite for UKO verify-and-sync clients, run against uko-mock.
#[derive(Parser)]
#[command(name = "uko-conformance", version)]
struct Cli {
    #[command(subcommand)]
    command: Command,
}

#[derive(Subcommand)]
enum Command {
    /// Run generated failure scenarios against a client and check every property.
    Run(RunArgs),
    /// Replay one counterexample file against a client and check every property.
    Replay(ReplayArgs),
    /// Merge the JSON reports of the shards of one run (`run --shard K/N --json FILE`) into one verdict.
    Merge(MergeArgs),
    /// List the properties with their rules.
    ListProperties,
    /// List the built-in clients (`--client builtin:<name>`).
    ListClients,
    /// Run the reference client on the key the UKO_* environment names (the client contract).
    ReferenceClient,
    /// Run the reference fleet client on the keystore or vault the UKO_* environment names (the fleet
    /// contract: UKO_SCOPE with UKO_KEYSTORE_ID or UKO_VAULT_ID).
    ReferenceFleetClient,
}

#[derive(clap::Args)]
struct RunArgs {
    /// The client: a command line run with `sh -c` and the UKO_* environment, or builtin:<name>.
    #[arg(long)]
    client: String,
    /// Judge a fleet client: each case gives it UKO_SCOPE (keystore or vault) with UKO_KEYSTORE_ID or
    /// UKO_VAULT_ID, and it must bring every managed key of that scope into sync.
    #[arg(long, value_name = "SCOPE")]
    fleet: Option<ScopeKind>,
    /// Number of generated cases.
    #[arg(long, env = "PROPTEST_CASES", default_value_t = 256)]
    cases: u32,
    /// Seed of the generator; the same seed gives the same cases. Default: random, printed. Required with --shard.
    #[arg(long, env = "PROPTEST_RNG_SEED")]
    seed: Option<u64>,
    /// Run only shard K of N of the cases (case i when i % N == K-1), for CI fan-out: give every shard
    /// the same --seed and --cases, then `merge` their --json reports.
    #[arg(long, value_name = "K/N", value_parser = Shard::parse)]
    shard: Option<Shard>,
    /// Only judge these properties (repeatable; see list-properties).
    #[arg(long = "property", value_name = "NAME", num_args = 1.., value_parser = parse_property)]
    properties: Vec<Property>,
    /// Cases running at the same time, each with its own server. Default: 128 per CPU in-process, at most 256 (cases mostly wait on backoff), 8 per CPU for commands.
    #[arg(long)]
    jobs: Option<usize>,
    /// Seconds after which a client counts as hung and is killed.
    #[arg(long, default_value_t = 60)]
    timeout: u64,
    /// Write a JUnit XML report here.
    #[arg(long, value_name = "FILE")]
    junit: Option<PathBuf>,
    /// Write a JSON report here.
    #[arg(long, value_name = "FILE")]
    json: Option<PathBuf>,
    /// Directory for counterexample files.
    #[arg(long, value_name = "DIR", default_value = "uko-conformance-out")]
    out: PathBuf,
    /// Most client runs spent shrinking one counterexample.
    #[arg(long, default_value_t = 200)]
    max_shrink_runs: u32,
    /// No progress on stderr.
    #[arg(long)]
    quiet: bool,
}

#[derive(clap::Args)]
struct ReplayArgs {
    /// A counterexample file written by `run`.
    file: PathBuf,
    /// The client: a command line or builtin:<name>.
    #[arg(long)]
    client: String,
    /// Seconds after which the client counts as hung and is killed.
    #[arg(long, default_value_t = 60)]
    timeout: u64,
}

#[derive(clap::Args)]
struct MergeArgs {
    /// The shards' JSON reports (`run --shard K/N --json FILE`), every shard of the run exactly once.
    #[arg(required = true, value_name = "REPORT")]
    reports: Vec<PathBuf>,
    /// Write the merged JUnit XML report here.
    #[arg(long, value_name = "FILE")]
    junit: Option<PathBuf>,
    /// Write the merged JSON report here.
    #[arg(long, value_name = "FILE")]
    json: Option<PathBuf>,
}

#[tokio::main]
async fn main() -> ExitCode {
    let cli = Cli::parse();
    // Silent by default: stdout and stderr belong to the report. RUST_LOG=uko_mock=debug shows the
    // servers' side of every case.
    if std::env::var_os("RUST_LOG").is_some() {
        tracing_subscriber::fmt()
            .with_env_filter(tracing_subscriber::EnvFilter::from_default_env())
            .with_writer(std::io::stderr)
            .init();
    }
    let result = match cli.command {
        Command::Run(arguments) => run(arguments).await,
        Command::Replay(arguments) => replay(arguments).await,
        Command::Merge(arguments) => merge(arguments),
        Command::ListProperties => {
            for property in Property::ALL {
                println!("{:<22} {}", property.name(), property.rule());
            }
            Ok(ExitCode::SUCCESS)
        }
        Command::ListClients => {
            println!("{:<26} the careful reference client", "builtin:reference");
            println!(
                "{:<26} the careful reference client, reading key and status at once",
                "builtin:reference-concurrent"
            );
            println!("{:<26} the careful reference fleet client (--fleet)", "builtin:reference-fleet");
            println!(
                "{:<26} the careful reference fleet client, 4 keys at once (--fleet)",
                "builtin:reference-fleet-concurrent"
            );
            for mutant in FleetMutant::ALL {
                println!(
                    "{:<26} fleet mutant: {} (caught by {})",
                    format!("builtin:{}", mutant.name()),
                    mutant.mistake(),
                    mutant.caught_by()
                );
            }
            for mutant in Mutant::ALL {
                println!(
                    "{:<26} mutant: {} (caught by {})",
                    format!("builtin:{}", mutant.name()),
                    mutant.mistake(),
                    mutant.caught_by()
                );
            }
            Ok(ExitCode::SUCCESS)
        }
        Command::ReferenceClient => reference_client().await,
        Command::ReferenceFleetClient => reference_fleet_client().await,
    };
    result.unwrap_or_else(|error| {
        eprintln!("uko-conformance: {error:#}");
        ExitCode::from(2)
    })
}

async fn run(arguments: RunArgs) -> anyhow::Result<ExitCode> {
    let client = ClientUnderTest::from_spec(&arguments.client)?;
    // Shards partition one run only if they generate the same cases: a random seed per shard would not.
    if let (Some(shard), None) = (arguments.shard, arguments.seed) {
        anyhow::bail!(
            "--shard {shard} needs --seed: pass the same --seed (and --cases) to every shard, so that together \
             they run one set of cases"
        );
    }
    let seed = arguments.seed.unwrap_or_else(random_seed);
    let shard = arguments.shard.unwrap_or(Shard::WHOLE);
    let config = SuiteConfig {
        cases: arguments.cases,
        seed,
        shard,
        properties: if arguments.properties.is_empty() { Property::ALL.to_vec() } else { arguments.properties },
        jobs: arguments.jobs.unwrap_or_else(|| runner::default_jobs(&client, arguments.fleet.is_some())),
        timeout: Duration::from_secs(arguments.timeout),
        budget: Budget::default(),
        out_dir: arguments.out,
        max_shrink_runs: arguments.max_shrink_runs,
        progress: !arguments.quiet,
        fleet: arguments.fleet,
    };
    if !arguments.quiet {
        if shard.is_split() {
            eprintln!(
                "uko-conformance: shard {shard}, {} of {} cases against {} with seed {seed}",
                shard.case_count(config.cases),
                config.cases,
                client.spec()
            );
        } else {
            let contract = config.fleet.map_or_else(String::new, |scope| format!(" (fleet, {scope} scope)"));
            eprintln!("uko-conformance: {} cases against {}{contract} with seed {seed}", config.cases, client.spec());
        }
    }
    let suite = runner::run_suite(&client, &config).await?;
    finish(&suite, arguments.junit.as_ref(), arguments.json.as_ref())
}

fn merge(arguments: MergeArgs) -> anyhow::Result<ExitCode> {
    let reports = arguments
        .reports
        .iter()
        .map(|file| shard::read_report(file).map(|report| (file.clone(), report)))
        .collect::<anyhow::Result<Vec<_>>>()?;
    let merged = shard::merge(&reports)?;
    finish(&merged, arguments.junit.as_ref(), arguments.json.as_ref())
}

/// Prints the summary, writes the requested reports, and gives the verdict's exit code.
fn finish(suite: &SuiteReport, junit: Option<&PathBuf>, json: Option<&PathBuf>) -> anyhow::Result<ExitCode> {
    print!("{}", report::human_summary(suite));
    if let Some(file) = junit {
        std::fs::write(file, report::junit_xml(suite)).with_context(|| format!("writing {}", file.display()))?;
    }
    if let Some(file) = json {
        std::fs::write(file, report::json(suite)?).with_context(|| format!("writing {}", file.display()))?;
    }
    Ok(if suite.passed() { ExitCode::SUCCESS } else { ExitCode::FAILURE })
}

async fn replay(arguments: ReplayArgs) -> anyhow::Result<ExitCode> {
    let client = ClientUnderTest::from_spec(&arguments.client)?;
    let replayed =
        runner::replay_file(&arguments.file, &client, Duration::from_secs(arguments.timeout), &Budget::default())
            .await?;
    print!("{}", report::replay_summary(&replayed));
    let all_passed = replayed.verdicts.iter().all(|verdict| verdict.passed());
    Ok(if all_passed { ExitCode::SUCCESS } else { ExitCode::FAILURE })
}

async fn reference_client() -> anyhow::Result<ExitCode> {
    let env = ClientEnv::from_process_env()?;
    Ok(exit_as_client(ReferenceClient::new().verify_and_sync(&env).await))
}

async fn reference_fleet_client() -> anyhow::Result<ExitCode> {
    let env = ClientEnv::from_process_env()?;
    Ok(exit_as_client(FleetClient::new().sync_scope(&env).await))
}

/// A built-in client run as a command keeps the contract: its report on stdout and exit 0 when in sync,
/// the reason on stderr and exit 1 otherwise.
fn exit_as_client(outcome: Result<impl std::fmt::Display, impl std::fmt::Display>) -> ExitCode {
    match outcome {
        Ok(report) => {
            println!("{report}");
            ExitCode::SUCCESS
        }
        Err(reason) => {
            eprintln!("{reason}");
            ExitCode::FAILURE
        }
    }
}

fn parse_property(name: &str) -> Result<Property, String> {
    Property::parse(name).ok_or_else(|| {
        let names: Vec<&str> = Property::ALL.iter().map(|property| property.name()).collect();
        format!("expected one of {}, found '{name}'", names.join(", "))
    })
}

fn random_seed() -> u64 {
    let nanos = SystemTime::now().duration_since(UNIX_EPOCH).map_or(0, |elapsed| elapsed.as_nanos());
    // Fold to 64 bits and keep the seed short enough to type.
    (u64::try_from(nanos % u128::from(u64::MAX)).unwrap_or(0) ^ u64::from(std::process::id())) % 1_000_000_000
}
