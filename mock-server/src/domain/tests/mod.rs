//! Unit tests of the domain core: lifecycle rules and keystore divergence without any socket.
//!
//! This file holds the shared fixture helpers; the tests are grouped by concern in its submodules.

mod etags;
mod keystores;
mod lifecycle;
mod lists;
mod naming;
mod pending;
mod simulation;
mod state_machine;
mod status_table;
mod templates;
mod vaults;

use std::collections::BTreeMap;

use proptest::prelude::*;

use super::keystores::KeystoreInput;
use super::managed_keys::{KeyAction, ManagedKeyInput, ManagedKeyUpdate};
use super::query::{KeyListScope, Listing};
use super::simulation::{derive_entry, StatusEntry};
use super::templates::{KeyPropertiesInput, TemplateInput, TemplateKeystoreInput, VaultReferenceInput};
use super::vaults::VaultInput;
use super::*;
use crate::uko::query::{self as wire_query, Params};

// ---------------------------------------------------------------------------------------------------
// Fixture helpers
// ---------------------------------------------------------------------------------------------------

const START: &str = "2026-01-01T00:00:00Z";
const DAY: i64 = 86_400;

fn instance() -> Instance {
    instance_with(Settings::default(), 1)
}

fn instance_with(settings: Settings, seed: u64) -> Instance {
    let start = Timestamp::parse(START).unwrap();
    Instance::new("test", settings, Clock::new(start, ClockMode::Virtual), seed)
}

fn vault_ref(vault_id: &str) -> Option<VaultReferenceInput> {
    Some(VaultReferenceInput { id: Some(vault_id.to_owned()) })
}

fn vault_input(name: &str) -> VaultInput {
    VaultInput { name: Some(name.to_owned()), ..VaultInput::default() }
}

/// A keystore body with every connection field its type requires.
fn keystore_input(vault_id: &str, name: &str, keystore_type: KeystoreType, groups: &[&str]) -> KeystoreInput {
    let some = |text: &str| Some(text.to_owned());
    let connection = match keystore_type {
        KeystoreType::AwsKms => KeystoreConnection {
            aws_region: some("us-east-1"),
            aws_access_key_id: some("AKIAEXAMPLE"),
            aws_secret_access_key: some("secret"),
            ..KeystoreConnection::default()
        },
        KeystoreType::AzureKeyVault => KeystoreConnection {
            azure_service_name: some("payments-vault"),
            azure_resource_group: some("payments"),
            azure_service_principal_client_id: some("client"),
            azure_service_principal_password: some("password"),
            azure_tenant: some("tenant"),
            azure_subscription_id: some("subscription"),
            ..KeystoreConnection::default()
        },
        KeystoreType::GoogleKms => KeystoreConnection {
            google_credentials: some("e30="),
            google_project_id: some("payments"),
            ..KeystoreConnection::default()
        },
        KeystoreType::IbmCloudKms => {
            KeystoreConnection { ibm_variant: Some(IbmVariant::Internal), ..KeystoreConnection::default() }
        }
        KeystoreType::Cca => KeystoreConnection {
            cca_host: some("cca.example.com"),
            cca_port: Some(9000),
            cca_public_key_hash: some("ABCDEF"),
            ..KeystoreConnection::default()
        },
    };
    KeystoreInput {
        keystore_type: Some(keystore_type),
        vault: vault_ref(vault_id),
        name: Some(name.to_owned()),
        groups: Some(groups.iter().map(|g| (*g).to_owned()).collect()),
        connection,
        ..KeystoreInput::default()
    }
}

fn template_input(
    vault_id: &str,
    name: &str,
    keystore_type: KeystoreType,
    group: &str,
    state: InitialKeyState,
) -> TemplateInput {
    TemplateInput {
        vault: vault_ref(vault_id),
        name: Some(name.to_owned()),
        key: Some(KeyPropertiesInput {
            size: Some("256".to_owned()),
            algorithm: Some(Algorithm::Aes),
            activation_date: Some("P0D".to_owned()),
            expiration_date: Some("P1Y".to_owned()),
            state: Some(state),
            deactivate_on_rotation: None,
        }),
        keystores: Some(vec![TemplateKeystoreInput {
            keystore_type: Some(keystore_type),
            group: Some(group.to_owned()),
            ..TemplateKeystoreInput::default()
        }]),
        ..TemplateInput::default()
    }
}

