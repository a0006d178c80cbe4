//! Sharding one run for CI fan-out, and merging the shards' reports into one verdict.
//!
//! A run is the cases `runner::generate_scenarios(seed, cases)` makes, numbered from 0. Shard `K/N`
//! keeps case `i` when `i % N == K - 1`, so the `N` shards of one seed and case count are disjoint and
//! together hold every case exactly once. Every shard still generates all cases (generation is one
//! sequential random stream and cheap next to running a client), so case `i` is the same scenario in a
//! shard and in the unsharded run.
//!
//! A shard's JSON report records the seed, `K/N`, the total case count, the client and one result per
//! case; [`merge`] checks that a set of reports is one whole run (same seed, case count, client and
//! properties; every shard exactly once; each holding exactly its cases) and adds them up. The CI system
//! is the distributed engine: it runs the shards side by side and `uko-conformance merge` at the end.

use std::collections::BTreeMap;
use std::path::{Path, PathBuf};

use anyhow::{bail, Context};
use serde::{Deserialize, Serialize};

use crate::fleet::ScopeKind;
use crate::runner::{PropertyReport, SuiteReport};

/// Shard `index` of `count` (1-based), written `K/N`.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, Serialize, Deserialize)]
pub struct Shard {
    pub index: u32,
    pub count: u32,
}

impl Shard {
    /// The whole run: shard 1 of 1.
    pub const WHOLE: Shard = Shard { index: 1, count: 1 };

    /// Shard `index` of `count`, checked: `count ≥ 1` and `1 ≤ index ≤ count`.
    pub fn new(index: u32, count: u32) -> Result<Shard, String> {
        if count == 0 {
            return Err(format!("expected at least one shard, found {index}/{count}"));
        }
        if index == 0 || index > count {
            return Err(format!("expected a shard number from 1 to {count}, found {index}/{count}"));
        }
        Ok(Shard { index, count })
    }

    /// Parses `K/N`.
    pub fn parse(text: &str) -> Result<Shard, String> {
        let malformed = || format!("expected K/N with 1 <= K <= N (like 2/4), found '{text}'");
        let (index, count) = text.split_once('/').ok_or_else(malformed)?;
        let index = index.trim().parse::<u32>().map_err(|_| malformed())?;
        let count = count.trim().parse::<u32>().map_err(|_| malformed())?;
        Shard::new(index, count)
    }

    /// Whether case `case` (0-based) belongs to this shard.
    pub fn contains(self, case: u32) -> bool {
        // `count` is never 0 for a checked shard; `max(1)` keeps a hand-built one from dividing by zero.
        case % self.count.max(1) == self.index.saturating_sub(1)
    }

    /// How many of `cases` cases this shard runs.
    pub fn case_count(self, cases: u32) -> u32 {
        (0..cases).filter(|case| self.contains(*case)).count().try_into().unwrap_or(u32::MAX)
    }

    /// True for a real split (more than one shard).
    pub fn is_split(self) -> bool {
        self.count > 1
    }
}

impl std::fmt::Display for Shard {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "{}/{}", self.index, self.count)
    }
}

/// Reads a JSON report written by `uko-conformance run --json`.
pub fn read_report(file: &Path) -> anyhow::Result<SuiteReport> {
    let text = std::fs::read_to_string(file).with_context(|| format!("reading {}", file.display()))?;
    let mut report: SuiteReport = serde_json::from_str(&text)
        .with_context(|| format!("{} is not a uko-conformance JSON report", file.display()))?;
    // The rule is not read back (it is the code's, not the file's); restore it from the property.
    for property in &mut report.properties {
        property.rule = property.property.rule();
    }
    Ok(report)
}

