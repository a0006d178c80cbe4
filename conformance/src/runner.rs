//! Running the suite: one fresh uko-mock server per case, cases in parallel, and shrinking of failures.
//!
//! Cases come from proptest's `TestRunner` driven by a seed, so a run is reproducible from
//! `(seed, case index)` alone. Generated scenarios are plain values; they run concurrently (up to
//! `jobs`), each against its own server on a loopback port. A case that breaks a property is shrunk
//! afterwards, sequentially: its value tree is rebuilt from the seed and simplified with
//! `simplify`/`complicate`, re-running the client on each candidate, until no simpler scenario breaks
//! the same property. The minimal one is written as a counterexample file.
//!
//! A run can be one shard of a larger run (`SuiteConfig::shard`, see `shard`): all cases are still
//! generated from the seed, and only the shard's case indexes run; the report keeps one result per case
//! so the shards' reports can be merged.
//!
//! This module owns process-level concerns (servers, timeouts, parallelism, progress); what counts as a
//! violation is `properties`' job, and the file format is `counterexample`'s.

use std::io::{IsTerminal, Write};
use std::path::{Path, PathBuf};
use std::sync::Arc;
use std::time::{Duration, Instant};

use anyhow::{anyhow, Context};
use proptest::strategy::{Strategy, ValueTree};
use proptest::test_runner::{Config, RngAlgorithm, TestRng, TestRunner};
use serde::{Deserialize, Serialize};
use uko_mock::store::DEFAULT_INSTANCE;
use uko_mock::web::auth::{Auth, AuthMode};
use uko_mock::MockServer;

use crate::clients::{ClientEnv, ClientExit, ClientUnderTest};
use crate::counterexample::{shell_quote, ConformanceSection, CounterexampleFile, FoundWith};
use crate::fleet::{arb_fleet_scenario, keys_in_scope, FleetScenario, ScopeKind};
use crate::observation::{
    complete_entry, final_statuses, replay_journal, retry_after_by_rule, FleetObservation, Observation,
};
use crate::properties::{check, describe_journal, fleet_extra_time, judge, Budget, Property, Verdict, Violation};
use crate::scenario::{arb_scenario, CaseSetup, Scenario};
use crate::shard::Shard;

/// The API key the suite's IAM endpoint accepts (`UKO_APIKEY`).
pub const API_KEY: &str = "uko-conformance-apikey";
/// The static bearer token the suite's servers accept (`UKO_TOKEN`).
pub const STATIC_TOKEN: &str = "uko-conformance-token";

/// How a suite run goes.
#[derive(Clone, Debug)]
pub struct SuiteConfig {
    /// Cases generated from the seed (all shards together).
    pub cases: u32,
    pub seed: u64,
    /// The part of those cases this run executes; [`Shard::WHOLE`] for all of them.
    pub shard: Shard,
    /// The properties judged; the others are ignored.
    pub properties: Vec<Property>,
    /// Cases running at the same time.
    pub jobs: usize,
    /// A client still running after this is killed and counted as a hang.
    pub timeout: Duration,
    pub budget: Budget,
    /// Where counterexample files go.
    pub out_dir: PathBuf,
    /// Most client runs spent shrinking one counterexample.
    pub max_shrink_runs: u32,
    /// Whether to show progress on stderr.
    pub progress: bool,
    /// The fleet contract with this scope (`--fleet`), or `None` for the one-key contract.
    pub fleet: Option<ScopeKind>,
}

/// A generated case of either contract: one engine, two contracts.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum CaseScenario {
    OneKey(Scenario),
    Fleet(FleetScenario),
}

impl CaseScenario {
    /// The case this scenario runs as.
    pub fn case_setup(&self) -> Result<CaseSetup, uko_mock::fixture::FixtureError> {
        match self {
            CaseScenario::OneKey(scenario) => scenario.case_setup(),
            CaseScenario::Fleet(scenario) => scenario.case_setup(),
        }
    }

    /// The scenario in one line.
    pub fn summary(&self) -> String {
        match self {
            CaseScenario::OneKey(scenario) => scenario.summary(),
            CaseScenario::Fleet(scenario) => scenario.summary(),
        }
    }
}

/// The generator of a contract's cases.
pub fn case_strategy(fleet: Option<ScopeKind>) -> proptest::strategy::BoxedStrategy<CaseScenario> {
    match fleet {
        None => arb_scenario().prop_map(CaseScenario::OneKey).boxed(),
        Some(scope) => arb_fleet_scenario(scope).prop_map(CaseScenario::Fleet).boxed(),
    }
}

