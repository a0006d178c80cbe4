//! Fixture files: one UKO instance described as JSON, loaded at startup or through the control plane,
//! and written back out by export.
//!
//! A fixture lists the domain records (`domain::model`) as they serialize, in plain arrays, plus the
//! instance's clock, seed and [`Settings`]. What the simulated keystores hold is either derived from
//! each managed key's state (`keystore_contents: "derive"`, for hand-written files, with named
//! [`Divergence`]s on top) or listed exactly in each keystore's `simulation.copies`
//! (`keystore_contents: "explicit"`, what [`Fixture::from_instance`] writes). Export followed by import
//! gives back an equal [`Instance`], clock and random generator included.
//!
//! This module checks referential integrity and the names UKO would accept; it applies no lifecycle
//! rule (a fixture may show any state, including ones no API call sequence reaches) and knows no HTTP.
//! `fixtures/README.md` documents the format field by field.

use std::collections::{BTreeMap, HashMap, HashSet};
use std::fmt;
use std::path::{Path, PathBuf};

use serde::{Deserialize, Serialize};
use time::macros::datetime;

use crate::domain::faults::FaultRule;
use crate::domain::naming::NamingScheme;
pub use crate::domain::simulation::ObservedCopy;
use crate::domain::Rng;
use crate::domain::{
    self, validate, AssociatedResource, Clock, ClockMode, IbmVariant, Instance, KeyState, Keystore, KeystoreType,
    ManagedKey, Settings, Template, Timestamp, Vault,
};

/// The seed of the instance's random generator when neither the fixture nor the caller gives one.
pub const DEFAULT_SEED: u64 = 1;

/// IBM's limit of managed keys per instance (`uko-semantics.md` §13); larger fixtures are refused.
pub const MAX_MANAGED_KEYS: usize = 20_000;

/// Largest fixture file [`Fixture::load`] reads. A full instance (20,000 keys, 50 keystores with half a
/// MiB of Google credentials each) stays well below it; anything larger is refused before it is read,
/// so a wrong path (a disk image, a log) cannot exhaust memory at start.
pub const MAX_FIXTURE_BYTES: u64 = 128 * 1024 * 1024;

/// The text of `fixtures/default.json`, built in so the server runs without any file next to it.
pub const DEFAULT_FIXTURE_JSON: &str = include_str!("../../fixtures/default.json");

/// One UKO instance as a fixture file describes it.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Fixture {
    /// What situation the fixture sets up, in a sentence or two.
    pub description: String,
    /// Seed of the instance's random generator (ids, native key ids, flapping decisions). A number, or
    /// a string of digits: written as a string above 2^53 - 1 (see [`exact_u64`]).
    #[serde(default, skip_serializing_if = "Option::is_none", with = "exact_u64")]
    pub seed: Option<u64>,
    #[serde(default)]
    pub clock: FixtureClock,
    #[serde(default)]
    pub settings: Settings,
    #[serde(default)]
    pub keystore_contents: KeystoreContents,
    #[serde(default)]
    pub vaults: Vec<Vault>,
    #[serde(default)]
    pub templates: Vec<Template>,
    #[serde(default)]
    pub keystores: Vec<Keystore>,
    /// Keystores deleted from UKO; keys listing them in their `removed_keystores` show tombstone entries.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub removed_keystores: Vec<Keystore>,
    #[serde(default)]
    pub managed_keys: Vec<ManagedKey>,
    #[serde(default)]
    pub associated_resources: Vec<AssociatedResource>,
    /// Out-of-band differences applied after deriving the keystore contents (derive mode only).
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub divergences: Vec<Divergence>,
    /// Fault rules active from the start (see `domain::faults`); rules without an id get `rule-N`.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub faults: Vec<FaultRule>,
    /// State of the fault plan's generator (export writes it; default: derived from `seed`). Written like
    /// `seed`.
    #[serde(default, skip_serializing_if = "Option::is_none", with = "exact_u64")]
    pub fault_seed: Option<u64>,
}

/// The instance clock at load time.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct FixtureClock {
    /// The instance's "now" when the fixture is loaded.
    #[serde(default = "default_clock_start")]
    pub start: Timestamp,
    #[serde(default)]
    pub mode: ClockMode,
    /// The last `updated_at` handed out; written by export so the next mutation stamps exactly as it
    /// would have without the round trip.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub last_stamp: Option<Timestamp>,
}

/// Where the contents of the simulated keystores come from.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum KeystoreContents {
    /// Every referenced keystore holds the in-sync copy for its key's state; `divergences` apply on top.
    #[default]
    Derive,
    /// Copies are exactly each keystore's `simulation.copies`.
    Explicit,
}

/// One keystore whose copy of a key differs from what the key's state calls for.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Divergence {
    /// Id of the managed key.
    pub managed_key: String,
    /// Id of a keystore in the key's `referenced_keystores` or `removed_keystores`.
    pub keystore: String,
    pub copy: ObservedCopy,
}

/// Why a fixture could not be read, parsed, validated or loaded.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct FixtureError {
    /// The fixture file, when the fixture came from one.
    pub file: Option<PathBuf>,
    /// JSON path of the offending value (`managed_keys[3].template_id`); empty for the whole document.
    pub path: String,
    pub reason: String,
}

impl Fixture {
    /// Parses fixture JSON. Validation is separate: see [`Fixture::validate`].
    pub fn from_json(text: &str) -> Result<Fixture, FixtureError> {
        // The fast path parses without tracking paths; only a failure is parsed again to name the path.
        if let Ok(fixture) = serde_json::from_str::<Fixture>(text) {
            return Ok(fixture);
        }
        let deserializer = &mut serde_json::Deserializer::from_str(text);
        let fixture: Fixture = serde_path_to_error::deserialize(deserializer).map_err(|error| {
            let path = error.path().to_string();
            let path = if path == "." { String::new() } else { path };
            FixtureError { file: None, path, reason: error.into_inner().to_string() }
        })?;
        Ok(fixture)
    }

    /// Reads, parses and validates a fixture file; errors name the file.
    pub fn load(file: impl AsRef<Path>) -> Result<Fixture, FixtureError> {
        let file = file.as_ref();
        let with_file = |error: FixtureError| FixtureError { file: Some(file.to_owned()), ..error };
        let text = read_capped(file, MAX_FIXTURE_BYTES).map_err(with_file)?;
        let fixture = Fixture::from_json(&text).map_err(with_file)?;
        fixture.validate().map_err(with_file)?;
        Ok(fixture)
    }

    /// The built-in `fixtures/default.json`.
    pub fn default_fixture() -> Result<Fixture, FixtureError> {
        let with_file = |error: FixtureError| FixtureError { file: Some("fixtures/default.json".into()), ..error };
        let fixture = Fixture::from_json(DEFAULT_FIXTURE_JSON).map_err(with_file)?;
        fixture.validate().map_err(with_file)?;
        Ok(fixture)
    }

    /// The fixture as pretty-printed JSON (the export format).
    pub fn to_json(&self) -> String {
        // Serializing plain records to a string cannot fail: every map key is a string.
        serde_json::to_string_pretty(self).unwrap_or_default()
    }

    /// Checks referential integrity, unique ids, the names UKO accepts and the size limit. The first
    /// problem found is returned, naming its JSON path.
    pub fn validate(&self) -> Result<(), FixtureError> {
        Validator::new(self).run()
    }

    /// Builds the instance `instance_id` from this fixture. `seed_override` wins over the fixture's
    /// `seed`; without either the seed is [`DEFAULT_SEED`].
    pub fn into_instance(self, instance_id: &str, seed_override: Option<u64>) -> Result<Instance, FixtureError> {
        self.validate()?;
        self.into_validated_instance(instance_id, seed_override)
    }

