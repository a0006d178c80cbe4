//! The records of one UKO instance: vaults, key templates, keystores (with their simulated contents),
//! managed keys and associated resources.
//!
//! These types derive serde so that a fixture file and an exported state are the same format
//! (`fixture.rs`), but they are not the API's wire types: `uko::wire` renders them, masking secrets and
//! adding derived fields (counters, hrefs, `status_in_keystores`).

use std::collections::BTreeMap;

use serde::{Deserialize, Serialize};
use time::Date;

use super::clock::{serde_date, Timestamp};
use super::types::*;

/// A vault: the container of templates, keystores and keys.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct Vault {
    pub id: String,
    pub name: String,
    #[serde(default)]
    pub description: String,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub recovery_key_label: Option<String>,
    pub created_at: Timestamp,
    pub updated_at: Timestamp,
    #[serde(default = "default_actor")]
    pub created_by: String,
    #[serde(default = "default_actor")]
    pub updated_by: String,
}

/// A key template: how keys are made and where they are distributed.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct Template {
    pub id: String,
    pub vault_id: String,
    /// Bumped by every PATCH; 0 right after creation (as in IBM's captured outputs).
    #[serde(default)]
    pub version: u32,
    pub name: String,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub naming_scheme: Option<String>,
    #[serde(default = "default_template_types", rename = "type")]
    pub types: Vec<TemplateType>,
    #[serde(default = "default_template_state")]
    pub state: TemplateState,
    pub key: KeyProperties,
    #[serde(default)]
    pub description: String,
    /// Exactly one entry in practice; its type and group select the keystores keys go to.
    pub keystores: Vec<TemplateKeystore>,
    pub created_at: Timestamp,
    pub updated_at: Timestamp,
    #[serde(default = "default_actor")]
    pub created_by: String,
    #[serde(default = "default_actor")]
    pub updated_by: String,
    #[serde(default = "default_managing_systems")]
    pub managing_systems: Vec<ManagingSystem>,
}

/// Template `key` properties.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct KeyProperties {
    pub size: String,
    pub algorithm: Algorithm,
    /// ISO-8601 period from key creation to planned activation.
    pub activation_date: String,
    /// ISO-8601 period from planned activation to planned expiration.
    pub expiration_date: String,
    pub state: InitialKeyState,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub deactivate_on_rotation: Option<bool>,
}

/// One `keystores[]` entry of a template (flat union of the per-type properties).
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct TemplateKeystore {
    #[serde(rename = "type")]
    pub keystore_type: KeystoreType,
    pub group: String,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub naming_scheme: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub google_key_protection_level: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub google_key_purpose: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub google_kms_algorithm: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub azure_key_protection_level: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub azure_key_operations: Option<Vec<String>>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub cca_usage_control: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub cca_key_type: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub cca_key_words: Option<Vec<String>>,
}

/// A target keystore known to UKO, plus the simulated contents of the real keystore behind it.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct Keystore {
    pub id: String,
    pub vault_id: String,
    pub name: String,
    #[serde(default)]
    pub description: String,
    #[serde(default)]
    pub groups: Vec<String>,
    #[serde(rename = "type")]
    pub keystore_type: KeystoreType,
    #[serde(default)]
    pub location: String,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub tls_proxy: Option<String>,
    pub created_at: Timestamp,
    pub updated_at: Timestamp,
    #[serde(default = "default_actor")]
    pub created_by: String,
    #[serde(default = "default_actor")]
    pub updated_by: String,
    #[serde(default)]
    pub connection: KeystoreConnection,
    #[serde(default)]
    pub simulation: KeystoreSimulation,
}

impl Keystore {
    /// True for the HPCS instance's own KMS keystores (`ibm_cloud_kms` + `internal`).
    pub fn is_internal(&self) -> bool {
        self.keystore_type == KeystoreType::IbmCloudKms && self.connection.ibm_variant == Some(IbmVariant::Internal)
    }
}

/// What an export without secrets writes in place of each credential that is set.
pub const MASKED_SECRET: &str = "***";

/// The connection fields that hold credentials: never in a response, a log line, the journal or an export
/// without secrets.
pub const SECRET_FIELDS: [&str; 5] = [
    "aws_access_key_id",
    "aws_secret_access_key",
    "azure_service_principal_password",
    "google_credentials",
    "ibm_api_key",
];

impl KeystoreConnection {
    /// This connection with every credential that is set replaced by [`MASKED_SECRET`] (absent ones stay
    /// absent, so the export still shows which credentials a keystore has).
    pub fn masked(&self) -> KeystoreConnection {
        let mask = |secret: &Option<String>| secret.as_ref().map(|_| MASKED_SECRET.to_owned());
        KeystoreConnection {
            aws_access_key_id: mask(&self.aws_access_key_id),
            aws_secret_access_key: mask(&self.aws_secret_access_key),
            azure_service_principal_password: mask(&self.azure_service_principal_password),
            google_credentials: mask(&self.google_credentials),
            ibm_api_key: mask(&self.ibm_api_key),
            ..self.clone()
        }
    }
}