/// The result of a suite run (or of one shard of it; the JSON report is this, serialized).
#[derive(Clone, Debug, Serialize, Deserialize)]
pub struct SuiteReport {
    pub client: String,
    /// The fleet contract's scope (`--fleet`), absent for the one-key contract: shards of different
    /// contracts are not one run.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub fleet: Option<ScopeKind>,
    pub seed: u64,
    /// Cases generated from the seed: the whole run's count, also in a shard's report.
    pub cases: u32,
    /// Which part of those cases ran (1/1 for a whole run or a merged report).
    pub shard: Shard,
    pub duration_ms: u64,
    pub properties: Vec<PropertyReport>,
    /// One entry per case that ran, by case index: what `merge` needs to check and add up shards.
    pub case_results: Vec<CaseResult>,
}

/// One case's verdicts.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct CaseResult {
    /// Index of the case in the generated run.
    pub case: u32,
    /// The scenario, in one line.
    pub scenario: String,
    /// The judged properties the case gave something to judge.
    pub exercised: Vec<Property>,
    /// The judged properties the case broke.
    pub failed: Vec<Property>,
}

/// One property over the whole run.
#[derive(Clone, Debug, Serialize, Deserialize)]
pub struct PropertyReport {
    pub property: Property,
    /// Written for readers; `shard::read_report` takes it from the property, not from the file.
    #[serde(skip_deserializing)]
    pub rule: &'static str,
    /// Cases judged.
    pub cases: u32,
    /// Cases that gave the property something to judge.
    pub exercised: u32,
    /// Cases that broke it.
    pub failed: u32,
    pub counterexample: Option<Counterexample>,
}

/// The minimal failing case of a property.
#[derive(Clone, Debug, Serialize, Deserialize)]
pub struct Counterexample {
    pub file: PathBuf,
    /// The one-line command that replays it.
    pub replay: String,
    /// Index of the generated case that failed first.
    pub case: u32,
    /// Client runs spent shrinking.
    pub shrink_runs: u32,
    pub summary: String,
    pub violation: Violation,
    /// Every request of the minimal case.
    pub journal: Vec<String>,
}

/// The result of replaying one counterexample file.
#[derive(Clone, Debug)]
pub struct ReplayReport {
    /// The property the file says was broken.
    pub recorded_property: Property,
    pub verdicts: Vec<Verdict>,
    pub journal: Vec<String>,
    pub observation: Observation,
}

impl SuiteReport {
    /// True when no judged property was broken.
    pub fn passed(&self) -> bool {
        self.properties.iter().all(|report| report.failed == 0)
    }
}

impl ReplayReport {
    /// Whether the recorded property broke again.
    pub fn reproduced(&self) -> bool {
        self.verdicts.iter().any(|verdict| verdict.property == self.recorded_property && !verdict.passed())
    }
}

/// Default number of concurrent cases: in-process clients mostly wait (backoff, `Retry-After`), so many
/// run at once; external commands cost a process each.
pub fn default_jobs(client: &ClientUnderTest, fleet: bool) -> usize {
    let cpus = std::thread::available_parallelism().map_or(2, usize::from);
    match client {
        // A fleet case sends hundreds of requests and keeps a CPU busy.
        ClientUnderTest::InProcess { .. } if fleet => 8 * cpus,
        ClientUnderTest::InProcess { .. } => (128 * cpus).min(256),
        ClientUnderTest::Command { .. } => 8 * cpus,
    }
}