    /// Parses, validates and builds in one pass; for large files this avoids validating twice.
    pub fn load_instance(
        file: impl AsRef<Path>,
        instance_id: &str,
        seed_override: Option<u64>,
    ) -> Result<(Instance, String), FixtureError> {
        let fixture = Fixture::load(file)?;
        let description = fixture.description.clone();
        Ok((fixture.into_validated_instance(instance_id, seed_override)?, description))
    }

    /// `into_instance` for a fixture that `validate` accepted.
    fn into_validated_instance(self, instance_id: &str, seed_override: Option<u64>) -> Result<Instance, FixtureError> {
        let seed = seed_override.or(self.seed).unwrap_or(DEFAULT_SEED);
        let clock = Clock { now: self.clock.start, last_stamp: self.clock.last_stamp, mode: self.clock.mode };
        let mut instance = Instance::new(instance_id, self.settings, clock, seed);
        let key_order: Vec<(String, Vec<String>)> =
            self.managed_keys.iter().map(|k| (k.id.clone(), k.referenced_keystores.clone())).collect();
        instance.vaults = by_id(self.vaults, |v| &v.id);
        instance.templates = by_id(self.templates, |t| &t.id);
        instance.keystores = by_id(self.keystores, |k| &k.id);
        instance.removed_keystores = by_id(self.removed_keystores, |k| &k.id);
        instance.managed_keys = by_id(self.managed_keys, |k| &k.id).into();
        for key in instance.managed_keys.values_mut() {
            key.shrink_to_fit();
        }
        instance.associated_resources = self.associated_resources;
        if let Some(state) = self.fault_seed {
            instance.faults.rng = Rng::new(state);
        }
        for (index, rule) in self.faults.into_iter().enumerate() {
            instance
                .faults
                .add(rule)
                .map_err(|error| FixtureError::at(format!("faults[{index}]"), error.to_string()))?;
        }
        // create_keystore gives an internal keystore the id of its own instance; so does loading.
        for keystore in instance.keystores.values_mut().chain(instance.removed_keystores.values_mut()) {
            if keystore.is_internal() && keystore.connection.ibm_instance_id.is_none() {
                keystore.connection.ibm_instance_id = Some(instance_id.to_owned());
            }
        }
        if self.keystore_contents == KeystoreContents::Derive {
            // File order, so native key ids follow the file and the seed alone.
            for (key_id, referenced) in &key_order {
                for keystore_id in referenced {
                    derive_copy(&mut instance, key_id, keystore_id);
                }
            }
            for (index, divergence) in self.divergences.iter().enumerate() {
                instance
                    .set_observed_copy(&divergence.managed_key, &divergence.keystore, divergence.copy)
                    .map_err(|error| FixtureError::at(format!("divergences[{index}]"), error.to_string()))?;
            }
        }
        Ok(instance)
    }

    /// Parses, validates and loads fixture JSON as the instance `instance_id` (control plane bodies). The
    /// fixture's own seed is used.
    pub fn load_json(text: &str, instance_id: &str) -> Result<Instance, FixtureError> {
        Fixture::from_json(text)?.into_instance(instance_id, None)
    }

    /// The export of an instance as `GET /__mock/v1/export` answers it: keystore credentials masked.
    pub fn export(instance: &Instance) -> Fixture {
        Fixture::from_instance(instance, &export_description(instance))
    }

    /// The export with keystore credentials as they are: what the state file keeps (it must restore them),
    /// what a merge starts from, and what `GET /__mock/v1/export?include_secrets=true` answers.
    pub fn export_with_secrets(instance: &Instance) -> Fixture {
        Fixture::from_instance_with_secrets(instance, &export_description(instance))
    }

    /// Merges fixture JSON into a copy of `current` and returns it (`current` is not changed).
    ///
    /// Records are added, or overwritten by id (associated resources by id and managed key; fault rules by
    /// id, rules without one are added). `seed`, `fault_seed`, `clock` and `settings` change only when the
    /// text names them, `clock` and `settings` field by field. With `keystore_contents: "derive"` the keys
    /// of the text get derived copies and its `divergences`, every other copy stays as it is; with
    /// `"explicit"` the keystores of the text bring their copies. Errors name the JSON path in the text.
    pub fn merge_json(text: &str, current: &Instance) -> Result<Instance, FixtureError> {
        let incoming = Fixture::from_json(text)?;
        let named = serde_json::from_str::<serde_json::Value>(text)
            .ok()
            .and_then(|value| value.as_object().cloned())
            .unwrap_or_default();
        // Checked here, by their index in the text: below, the current rules come first.
        for (index, rule) in incoming.faults.iter().enumerate() {
            rule.check().map_err(|error| FixtureError::at(format!("faults[{index}]"), error.to_string()))?;
            let duplicate = incoming.faults[..index].iter().any(|r| !rule.id.is_empty() && r.id == rule.id);
            if duplicate {
                return Err(FixtureError::at(
                    format!("faults[{index}].id"),
                    format!("expected a unique fault rule id, found '{}' again", rule.id),
                ));
            }
        }
        let derive = incoming.keystore_contents == KeystoreContents::Derive;
        let mut keystores = incoming.keystores;
        let mut removed_keystores = incoming.removed_keystores;
        if derive {
            for (array, records) in [("keystores", &mut keystores), ("removed_keystores", &mut removed_keystores)] {
                for (index, keystore) in records.iter_mut().enumerate() {
                    check_no_copies(&format!("{array}[{index}]"), keystore)?;
                    // An overwritten keystore keeps what it holds; the text's keys get derived copies below.
                    if let Some(before) = current.keystore_or_removed(&keystore.id) {
                        keystore.simulation.copies = before.simulation.copies.clone();
                    }
                }
            }
        } else if !incoming.divergences.is_empty() {
            return Err(FixtureError::at("divergences", EXPLICIT_WITH_DIVERGENCES));
        }
        let base = Fixture::export_with_secrets(current);
        let mut merged = Fixture {
            description: incoming.description,
            seed: if named.contains_key("seed") { incoming.seed } else { base.seed },
            fault_seed: if named.contains_key("fault_seed") { incoming.fault_seed } else { base.fault_seed },
            clock: match named.get("clock") {
                Some(patch) => overlay(&base.clock, patch, "clock")?,
                None => base.clock,
            },
            settings: match named.get("settings") {
                Some(patch) => overlay(&base.settings, patch, "settings")?,
                None => base.settings,
            },
            // Loaded as it is now; the text's keys are derived afterwards, in derive mode.
            keystore_contents: KeystoreContents::Explicit,
            // The records of the text come first, so that validation errors name their index in the text.
            vaults: merge_by_id(incoming.vaults, base.vaults, |v| v.id.clone()),
            templates: merge_by_id(incoming.templates, base.templates, |t| t.id.clone()),
            keystores: merge_by_id(keystores, base.keystores, |k| k.id.clone()),
            removed_keystores: merge_by_id(removed_keystores, base.removed_keystores, |k| k.id.clone()),
            managed_keys: merge_by_id(incoming.managed_keys.clone(), base.managed_keys, |k| k.id.clone()),
            associated_resources: merge_by_id(incoming.associated_resources, base.associated_resources, |r| {
                format!("{} {}", r.id, r.managed_key_id)
            }),
            divergences: Vec::new(),
            faults: base.faults,
        };
        for rule in incoming.faults {
            match merged.faults.iter_mut().find(|r| !rule.id.is_empty() && r.id == rule.id) {
                Some(existing) => *existing = rule,
                None => merged.faults.push(rule),
            }
        }
        let mut instance = merged.into_instance(&current.id, None)?;
        if derive {
            for managed_key in &incoming.managed_keys {
                for keystore_id in &managed_key.referenced_keystores {
                    derive_copy(&mut instance, &managed_key.id, keystore_id);
                }
            }
            for (index, divergence) in incoming.divergences.iter().enumerate() {
                instance
                    .set_observed_copy(&divergence.managed_key, &divergence.keystore, divergence.copy)
                    .map_err(|error| FixtureError::at(format!("divergences[{index}]"), error.to_string()))?;
            }
        }
        Ok(instance)
    }