/// Type-specific connection fields, flat like the API's union model. Secrets are kept here and
/// masked on every response.
#[derive(Clone, Debug, Default, PartialEq, Serialize, Deserialize)]
#[serde(default)]
pub struct KeystoreConnection {
    #[serde(skip_serializing_if = "Option::is_none")]
    pub aws_region: Option<String>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub aws_access_key_id: Option<String>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub aws_secret_access_key: Option<String>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub azure_service_name: Option<String>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub azure_resource_group: Option<String>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub azure_location: Option<String>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub azure_service_principal_client_id: Option<String>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub azure_service_principal_password: Option<String>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub azure_tenant: Option<String>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub azure_subscription_id: Option<String>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub azure_environment: Option<String>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub azure_variant: Option<String>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub google_credentials: Option<String>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub google_location: Option<String>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub google_project_id: Option<String>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub google_private_key_id: Option<String>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub google_key_ring: Option<String>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub ibm_api_endpoint: Option<String>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub ibm_iam_endpoint: Option<String>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub ibm_api_key: Option<String>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub ibm_instance_id: Option<String>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub ibm_variant: Option<IbmVariant>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub ibm_key_ring: Option<String>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub cca_use_tls: Option<bool>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub cca_trusted_issuer: Option<String>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub cca_host: Option<String>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub cca_port: Option<i64>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub cca_public_key_hash: Option<String>,
}

/// What the simulated external (or internal) keystore holds and how it behaves.
#[derive(Clone, Debug, Default, PartialEq, Serialize, Deserialize)]
#[serde(default)]
pub struct KeystoreSimulation {
    /// The keystore's own copy of each managed key, by managed key id. Absent = not present there.
    pub copies: BTreeMap<String, KeyCopy>,
    /// Whether calls to the keystore get through.
    pub reachability: Reachability,
    /// Reachable but rejecting our credentials or configuration.
    #[serde(skip_serializing_if = "std::ops::Not::not")]
    pub configuration_error: bool,
    /// Last successful contact; set whenever a call reaches the keystore.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub last_heartbeat: Option<Timestamp>,
}

/// One keystore's copy of a managed key.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct KeyCopy {
    pub state: CopyState,
    /// Fingerprint of the key material the keystore holds; differs from the managed key's current
    /// material when someone replaced it out of band (`wrong_key`).
    pub material: String,
    pub key_id_in_keystore: String,
    /// When a pending destruction completes (the copy then disappears).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub destruction_at: Option<Timestamp>,
}

/// State of a key copy inside a keystore (the "observed state O" of the reference, minus absent).
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum CopyState {
    Active,
    Inactive,
    PendingDestruction,
}

/// Whether calls reach a keystore. Evaluated once per API request that touches the keystore.
#[derive(Clone, Debug, Default, PartialEq, Serialize, Deserialize)]
#[serde(tag = "mode", rename_all = "snake_case")]
pub enum Reachability {
    #[default]
    Reachable,
    /// Every call fails until changed.
    Unreachable,
    /// The next `remaining` calls fail, then the keystore recovers.
    UnreachableForCalls { remaining: u32 },
    /// Calls fail until the instance clock reaches `until`.
    UnreachableUntil { until: Timestamp },
    /// Each call fails with this probability, decided by the instance's seeded generator.
    Flapping { probability: f64 },
}

/// A managed key.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct ManagedKey {
    pub id: String,
    pub vault_id: String,
    pub template_id: String,
    /// The template version the key was created from or last aligned to.
    #[serde(default)]
    pub template_version: u32,
    pub label: String,
    #[serde(default)]
    pub description: String,
    pub state: KeyState,
    pub algorithm: Algorithm,
    pub size: String,
    #[serde(default, with = "serde_date", skip_serializing_if = "Option::is_none")]
    pub activation_date: Option<Date>,
    #[serde(default, with = "serde_date", skip_serializing_if = "Option::is_none")]
    pub expiration_date: Option<Date>,
    #[serde(default)]
    pub label_tags: Vec<Tag>,
    #[serde(default)]
    pub tags: Vec<Tag>,
    #[serde(default = "default_true")]
    pub is_rotatable: bool,
    pub created_at: Timestamp,
    pub updated_at: Timestamp,
    #[serde(default = "default_actor")]
    pub created_by: String,
    #[serde(default = "default_actor")]
    pub updated_by: String,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub rotated_at: Option<Timestamp>,
    /// When the key was last deactivated (drives the 4-hour destroy rule).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub deactivated_at: Option<Timestamp>,
    /// Keystores the key is distributed to, in distribution order.
    #[serde(default, deserialize_with = "exact_vec")]
    pub referenced_keystores: Vec<String>,
    /// Keystores removed from UKO while this key was distributed to them (tombstone status entries).
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub removed_keystores: Vec<String>,
    #[serde(default, deserialize_with = "exact_vec")]
    pub instances: Vec<KeyInstance>,
    /// Key-material versions, oldest first; the last one is current. Never empty.
    #[serde(deserialize_with = "exact_vec")]
    pub versions: Vec<KeyVersion>,
    #[serde(default)]
    pub deactivate_on_rotation: bool,
    #[serde(default = "default_managing_systems")]
    pub managing_systems: Vec<ManagingSystem>,
}