/// Runs one case: a fresh server with the case's fixture, the client, then the observation.
pub async fn run_case(setup: &CaseSetup, client: &ClientUnderTest, timeout: Duration) -> anyhow::Result<Observation> {
    let auth = Auth::new(AuthMode::Iam, vec![API_KEY.to_owned()], vec![STATIC_TOKEN.to_owned()], 3600);
    let server = MockServer::builder()
        .fixture(setup.fixture.clone())
        .auth(auth)
        .start()
        .await
        .context("starting a uko-mock server for the case")?;
    let initial = server.store().with_instance(DEFAULT_INSTANCE, |instance| instance.clone());
    let env = ClientEnv {
        service_url: server.base_url(),
        api_url: server.api_url(),
        iam_url: server.base_url(),
        api_key: API_KEY.to_owned(),
        token: STATIC_TOKEN.to_owned(),
        managed_key_id: setup.managed_key_id.clone(),
        vault_id: setup.fleet.as_ref().map_or_else(|| setup.vault_id.clone(), |fleet| fleet.scope.id.clone()),
        scope: setup.fleet.as_ref().map(|fleet| fleet.scope.clone()),
    };
    // A fleet case may take as long as its budget allows before it counts as hung.
    let timeout = timeout + setup.fleet.as_ref().map_or(Duration::ZERO, |fleet| fleet_extra_time(fleet.max_requests));
    let outcome = client.run(&env, timeout).await;
    let key_id = setup.managed_key_id.as_str();
    // The client is done: the server is idle, so two reads see one final state.
    let mut journal = server.store().journal(DEFAULT_INSTANCE);
    let final_statuses = final_statuses(server.store().key_statuses(DEFAULT_INSTANCE, key_id));
    let fleet = setup.fleet.as_ref().map(|fleet| {
        let end = server.store().with_instance(DEFAULT_INSTANCE, |instance| keys_in_scope(instance, &fleet.scope));
        FleetObservation {
            scope: fleet.scope.clone(),
            max_requests: fleet.max_requests,
            start: keys_in_scope(&initial, &fleet.scope),
            end,
        }
    });
    journal.iter_mut().for_each(complete_entry);
    drop(server);
    tracing::debug!(
        exit = %outcome.exit,
        requests = journal.len(),
        millis = outcome.duration.as_millis(),
        fixture = %setup.fixture.description,
        "case finished"
    );
    let replay = replay_journal(&initial, &journal, key_id);
    Ok(Observation {
        managed_key_id: setup.managed_key_id.clone(),
        expected: setup.expected,
        outcome,
        journal,
        final_statuses,
        replay,
        retry_after_seconds: retry_after_by_rule(&initial),
        fleet,
    })
}

/// True when the client could not even start and no request reached the server: the shell said 126
/// (not executable) or 127 (not found), spawning failed, or the shell could not open a script (dash's
/// `sh missing.sh` exits 2 with "cannot open").
fn never_started(observation: &Observation) -> bool {
    let stderr = &observation.outcome.stderr;
    let cannot_open =
        ["cannot open", "No such file", "not found", "Permission denied"].iter().any(|sign| stderr.contains(sign));
    observation.journal.is_empty()
        && match &observation.outcome.exit {
            ClientExit::Code(126 | 127) | ClientExit::NotStarted(_) => true,
            ClientExit::Code(code) => *code != 0 && cannot_open,
            ClientExit::Signal | ClientExit::Hung => false,
        }
}

/// The scenarios of a run, in case order.
pub fn generate_scenarios(seed: u64, cases: u32, fleet: Option<ScopeKind>) -> anyhow::Result<Vec<CaseScenario>> {
    let strategy = case_strategy(fleet);
    let mut runner = test_runner(seed);
    (0..cases)
        .map(|_| strategy.new_tree(&mut runner).map(|tree| tree.current()).map_err(|reason| anyhow!("{reason}")))
        .collect()
}