    /// Exports an instance with its keystore credentials masked ([`domain::MASKED_SECRET`]): every record,
    /// the exact keystore contents, the clock and the generator's current state, so that loading the result
    /// gives an instance equal but for the credentials. Exports leave the process (files, responses, bug
    /// reports), so secrets stay out unless asked for with [`Fixture::from_instance_with_secrets`].
    pub fn from_instance(instance: &Instance, description: &str) -> Fixture {
        let mut fixture = Fixture::from_instance_with_secrets(instance, description);
        for keystore in fixture.keystores.iter_mut().chain(fixture.removed_keystores.iter_mut()) {
            keystore.connection = keystore.connection.masked();
        }
        fixture
    }

    /// Exports an instance exactly, credentials included, so that loading the result gives an equal
    /// instance (the state file, merges).
    pub fn from_instance_with_secrets(instance: &Instance, description: &str) -> Fixture {
        Fixture {
            description: description.to_owned(),
            seed: Some(instance.rng.state),
            clock: FixtureClock {
                start: instance.clock.now,
                mode: instance.clock.mode,
                last_stamp: instance.clock.last_stamp,
            },
            settings: instance.settings.clone(),
            keystore_contents: KeystoreContents::Explicit,
            vaults: instance.vaults.values().cloned().collect(),
            templates: instance.templates.values().cloned().collect(),
            keystores: instance.keystores.values().cloned().collect(),
            removed_keystores: instance.removed_keystores.values().cloned().collect(),
            managed_keys: instance.managed_keys.values().cloned().collect(),
            associated_resources: instance.associated_resources.clone(),
            divergences: Vec::new(),
            faults: instance.faults.rules.clone(),
            fault_seed: Some(instance.faults.rng.state),
        }
    }
}

fn export_description(instance: &Instance) -> String {
    format!("State of uko-mock instance '{}'", instance.id)
}

impl Default for FixtureClock {
    fn default() -> Self {
        FixtureClock { start: default_clock_start(), mode: ClockMode::Virtual, last_stamp: None }
    }
}

impl FixtureError {
    fn at(path: impl Into<String>, reason: impl Into<String>) -> Self {
        FixtureError { file: None, path: path.into(), reason: reason.into() }
    }

    fn whole(reason: impl Into<String>) -> Self {
        FixtureError::at(String::new(), reason)
    }
}

impl fmt::Display for FixtureError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        if let Some(file) = &self.file {
            write!(f, "{}: ", file.display())?;
        }
        if !self.path.is_empty() {
            write!(f, "{}: ", self.path)?;
        }
        f.write_str(&self.reason)
    }
}

impl std::error::Error for FixtureError {}

/// Reads a whole text file of at most `limit` bytes; never reads more than `limit + 1` bytes.
fn read_capped(file: &Path, limit: u64) -> Result<String, FixtureError> {
    use std::io::Read;
    let cannot_read = |error: std::io::Error| FixtureError::whole(format!("cannot read the file: {error}"));
    let too_large = |size: String| {
        FixtureError::whole(format!("expected a fixture file of at most {limit} bytes, found {size} bytes"))
    };
    let opened = std::fs::File::open(file).map_err(cannot_read)?;
    let size = opened.metadata().map_err(cannot_read)?.len();
    if size > limit {
        return Err(too_large(size.to_string()));
    }
    // The size can change between the check and the read (and a pipe has none): read at most one byte more.
    let mut bytes = Vec::new();
    opened.take(limit + 1).read_to_end(&mut bytes).map_err(cannot_read)?;
    if bytes.len() as u64 > limit {
        return Err(too_large("more than that".to_owned()));
    }
    String::from_utf8(bytes).map_err(|error| {
        FixtureError::whole(format!(
            "expected UTF-8 JSON text, found invalid UTF-8 at byte {}",
            error.utf8_error().valid_up_to()
        ))
    })
}

/// Divergences describe changes to derived copies; explicit copies are written as they are.
const EXPLICIT_WITH_DIVERGENCES: &str =
    "expected no divergences with keystore_contents \"explicit\" (write the copies instead), found some";

/// In derive mode copies come from the keys' states, so a keystore lists none.
fn check_no_copies(path: &str, keystore: &Keystore) -> Result<(), FixtureError> {
    let copies = &keystore.simulation.copies;
    if copies.is_empty() {
        return Ok(());
    }
    Err(FixtureError::at(
        format!("{path}.simulation.copies"),
        format!(
            "expected no copies with keystore_contents \"derive\" (copies are derived; use divergences), found {}",
            copies.len()
        ),
    ))
}

/// `current` with the fields of the JSON object `patch` replaced, one level deep (PATCH of settings, merge of
/// `clock` and `settings`). Unknown fields and wrong types are refused; errors name `prefix.field`.
pub fn overlay<T: Serialize + serde::de::DeserializeOwned>(
    current: &T,
    patch: &serde_json::Value,
    prefix: &str,
) -> Result<T, FixtureError> {
    let joined = |path: &str| match (prefix.is_empty(), path.is_empty()) {
        (true, _) => path.to_owned(),
        (false, true) => prefix.to_owned(),
        (false, false) => format!("{prefix}.{path}"),
    };
    let Some(fields) = patch.as_object() else {
        return Err(FixtureError::at(joined(""), format!("expected a JSON object, found {patch}")));
    };
    let mut value = serde_json::to_value(current).map_err(|error| FixtureError::at(joined(""), error.to_string()))?;
    if let Some(object) = value.as_object_mut() {
        object.extend(fields.iter().map(|(name, field)| (name.clone(), field.clone())));
    }
    serde_path_to_error::deserialize(value).map_err(|error| {
        let path = error.path().to_string();
        FixtureError::at(joined(if path == "." { "" } else { &path }), error.into_inner().to_string())
    })
}

/// Walks a fixture once, remembering where each id was defined.
struct Validator<'a> {
    fixture: &'a Fixture,
    vaults: HashMap<&'a str, usize>,
    templates: HashMap<&'a str, usize>,
    keystores: HashMap<&'a str, usize>,
    removed_keystores: HashMap<&'a str, usize>,
    managed_keys: HashMap<&'a str, usize>,
}

impl<'a> Validator<'a> {
    fn new(fixture: &'a Fixture) -> Self {
        Validator {
            fixture,
            vaults: HashMap::new(),
            templates: HashMap::new(),
            keystores: HashMap::new(),
            removed_keystores: HashMap::new(),
            managed_keys: HashMap::new(),
        }
    }