/// Merges the reports of the shards of one run (each with the file it came from, for error messages)
/// into the report of the whole run. Refuses reports from different runs, a missing or duplicated shard,
/// and a report that does not hold exactly its shard's cases.
pub fn merge(reports: &[(PathBuf, SuiteReport)]) -> anyhow::Result<SuiteReport> {
    let Some((first_file, first)) = reports.first() else {
        bail!("expected at least one report to merge, found none");
    };
    let property_names =
        |report: &SuiteReport| report.properties.iter().map(|property| property.property.name()).collect::<Vec<_>>();
    let first_properties = property_names(first);
    let mut by_shard: BTreeMap<u32, &Path> = BTreeMap::new();
    for (file, report) in reports {
        let name = file.display();
        let mismatch = |what: &str, found: String, expected: String| {
            anyhow::anyhow!(
                "{name}: {what} is {found}, but in {} it is {expected}; merge only the shards of one run \
                 (the same --seed, --cases, --client and --property for every shard)",
                first_file.display()
            )
        };
        if report.seed != first.seed {
            return Err(mismatch("the seed", report.seed.to_string(), first.seed.to_string()));
        }
        if report.cases != first.cases {
            return Err(mismatch("the case count", report.cases.to_string(), first.cases.to_string()));
        }
        if report.client != first.client {
            return Err(mismatch("the client", format!("'{}'", report.client), format!("'{}'", first.client)));
        }
        if report.fleet != first.fleet {
            let contract = |fleet: Option<ScopeKind>| {
                fleet.map_or_else(|| "one-key".to_owned(), |scope| format!("--fleet {scope}"))
            };
            return Err(mismatch("the contract", contract(report.fleet), contract(first.fleet)));
        }
        if report.shard.count != first.shard.count {
            return Err(mismatch("the shard count", report.shard.count.to_string(), first.shard.count.to_string()));
        }
        let properties = property_names(report);
        if properties != first_properties {
            return Err(mismatch("the property list", properties.join(", "), first_properties.join(", ")));
        }
        Shard::new(report.shard.index, report.shard.count).map_err(|reason| anyhow::anyhow!("{name}: {reason}"))?;
        if let Some(other) = by_shard.insert(report.shard.index, file) {
            bail!("{name} and {} are both shard {}; give each shard's report once", other.display(), report.shard);
        }
        check_cases(file, report)?;
    }
    let missing: Vec<String> = (1..=first.shard.count)
        .filter(|index| !by_shard.contains_key(index))
        .map(|index| format!("{index}/{}", first.shard.count))
        .collect();
    if !missing.is_empty() {
        let given: Vec<String> =
            reports.iter().map(|(file, report)| format!("{} ({})", file.display(), report.shard)).collect();
        bail!("shard {} missing: given only {}", missing.join(", "), given.join(", "));
    }
    let mut merged = SuiteReport {
        client: first.client.clone(),
        fleet: first.fleet,
        seed: first.seed,
        cases: first.cases,
        shard: Shard::WHOLE,
        // The shards ran side by side: the run took as long as the slowest.
        duration_ms: reports.iter().map(|(_, report)| report.duration_ms).max().unwrap_or(0),
        properties: first
            .properties
            .iter()
            .map(|property| PropertyReport {
                cases: 0,
                exercised: 0,
                failed: 0,
                counterexample: None,
                ..property.clone()
            })
            .collect(),
        case_results: reports.iter().flat_map(|(_, report)| report.case_results.iter().cloned()).collect(),
    };
    merged.case_results.sort_by_key(|result| result.case);
    for (_, report) in reports {
        for (total, part) in merged.properties.iter_mut().zip(&report.properties) {
            total.cases += part.cases;
            total.exercised += part.exercised;
            total.failed += part.failed;
            // The unsharded run shrinks the first failing case; so does the shard that ran it.
            if let Some(counterexample) = &part.counterexample {
                if total.counterexample.as_ref().is_none_or(|kept| counterexample.case < kept.case) {
                    total.counterexample = Some(counterexample.clone());
                }
            }
        }
    }
    Ok(merged)
}

/// Checks that `report` holds one result for each case of its shard and agrees with its own totals.
fn check_cases(file: &Path, report: &SuiteReport) -> anyhow::Result<()> {
    let name = file.display();
    let mut seen = std::collections::BTreeSet::new();
    for result in &report.case_results {
        if result.case >= report.cases || !report.shard.contains(result.case) {
            bail!(
                "{name}: case {} is not a case of shard {} of a {}-case run",
                result.case,
                report.shard,
                report.cases
            );
        }
        if !seen.insert(result.case) {
            bail!("{name}: case {} appears twice", result.case);
        }
    }
    let expected = report.shard.case_count(report.cases);
    if seen.len() != usize::try_from(expected).unwrap_or(usize::MAX) {
        bail!(
            "{name}: shard {} of a {}-case run has {expected} cases, but the report holds {}",
            report.shard,
            report.cases,
            seen.len()
        );
    }
    for property in &report.properties {
        if property.cases != expected {
            bail!("{name}: {} was judged on {} cases, expected {expected}", property.property, property.cases);
        }
    }
    Ok(())
}