fn key_input(vault_id: &str, template_name: &str, label: &str) -> ManagedKeyInput {
    ManagedKeyInput {
        template_name: Some(template_name.to_owned()),
        vault: vault_ref(vault_id),
        label: Some(label.to_owned()),
        ..ManagedKeyInput::default()
    }
}

fn params(pairs: &[(&str, &str)]) -> Params {
    Params::new(pairs.iter().map(|(n, v)| ((*n).to_owned(), (*v).to_owned())).collect())
}

/// The lists as a request reaches them: parameters parsed as the HTTP side parses them (clients' wire
/// names), then the list run, in the check order of `Instance::execute`.
trait ListByParams {
    fn list_managed_keys_with(&self, params: &Params, scope: KeyListScope<'_>) -> Result<Listing>;
    fn list_key_versions_with(&self, id: &str, params: &Params) -> Result<(usize, query::Page, Vec<u32>)>;
    fn list_keystores_with(&self, params: &Params) -> Result<Listing>;
    fn list_templates_with(&self, params: &Params) -> Result<Listing>;
    fn list_vaults_with(&self, params: &Params) -> Result<Listing>;
}

impl ListByParams for Instance {
    fn list_managed_keys_with(&self, params: &Params, scope: KeyListScope<'_>) -> Result<Listing> {
        self.list_managed_keys(&wire_query::key_query(params, scope)?, scope)
    }

    fn list_key_versions_with(&self, id: &str, params: &Params) -> Result<(usize, query::Page, Vec<u32>)> {
        self.managed_key(id)?;
        self.list_key_versions(id, &wire_query::version_query(params)?)
    }

    fn list_keystores_with(&self, params: &Params) -> Result<Listing> {
        Ok(self.list_keystores(&wire_query::keystore_query(params)?))
    }

    fn list_templates_with(&self, params: &Params) -> Result<Listing> {
        Ok(self.list_templates(&wire_query::template_query(params)?))
    }

    fn list_vaults_with(&self, params: &Params) -> Result<Listing> {
        Ok(self.list_vaults(&wire_query::vault_query(params)?))
    }
}

/// The keystores of the standard fixture: one vault, group `prod` holding keystores of every type
/// (two AWS ones), plus an AWS keystore in another group.
const KEYSTORES: &[(&str, KeystoreType, &[&str])] = &[
    ("aws_prod_1", KeystoreType::AwsKms, &["prod"]),
    ("aws_prod_2", KeystoreType::AwsKms, &["prod", "shared"]),
    ("aws_test", KeystoreType::AwsKms, &["test"]),
    ("azure_prod", KeystoreType::AzureKeyVault, &["prod"]),
    ("internal_prod", KeystoreType::IbmCloudKms, &["prod"]),
    ("google_prod", KeystoreType::GoogleKms, &["prod"]),
    ("cca_prod", KeystoreType::Cca, &["prod"]),
];

const TEMPLATES: &[(&str, KeystoreType, &str, InitialKeyState)] = &[
    ("AWS-ACTIVE", KeystoreType::AwsKms, "prod", InitialKeyState::Active),
    ("AWS-PREACTIVE", KeystoreType::AwsKms, "prod", InitialKeyState::PreActivation),
    ("INTERNAL-ACTIVE", KeystoreType::IbmCloudKms, "prod", InitialKeyState::Active),
    ("CCA-ACTIVE", KeystoreType::Cca, "prod", InitialKeyState::Active),
];

/// An instance populated through the public domain operations only.
struct Fixture {
    instance: Instance,
    vault_id: String,
    keystore_ids: BTreeMap<&'static str, String>,
}

impl Fixture {
    fn new() -> Self {
        Self::with(Settings::default(), 1)
    }