    fn run(mut self) -> Result<(), FixtureError> {
        let fixture = self.fixture;
        if fixture.description.trim().is_empty() {
            return Err(FixtureError::at(
                "description",
                "expected a sentence saying what the fixture sets up, found ''",
            ));
        }
        if fixture.managed_keys.len() > MAX_MANAGED_KEYS {
            return Err(FixtureError::at(
                "managed_keys",
                format!("expected at most {MAX_MANAGED_KEYS} managed keys, found {}", fixture.managed_keys.len()),
            ));
        }
        self.vaults = index_ids("vaults", fixture.vaults.iter().map(|v| v.id.as_str()))?;
        self.templates = index_ids("templates", fixture.templates.iter().map(|t| t.id.as_str()))?;
        self.keystores = index_ids("keystores", fixture.keystores.iter().map(|k| k.id.as_str()))?;
        self.removed_keystores =
            index_ids("removed_keystores", fixture.removed_keystores.iter().map(|k| k.id.as_str()))?;
        for (index, keystore) in fixture.removed_keystores.iter().enumerate() {
            if self.keystores.contains_key(keystore.id.as_str()) {
                return Err(FixtureError::at(
                    format!("removed_keystores[{index}].id"),
                    format!("expected an id that no live keystore has, found '{}'", keystore.id),
                ));
            }
        }
        self.managed_keys = index_ids("managed_keys", fixture.managed_keys.iter().map(|k| k.id.as_str()))?;
        for (index, vault) in fixture.vaults.iter().enumerate() {
            self.check_vault(&format!("vaults[{index}]"), vault)?;
        }
        let mut template_names: HashMap<&str, usize> = HashMap::new();
        for (index, template) in fixture.templates.iter().enumerate() {
            let path = format!("templates[{index}]");
            if let Some(first) = template_names.insert(template.name.as_str(), index) {
                return Err(FixtureError::at(
                    format!("{path}.name"),
                    format!(
                        "expected a unique template name, found '{}' again (first at templates[{first}])",
                        template.name
                    ),
                ));
            }
            self.check_template(&path, template)?;
        }
        for (index, keystore) in fixture.keystores.iter().enumerate() {
            let path = format!("keystores[{index}]");
            check_reference(&format!("{path}.vault_id"), &keystore.vault_id, &self.vaults, "vault")?;
            self.check_keystore(&path, keystore)?;
        }
        for (index, keystore) in fixture.removed_keystores.iter().enumerate() {
            // The vault of a removed keystore may have been deleted since; only its own record is checked.
            self.check_keystore(&format!("removed_keystores[{index}]"), keystore)?;
        }
        for (index, managed_key) in fixture.managed_keys.iter().enumerate() {
            self.check_managed_key(&format!("managed_keys[{index}]"), managed_key)?;
        }
        let mut seen_resources = HashSet::new();
        for (index, resource) in fixture.associated_resources.iter().enumerate() {
            self.check_associated_resource(&format!("associated_resources[{index}]"), resource)?;
            if !seen_resources.insert((resource.id.as_str(), resource.managed_key_id.as_str())) {
                return Err(FixtureError::at(
                    format!("associated_resources[{index}].id"),
                    format!("expected each resource once per managed key, found '{}' again", resource.id),
                ));
            }
        }
        self.check_divergences()
    }

    fn check_vault(&self, path: &str, vault: &Vault) -> Result<(), FixtureError> {
        field(path, "name", validate::vault_name("name", &vault.name))?;
        field(path, "description", validate::description("description", &vault.description))
    }

    fn check_template(&self, path: &str, template: &Template) -> Result<(), FixtureError> {
        check_reference(&format!("{path}.vault_id"), &template.vault_id, &self.vaults, "vault")?;
        field(path, "name", validate::template_name("name", &template.name))?;
        field(path, "description", validate::description("description", &template.description))?;
        field(path, "key.size", validate::key_size("key.size", &template.key.size))?;
        for (name, period) in [
            ("key.activation_date", &template.key.activation_date),
            ("key.expiration_date", &template.key.expiration_date),
        ] {
            if domain::clock::Period::parse(period).is_none() {
                return Err(FixtureError::at(
                    format!("{path}.{name}"),
                    format!("expected an ISO-8601 period like P1Y2M1W3D, found '{period}'"),
                ));
            }
        }
        if let Some(scheme) = &template.naming_scheme {
            field(path, "naming_scheme", NamingScheme::parse("naming_scheme", scheme).map(drop))?;
        }
        if template.keystores.len() != 1 {
            return Err(FixtureError::at(
                format!("{path}.keystores"),
                format!("expected exactly 1 keystores entry, found {}", template.keystores.len()),
            ));
        }
        for (index, entry) in template.keystores.iter().enumerate() {
            field(path, &format!("keystores[{index}].group"), validate::group_name("group", &entry.group))?;
        }
        Ok(())
    }

    fn check_keystore(&self, path: &str, keystore: &Keystore) -> Result<(), FixtureError> {
        field(path, "name", validate::keystore_name("name", &keystore.name))?;
        field(path, "description", validate::description("description", &keystore.description))?;
        field(path, "groups", validate::groups("groups", &keystore.groups))?;
        if keystore.keystore_type == KeystoreType::IbmCloudKms && keystore.connection.ibm_variant.is_none() {
            return Err(FixtureError::at(
                format!("{path}.connection.ibm_variant"),
                format!("expected one of {} for an ibm_cloud_kms keystore, found nothing", IbmVariant::expected()),
            ));
        }
        if self.fixture.keystore_contents == KeystoreContents::Derive {
            check_no_copies(path, keystore)?;
        }
        Ok(())
    }

    fn check_managed_key(&self, path: &str, managed_key: &ManagedKey) -> Result<(), FixtureError> {
        check_reference(&format!("{path}.vault_id"), &managed_key.vault_id, &self.vaults, "vault")?;
        check_reference(&format!("{path}.template_id"), &managed_key.template_id, &self.templates, "template")?;
        let template_index = self.templates[managed_key.template_id.as_str()];
        let template = &self.fixture.templates[template_index];
        if template.vault_id != managed_key.vault_id {
            return Err(FixtureError::at(
                format!("{path}.template_id"),
                format!(
                    "expected a template in the key's vault '{}', found templates[{template_index}] in vault '{}'",
                    managed_key.vault_id, template.vault_id
                ),
            ));
        }
        field(path, "label", validate::key_label("label", &managed_key.label))?;
        field(path, "description", validate::description("description", &managed_key.description))?;
        field(path, "size", validate::key_size("size", &managed_key.size))?;
        if managed_key.versions.is_empty() {
            return Err(FixtureError::at(
                format!("{path}.versions"),
                "expected at least one key-material version (the last is current), found none",
            ));
        }
        for (index, instance) in managed_key.instances.iter().enumerate() {
            check_id(&format!("{path}.instances[{index}].id"), &instance.id)?;
        }
        let mut linked = HashSet::new();
        for (index, keystore_id) in managed_key.referenced_keystores.iter().enumerate() {
            let item = format!("{path}.referenced_keystores[{index}]");
            check_reference(&item, keystore_id, &self.keystores, "keystore")?;
            let keystore = &self.fixture.keystores[self.keystores[keystore_id.as_str()]];
            if keystore.vault_id != managed_key.vault_id {
                return Err(FixtureError::at(
                    item,
                    format!(
                        "expected a keystore in the key's vault '{}', found one in vault '{}'",
                        managed_key.vault_id, keystore.vault_id
                    ),
                ));
            }
            if !linked.insert(keystore_id.as_str()) {
                return Err(FixtureError::at(
                    item,
                    format!("expected each keystore once, found '{keystore_id}' again"),
                ));
            }
        }
        for (index, keystore_id) in managed_key.removed_keystores.iter().enumerate() {
            let item = format!("{path}.removed_keystores[{index}]");
            check_reference(&item, keystore_id, &self.removed_keystores, "removed keystore")?;
            if !linked.insert(keystore_id.as_str()) {
                return Err(FixtureError::at(
                    item,
                    format!("expected each keystore once, found '{keystore_id}' again"),
                ));
            }
        }
        Ok(())
    }

    fn check_associated_resource(&self, path: &str, resource: &AssociatedResource) -> Result<(), FixtureError> {
        if resource.id.is_empty() {
            return Err(FixtureError::at(
                format!("{path}.id"),
                "expected the URL-encoded CRN of the resource, found ''",
            ));
        }
        check_reference(
            &format!("{path}.managed_key_id"),
            &resource.managed_key_id,
            &self.managed_keys,
            "managed key",
        )?;
        check_reference(&format!("{path}.keystore_id"), &resource.keystore_id, &self.keystores, "keystore")
    }

