//! Counterexample files: a uko-mock fixture with a `conformance` section, written for the minimal
//! failing scenario of a property and read back by `uko-conformance replay`.
//!
//! uko-mock's `Fixture` refuses unknown top-level fields, so the section cannot live inside it. The file
//! is the fixture's JSON object with one more top-level field, `conformance`; reading removes that field
//! and parses the rest as a strict fixture. `jq 'del(.conformance)' FILE` therefore gives a plain fixture
//! that `uko-mock --fixture` serves. Nothing in the section is needed to rebuild the server state: the
//! fixture alone is the scenario, the section says what to check and what was seen.

use std::path::Path;

use anyhow::{bail, Context};
use serde::{Deserialize, Serialize};
use serde_json::Value;
use uko_mock::fixture::Fixture;

use crate::properties::Property;
use crate::scenario::{CaseSetup, ExpectedOutcome, Scenario};

/// A counterexample as stored on disk.
#[derive(Clone, Debug, PartialEq)]
pub struct CounterexampleFile {
    pub fixture: Fixture,
    pub conformance: ConformanceSection,
}

/// The `conformance` section.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct ConformanceSection {
    /// The property the client broke.
    pub property: Property,
    /// That property's rule.
    pub rule: String,
    /// What happened.
    pub violation: String,
    /// The managed key the client was asked to sync (`UKO_KEY_ID`).
    pub managed_key_id: String,
    /// Its vault (`UKO_VAULT_ID`).
    pub vault_id: String,
    /// What a correct client achieves here.
    pub expected_outcome: ExpectedOutcome,
    /// The `--client` that failed.
    pub client: String,
    /// The one-line command that replays this file.
    pub replay: String,
    /// Where the case came from, when it was generated.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub found_with: Option<FoundWith>,
    /// The generated scenario (informational; the fixture is what runs).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub scenario: Option<Scenario>,
    /// Fleet contract: the scope the client was asked to sync, its request budget and the generated
    /// fleet scenario. Absent for the one-key contract.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub fleet: Option<crate::fleet::FleetCase>,
    /// The journal excerpt that broke the property, offending requests marked `>>`.
    #[serde(default)]
    pub evidence: Vec<String>,
    /// Every request of the failing run, in order.
    #[serde(default)]
    pub journal: Vec<String>,
}

/// The generator coordinates of a counterexample.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct FoundWith {
    pub seed: u64,
    /// Index of the case in the run (before shrinking).
    pub case: u32,
    /// Client runs spent shrinking.
    pub shrink_runs: u32,
}

impl CounterexampleFile {
    /// Reads and validates a counterexample file.
    pub fn read(file: &Path) -> anyhow::Result<CounterexampleFile> {
        let text = std::fs::read_to_string(file).with_context(|| format!("reading {}", file.display()))?;
        CounterexampleFile::from_json(&text).with_context(|| format!("{} is not a counterexample file", file.display()))
    }

    /// Parses the file format.
    pub fn from_json(text: &str) -> anyhow::Result<CounterexampleFile> {
        let mut document: Value = serde_json::from_str(text).context("expected a JSON object")?;
        let Some(object) = document.as_object_mut() else {
            bail!("expected a JSON object at the top level");
        };
        let Some(section) = object.remove("conformance") else {
            bail!("expected a top-level \"conformance\" section, found none (a plain fixture?)");
        };
        let conformance: ConformanceSection =
            serde_json::from_value(section).context("the \"conformance\" section does not parse")?;
        let fixture = Fixture::from_json(&document.to_string()).map_err(|error| anyhow::anyhow!("{error}"))?;
        fixture.validate().map_err(|error| anyhow::anyhow!("{error}"))?;
        Ok(CounterexampleFile { fixture, conformance })
    }

    /// The file format: the fixture's fields with `conformance` right after `description`.
    pub fn to_json(&self) -> anyhow::Result<String> {
        let fixture = serde_json::to_value(&self.fixture).context("serializing the fixture")?;
        let Value::Object(fields) = fixture else {
            bail!("expected the fixture to serialize as a JSON object");
        };
        let section = serde_json::to_value(&self.conformance).context("serializing the conformance section")?;
        let mut document = serde_json::Map::new();
        for (name, value) in fields {
            let after_description = name == "description";
            document.insert(name, value);
            if after_description {
                document.insert("conformance".to_owned(), section.clone());
            }
        }
        if !document.contains_key("conformance") {
            document.insert("conformance".to_owned(), section);
        }
        let mut text = serde_json::to_string_pretty(&Value::Object(document)).context("serializing the file")?;
        text.push('\n');
        Ok(text)
    }

    /// Writes the file.
    pub fn write(&self, file: &Path) -> anyhow::Result<()> {
        std::fs::write(file, self.to_json()?).with_context(|| format!("writing {}", file.display()))
    }

    /// The case this file replays.
    pub fn case_setup(&self) -> CaseSetup {
        CaseSetup {
            fixture: self.fixture.clone(),
            managed_key_id: self.conformance.managed_key_id.clone(),
            vault_id: self.conformance.vault_id.clone(),
            expected: self.conformance.expected_outcome,
            scenario: self.conformance.scenario.clone(),
            fleet: self.conformance.fleet.clone(),
        }
    }
}

/// Quotes a word for `sh` (single quotes, `'` written as `'\''`).
pub fn shell_quote(word: &str) -> String {
    let plain = !word.is_empty() && word.bytes().all(|b| b.is_ascii_alphanumeric() || b"-_./:=@+,".contains(&b));
    if plain {
        word.to_owned()
    } else {
        format!("'{}'", word.replace('\'', r"'\''"))
    }
}