    fn with(settings: Settings, seed: u64) -> Self {
        let mut instance = instance_with(settings, seed);
        let vault_id = instance.create_vault(vault_input("Payments")).unwrap().id.clone();
        let mut keystore_ids = BTreeMap::new();
        for (name, keystore_type, groups) in KEYSTORES {
            let keystore = instance.create_keystore(keystore_input(&vault_id, name, *keystore_type, groups), false);
            keystore_ids.insert(*name, keystore.unwrap().id);
        }
        for (name, keystore_type, group, state) in TEMPLATES {
            instance.create_template(template_input(&vault_id, name, *keystore_type, group, *state)).unwrap();
        }
        Fixture { instance, vault_id, keystore_ids }
    }

    fn ks(&self, name: &str) -> String {
        self.keystore_ids[name].clone()
    }

    fn key(&mut self, template_name: &str, label: &str) -> String {
        let input = key_input(&self.vault_id, template_name, label);
        self.instance.create_managed_key(input).unwrap().id.clone()
    }

    fn record(&self, key_id: &str) -> ManagedKey {
        self.instance.managed_key(key_id).unwrap().clone()
    }

    fn etag(&self, key_id: &str) -> String {
        self.instance.managed_key(key_id).unwrap().updated_at.etag()
    }

    fn act(&mut self, key_id: &str, action: KeyAction) -> Result<()> {
        let etag = self.etag(key_id);
        self.instance.change_key_state(key_id, Some(&super::IfMatch::parse(etag.clone())), action).map(|_| ())
    }

    fn rotate(&mut self, key_id: &str) -> Result<()> {
        let etag = self.etag(key_id);
        self.instance.rotate_managed_key(key_id, Some(&super::IfMatch::parse(etag.clone()))).map(|_| ())
    }

    fn update(&mut self, key_id: &str, input: ManagedKeyUpdate) -> Result<()> {
        let etag = self.etag(key_id);
        self.instance.update_managed_key(key_id, Some(&super::IfMatch::parse(etag.clone())), input).map(|_| ())
    }

    fn sync(&mut self, key_id: &str) -> Vec<StatusEntry> {
        let etag = self.etag(key_id);
        self.instance.sync_managed_key(key_id, Some(&super::IfMatch::parse(etag.clone()))).unwrap()
    }

    fn delete(&mut self, key_id: &str, force: bool) -> Result<()> {
        let etag = self.etag(key_id);
        self.instance.delete_managed_key(key_id, Some(&super::IfMatch::parse(etag.clone())), force)
    }

    /// Deactivates (when active) and destroys a key.
    fn destroy(&mut self, key_id: &str) {
        if self.record(key_id).state == KeyState::Active {
            self.act(key_id, KeyAction::Deactivate).unwrap();
        }
        self.act(key_id, KeyAction::Destroy).unwrap();
    }

    fn statuses(&mut self, key_id: &str) -> Vec<StatusEntry> {
        self.instance.status_in_keystores(key_id)
    }

    fn entry(&mut self, key_id: &str, keystore_name: &str) -> StatusEntry {
        let keystore_id = self.ks(keystore_name);
        self.statuses(key_id).into_iter().find(|e| e.keystore_id == keystore_id).unwrap()
    }

    fn copy(&self, keystore_name: &str, key_id: &str) -> Option<KeyCopy> {
        let keystore_id = self.ks(keystore_name);
        let keystore =
            self.instance.keystores.get(&keystore_id).or_else(|| self.instance.removed_keystores.get(&keystore_id));
        keystore.unwrap().simulation.copies.get(key_id).cloned()
    }

    /// Out-of-band drift: what the mock control plane does to a keystore's copy.
    fn set_copy(&mut self, keystore_name: &str, key_id: &str, observed: Observed) {
        let keystore_id = self.ks(keystore_name);
        set_observed(&mut self.instance, &keystore_id, key_id, observed);
    }

    fn set_reachability(&mut self, keystore_name: &str, reachability: Reachability) {
        let keystore_id = self.ks(keystore_name);
        self.instance.keystores.get_mut(&keystore_id).unwrap().simulation.reachability = reachability;
    }