/// Runs the cases of `config.shard` among `config.cases` generated cases against `client`, judges them,
/// and shrinks the first failure of each property into a counterexample file.
pub async fn run_suite(client: &ClientUnderTest, config: &SuiteConfig) -> anyhow::Result<SuiteReport> {
    let started = Instant::now();
    // All cases are generated, so case `i` is the same scenario whichever shard runs it.
    let scenarios = generate_scenarios(config.seed, config.cases, config.fleet)?;
    let shard = config.shard;
    let mut reports: Vec<PropertyReport> = config
        .properties
        .iter()
        .map(|property| PropertyReport {
            property: *property,
            rule: property.rule(),
            cases: 0,
            exercised: 0,
            failed: 0,
            counterexample: None,
        })
        .collect();
    // The first failing case of each property, with its violation.
    let mut first_failures: Vec<Option<(u32, Violation)>> = vec![None; reports.len()];
    let semaphore = Arc::new(tokio::sync::Semaphore::new(config.jobs.max(1)));
    let mut running = tokio::task::JoinSet::new();
    for (index, scenario) in scenarios.iter().enumerate() {
        if !shard.contains(u32::try_from(index).unwrap_or(u32::MAX)) {
            continue;
        }
        let setup =
            scenario.case_setup().with_context(|| format!("case {index}: the scenario makes no valid fixture"))?;
        let semaphore = Arc::clone(&semaphore);
        let client = client.clone();
        let timeout = config.timeout;
        running.spawn(async move {
            let _permit = semaphore.acquire_owned().await;
            (index, run_case(&setup, &client, timeout).await)
        });
    }
    let mut progress = Progress::new(config.progress, shard.case_count(config.cases));
    let mut case_results = Vec::with_capacity(running.len());
    let mut reached_the_mock = running.is_empty();
    let mut first_exit = None;
    while let Some(joined) = running.join_next().await {
        let (position, observation) = joined.context("a case task panicked")?;
        let observation = observation.with_context(|| format!("case {position}"))?;
        reached_the_mock |= !never_started(&observation);
        first_exit.get_or_insert_with(|| (observation.outcome.exit.clone(), observation.outcome.stderr.clone()));
        let verdicts = judge(&observation, &config.properties, &config.budget);
        let index = u32::try_from(position).unwrap_or(u32::MAX);
        case_results.push(CaseResult {
            case: index,
            scenario: scenarios.get(position).map(CaseScenario::summary).unwrap_or_default(),
            exercised: verdicts.iter().filter(|verdict| verdict.exercised).map(|verdict| verdict.property).collect(),
            failed: verdicts.iter().filter(|verdict| !verdict.passed()).map(|verdict| verdict.property).collect(),
        });
        for ((report, verdict), first) in reports.iter_mut().zip(&verdicts).zip(first_failures.iter_mut()) {
            report.cases += 1;
            report.exercised += u32::from(verdict.exercised);
            if let Some(violation) = &verdict.violation {
                report.failed += 1;
                if first.as_ref().is_none_or(|(first_index, _)| index < *first_index) {
                    *first = Some((index, violation.clone()));
                }
            }
        }
        progress.case_done(verdicts.iter().any(|verdict| !verdict.passed()));
    }
    progress.finish();
    if !reached_the_mock {
        // Not a property of the client: the command line is wrong. Say so instead of a report full of
        // failed cases (exit 2, which the CI recipe treats as failure).
        let (exit, stderr) = first_exit.unwrap_or((ClientExit::Code(127), String::new()));
        anyhow::bail!(
            "the client never reached the mock; check --client ({}: {exit}{})",
            client.spec(),
            stderr.lines().next().map_or_else(String::new, |line| format!(": {line}"))
        );
    }
    case_results.sort_by_key(|result| result.case);
    for (report, first) in reports.iter_mut().zip(first_failures) {
        let Some((index, violation)) = first else {
            continue;
        };
        if config.progress {
            eprintln!("shrinking the counterexample of {} (case {index})…", report.property);
        }
        let counterexample = shrink(client, config, report.property, index, violation).await?;
        report.counterexample = Some(counterexample);
    }
    Ok(SuiteReport {
        client: client.spec(),
        fleet: config.fleet,
        seed: config.seed,
        cases: config.cases,
        shard,
        duration_ms: u64::try_from(started.elapsed().as_millis()).unwrap_or(u64::MAX),
        properties: reports,
        case_results,
    })
}

/// Replays a counterexample file with `client` and judges every property.
pub async fn replay_file(
    file: &Path,
    client: &ClientUnderTest,
    timeout: Duration,
    budget: &Budget,
) -> anyhow::Result<ReplayReport> {
    let counterexample = CounterexampleFile::read(file)?;
    let setup = counterexample.case_setup();
    let observation = run_case(&setup, client, timeout).await?;
    let verdicts = judge(&observation, &Property::ALL, budget);
    Ok(ReplayReport {
        recorded_property: counterexample.conformance.property,
        verdicts,
        journal: describe_journal(&observation.journal),
        observation,
    })
}

/// The `uko-conformance replay` command line for a file and client.
pub fn replay_command(file: &Path, client: &ClientUnderTest) -> String {
    format!(
        "uko-conformance replay {} --client {}",
        shell_quote(&file.display().to_string()),
        shell_quote(&client.spec())
    )
}