    fn check_divergences(&self) -> Result<(), FixtureError> {
        let fixture = self.fixture;
        if fixture.keystore_contents == KeystoreContents::Explicit && !fixture.divergences.is_empty() {
            return Err(FixtureError::at("divergences", EXPLICIT_WITH_DIVERGENCES));
        }
        let mut seen = HashSet::new();
        for (index, divergence) in fixture.divergences.iter().enumerate() {
            let path = format!("divergences[{index}]");
            check_reference(
                &format!("{path}.managed_key"),
                &divergence.managed_key,
                &self.managed_keys,
                "managed key",
            )?;
            let managed_key = &fixture.managed_keys[self.managed_keys[divergence.managed_key.as_str()]];
            let linked = managed_key.referenced_keystores.iter().chain(&managed_key.removed_keystores);
            if !linked.clone().any(|id| *id == divergence.keystore) {
                return Err(FixtureError::at(
                    format!("{path}.keystore"),
                    format!(
                        "expected one of the key's referenced_keystores or removed_keystores ({}), found '{}'",
                        linked.cloned().collect::<Vec<_>>().join(", "),
                        divergence.keystore
                    ),
                ));
            }
            if !seen.insert((divergence.managed_key.as_str(), divergence.keystore.as_str())) {
                return Err(FixtureError::at(
                    path,
                    "expected one divergence per managed key and keystore, found a second one",
                ));
            }
        }
        Ok(())
    }
}

/// Checks that `id` is one of the ids indexed in `known`.
fn check_reference(path: &str, id: &str, known: &HashMap<&str, usize>, noun: &str) -> Result<(), FixtureError> {
    if known.contains_key(id) {
        Ok(())
    } else {
        Err(FixtureError::at(path, format!("expected the id of a {noun} in this fixture, found '{id}'")))
    }
}

/// Checks that every id of one array is well formed and unique, and indexes them.
fn index_ids<'a>(array: &str, ids: impl Iterator<Item = &'a str>) -> Result<HashMap<&'a str, usize>, FixtureError> {
    let mut index = HashMap::new();
    for (position, id) in ids.enumerate() {
        let path = format!("{array}[{position}].id");
        check_id(&path, id)?;
        if let Some(first) = index.insert(id, position) {
            return Err(FixtureError::at(
                path,
                format!("expected a unique id, found '{id}' again (first at {array}[{first}])"),
            ));
        }
    }
    Ok(index)
}

/// Ids must be usable as path parameters: 36 characters of `0-9`, `a-z` and `-` (`uko-semantics.md` §13).
fn check_id(path: &str, id: &str) -> Result<(), FixtureError> {
    let valid = id.len() == 36 && id.bytes().all(|b| b.is_ascii_digit() || b.is_ascii_lowercase() || b == b'-');
    if valid {
        Ok(())
    } else {
        Err(FixtureError::at(path, format!("expected a lowercase uuid of 36 characters, found '{id}'")))
    }
}

/// Maps a domain validation result onto the JSON path `path.name`.
fn field(path: &str, name: &str, result: domain::Result<()>) -> Result<(), FixtureError> {
    result.map_err(|error| FixtureError::at(format!("{path}.{name}"), error.to_string()))
}

/// The records of `first`, then those of `rest` whose id `first` does not have.
fn merge_by_id<T>(first: Vec<T>, rest: Vec<T>, id: impl Fn(&T) -> String) -> Vec<T> {
    let taken: HashSet<String> = first.iter().map(&id).collect();
    let mut merged = first;
    merged.extend(rest.into_iter().filter(|record| !taken.contains(&id(record))));
    merged
}

fn by_id<T>(records: Vec<T>, id: impl Fn(&T) -> &String) -> BTreeMap<String, T> {
    records.into_iter().map(|record| (id(&record).clone(), record)).collect()
}

/// The clock start of a fixture that names none.
pub fn default_clock_start() -> Timestamp {
    Timestamp::new(datetime!(2026-01-01 09:00:00 UTC))
}

/// The in-sync copy of a key in one keystore, made by replaying its lifecycle through the domain's own
/// propagation: a key that is deactivated or destroyed now was installed while active, so its keystores
/// hold it disabled (or pending destruction) rather than never having seen it.
fn derive_copy(instance: &mut Instance, key_id: &str, keystore_id: &str) {
    let Some(state) = instance.managed_keys.get(key_id).map(|k| k.state) else {
        return;
    };
    if !matches!(state, KeyState::PreActivation | KeyState::Active) {
        set_key_state(instance, key_id, KeyState::Active);
        instance.apply_expected_copy(key_id, keystore_id);
        set_key_state(instance, key_id, state);
    }
    instance.apply_expected_copy(key_id, keystore_id);
}

fn set_key_state(instance: &mut Instance, key_id: &str, state: KeyState) {
    if let Some(managed_key) = instance.managed_keys.get_mut(key_id) {
        managed_key.state = state;
    }
}

/// 64-bit seeds that survive JSON tools which read every number as a double (jq 1.6, JavaScript, Python's
/// `json` with some settings round to 53 bits): a value above 2^53 - 1 is written as a string of digits;
/// either form is read.
mod exact_u64 {
    use serde::de::{self, Deserializer, Visitor};
    use serde::Serializer;

    /// The largest integer a double holds exactly.
    pub(super) const MAX_EXACT_IN_DOUBLE: u64 = (1 << 53) - 1;

    pub(super) fn serialize<S: Serializer>(value: &Option<u64>, serializer: S) -> Result<S::Ok, S::Error> {
        match value {
            Some(value) if *value > MAX_EXACT_IN_DOUBLE => serializer.serialize_str(&value.to_string()),
            Some(value) => serializer.serialize_u64(*value),
            None => serializer.serialize_none(),
        }
    }

    pub(super) fn deserialize<'de, D: Deserializer<'de>>(deserializer: D) -> Result<Option<u64>, D::Error> {
        deserializer.deserialize_any(SeedVisitor)
    }

    struct SeedVisitor;

    impl<'de> Visitor<'de> for SeedVisitor {
        type Value = Option<u64>;

        fn expecting(&self, formatter: &mut std::fmt::Formatter) -> std::fmt::Result {
            formatter.write_str("an unsigned 64-bit integer, as a number or a string of digits")
        }

        fn visit_u64<E: de::Error>(self, value: u64) -> Result<Self::Value, E> {
            Ok(Some(value))
        }

        fn visit_i64<E: de::Error>(self, value: i64) -> Result<Self::Value, E> {
            u64::try_from(value)
                .map(Some)
                .map_err(|_| E::custom(format!("expected a seed of at least 0, found {value}")))
        }

        fn visit_str<E: de::Error>(self, text: &str) -> Result<Self::Value, E> {
            text.parse::<u64>()
                .map(Some)
                .map_err(|_| E::custom(format!("expected a seed as a string of digits below 2^64, found '{text}'")))
        }

        fn visit_none<E: de::Error>(self) -> Result<Self::Value, E> {
            Ok(None)
        }

        fn visit_unit<E: de::Error>(self) -> Result<Self::Value, E> {
            Ok(None)
        }

        fn visit_some<D: Deserializer<'de>>(self, deserializer: D) -> Result<Self::Value, D::Error> {
            deserializer.deserialize_any(SeedVisitor)
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::domain::{StatusInKeystoreStatus, SyncFlag, SyncFlagDetail};