    fn keystore_etag(&self, keystore_name: &str) -> String {
        self.instance.keystore(&self.ks(keystore_name)).unwrap().updated_at.etag()
    }

    fn template_id(&self, name: &str) -> String {
        self.instance.template_by_name(name).unwrap().id.clone()
    }

    fn template_etag(&self, name: &str) -> String {
        self.instance.template_by_name(name).unwrap().updated_at.etag()
    }

    fn list_keys(&self, pairs: &[(&str, &str)]) -> Result<Listing> {
        self.instance.list_managed_keys_with(&params(pairs), KeyListScope::All)
    }
}

/// The observed state O of one (key, keystore) pair (`uko-semantics.md` §3).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
enum Observed {
    Absent,
    Active,
    Inactive,
    PendingDestruction,
    /// An active copy holding other key material than the key's current version.
    WrongKey,
}

const OBSERVED: [Observed; 5] =
    [Observed::Absent, Observed::Active, Observed::Inactive, Observed::PendingDestruction, Observed::WrongKey];

fn arb_observed() -> impl Strategy<Value = Observed> {
    prop::sample::select(OBSERVED.to_vec())
}

fn set_observed(instance: &mut Instance, keystore_id: &str, key_id: &str, observed: Observed) {
    let material = instance.managed_key(key_id).map(|k| k.current_material().to_owned()).unwrap_or_default();
    let now = instance.clock.now;
    // Copies edited behind the domain's back: the due-time index is rebuilt on the next settle.
    instance.pending_destructions.invalidate();
    let keystore = instance.keystores.get_mut(keystore_id).unwrap();
    let copies = &mut keystore.simulation.copies;
    let native = copies.get(key_id).map(|c| c.key_id_in_keystore.clone()).unwrap_or_else(|| "native-id".to_owned());
    let copy = |state, material: &str, destruction_at| KeyCopy {
        state,
        material: material.to_owned(),
        key_id_in_keystore: native.clone(),
        destruction_at,
    };
    match observed {
        Observed::Absent => {
            copies.remove(key_id);
        }
        Observed::Active => {
            copies.insert(key_id.to_owned(), copy(CopyState::Active, &material, None));
        }
        Observed::Inactive => {
            copies.insert(key_id.to_owned(), copy(CopyState::Inactive, &material, None));
        }
        Observed::PendingDestruction => {
            let at = Some(now.plus_seconds(DAY));
            copies.insert(key_id.to_owned(), copy(CopyState::PendingDestruction, &material, at));
        }
        Observed::WrongKey => {
            copies.insert(key_id.to_owned(), copy(CopyState::Active, "REPLACED-OUT-OF-BAND", None));
        }
    }
}

#[track_caller]
fn assert_entry(entry: &StatusEntry, status: StatusInKeystoreStatus, flag: SyncFlag, detail: SyncFlagDetail) {
    assert_eq!((entry.status, entry.sync_flag, entry.detail), (status, flag, detail), "{entry:?}");
}

#[track_caller]
fn assert_invalid_state<T: std::fmt::Debug>(result: Result<T>) {
    assert!(matches!(result, Err(Error::InvalidState { .. })), "expected InvalidState, found {result:?}");
}

#[track_caller]
fn assert_conflict<T: std::fmt::Debug>(result: Result<T>) {
    assert!(matches!(result, Err(Error::Conflict { .. })), "expected Conflict, found {result:?}");
}

#[track_caller]
fn assert_invalid_field<T: std::fmt::Debug>(result: Result<T>, field: &str) {
    match result {
        Err(Error::Invalid { target: Target::Field(found), .. }) => assert_eq!(found, field),
        other => panic!("expected an invalid field {field}, found {other:?}"),
    }
}

#[track_caller]
fn assert_invalid_parameter<T: std::fmt::Debug>(result: Result<T>, parameter: &str) {
    match result {
        Err(Error::Invalid { target: Target::Parameter(found), .. }) => assert_eq!(found, parameter),
        other => panic!("expected an invalid parameter {parameter}, found {other:?}"),
    }
}

use StatusInKeystoreStatus as S;
use SyncFlag as F;
use SyncFlagDetail as D;