/// Shrinks case `index` for `property` and writes the minimal failing scenario.
async fn shrink(
    client: &ClientUnderTest,
    config: &SuiteConfig,
    property: Property,
    index: u32,
    violation: Violation,
) -> anyhow::Result<Counterexample> {
    let mut tree = value_tree(config.seed, index, config.fleet)?;
    let mut minimal = tree.current();
    // The first failure's observation is not kept, so the failing case runs once more: this also makes
    // sure the counterexample file holds a journal from the exact minimal scenario.
    let mut minimal_observation = run_case(&minimal.case_setup()?, client, config.timeout).await?;
    let mut minimal_violation = check(property, &minimal_observation, &config.budget).violation.unwrap_or(violation);
    let mut runs = 1;
    let mut more = tree.simplify();
    while more && runs < config.max_shrink_runs {
        let candidate = tree.current();
        let observation = run_case(&candidate.case_setup()?, client, config.timeout).await?;
        runs += 1;
        let violation = check(property, &observation, &config.budget).violation;
        tracing::debug!(%property, runs, still_failing = violation.is_some(), "shrink step");
        more = match violation {
            Some(violation) => {
                minimal = candidate;
                minimal_observation = observation;
                minimal_violation = violation;
                tree.simplify()
            }
            None => tree.complicate(),
        };
    }
    std::fs::create_dir_all(&config.out_dir)
        .with_context(|| format!("creating the counterexample directory {}", config.out_dir.display()))?;
    // Shards may share a directory (and CI artifacts land in one), so a shard's file names its shard.
    let file_name = if config.shard.is_split() {
        format!("{}-seed{}-shard{}of{}.json", property.name(), config.seed, config.shard.index, config.shard.count)
    } else {
        format!("{}-seed{}.json", property.name(), config.seed)
    };
    let file = config.out_dir.join(file_name);
    let replay = replay_command(&file, client);
    let journal = describe_journal(&minimal_observation.journal);
    let setup = minimal.case_setup()?;
    let counterexample_file = CounterexampleFile {
        fixture: setup.fixture,
        conformance: ConformanceSection {
            property,
            rule: property.rule().to_owned(),
            violation: minimal_violation.message.clone(),
            managed_key_id: setup.managed_key_id,
            vault_id: setup.vault_id,
            expected_outcome: setup.expected,
            client: client.spec(),
            replay: replay.clone(),
            found_with: Some(FoundWith { seed: config.seed, case: index, shrink_runs: runs }),
            scenario: setup.scenario.clone(),
            fleet: setup.fleet.clone(),
            evidence: minimal_violation.evidence.clone(),
            journal: journal.clone(),
        },
    };
    counterexample_file.write(&file)?;
    Ok(Counterexample {
        file,
        replay,
        case: index,
        shrink_runs: runs,
        summary: minimal.summary(),
        violation: minimal_violation,
        journal,
    })
}

/// The value tree of case `index` of the run with `seed` (rebuilt by generating the cases before it).
fn value_tree(
    seed: u64,
    index: u32,
    fleet: Option<ScopeKind>,
) -> anyhow::Result<Box<dyn ValueTree<Value = CaseScenario>>> {
    let strategy = case_strategy(fleet);
    let mut runner = test_runner(seed);
    let mut tree = strategy.new_tree(&mut runner).map_err(|reason| anyhow!("{reason}"))?;
    for _ in 0..index {
        tree = strategy.new_tree(&mut runner).map_err(|reason| anyhow!("{reason}"))?;
    }
    Ok(tree)
}

fn test_runner(seed: u64) -> TestRunner {
    let mut seed_bytes = [0u8; 32];
    for (chunk, value) in seed_bytes.chunks_mut(8).zip([seed, !seed, seed.rotate_left(17), seed ^ 0x756b_6f2d]) {
        chunk.copy_from_slice(&value.to_le_bytes());
    }
    let config = Config { failure_persistence: None, ..Config::default() };
    TestRunner::new_with_rng(config, TestRng::from_seed(RngAlgorithm::ChaCha, &seed_bytes))
}

/// Cases done and failed, on stderr: one updating line on a terminal, a line per tenth otherwise.
struct Progress {
    enabled: bool,
    terminal: bool,
    total: u32,
    done: u32,
    failed: u32,
}

impl Progress {
    fn new(enabled: bool, total: u32) -> Progress {
        Progress { enabled, terminal: std::io::stderr().is_terminal(), total, done: 0, failed: 0 }
    }

    fn case_done(&mut self, failed: bool) {
        self.done += 1;
        self.failed += u32::from(failed);
        if !self.enabled {
            return;
        }
        let step = (self.total / 10).max(1);
        if self.terminal {
            eprint!("\rcases {}/{}  failed {}", self.done, self.total, self.failed);
            let _ = std::io::stderr().flush();
        } else if self.done.is_multiple_of(step) || self.done == self.total {
            eprintln!("cases {}/{}  failed {}", self.done, self.total, self.failed);
        }
    }

    fn finish(&self) {
        if self.enabled && self.terminal {
            eprintln!();
        }
    }
}