    #[test]
    fn seeds_above_2_pow_53_are_written_as_strings_and_survive_a_double_round_trip() {
        let mut fixture = Fixture::default_fixture().unwrap();
        fixture.seed = Some(u64::MAX - 6);
        fixture.fault_seed = Some(exact_u64::MAX_EXACT_IN_DOUBLE);
        let text = fixture.to_json();
        let value: serde_json::Value = serde_json::from_str(&text).unwrap();
        assert_eq!(value["seed"], serde_json::json!((u64::MAX - 6).to_string()));
        assert_eq!(value["fault_seed"], serde_json::json!(exact_u64::MAX_EXACT_IN_DOUBLE), "2^53 - 1 stays a number");
        // What a tool that reads numbers as doubles writes back (jq 1.6): every number through f64.
        fn through_doubles(value: &mut serde_json::Value) {
            match value {
                serde_json::Value::Number(n) => *n = serde_json::Number::from_f64(n.as_f64().unwrap()).unwrap(),
                serde_json::Value::Array(items) => items.iter_mut().for_each(through_doubles),
                serde_json::Value::Object(map) => map.values_mut().for_each(through_doubles),
                _ => {}
            }
        }
        let mut rounded = value.clone();
        through_doubles(&mut rounded);
        // serde_json writes an integral double like 9007199254740991.0; jq writes it as an integer.
        let rounded = serde_json::to_string(&rounded).unwrap().replace(".0,", ",").replace(".0}", "}");
        let back = Fixture::from_json(&rounded).unwrap();
        assert_eq!(back.seed, Some(u64::MAX - 6));
        assert_eq!(back.fault_seed, Some(exact_u64::MAX_EXACT_IN_DOUBLE));
        assert_eq!(Fixture::from_json(&text).unwrap(), fixture);
        let refused = Fixture::from_json(r#"{"description": "x", "seed": "-1"}"#).unwrap_err();
        assert!(refused.to_string().contains("expected a seed as a string of digits"), "{refused}");
    }

    fn fixtures_dir() -> PathBuf {
        Path::new(env!("CARGO_MANIFEST_DIR")).join("../fixtures")
    }

    fn fixture_files() -> Vec<PathBuf> {
        let mut files: Vec<PathBuf> = std::fs::read_dir(fixtures_dir())
            .unwrap()
            .map(|entry| entry.unwrap().path())
            .filter(|path| path.extension().is_some_and(|e| e == "json"))
            .collect();
        files.sort();
        files
    }

    fn load(name: &str) -> Instance {
        Fixture::load(fixtures_dir().join(name)).unwrap().into_instance("default", None).unwrap()
    }

    /// Every status entry of every key, probing each keystore once per key as a GET would.
    fn all_statuses(instance: &mut Instance) -> Vec<(String, domain::simulation::StatusEntry)> {
        let ids: Vec<String> = instance.managed_keys.keys().cloned().collect();
        ids.into_iter()
            .flat_map(|id| {
                instance.status_in_keystores(&id).into_iter().map(move |e| (id.clone(), e)).collect::<Vec<_>>()
            })
            .collect()
    }

    #[track_caller]
    fn check_error(text: &str, path: &str, reason_part: &str) {
        let error = match Fixture::from_json(text) {
            Ok(fixture) => fixture.validate().unwrap_err(),
            Err(error) => error,
        };
        assert_eq!(error.path, path, "{error}");
        assert!(error.reason.contains(reason_part), "expected '{reason_part}' in: {error}");
    }

    fn minimal() -> serde_json::Value {
        serde_json::from_str(include_str!("../../fixtures/key-missing-in-keystore.json")).unwrap()
    }

    #[test]
    fn every_fixture_file_parses_validates_and_loads() {
        let files = fixture_files();
        assert!(files.len() >= 11, "expected the default fixture and ten scenarios, found {files:?}");
        for file in files {
            let fixture = Fixture::load(&file).unwrap_or_else(|e| panic!("{e}"));
            assert!(!fixture.description.is_empty());
            fixture.into_instance("default", None).unwrap_or_else(|e| panic!("{}: {e}", file.display()));
        }
    }

    #[test]
    fn export_then_import_gives_an_equal_instance_for_every_fixture() {
        for file in fixture_files() {
            let first = Fixture::load(&file).unwrap().into_instance("default", None).unwrap();
            let exported = Fixture::from_instance_with_secrets(&first, "export");
            assert_eq!(exported.keystore_contents, KeystoreContents::Explicit);
            let second = exported.clone().into_instance("default", None).unwrap();
            assert_eq!(first, second, "{}", file.display());
            let reparsed = Fixture::from_json(&exported.to_json()).unwrap();
            assert_eq!(reparsed, exported, "{}: the JSON text does not round-trip", file.display());
        }
    }

    #[test]
    fn export_after_mutations_keeps_clock_rng_and_settings() {
        let mut instance = load("default.json");
        instance.settings.pending_destruction = true;
        instance.clock.stamp();
        instance.rng.next_u64();
        let key_id = "44444444-4444-4444-8444-000000000002";
        let etag = instance.managed_key(key_id).unwrap().updated_at.etag();
        instance
            .change_key_state(key_id, Some(&domain::IfMatch::parse(etag)), domain::managed_keys::KeyAction::Destroy)
            .unwrap();
        let json = Fixture::from_instance_with_secrets(&instance, "after destroy").to_json();
        let again = Fixture::from_json(&json).unwrap().into_instance("default", Some(999)).unwrap();
        // The override replaces the exported generator state, and nothing else differs.
        assert_ne!(again.rng, instance.rng);
        let again = Fixture::from_json(&json).unwrap().into_instance("default", None).unwrap();
        assert_eq!(again, instance);
    }

    #[test]
    fn default_fixture_has_every_state_and_something_out_of_sync() {
        let mut instance = Fixture::default_fixture().unwrap().into_instance("default", None).unwrap();
        for state in [KeyState::PreActivation, KeyState::Active, KeyState::Deactivated, KeyState::Destroyed] {
            assert!(instance.managed_keys.values().any(|k| k.state == state), "no key in state {state}");
        }
        let statuses = all_statuses(&mut instance);
        let out_of_sync: Vec<_> = statuses.iter().filter(|(_, e)| e.sync_flag == SyncFlag::OutOfSync).collect();
        assert_eq!(out_of_sync.len(), 1, "{out_of_sync:?}");
        let (key_id, entry) = out_of_sync[0];
        assert_eq!(instance.managed_keys[key_id].label, "A-PAYMENTS-AES256-PROD");
        assert_eq!(entry.status, StatusInKeystoreStatus::NotPresent);
        assert!(statuses.iter().all(|(_, e)| e.sync_flag != SyncFlag::Error));
        // Deactivated keys were installed while active, so their keystores hold them disabled.
        let deactivated: Vec<_> =
            statuses.iter().filter(|(id, _)| instance.managed_keys[id].state == KeyState::Deactivated).collect();
        assert!(!deactivated.is_empty());
        for (_, entry) in deactivated {
            assert_eq!(entry.status, StatusInKeystoreStatus::NotActive);
            assert!(entry.key_id_in_keystore.is_some());
        }
        let keystore_types: HashSet<_> = instance.keystores.values().map(|k| k.keystore_type).collect();
        assert_eq!(keystore_types.len(), 4, "internal and Key Protect share ibm_cloud_kms");
        assert_eq!(instance.associated_resources.len(), 1);
    }

    #[test]
    fn derived_copies_follow_the_pending_destruction_setting() {
        let mut value: serde_json::Value = serde_json::from_str(DEFAULT_FIXTURE_JSON).unwrap();
        value["settings"] = serde_json::json!({"pending_destruction": true});
        let mut instance = Fixture::from_json(&value.to_string()).unwrap().into_instance("default", None).unwrap();
        let destroyed = instance.managed_keys.values().find(|k| k.state == KeyState::Destroyed).unwrap().id.clone();
        let entries = instance.status_in_keystores(&destroyed);
        assert_eq!(entries[0].detail, SyncFlagDetail::DestroyedPendingKeyIsPendingDestructionInKeystore);
        assert_eq!(entries[0].destruction_policy_duration.as_deref(), Some("PT168H"));
    }

    #[test]
    fn readme_example_loads() {
        let readme = std::fs::read_to_string(fixtures_dir().join("README.md")).unwrap();
        let start = readme.find("```json\n").unwrap() + "```json\n".len();
        let end = start + readme[start..].find("```").unwrap();
        let mut instance = Fixture::from_json(&readme[start..end]).unwrap().into_instance("default", None).unwrap();
        let key_id = "44444444-4444-4444-8444-000000000001";
        let entries = instance.status_in_keystores(key_id);
        assert_eq!(entries[0].detail, SyncFlagDetail::ActiveKeyIsNotActiveInKeystore);
    }

    #[test]
    fn misconfigured_keystore_reports_configuration_error() {
        let mut value = minimal();
        value["keystores"][0]["simulation"] = serde_json::json!({"configuration_error": true});
        let mut instance = Fixture::from_json(&value.to_string()).unwrap().into_instance("default", None).unwrap();
        let keystore_id = "33333333-3333-4333-8333-000000000001";
        let health = instance.keystore_status(keystore_id).unwrap();
        assert_eq!(health.health_status, domain::HealthStatus::ConfigurationError);
        let entries = instance.status_in_keystores("44444444-4444-4444-8444-000000000001");
        assert_eq!(entries[0].detail, SyncFlagDetail::ConnectionError);
    }

    #[test]
    fn default_fixture_file_and_built_in_copy_agree() {
        let from_file = Fixture::load(fixtures_dir().join("default.json")).unwrap();
        assert_eq!(Fixture::default_fixture().unwrap(), from_file);
    }

    #[test]
    fn each_scenario_shows_its_divergence() {
        use StatusInKeystoreStatus as S;
        use SyncFlag as F;
        use SyncFlagDetail as D;
        let cases = [
            ("key-missing-in-keystore.json", S::NotPresent, F::OutOfSync, D::ActiveKeyIsNotActiveInKeystore),
            ("key-inactive-in-keystore.json", S::NotActive, F::OutOfSync, D::ActiveKeyIsNotActiveInKeystore),
            ("wrong-key-in-keystore.json", S::WrongKey, F::OutOfSync, D::ActiveKeyIsNotActiveInKeystore),
            ("destroy-failed-in-keystore.json", S::NotActive, F::OutOfSync, D::DestroyedKeyIsPresentInKeystore),
            ("keystore-unreachable.json", S::Error, F::Error, D::ConnectionError),
            ("keystore-unreachable-for-calls.json", S::Error, F::Error, D::ConnectionError),
            ("keystore-removed-by-user.json", S::NotPresent, F::OutOfSync, D::TargetKeystoreRemovedByUser),
            ("pre-active-key-present-in-keystore.json", S::Active, F::OutOfSync, D::PreActiveKeyIsPresentInKeystore),
            (
                "deactivated-key-still-active-in-keystore.json",
                S::Active,
                F::OutOfSync,
                D::DeactivatedKeyIsNotDeactivatedInKeystore,
            ),
        ];
        for (file, status, flag, detail) in cases {
            let mut instance = load(file);
            let statuses = all_statuses(&mut instance);
            assert!(
                statuses.iter().any(|(_, e)| (e.status, e.sync_flag, e.detail) == (status, flag, detail)),
                "{file}: no entry {status}/{flag}/{detail} in {statuses:#?}"
            );
        }
    }

    #[test]
    fn removed_keystore_scenario_also_shows_an_active_copy_left_behind() {
        let mut instance = load("keystore-removed-by-user.json");
        let details: Vec<_> = all_statuses(&mut instance).into_iter().map(|(_, e)| e.detail).collect();
        assert!(details.contains(&SyncFlagDetail::TargetKeystoreRemovedByUserContainsAnActiveKey), "{details:?}");
    }

    #[test]
    fn unreachable_for_calls_recovers_after_the_given_number_of_calls() {
        let mut instance = load("keystore-unreachable-for-calls.json");
        let key_id = instance.managed_keys.keys().next().unwrap().clone();
        // The scenario's key is in one keystore, so each read has exactly one entry.
        let flags: Vec<SyncFlag> =
            (0..4).flat_map(|_| instance.status_in_keystores(&key_id)).map(|e| e.sync_flag).collect();
        assert_eq!(flags[..2], [SyncFlag::Error, SyncFlag::Error]);
        assert_eq!(flags[2..], [SyncFlag::Ok, SyncFlag::Ok]);
    }

    #[test]
    fn flapping_keystore_fails_some_calls_and_answers_others() {
        let mut instance = load("keystore-flapping.json");
        let key_id = instance.managed_keys.keys().next().unwrap().clone();
        let details: Vec<SyncFlagDetail> =
            (0..40).flat_map(|_| instance.status_in_keystores(&key_id)).map(|e| e.detail).collect();
        assert!(details.contains(&SyncFlagDetail::ConnectionError));
        assert!(details.contains(&SyncFlagDetail::ActiveKeyIsActiveInKeystore));
    }

    #[test]
    fn same_fixture_and_seed_give_the_same_native_ids_and_another_seed_does_not() {
        let fixture = Fixture::default_fixture().unwrap();
        let a = fixture.clone().into_instance("default", None).unwrap();
        let b = fixture.clone().into_instance("default", None).unwrap();
        let c = fixture.into_instance("default", Some(7)).unwrap();
        assert_eq!(a, b);
        assert_ne!(a.keystores, c.keystores);
    }

    #[test]
    fn wrong_type_names_its_json_path() {
        let mut value = minimal();
        value["managed_keys"][0]["state"] = serde_json::json!("enabled");
        check_error(&value.to_string(), "managed_keys[0].state", "unknown variant `enabled`");
        value["managed_keys"][0]["state"] = serde_json::json!(1);
        check_error(&value.to_string(), "managed_keys[0].state", "expected value at line 1");
    }

    #[test]
    fn unknown_fields_are_refused_at_top_level_and_in_settings() {
        let mut value = minimal();
        value["keystore_content"] = serde_json::json!("derive");
        check_error(&value.to_string(), "keystore_content", "unknown field `keystore_content`");
        let mut value = minimal();
        value["settings"] = serde_json::json!({"pending_destructions": true});
        check_error(&value.to_string(), "settings.pending_destructions", "unknown field");
    }

    #[test]
    fn dangling_references_name_their_json_path() {
        let mut value = minimal();
        value["managed_keys"][0]["template_id"] = serde_json::json!("99999999-9999-4999-8999-999999999999");
        check_error(&value.to_string(), "managed_keys[0].template_id", "expected the id of a template");
        let mut value = minimal();
        value["managed_keys"][0]["referenced_keystores"][0] = serde_json::json!("99999999-9999-4999-8999-999999999999");
        check_error(&value.to_string(), "managed_keys[0].referenced_keystores[0]", "expected the id of a keystore");
        let mut value = minimal();
        value["divergences"][0]["keystore"] = serde_json::json!("99999999-9999-4999-8999-999999999999");
        check_error(&value.to_string(), "divergences[0].keystore", "referenced_keystores or removed_keystores");
        let mut value = minimal();
        value["templates"][0]["vault_id"] = serde_json::json!("99999999-9999-4999-8999-999999999999");
        check_error(&value.to_string(), "templates[0].vault_id", "expected the id of a vault");
    }

    #[test]
    fn invalid_records_name_their_json_path() {
        let mut value = minimal();
        value["managed_keys"][0]["versions"] = serde_json::json!([]);
        check_error(&value.to_string(), "managed_keys[0].versions", "at least one");
        let mut value = minimal();
        value["managed_keys"][0]["label"] = serde_json::json!("bad*label");
        check_error(&value.to_string(), "managed_keys[0].label", "may contain only");
        let mut value = minimal();
        value["keystores"][0]["name"] = serde_json::json!("-dash");
        check_error(&value.to_string(), "keystores[0].name", "must start with a letter or digit");
        let mut value = minimal();
        let duplicate = value["keystores"][0].clone();
        value["keystores"].as_array_mut().unwrap().push(duplicate);
        check_error(&value.to_string(), "keystores[1].id", "expected a unique id");
        let mut value = minimal();
        value["vaults"][0]["id"] = serde_json::json!("Vault-1");
        check_error(&value.to_string(), "vaults[0].id", "lowercase uuid");
        let mut value = minimal();
        value["keystores"][0]["simulation"] =
            serde_json::json!({"copies": {"x": {"state": "active", "material": "AA", "key_id_in_keystore": "k"}}});
        check_error(&value.to_string(), "keystores[0].simulation.copies", "use divergences");
    }

    #[test]
    fn too_many_keys_are_refused() {
        let mut fixture = Fixture::from_json(&minimal().to_string()).unwrap();
        let key = fixture.managed_keys[0].clone();
        fixture.managed_keys = vec![key; MAX_MANAGED_KEYS + 1];
        let error = fixture.validate().unwrap_err();
        assert_eq!(error.path, "managed_keys");
    }

    #[test]
    fn oversized_fixture_files_are_refused_without_reading_them() {
        let directory = std::env::temp_dir().join(format!("uko-fixture-size-{}", std::process::id()));
        std::fs::create_dir_all(&directory).unwrap();
        let file = directory.join("huge.json");
        // Sparse: the size is there, the bytes are not, so the test costs no disk and no memory.
        std::fs::File::create(&file).unwrap().set_len(MAX_FIXTURE_BYTES + 1).unwrap();
        let error = Fixture::load(&file).unwrap_err();
        let small = directory.join("small.json");
        std::fs::write(&small, "{\"description\": \"a fixture of 30 bytes\"}").unwrap();
        let capped = read_capped(&small, 10).unwrap_err();
        std::fs::remove_dir_all(&directory).unwrap();
        assert_eq!(error.file.as_deref(), Some(file.as_path()));
        assert_eq!(
            error.reason,
            format!(
                "expected a fixture file of at most {MAX_FIXTURE_BYTES} bytes, found {} bytes",
                MAX_FIXTURE_BYTES + 1
            )
        );
        assert!(capped.reason.contains("at most 10 bytes"), "{capped}");
    }

    #[test]
    fn fixture_files_that_are_not_utf8_are_refused_with_the_offset() {
        let directory = std::env::temp_dir().join(format!("uko-fixture-utf8-{}", std::process::id()));
        std::fs::create_dir_all(&directory).unwrap();
        let file = directory.join("latin1.json");
        std::fs::write(&file, b"{\"description\": \"caf\xe9\"}").unwrap();
        let error = Fixture::load(&file).unwrap_err();
        std::fs::remove_dir_all(&directory).unwrap();
        assert_eq!(error.reason, "expected UTF-8 JSON text, found invalid UTF-8 at byte 20");
    }

    #[test]
    fn load_errors_name_the_file() {
        let error = Fixture::load("/nonexistent/scenario.json").unwrap_err();
        assert!(error.to_string().starts_with("/nonexistent/scenario.json: cannot read the file"), "{error}");
        let directory = std::env::temp_dir().join(format!("uko-fixture-test-{}", std::process::id()));
        std::fs::create_dir_all(&directory).unwrap();
        let file = directory.join("broken.json");
        std::fs::write(&file, "{\"description\": \"x\", \"vaults\": [{]}").unwrap();
        let error = Fixture::load(&file).unwrap_err();
        std::fs::remove_dir_all(&directory).unwrap();
        assert_eq!(error.file.as_deref(), Some(file.as_path()));
        assert!(error.to_string().contains("broken.json: vaults"), "{error}");
    }

    #[test]
    fn missing_description_is_refused() {
        let mut value = minimal();
        value.as_object_mut().unwrap().remove("description");
        check_error(&value.to_string(), "", "missing field `description`");
    }

    #[test]
    fn clock_and_seed_default_when_absent() {
        let mut value = minimal();
        let object = value.as_object_mut().unwrap();
        object.remove("clock");
        object.remove("seed");
        let instance = Fixture::from_json(&value.to_string()).unwrap().into_instance("x", None).unwrap();
        assert_eq!(instance.clock.now.etag(), "2026-01-01T09:00:00Z");
        assert_eq!(instance.clock.mode, ClockMode::Virtual);
        assert_eq!(instance.id, "x");
    }
    #[test]
    fn merge_adds_a_key_with_derived_copies_and_keeps_existing_divergences() {
        let current = Fixture::default_fixture().unwrap().into_instance("default", None).unwrap();
        let mut new_key = (*current.managed_keys["44444444-4444-4444-8444-000000000001"]).clone();
        new_key.id = "44444444-4444-4444-8444-000000000099".to_owned();
        new_key.label = "merged-key".to_owned();
        let text = serde_json::json!({"description": "one more key", "managed_keys": [new_key]}).to_string();
        let mut merged = Fixture::merge_json(&text, &current).unwrap();
        assert_eq!(merged.managed_keys.len(), current.managed_keys.len() + 1);
        assert_eq!(merged.clock, current.clock, "a merge without clock keeps the clock");
        assert_eq!(merged.settings, current.settings);
        let entries = merged.status_in_keystores("44444444-4444-4444-8444-000000000099");
        assert_eq!(entries[0].detail, SyncFlagDetail::ActiveKeyIsActiveInKeystore);
        // The default fixture's divergence (a key missing in AWS KMS) is still there.
        let entries = merged.status_in_keystores("44444444-4444-4444-8444-000000000003");
        assert_eq!(entries[0].detail, SyncFlagDetail::ActiveKeyIsNotActiveInKeystore);
    }

    #[test]
    fn merge_overwrites_by_id_and_patches_named_settings_only() {
        let current = Fixture::default_fixture().unwrap().into_instance("default", None).unwrap();
        let mut vault = current.vaults.values().next().unwrap().clone();
        vault.name = "Renamed".to_owned();
        let text = serde_json::json!({
            "description": "rename",
            "vaults": [vault],
            "settings": {"sync_bumps_etag": true},
            "faults": [{"effect": {"kind": "drop_connection"}}]
        })
        .to_string();
        let merged = Fixture::merge_json(&text, &current).unwrap();
        assert_eq!(merged.vaults.len(), 1);
        assert_eq!(merged.vaults[&vault.id].name, "Renamed");
        assert!(merged.settings.sync_bumps_etag);
        assert_eq!(merged.settings.region, current.settings.region);
        assert_eq!(merged.faults.rules.len(), 1);
        assert_eq!(merged.rng, current.rng, "a merge without seed keeps the generator");
    }

    #[test]
    fn merge_errors_name_the_path_in_the_merged_text() {
        let current = Fixture::default_fixture().unwrap().into_instance("default", None).unwrap();
        let mut key = current.managed_keys.values().next().unwrap().clone();
        key.template_id = "99999999-9999-4999-8999-999999999999".to_owned();
        let text = serde_json::json!({"description": "bad", "managed_keys": [key]}).to_string();
        let error = Fixture::merge_json(&text, &current).unwrap_err();
        assert_eq!(error.path, "managed_keys[0].template_id", "{error}");
        let text = serde_json::json!({"description": "bad", "settings": {"sync_bumps": true}}).to_string();
        assert_eq!(Fixture::merge_json(&text, &current).unwrap_err().path, "settings.sync_bumps");
        let text = serde_json::json!({"description": "bad", "divergences": [
            {"managed_key": "44444444-4444-4444-8444-000000000001", "keystore": "33333333-3333-4333-8333-000000000002", "copy": "active"}
        ]})
        .to_string();
        assert_eq!(Fixture::merge_json(&text, &current).unwrap_err().path, "divergences[0]");
    }

    #[test]
    fn overlay_refuses_unknown_fields_and_wrong_types_by_name() {
        let settings = Settings::default();
        let error = overlay(&settings, &serde_json::json!({"sync_bumps_etag": "yes"}), "").unwrap_err();
        assert_eq!(error.path, "sync_bumps_etag");
        let error = overlay(&settings, &serde_json::json!({"nope": 1}), "").unwrap_err();
        assert_eq!(error.path, "nope");
        let patched = overlay(&settings, &serde_json::json!({"min_rotation_interval_seconds": 3600}), "").unwrap();
        assert_eq!(patched.min_rotation_interval_seconds, 3600);
    }
}