impl ManagedKey {
    /// The current key-material version (the last one; `versions` is never empty).
    pub fn current_version(&self) -> Option<&KeyVersion> {
        self.versions.last()
    }

    /// Fingerprint of the current material, which an in-sync keystore copy holds.
    pub fn current_material(&self) -> &str {
        self.current_version().map(|v| v.material.as_str()).unwrap_or("")
    }

    /// Drops spare capacity left by deserialization (a `Vec` grown by one push keeps room for four
    /// elements; over 20,000 keys that is tens of MiB of instances never used).
    pub fn shrink_to_fit(&mut self) {
        self.instances.shrink_to_fit();
        self.versions.shrink_to_fit();
        self.referenced_keystores.shrink_to_fit();
        self.removed_keystores.shrink_to_fit();
        self.label_tags.shrink_to_fit();
        self.tags.shrink_to_fit();
        self.managing_systems.shrink_to_fit();
    }

    /// Version number shown as `version` (1 at creation, +1 per rotation).
    pub fn version_number(&self) -> u32 {
        self.current_version().map(|v| v.version).unwrap_or(1)
    }
}

/// A free-form or naming-scheme tag.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct Tag {
    pub name: String,
    pub value: String,
}

/// One distribution instance of a key (per keystore type and group).
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct KeyInstance {
    pub id: String,
    pub label_in_keystore: String,
    #[serde(rename = "type", default = "default_instance_type")]
    pub instance_type: KeyInstanceType,
    /// The template keystore entry it was made from (type, group and type-specific properties).
    pub keystore: TemplateKeystore,
}

/// One key-material version.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct KeyVersion {
    pub version: u32,
    /// Fingerprint of the material; also the seed of the verification pattern.
    pub material: String,
    pub created_at: Timestamp,
    /// State of a previous version (the current one always mirrors the key's state).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub state: Option<KeyState>,
}

/// A cloud resource registered against a key (read-only in UKO; seeded by fixtures).
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct AssociatedResource {
    /// URL-encoded CRN.
    pub id: String,
    pub managed_key_id: String,
    pub keystore_id: String,
    pub name: String,
    #[serde(rename = "type", default = "default_resource_type")]
    pub resource_type: String,
    pub registration: KmsRegistration,
}

/// `com_ibm_cloud_kms_registration` of an associated resource.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct KmsRegistration {
    #[serde(default)]
    pub prevents_key_deletion: bool,
    #[serde(default)]
    pub service_name: String,
    #[serde(default)]
    pub service_instance_name: String,
    pub crn: String,
    #[serde(default)]
    pub description: String,
}

/// Deserializes a `Vec` without spare capacity. Shrinking right away lets the allocator reuse the tail
/// for the rest of the load; a 20,000-key fixture otherwise keeps ~20 MiB of never-used room.
fn exact_vec<'de, D: serde::Deserializer<'de>, T: Deserialize<'de>>(deserializer: D) -> Result<Vec<T>, D::Error> {
    let mut items = Vec::<T>::deserialize(deserializer)?;
    items.shrink_to_fit();
    Ok(items)
}

/// The IAM id written to `created_by`/`updated_by` when a fixture does not say.
pub const DEFAULT_ACTOR: &str = "IBMid-MOCK000000";

fn default_actor() -> String {
    DEFAULT_ACTOR.to_owned()
}

fn default_true() -> bool {
    true
}

fn default_template_types() -> Vec<TemplateType> {
    vec![TemplateType::UserDefined]
}

fn default_template_state() -> TemplateState {
    TemplateState::Unarchived
}

fn default_managing_systems() -> Vec<ManagingSystem> {
    vec![ManagingSystem::Web]
}

fn default_instance_type() -> KeyInstanceType {
    KeyInstanceType::SecretKey
}

fn default_resource_type() -> String {
    "com_ibm_cloud_kms_registration".to_owned()
}
