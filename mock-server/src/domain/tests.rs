//! Unit tests of the domain core: lifecycle rules and keystore divergence without any socket.
//!
//! Sections: fixture helpers; lifecycle and distribution; ETags; naming schemes; sync and
//! divergence; keystores, templates and vaults; list queries; the §4 status table (exhaustive and as a
//! property); a reference-model state machine; determinism.

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

fn set_observed(instance: &mut Instance, keystore_id: &str, key_id: &str, observed: Observed) {
    let material = instance.managed_key(key_id).map(|k| k.current_material().to_owned()).unwrap_or_default();
    let now = instance.clock.now;
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

// ---------------------------------------------------------------------------------------------------
// Creation and distribution (§1, §3)
// ---------------------------------------------------------------------------------------------------

#[test]
fn create_distributes_to_every_keystore_of_the_template_group() {
    // Arrange: a second vault whose AWS keystore is also in group `prod` must not receive the key.
    let mut fx = Fixture::new();
    let other_vault = fx.instance.create_vault(vault_input("Other")).unwrap().id.clone();
    let foreign = keystore_input(&other_vault, "aws_prod_elsewhere", KeystoreType::AwsKms, &["prod"]);
    let foreign_id = fx.instance.create_keystore(foreign, false).unwrap().id;

    // Act
    let key_id = fx.key("AWS-ACTIVE", "payments-key");

    // Assert
    let key = fx.record(&key_id);
    assert_eq!(key.state, KeyState::Active);
    assert_eq!(key.referenced_keystores, [fx.ks("aws_prod_1"), fx.ks("aws_prod_2")]);
    assert_eq!(key.instances.len(), 1);
    assert_eq!(key.instances[0].keystore.keystore_type, KeystoreType::AwsKms);
    assert_eq!(key.instances[0].keystore.group, "prod");
    assert_eq!(key.instances[0].label_in_keystore, "payments-key");
    assert_eq!(key.version_number(), 1);
    for name in ["aws_prod_1", "aws_prod_2"] {
        let copy = fx.copy(name, &key_id).unwrap();
        assert_eq!(copy.state, CopyState::Active);
        assert_eq!(copy.material, key.current_material());
        assert!(copy.key_id_in_keystore.starts_with("arn:aws:kms:us-east-1:"), "{}", copy.key_id_in_keystore);
    }
    for name in ["aws_test", "azure_prod", "internal_prod", "google_prod", "cca_prod"] {
        assert_eq!(fx.copy(name, &key_id), None, "{name}");
    }
    assert!(fx.instance.keystores[&foreign_id].simulation.copies.is_empty());
    let statuses = fx.statuses(&key_id);
    assert_eq!(statuses.len(), 2);
    for entry in &statuses {
        assert_entry(entry, S::Active, F::Ok, D::ActiveKeyIsActiveInKeystore);
        assert_eq!(entry.instance_id.as_deref(), Some(key.instances[0].id.as_str()));
        assert!(entry.key_id_in_keystore.is_some());
    }
}

#[test]
fn create_from_pre_activation_template_installs_nothing() {
    let mut fx = Fixture::new();
    let key_id = fx.key("AWS-PREACTIVE", "later");
    let key = fx.record(&key_id);
    assert_eq!(key.state, KeyState::PreActivation);
    assert_eq!(key.referenced_keystores.len(), 2);
    assert_eq!(fx.copy("aws_prod_1", &key_id), None);
    for entry in fx.statuses(&key_id) {
        assert_entry(&entry, S::NotPresent, F::Ok, D::PreActiveKeyIsNotPresentInKeystore);
        assert_eq!(entry.key_id_in_keystore, None);
    }
}

#[test]
fn create_for_a_group_without_keystores_references_none() {
    let mut fx = Fixture::new();
    let input = template_input(&fx.vault_id, "EMPTY-GROUP", KeystoreType::AwsKms, "nobody", InitialKeyState::Active);
    fx.instance.create_template(input).unwrap();
    let key_id = fx.key("EMPTY-GROUP", "lonely");
    assert!(fx.record(&key_id).referenced_keystores.is_empty());
    assert!(fx.statuses(&key_id).is_empty());
}

#[test]
fn create_computes_planned_dates_from_template_periods() {
    let mut fx = Fixture::new();
    let mut input = template_input(&fx.vault_id, "PLANNED", KeystoreType::AwsKms, "prod", InitialKeyState::Active);
    let key = input.key.as_mut().unwrap();
    key.activation_date = Some("P5Y1M1W2D".to_owned());
    key.expiration_date = Some("P1Y2M1W4D".to_owned());
    fx.instance.create_template(input).unwrap();
    let key_id = fx.key("PLANNED", "planned");
    let key = fx.record(&key_id);
    assert_eq!(key.activation_date.map(clock::format_date).as_deref(), Some("2031-02-10"));
    assert_eq!(key.expiration_date.map(clock::format_date).as_deref(), Some("2032-04-21"));
    // Planning only: the key is active although activation lies years ahead.
    assert_eq!(key.state, KeyState::Active);
}

#[test]
fn create_counts_keys_in_vault_and_template() {
    let mut fx = Fixture::new();
    fx.key("AWS-ACTIVE", "one");
    fx.key("AWS-ACTIVE", "two");
    fx.key("AWS-PREACTIVE", "three");
    assert_eq!(fx.instance.vault_keys_count(&fx.vault_id), 3);
    assert_eq!(fx.instance.template_keys_count(&fx.template_id("AWS-ACTIVE")), 2);
    assert_eq!(fx.instance.vault_templates_count(&fx.vault_id), TEMPLATES.len());
    assert_eq!(fx.instance.vault_keystores_count(&fx.vault_id), KEYSTORES.len());
}

#[test]
fn create_with_missing_or_unknown_references_is_refused() {
    let mut fx = Fixture::new();
    let vault_id = fx.vault_id.clone();
    let mut no_label = key_input(&vault_id, "AWS-ACTIVE", "x");
    no_label.label = None;
    assert_eq!(fx.instance.create_managed_key(no_label).unwrap_err(), Error::missing_field("label"));
    let mut no_template = key_input(&vault_id, "AWS-ACTIVE", "x");
    no_template.template_name = None;
    assert_eq!(fx.instance.create_managed_key(no_template).unwrap_err(), Error::missing_field("template_name"));
    let unknown_template = fx.instance.create_managed_key(key_input(&vault_id, "NOPE", "x"));
    assert!(matches!(unknown_template, Err(Error::NotFoundNamed { kind: ResourceKind::Template, .. })));
    let unknown_vault = fx.instance.create_managed_key(key_input("no-such-vault", "AWS-ACTIVE", "x"));
    assert!(matches!(unknown_vault, Err(Error::NotFound { kind: ResourceKind::Vault, .. })));
    let bad_label = fx.instance.create_managed_key(key_input(&vault_id, "AWS-ACTIVE", "bad*label"));
    assert_invalid_field(bad_label, "label");
    assert!(fx.instance.managed_keys.is_empty());
}

#[test]
fn create_with_template_of_another_vault_is_not_found() {
    let mut fx = Fixture::new();
    let other_vault = fx.instance.create_vault(vault_input("Other")).unwrap().id.clone();
    let result = fx.instance.create_managed_key(key_input(&other_vault, "AWS-ACTIVE", "x"));
    assert!(matches!(result, Err(Error::NotFound { kind: ResourceKind::Template, .. })), "{result:?}");
}

#[test]
fn create_with_archived_template_is_invalid_state() {
    let mut fx = Fixture::new();
    let template_id = fx.template_id("AWS-ACTIVE");
    let etag = fx.template_etag("AWS-ACTIVE");
    fx.instance.archive_template(&template_id, Some(&super::IfMatch::parse(etag.clone()))).unwrap();
    assert_invalid_state(fx.instance.create_managed_key(key_input(&fx.vault_id.clone(), "AWS-ACTIVE", "x")));
}

#[test]
fn create_beyond_managed_key_limit_is_conflict() {
    let settings = Settings { managed_key_limit: 2, ..Settings::default() };
    let mut fx = Fixture::with(settings, 1);
    fx.key("AWS-ACTIVE", "one");
    fx.key("AWS-ACTIVE", "two");
    assert_conflict(fx.instance.create_managed_key(key_input(&fx.vault_id.clone(), "AWS-ACTIVE", "three")));
}

#[test]
fn keystore_joining_the_group_receives_existing_keys_only_on_update_from_template() {
    let mut fx = Fixture::new();
    let key_id = fx.key("AWS-ACTIVE", "k");
    let joined = keystore_input(&fx.vault_id, "aws_prod_3", KeystoreType::AwsKms, &["prod"]);
    let joined_id = fx.instance.create_keystore(joined, false).unwrap().id;
    assert_eq!(fx.record(&key_id).referenced_keystores.len(), 2, "creating a keystore pushes no key to it");

    let etag = fx.etag(&key_id);
    let preview = fx
        .instance
        .update_managed_key_from_template(&key_id, Some(&super::IfMatch::parse(etag.clone())), true)
        .unwrap();
    assert!(preview.referenced_keystores.contains(&joined_id));
    assert_eq!(fx.etag(&key_id), etag, "a dry run persists nothing");
    assert_eq!(fx.record(&key_id).referenced_keystores.len(), 2);

    let updated = fx
        .instance
        .update_managed_key_from_template(&key_id, Some(&super::IfMatch::parse(etag.clone())), false)
        .unwrap();
    assert_ne!(updated.updated_at.etag(), etag);
    assert_eq!(updated.referenced_keystores.len(), 3);
    let copy = fx.instance.keystores[&joined_id].simulation.copies.get(&key_id).cloned().unwrap();
    assert_eq!(copy.state, CopyState::Active);
}

#[test]
fn keystore_leaving_the_group_is_deactivated_and_unlinked_on_update_from_template() {
    let mut fx = Fixture::new();
    let key_id = fx.key("AWS-ACTIVE", "k");
    let keystore_id = fx.ks("aws_prod_2");
    let etag = fx.keystore_etag("aws_prod_2");
    let groups = KeystoreInput { groups: Some(vec!["shared".to_owned()]), ..KeystoreInput::default() };
    fx.instance.update_keystore(&keystore_id, Some(&super::IfMatch::parse(etag.clone())), groups).unwrap();
    let etag = fx.etag(&key_id);
    fx.instance.update_managed_key_from_template(&key_id, Some(&super::IfMatch::parse(etag.clone())), false).unwrap();
    assert_eq!(fx.record(&key_id).referenced_keystores, [fx.ks("aws_prod_1")]);
    assert_eq!(fx.copy("aws_prod_2", &key_id).unwrap().state, CopyState::Inactive);
    assert_eq!(fx.statuses(&key_id).len(), 1);
}

#[test]
fn template_update_makes_keys_unaligned_until_update_from_template() {
    let mut fx = Fixture::new();
    let key_id = fx.key("AWS-ACTIVE", "k");
    assert_eq!(fx.instance.alignment_status(&fx.record(&key_id)), AlignmentStatus::Aligned);
    let template_id = fx.template_id("AWS-ACTIVE");
    let etag = fx.template_etag("AWS-ACTIVE");
    let input = TemplateInput { description: Some("v1".to_owned()), ..TemplateInput::default() };
    fx.instance.update_template(&template_id, Some(&super::IfMatch::parse(etag.clone())), input).unwrap();
    assert_eq!(fx.instance.alignment_status(&fx.record(&key_id)), AlignmentStatus::Unaligned);
    let listed = fx.list_keys(&[("template.alignment_status", "unaligned")]).unwrap();
    assert_eq!(listed.ids, [key_id.as_str()]);
    let etag = fx.etag(&key_id);
    fx.instance.update_managed_key_from_template(&key_id, Some(&super::IfMatch::parse(etag.clone())), false).unwrap();
    assert_eq!(fx.record(&key_id).template_version, 1);
    assert_eq!(fx.instance.alignment_status(&fx.record(&key_id)), AlignmentStatus::Aligned);
}

#[test]
fn update_from_archived_template_or_of_destroyed_key_is_invalid_state() {
    let mut fx = Fixture::new();
    let key_id = fx.key("AWS-ACTIVE", "k");
    let destroyed = fx.key("AWS-PREACTIVE", "d");
    fx.destroy(&destroyed);
    let etag = fx.etag(&destroyed);
    assert_invalid_state(fx.instance.update_managed_key_from_template(
        &destroyed,
        Some(&super::IfMatch::parse(etag.clone())),
        false,
    ));
    let template_id = fx.template_id("AWS-ACTIVE");
    let template_etag = fx.template_etag("AWS-ACTIVE");
    fx.instance.archive_template(&template_id, Some(&super::IfMatch::parse(template_etag.clone()))).unwrap();
    let etag = fx.etag(&key_id);
    assert_invalid_state(fx.instance.update_managed_key_from_template(
        &key_id,
        Some(&super::IfMatch::parse(etag.clone())),
        false,
    ));
}

// ---------------------------------------------------------------------------------------------------
// Lifecycle (§2)
// ---------------------------------------------------------------------------------------------------

/// Applies a refused action and checks the key record did not change.
#[track_caller]
fn check_refused(fx: &mut Fixture, key_id: &str, action: KeyAction) {
    let before = fx.record(key_id);
    assert_invalid_state(fx.act(key_id, action));
    assert_eq!(fx.record(key_id), before, "a refused {action:?} changed the key");
}

#[test]
fn destroy_of_active_key_is_refused() {
    let mut fx = Fixture::new();
    let key_id = fx.key("AWS-ACTIVE", "k");
    check_refused(&mut fx, &key_id, KeyAction::Destroy);
    assert_eq!(fx.copy("aws_prod_1", &key_id).unwrap().state, CopyState::Active);
}

#[test]
fn activate_of_active_key_is_refused() {
    let mut fx = Fixture::new();
    let key_id = fx.key("AWS-ACTIVE", "k");
    check_refused(&mut fx, &key_id, KeyAction::Activate);
}

#[test]
fn deactivate_of_pre_active_or_deactivated_key_is_refused() {
    let mut fx = Fixture::new();
    let key_id = fx.key("AWS-PREACTIVE", "k");
    check_refused(&mut fx, &key_id, KeyAction::Deactivate);
    fx.act(&key_id, KeyAction::Activate).unwrap();
    fx.act(&key_id, KeyAction::Deactivate).unwrap();
    check_refused(&mut fx, &key_id, KeyAction::Deactivate);
}

#[test]
fn destroyed_key_refuses_every_state_action_update_and_rotation() {
    let mut fx = Fixture::new();
    let key_id = fx.key("AWS-ACTIVE", "k");
    fx.destroy(&key_id);
    for action in [KeyAction::Activate, KeyAction::Deactivate, KeyAction::Destroy] {
        check_refused(&mut fx, &key_id, action);
    }
    assert_invalid_state(fx.rotate(&key_id));
    let update = ManagedKeyUpdate { description: Some("late".to_owned()), ..ManagedKeyUpdate::default() };
    assert_invalid_state(fx.update(&key_id, update));
}

#[test]
fn pre_active_key_activates_and_is_installed_everywhere() {
    let mut fx = Fixture::new();
    let key_id = fx.key("AWS-PREACTIVE", "k");
    fx.act(&key_id, KeyAction::Activate).unwrap();
    assert_eq!(fx.record(&key_id).state, KeyState::Active);
    for entry in fx.statuses(&key_id) {
        assert_entry(&entry, S::Active, F::Ok, D::ActiveKeyIsActiveInKeystore);
    }
}

#[test]
fn deactivate_then_reactivate_moves_every_copy() {
    let mut fx = Fixture::new();
    let key_id = fx.key("AWS-ACTIVE", "k");
    fx.act(&key_id, KeyAction::Deactivate).unwrap();
    let key = fx.record(&key_id);
    assert_eq!(key.state, KeyState::Deactivated);
    assert_eq!(key.deactivated_at, Some(key.updated_at));
    for entry in fx.statuses(&key_id) {
        assert_entry(&entry, S::NotActive, F::Ok, D::DeactivatedKeyIsDeactivatedInKeystore);
    }
    fx.act(&key_id, KeyAction::Activate).unwrap();
    for entry in fx.statuses(&key_id) {
        assert_entry(&entry, S::Active, F::Ok, D::ActiveKeyIsActiveInKeystore);
    }
}

#[test]
fn destroy_of_pre_active_key_is_allowed_by_default() {
    let mut fx = Fixture::new();
    let key_id = fx.key("AWS-PREACTIVE", "k");
    fx.act(&key_id, KeyAction::Destroy).unwrap();
    assert_eq!(fx.record(&key_id).state, KeyState::Destroyed);
    for entry in fx.statuses(&key_id) {
        assert_entry(&entry, S::NotPresent, F::Ok, D::DestroyedKeyIsNotPresentInKeystore);
    }
}

#[test]
fn destroy_of_pre_active_key_is_refused_when_destroy_requires_deactivated() {
    let settings = Settings { destroy_requires_deactivated: true, ..Settings::default() };
    let mut fx = Fixture::with(settings, 1);
    let key_id = fx.key("AWS-PREACTIVE", "k");
    check_refused(&mut fx, &key_id, KeyAction::Destroy);
}

#[test]
fn destroy_within_minimum_deactivated_period_is_refused() {
    let settings = Settings { min_deactivated_before_destroy_seconds: 4 * 3600, ..Settings::default() };
    let mut fx = Fixture::with(settings, 1);
    let key_id = fx.key("AWS-ACTIVE", "k");
    fx.act(&key_id, KeyAction::Deactivate).unwrap();
    fx.instance.clock.advance(4 * 3600 - 1);
    match fx.act(&key_id, KeyAction::Destroy) {
        Err(Error::InvalidState { message }) => {
            assert!(message.contains("deactivated within the last 4 hours"), "{message}")
        }
        other => panic!("expected the 4-hour rule, found {other:?}"),
    }
    fx.instance.clock.advance(1);
    fx.act(&key_id, KeyAction::Destroy).unwrap();
}

#[test]
fn destroy_of_key_protected_by_retention_policy_is_conflict() {
    let mut fx = Fixture::new();
    let key_id = fx.key("AWS-ACTIVE", "k");
    fx.instance.associated_resources.push(AssociatedResource {
        id: "crn%3Abucket".to_owned(),
        managed_key_id: key_id.clone(),
        keystore_id: fx.ks("aws_prod_1"),
        name: "bucket".to_owned(),
        resource_type: "com_ibm_cloud_kms_registration".to_owned(),
        registration: KmsRegistration {
            prevents_key_deletion: true,
            service_name: "cos".to_owned(),
            service_instance_name: "cos-1".to_owned(),
            crn: "crn:bucket".to_owned(),
            description: String::new(),
        },
    });
    fx.act(&key_id, KeyAction::Deactivate).unwrap();
    let before = fx.record(&key_id);
    assert_conflict(fx.act(&key_id, KeyAction::Destroy));
    assert_eq!(fx.record(&key_id), before);
}

#[test]
fn rotation_adds_version_and_changes_material() {
    let mut fx = Fixture::new();
    let key_id = fx.key("AWS-ACTIVE", "k");
    let before = fx.record(&key_id);
    let native_before = fx.copy("aws_prod_1", &key_id).unwrap().key_id_in_keystore;

    fx.rotate(&key_id).unwrap();

    let after = fx.record(&key_id);
    assert_eq!(after.version_number(), 2);
    assert_eq!(after.versions.len(), 2);
    assert_ne!(after.current_material(), before.current_material());
    assert_eq!(after.versions[0].material, before.current_material(), "the previous version is kept");
    assert_eq!(after.versions[0].state, Some(KeyState::Active), "AWS keeps older versions usable");
    assert_eq!(after.rotated_at, Some(after.updated_at));
    assert!(after.updated_at > before.updated_at);
    assert_eq!(after.state, KeyState::Active);
    let copy = fx.copy("aws_prod_1", &key_id).unwrap();
    assert_eq!(copy.material, after.current_material());
    assert_ne!(copy.key_id_in_keystore, native_before, "AWS creates a new native key on rotation");
    for entry in fx.statuses(&key_id) {
        assert_entry(&entry, S::Active, F::Ok, D::ActiveKeyIsActiveInKeystore);
    }
    let (total, _, versions) = fx.instance.list_key_versions_with(&key_id, &params(&[])).unwrap();
    assert_eq!((total, versions), (2, vec![2, 1]));
}

#[test]
fn rotation_on_ibm_cloud_kms_deactivates_previous_version() {
    let mut fx = Fixture::new();
    let key_id = fx.key("INTERNAL-ACTIVE", "k");
    fx.rotate(&key_id).unwrap();
    assert_eq!(fx.record(&key_id).versions[0].state, Some(KeyState::Deactivated));
    let only_deactivated = params(&[("state", "deactivated")]);
    let (total, _, versions) = fx.instance.list_key_versions_with(&key_id, &only_deactivated).unwrap();
    assert_eq!((total, versions), (1, vec![1]));
}

#[test]
fn rotation_of_deactivated_key_is_refused_unless_external_rotation_is_enabled() {
    let mut fx = Fixture::new();
    let key_id = fx.key("AWS-ACTIVE", "k");
    fx.act(&key_id, KeyAction::Deactivate).unwrap();
    assert_invalid_state(fx.rotate(&key_id));

    let settings = Settings { rotate_deactivated_external: true, ..Settings::default() };
    let mut fx = Fixture::with(settings, 1);
    let aws = fx.key("AWS-ACTIVE", "aws");
    let internal = fx.key("INTERNAL-ACTIVE", "internal");
    fx.act(&aws, KeyAction::Deactivate).unwrap();
    fx.act(&internal, KeyAction::Deactivate).unwrap();
    fx.rotate(&aws).unwrap();
    assert_eq!(fx.record(&aws).state, KeyState::Deactivated);
    assert_invalid_state(fx.rotate(&internal));
}

#[test]
fn rotation_of_pre_active_key_is_refused() {
    let mut fx = Fixture::new();
    let key_id = fx.key("AWS-PREACTIVE", "k");
    assert_invalid_state(fx.rotate(&key_id));
}

#[test]
fn rotation_within_minimum_interval_is_too_many_requests() {
    let settings = Settings { min_rotation_interval_seconds: 3600, ..Settings::default() };
    let mut fx = Fixture::with(settings, 1);
    let key_id = fx.key("AWS-ACTIVE", "k");
    fx.rotate(&key_id).unwrap();
    let result = fx.rotate(&key_id);
    assert!(
        matches!(result, Err(Error::TooManyRequests { retry_after_seconds: 3600, .. })),
        "expected a 3600 s retry, found {result:?}"
    );
    fx.instance.clock.advance(3600);
    fx.rotate(&key_id).unwrap();
    assert_eq!(fx.record(&key_id).version_number(), 3);
}

#[test]
fn update_changes_fields_and_renames_every_instance() {
    let mut fx = Fixture::new();
    let key_id = fx.key("AWS-ACTIVE", "old-name");
    let update = ManagedKeyUpdate {
        label: Some("new-name".to_owned()),
        description: Some("rotated yearly".to_owned()),
        activation_date: Some("2026-02-01".to_owned()),
        expiration_date: Some("2030-02-01".to_owned()),
        tags: Some(vec![Tag { name: "team".to_owned(), value: "payments".to_owned() }]),
    };
    fx.update(&key_id, update).unwrap();
    let key = fx.record(&key_id);
    assert_eq!(key.label, "new-name");
    assert!(key.instances.iter().all(|i| i.label_in_keystore == "new-name"));
    assert_eq!(key.description, "rotated yearly");
    assert_eq!(key.activation_date.map(clock::format_date).as_deref(), Some("2026-02-01"));
    assert_eq!(key.expiration_date.map(clock::format_date).as_deref(), Some("2030-02-01"));
    assert_eq!(key.tags.len(), 1);
}

#[test]
fn update_with_expiration_before_activation_is_invalid() {
    let mut fx = Fixture::new();
    let key_id = fx.key("AWS-ACTIVE", "k");
    let before = fx.record(&key_id);
    let earlier = ManagedKeyUpdate { expiration_date: Some("2025-06-01".to_owned()), ..ManagedKeyUpdate::default() };
    assert_invalid_field(fx.update(&key_id, earlier), "expiration_date");
    let both = ManagedKeyUpdate {
        activation_date: Some("2027-01-01".to_owned()),
        expiration_date: Some("2026-12-31".to_owned()),
        ..ManagedKeyUpdate::default()
    };
    assert_invalid_field(fx.update(&key_id, both), "expiration_date");
    let late_activation =
        ManagedKeyUpdate { activation_date: Some("2028-01-01".to_owned()), ..ManagedKeyUpdate::default() };
    assert_invalid_field(fx.update(&key_id, late_activation), "expiration_date");
    assert_eq!(fx.record(&key_id), before);
}

#[test]
fn update_with_malformed_values_is_invalid() {
    let mut fx = Fixture::new();
    let key_id = fx.key("AWS-ACTIVE", "k");
    let date = ManagedKeyUpdate { activation_date: Some("2026-1-1".to_owned()), ..ManagedKeyUpdate::default() };
    assert_invalid_field(fx.update(&key_id, date), "activation_date");
    let label = ManagedKeyUpdate { label: Some("x".repeat(256)), ..ManagedKeyUpdate::default() };
    assert_invalid_field(fx.update(&key_id, label), "label");
    let description = ManagedKeyUpdate { description: Some("d".repeat(201)), ..ManagedKeyUpdate::default() };
    assert_invalid_field(fx.update(&key_id, description), "description");
}

#[test]
fn delete_of_key_that_is_not_destroyed_is_invalid_state() {
    let mut fx = Fixture::new();
    let pre_active = fx.key("AWS-PREACTIVE", "p");
    let active = fx.key("AWS-ACTIVE", "a");
    let deactivated = fx.key("AWS-ACTIVE", "d");
    fx.act(&deactivated, KeyAction::Deactivate).unwrap();
    for key_id in [&pre_active, &active, &deactivated] {
        assert_invalid_state(fx.delete(key_id, false));
        assert_invalid_state(fx.delete(key_id, true));
    }
    assert_eq!(fx.instance.managed_keys.len(), 3);
}

#[test]
fn delete_of_destroyed_key_removes_it_and_its_counts() {
    let mut fx = Fixture::new();
    let key_id = fx.key("AWS-ACTIVE", "k");
    fx.key("AWS-ACTIVE", "stays");
    fx.destroy(&key_id);
    fx.delete(&key_id, false).unwrap();
    assert!(matches!(fx.instance.managed_key(&key_id), Err(Error::NotFound { kind: ResourceKind::ManagedKey, .. })));
    assert_eq!(fx.instance.vault_keys_count(&fx.vault_id), 1);
    assert_eq!(fx.instance.template_keys_count(&fx.template_id("AWS-ACTIVE")), 1);
    assert!(!fx.list_keys(&[]).unwrap().ids.contains(&key_id));
    let gone = fx.instance.change_key_state(&key_id, None, KeyAction::Activate);
    assert!(matches!(gone, Err(Error::NotFound { .. })), "not found wins over a missing If-Match: {gone:?}");
}

#[test]
fn destroy_with_pending_destruction_keeps_copies_until_the_period_ends() {
    let settings = Settings { pending_destruction: true, ..Settings::default() };
    let mut fx = Fixture::with(settings, 1);
    let key_id = fx.key("AWS-ACTIVE", "k");
    fx.destroy(&key_id);
    let destroyed_at = fx.instance.clock.now;
    let copy = fx.copy("aws_prod_1", &key_id).unwrap();
    assert_eq!(copy.state, CopyState::PendingDestruction);
    assert_eq!(copy.destruction_at, Some(destroyed_at.plus_seconds(7 * DAY)));
    for entry in fx.statuses(&key_id) {
        assert_entry(&entry, S::PendingDestruction, F::Ok, D::DestroyedPendingKeyIsPendingDestructionInKeystore);
        assert_eq!(entry.destruction_policy_duration.as_deref(), Some("PT168H"));
    }
    assert_eq!(fx.instance.key_material_present(&fx.record(&key_id)), ["repository"]);

    fx.instance.clock.advance(7 * DAY);
    for entry in fx.statuses(&key_id) {
        assert_entry(&entry, S::NotPresent, F::Ok, D::DestroyedKeyIsNotPresentInKeystore);
    }
    assert_eq!(fx.copy("aws_prod_1", &key_id), None);
}

#[test]
fn destroyed_key_still_pending_elsewhere_reports_pending_detail() {
    let settings = Settings { pending_destruction: true, ..Settings::default() };
    let mut fx = Fixture::with(settings, 1);
    let key_id = fx.key("AWS-ACTIVE", "k");
    fx.destroy(&key_id);
    fx.set_copy("aws_prod_2", &key_id, Observed::Absent);
    assert_entry(
        &fx.entry(&key_id, "aws_prod_1"),
        S::PendingDestruction,
        F::Ok,
        D::DestroyedPendingKeyIsPendingDestructionInKeystore,
    );
    assert_entry(&fx.entry(&key_id, "aws_prod_2"), S::NotPresent, F::Ok, D::DestroyedPendingKeyIsNotPresentInKeystore);
}

#[test]
fn delete_while_pending_destruction_needs_force() {
    let settings = Settings { pending_destruction: true, ..Settings::default() };
    let mut fx = Fixture::with(settings, 1);
    let key_id = fx.key("AWS-ACTIVE", "k");
    fx.destroy(&key_id);
    assert_invalid_state(fx.delete(&key_id, false));
    fx.delete(&key_id, true).unwrap();
    assert!(fx.instance.managed_key(&key_id).is_err());
}

#[test]
fn delete_after_the_destruction_period_has_ended_needs_no_force() {
    // Regression: delete looked at copies whose destruction period had already ended (only reads settled
    // them), so a key shown as `destroyed_key_is_not_present_in_keystore` could not be deleted.
    let settings = Settings { pending_destruction: true, ..Settings::default() };
    let mut fx = Fixture::with(settings, 1);
    let key_id = fx.key("AWS-ACTIVE", "k");
    fx.destroy(&key_id);
    fx.instance.clock.advance(7 * DAY);
    fx.delete(&key_id, false).unwrap();
}

// ---------------------------------------------------------------------------------------------------
// ETags (§11)
// ---------------------------------------------------------------------------------------------------

#[test]
fn update_with_stale_etag_is_precondition_failed() {
    let mut fx = Fixture::new();
    let key_id = fx.key("AWS-ACTIVE", "k");
    let first = fx.etag(&key_id);
    let describe = |text: &str| ManagedKeyUpdate { description: Some(text.to_owned()), ..ManagedKeyUpdate::default() };
    fx.instance.update_managed_key(&key_id, Some(&super::IfMatch::parse(first.clone())), describe("one")).unwrap();
    let current = fx.etag(&key_id);
    let before = fx.record(&key_id);
    let stale = fx.instance.update_managed_key(&key_id, Some(&super::IfMatch::parse(first.clone())), describe("two"));
    assert_eq!(stale.unwrap_err(), Error::PreconditionFailed { given: first, current });
    assert_eq!(fx.record(&key_id), before);
}

#[test]
fn mutations_without_if_match_are_precondition_required() {
    let mut fx = Fixture::new();
    let key_id = fx.key("AWS-ACTIVE", "k");
    let before = fx.record(&key_id);
    let instance = &mut fx.instance;
    assert_eq!(
        instance.change_key_state(&key_id, None, KeyAction::Deactivate).unwrap_err(),
        Error::PreconditionRequired
    );
    assert_eq!(instance.rotate_managed_key(&key_id, None).unwrap_err(), Error::PreconditionRequired);
    assert_eq!(
        instance.update_managed_key(&key_id, None, ManagedKeyUpdate::default()).unwrap_err(),
        Error::PreconditionRequired
    );
    assert_eq!(
        instance.update_managed_key_from_template(&key_id, None, false).unwrap_err(),
        Error::PreconditionRequired
    );
    assert_eq!(instance.sync_managed_key(&key_id, None).unwrap_err(), Error::PreconditionRequired);
    assert_eq!(instance.delete_managed_key(&key_id, None, true).unwrap_err(), Error::PreconditionRequired);
    assert_eq!(fx.record(&key_id), before);
}

#[test]
fn stale_etag_is_checked_before_the_state_rule() {
    let mut fx = Fixture::new();
    let key_id = fx.key("AWS-ACTIVE", "k");
    let result =
        fx.instance.change_key_state(&key_id, Some(&super::IfMatch::parse("2020-01-01T00:00:00Z")), KeyAction::Destroy);
    assert!(matches!(result, Err(Error::PreconditionFailed { .. })), "{result:?}");
}

#[test]
fn if_match_accepts_quoted_weak_and_wildcard_forms() {
    let stamp = Timestamp::parse("2026-03-04T05:06:07.000Z").unwrap();
    for accepted in [
        "2026-03-04T05:06:07Z",
        "\"2026-03-04T05:06:07Z\"",
        "W/\"2026-03-04T05:06:07Z\"",
        " 2026-03-04T05:06:07Z ",
        "*",
    ] {
        assert_eq!(check_if_match(Some(&super::IfMatch::parse(accepted)), stamp, true), Ok(()), "{accepted}");
    }
    assert!(matches!(
        check_if_match(Some(&super::IfMatch::parse("*")), stamp, false),
        Err(Error::PreconditionFailed { .. })
    ));
    assert!(matches!(
        check_if_match(Some(&super::IfMatch::parse("2026-03-04T05:06:08Z")), stamp, true),
        Err(Error::PreconditionFailed { .. })
    ));
    assert_eq!(check_if_match(None, stamp, true), Err(Error::PreconditionRequired));
}

#[test]
fn every_mutation_gets_a_new_strictly_increasing_etag() {
    let mut fx = Fixture::new();
    let key_id = fx.key("AWS-PREACTIVE", "k");
    let mut etags = vec![fx.etag(&key_id)];
    fx.act(&key_id, KeyAction::Activate).unwrap();
    etags.push(fx.etag(&key_id));
    fx.rotate(&key_id).unwrap();
    etags.push(fx.etag(&key_id));
    fx.update(&key_id, ManagedKeyUpdate { description: Some("x".to_owned()), ..ManagedKeyUpdate::default() }).unwrap();
    etags.push(fx.etag(&key_id));
    let etag = fx.etag(&key_id);
    fx.instance.update_managed_key_from_template(&key_id, Some(&super::IfMatch::parse(etag.clone())), false).unwrap();
    etags.push(fx.etag(&key_id));
    fx.act(&key_id, KeyAction::Deactivate).unwrap();
    etags.push(fx.etag(&key_id));
    fx.act(&key_id, KeyAction::Destroy).unwrap();
    etags.push(fx.etag(&key_id));
    for pair in etags.windows(2) {
        assert!(pair[0] < pair[1], "{etags:?}");
    }
    for etag in &etags {
        assert!(Timestamp::parse(etag).is_some_and(|t| t.etag() == *etag), "ETag format: {etag}");
        assert!(etag.ends_with('Z') && etag.len() == 20, "{etag}");
    }
}

#[test]
fn reads_never_change_the_etag() {
    let mut fx = Fixture::new();
    let key_id = fx.key("AWS-ACTIVE", "k");
    fx.set_copy("aws_prod_1", &key_id, Observed::Inactive);
    let before = fx.record(&key_id);
    fx.statuses(&key_id);
    fx.list_keys(&[("status_in_keystores[].keystore_sync_flag", "out_of_sync")]).unwrap();
    fx.instance.list_key_versions_with(&key_id, &params(&[])).unwrap();
    fx.instance.keystore_status(&fx.ks("aws_prod_1")).unwrap();
    assert_eq!(fx.record(&key_id), before);
}

#[test]
fn sync_keeps_the_etag_by_default_and_bumps_it_when_configured() {
    let mut fx = Fixture::new();
    let key_id = fx.key("AWS-ACTIVE", "k");
    let etag = fx.etag(&key_id);
    fx.sync(&key_id);
    assert_eq!(fx.etag(&key_id), etag);

    let mut fx = Fixture::with(Settings { sync_bumps_etag: true, ..Settings::default() }, 1);
    let key_id = fx.key("AWS-ACTIVE", "k");
    let etag = fx.etag(&key_id);
    fx.sync(&key_id);
    assert!(fx.etag(&key_id) > etag);
}

#[test]
fn vault_template_and_keystore_updates_check_and_bump_their_etag() {
    let mut fx = Fixture::new();
    let vault_id = fx.vault_id.clone();
    let vault_etag = fx.instance.vault(&vault_id).unwrap().updated_at.etag();
    let rename = || VaultInput { description: Some("d".to_owned()), ..VaultInput::default() };
    assert_eq!(fx.instance.update_vault(&vault_id, None, rename()).unwrap_err(), Error::PreconditionRequired);
    let updated = fx
        .instance
        .update_vault(&vault_id, Some(&super::IfMatch::parse(vault_etag.clone())), rename())
        .unwrap()
        .updated_at
        .etag();
    assert!(updated > vault_etag);
    assert!(matches!(
        fx.instance.update_vault(&vault_id, Some(&super::IfMatch::parse(vault_etag.clone())), rename()),
        Err(Error::PreconditionFailed { .. })
    ));

    let template_id = fx.template_id("AWS-ACTIVE");
    let template_etag = fx.template_etag("AWS-ACTIVE");
    let describe = || TemplateInput { description: Some("d".to_owned()), ..TemplateInput::default() };
    let updated = fx
        .instance
        .update_template(&template_id, Some(&super::IfMatch::parse(template_etag.clone())), describe())
        .unwrap();
    assert_eq!(updated.version, 1);
    assert!(updated.updated_at.etag() > template_etag);
    assert!(matches!(
        fx.instance.update_template(&template_id, Some(&super::IfMatch::parse(template_etag.clone())), describe()),
        Err(Error::PreconditionFailed { .. })
    ));

    let keystore_id = fx.ks("aws_test");
    let keystore_etag = fx.keystore_etag("aws_test");
    let describe = || KeystoreInput { description: Some("d".to_owned()), ..KeystoreInput::default() };
    let updated = fx
        .instance
        .update_keystore(&keystore_id, Some(&super::IfMatch::parse(keystore_etag.clone())), describe())
        .unwrap();
    assert!(updated.updated_at.etag() > keystore_etag);
    assert!(matches!(
        fx.instance.update_keystore(&keystore_id, Some(&super::IfMatch::parse(keystore_etag.clone())), describe()),
        Err(Error::PreconditionFailed { .. })
    ));
}

// ---------------------------------------------------------------------------------------------------
// Naming schemes (§5.2)
// ---------------------------------------------------------------------------------------------------

fn scheme_template(fx: &mut Fixture, name: &str, scheme: &str) {
    let mut input = template_input(&fx.vault_id, name, KeystoreType::AwsKms, "prod", InitialKeyState::Active);
    input.naming_scheme = Some(scheme.to_owned());
    fx.instance.create_template(input).unwrap();
}

#[test]
fn naming_scheme_label_tags() {
    // Arrange: created 2026-01-01, activation P0D, expiration P1Y → lastActiveYear 2027.
    let mut fx = Fixture::new();
    scheme_template(&mut fx, "SCHEMED", "<APP>-<ENV>-<lay>");

    // Act
    let key_id = fx.key("SCHEMED", "AWS-production-2027");

    // Assert
    let key = fx.record(&key_id);
    let tags: Vec<(&str, &str)> = key.label_tags.iter().map(|t| (t.name.as_str(), t.value.as_str())).collect();
    assert_eq!(tags, [("APP", "AWS"), ("ENV", "production"), ("lay", "2027")]);
    assert!(!key.is_rotatable, "system placeholders make a key not rotatable");
    assert_invalid_state(fx.rotate(&key_id));
    let wrong_year = fx.instance.create_managed_key(key_input(&fx.vault_id.clone(), "SCHEMED", "AWS-production-2030"));
    assert_invalid_field(wrong_year, "label");
    let no_match = fx.instance.create_managed_key(key_input(&fx.vault_id.clone(), "SCHEMED", "nodashes"));
    assert_invalid_field(no_match, "label");
}

#[test]
fn naming_scheme_without_system_placeholders_keeps_key_rotatable() {
    let mut fx = Fixture::new();
    scheme_template(&mut fx, "CUSTOM-ONLY", "<APP>-AES256-<ENV>");
    let key_id = fx.key("CUSTOM-ONLY", "billing-AES256-test");
    let key = fx.record(&key_id);
    assert!(key.is_rotatable);
    assert_eq!(key.label_tags.len(), 2);
    fx.rotate(&key_id).unwrap();
}

#[test]
fn naming_scheme_label_cannot_change() {
    let mut fx = Fixture::new();
    scheme_template(&mut fx, "SCHEMED", "<APP>-<ENV>");
    let key_id = fx.key("SCHEMED", "AWS-prod");
    let rename = ManagedKeyUpdate { label: Some("AWS-test".to_owned()), ..ManagedKeyUpdate::default() };
    assert_invalid_state(fx.update(&key_id, rename));
    let same = ManagedKeyUpdate { label: Some("AWS-prod".to_owned()), ..ManagedKeyUpdate::default() };
    fx.update(&key_id, same).unwrap();
}

#[test]
fn label_of_key_from_literal_naming_scheme_cannot_change() {
    // Regression: "scheme-based" was derived from non-empty label_tags, so a scheme without placeholders
    // produced keys whose label could be renamed away from the scheme.
    let mut fx = Fixture::new();
    scheme_template(&mut fx, "LITERAL", "FIXED-LABEL");
    let key_id = fx.key("LITERAL", "FIXED-LABEL");
    let rename = ManagedKeyUpdate { label: Some("OTHER".to_owned()), ..ManagedKeyUpdate::default() };
    assert_invalid_state(fx.update(&key_id, rename));
    assert_eq!(fx.record(&key_id).label, "FIXED-LABEL");
}

#[test]
fn template_with_reserved_placeholder_is_invalid() {
    let mut fx = Fixture::new();
    let mut input = template_input(&fx.vault_id, "RESERVED", KeystoreType::AwsKms, "prod", InitialKeyState::Active);
    input.naming_scheme = Some("A-<seqno>".to_owned());
    assert_invalid_field(fx.instance.create_template(input), "naming_scheme");
}

// ---------------------------------------------------------------------------------------------------
// Divergence and sync (§3, §4, §6)
// ---------------------------------------------------------------------------------------------------

#[test]
fn deactivated_key_missing_in_keystore_is_in_sync() {
    let mut fx = Fixture::new();
    let key_id = fx.key("AWS-ACTIVE", "k");
    fx.act(&key_id, KeyAction::Deactivate).unwrap();
    fx.set_copy("aws_prod_1", &key_id, Observed::Absent);
    let entry = fx.entry(&key_id, "aws_prod_1");
    assert_entry(&entry, S::NotPresent, F::Ok, D::DeactivatedKeyIsDeactivatedInKeystore);
    assert_eq!(entry.key_id_in_keystore, None);
    assert_entry(&fx.entry(&key_id, "aws_prod_2"), S::NotActive, F::Ok, D::DeactivatedKeyIsDeactivatedInKeystore);
}

#[test]
fn unreachable_keystore_keeps_its_old_copy_and_reports_connection_error() {
    let mut fx = Fixture::new();
    let key_id = fx.key("AWS-ACTIVE", "k");
    fx.set_reachability("aws_prod_2", Reachability::Unreachable);
    fx.act(&key_id, KeyAction::Deactivate).unwrap();
    assert_eq!(fx.copy("aws_prod_1", &key_id).unwrap().state, CopyState::Inactive);
    assert_eq!(fx.copy("aws_prod_2", &key_id).unwrap().state, CopyState::Active);
    let entry = fx.entry(&key_id, "aws_prod_2");
    assert_entry(&entry, S::Error, F::Error, D::ConnectionError);
    let error = entry.error.unwrap();
    assert_eq!((error.status_code, error.code), (503, "keystore_connection_error"));
    assert!(error.message.contains("aws_prod_2"), "{}", error.message);

    fx.set_reachability("aws_prod_2", Reachability::Reachable);
    assert_entry(
        &fx.entry(&key_id, "aws_prod_2"),
        S::Active,
        F::OutOfSync,
        D::DeactivatedKeyIsNotDeactivatedInKeystore,
    );
}

#[test]
fn keystore_unreachable_for_some_calls_recovers_after_them() {
    let mut fx = Fixture::new();
    let key_id = fx.key("AWS-ACTIVE", "k");
    fx.set_reachability("aws_prod_1", Reachability::UnreachableForCalls { remaining: 2 });
    assert_eq!(fx.entry(&key_id, "aws_prod_1").sync_flag, F::Error);
    assert_eq!(fx.entry(&key_id, "aws_prod_1").sync_flag, F::Error);
    assert_eq!(fx.entry(&key_id, "aws_prod_1").sync_flag, F::Ok);
}

#[test]
fn keystore_unreachable_until_a_time_recovers_with_the_clock() {
    let mut fx = Fixture::new();
    let key_id = fx.key("AWS-ACTIVE", "k");
    let until = fx.instance.clock.now.plus_seconds(60);
    fx.set_reachability("aws_prod_1", Reachability::UnreachableUntil { until });
    assert_eq!(fx.entry(&key_id, "aws_prod_1").sync_flag, F::Error);
    fx.instance.clock.advance(60);
    assert_eq!(fx.entry(&key_id, "aws_prod_1").sync_flag, F::Ok);
}

#[test]
fn keystore_with_configuration_error_reports_configuration_error_health() {
    // Regression: GetKeystoreStatus said `not_responding` for a reachable keystore with bad credentials,
    // while the list filter (`peek_health`) said `configuration_error`.
    let mut fx = Fixture::new();
    let key_id = fx.key("AWS-ACTIVE", "k");
    let keystore_id = fx.ks("aws_prod_1");
    fx.instance.keystores.get_mut(&keystore_id).unwrap().simulation.configuration_error = true;
    let health = fx.instance.keystore_status(&keystore_id).unwrap();
    assert_eq!(health.health_status, HealthStatus::ConfigurationError);
    let listed = fx.instance.list_keystores_with(&params(&[("status.health_status", "configuration_error")])).unwrap();
    assert_eq!(listed.ids, [keystore_id.as_str()]);
    let entry = fx.entry(&key_id, "aws_prod_1");
    assert_entry(&entry, S::Error, F::Error, D::ConnectionError);
    assert!(entry.error.unwrap().message.contains("configuration"));

    fx.set_reachability("aws_prod_2", Reachability::Unreachable);
    let health = fx.instance.keystore_status(&fx.ks("aws_prod_2")).unwrap();
    assert_eq!(health.health_status, HealthStatus::NotResponding);
    let health = fx.instance.keystore_status(&fx.ks("aws_test")).unwrap();
    assert_eq!((health.health_status, health.message.as_str()), (HealthStatus::Ok, "Ping executed successfully."));
}

#[test]
fn sync_repairs_reachable_keystores_and_leaves_unreachable_in_error() {
    // Arrange: drift in one reachable keystore and in one unreachable keystore.
    let mut fx = Fixture::new();
    let key_id = fx.key("AWS-ACTIVE", "k");
    fx.set_copy("aws_prod_1", &key_id, Observed::Inactive);
    fx.set_copy("aws_prod_2", &key_id, Observed::Absent);
    fx.set_reachability("aws_prod_2", Reachability::Unreachable);
    let etag = fx.etag(&key_id);
    assert_entry(&fx.entry(&key_id, "aws_prod_1"), S::NotActive, F::OutOfSync, D::ActiveKeyIsNotActiveInKeystore);

    // Act
    let entries = fx.sync(&key_id);

    // Assert
    assert_eq!(entries.len(), 2);
    assert_entry(&entries[0], S::Active, F::Ok, D::ActiveKeyIsActiveInKeystore);
    assert_entry(&entries[1], S::Error, F::Error, D::ConnectionError);
    assert!(entries[1].error.is_some());
    assert_eq!(fx.copy("aws_prod_2", &key_id), None, "an unreachable keystore is not touched");
    assert_eq!(fx.etag(&key_id), etag);
    assert_eq!(fx.statuses(&key_id), entries, "GET after sync shows what sync returned");

    fx.set_reachability("aws_prod_2", Reachability::Reachable);
    assert_entry(&fx.entry(&key_id, "aws_prod_2"), S::NotPresent, F::OutOfSync, D::ActiveKeyIsNotActiveInKeystore);
    let entries = fx.sync(&key_id);
    assert!(entries.iter().all(|e| e.sync_flag == F::Ok), "{entries:?}");
}

#[test]
fn sync_replaces_wrong_key_material() {
    let mut fx = Fixture::new();
    let key_id = fx.key("AWS-ACTIVE", "k");
    fx.set_copy("aws_prod_1", &key_id, Observed::WrongKey);
    assert_entry(&fx.entry(&key_id, "aws_prod_1"), S::WrongKey, F::OutOfSync, D::ActiveKeyIsNotActiveInKeystore);
    fx.sync(&key_id);
    assert_eq!(fx.copy("aws_prod_1", &key_id).unwrap().material, fx.record(&key_id).current_material());
    assert_entry(&fx.entry(&key_id, "aws_prod_1"), S::Active, F::Ok, D::ActiveKeyIsActiveInKeystore);
}

#[test]
fn rotation_while_keystore_unreachable_leaves_old_material_until_sync() {
    let mut fx = Fixture::new();
    let key_id = fx.key("AWS-ACTIVE", "k");
    let native_before = fx.copy("aws_prod_2", &key_id).unwrap().key_id_in_keystore;
    fx.set_reachability("aws_prod_2", Reachability::Unreachable);
    fx.rotate(&key_id).unwrap();
    fx.set_reachability("aws_prod_2", Reachability::Reachable);
    assert_entry(&fx.entry(&key_id, "aws_prod_2"), S::WrongKey, F::OutOfSync, D::ActiveKeyIsNotActiveInKeystore);
    fx.sync(&key_id);
    let copy = fx.copy("aws_prod_2", &key_id).unwrap();
    assert_eq!(copy.material, fx.record(&key_id).current_material());
    assert_ne!(copy.key_id_in_keystore, native_before);
}

#[test]
fn sync_removes_copies_of_pre_active_and_destroyed_keys() {
    let mut fx = Fixture::new();
    let pre_active = fx.key("AWS-PREACTIVE", "p");
    let destroyed = fx.key("AWS-ACTIVE", "d");
    fx.destroy(&destroyed);
    fx.set_copy("aws_prod_1", &pre_active, Observed::Active);
    fx.set_copy("aws_prod_1", &destroyed, Observed::Inactive);
    assert_entry(&fx.entry(&pre_active, "aws_prod_1"), S::Active, F::OutOfSync, D::PreActiveKeyIsPresentInKeystore);
    assert_entry(&fx.entry(&destroyed, "aws_prod_1"), S::NotActive, F::OutOfSync, D::DestroyedKeyIsPresentInKeystore);
    fx.sync(&pre_active);
    fx.sync(&destroyed);
    assert_eq!(fx.copy("aws_prod_1", &pre_active), None);
    assert_eq!(fx.copy("aws_prod_1", &destroyed), None);
}

#[test]
fn sync_is_idempotent_and_leaves_other_keys_untouched() {
    let mut fx = Fixture::new();
    let key_id = fx.key("AWS-ACTIVE", "k");
    let other = fx.key("AWS-ACTIVE", "other");
    fx.set_copy("aws_prod_1", &key_id, Observed::Inactive);
    fx.set_copy("aws_prod_1", &other, Observed::Inactive);
    let other_before = fx.record(&other);
    let first = fx.sync(&key_id);
    let copies_after_first = fx.instance.keystores.clone();
    let second = fx.sync(&key_id);
    assert_eq!(first, second);
    for (id, keystore) in &fx.instance.keystores {
        assert_eq!(keystore.simulation.copies, copies_after_first[id].simulation.copies);
    }
    assert_eq!(fx.copy("aws_prod_1", &other).unwrap().state, CopyState::Inactive);
    assert_eq!(fx.record(&other), other_before);
}

#[test]
fn sync_with_stale_etag_is_precondition_failed_and_repairs_nothing() {
    let mut fx = Fixture::new();
    let key_id = fx.key("AWS-ACTIVE", "k");
    let stale = fx.etag(&key_id);
    fx.update(&key_id, ManagedKeyUpdate { description: Some("x".to_owned()), ..ManagedKeyUpdate::default() }).unwrap();
    fx.set_copy("aws_prod_1", &key_id, Observed::Inactive);
    let result = fx.instance.sync_managed_key(&key_id, Some(&super::IfMatch::parse(stale.clone())));
    assert!(matches!(result, Err(Error::PreconditionFailed { .. })), "{result:?}");
    assert_eq!(fx.copy("aws_prod_1", &key_id).unwrap().state, CopyState::Inactive);
}

// ---------------------------------------------------------------------------------------------------
// Keystores (§7)
// ---------------------------------------------------------------------------------------------------

#[test]
fn removed_keystore_leaves_tombstone_entry() {
    let mut fx = Fixture::new();
    let key_id = fx.key("AWS-ACTIVE", "k");
    let key_etag = fx.etag(&key_id);
    let keystore_id = fx.ks("aws_prod_2");
    let etag = fx.keystore_etag("aws_prod_2");

    fx.instance
        .delete_keystore(&keystore_id, Some(&super::IfMatch::parse(etag.clone())), DeleteKeystoreMode::Disconnect)
        .unwrap();

    let key = fx.record(&key_id);
    assert_eq!(key.referenced_keystores, [fx.ks("aws_prod_1")]);
    assert_eq!(key.removed_keystores, [keystore_id.as_str()]);
    assert_eq!(key.updated_at.etag(), key_etag, "keystore removal does not bump the key's ETag");
    assert!(fx.instance.keystore(&keystore_id).is_err());
    assert!(fx.instance.keystore_or_removed(&keystore_id).is_some());
    assert!(!fx.instance.list_keystores_with(&params(&[])).unwrap().ids.contains(&keystore_id));
    assert_eq!(fx.instance.vault_keystores_count(&fx.vault_id), KEYSTORES.len() - 1);
    let statuses = fx.statuses(&key_id);
    assert_eq!(statuses.len(), 2);
    let tombstone = statuses.iter().find(|e| e.keystore_id == keystore_id).unwrap();
    assert_entry(tombstone, S::Active, F::OutOfSync, D::TargetKeystoreRemovedByUserContainsAnActiveKey);

    // Sync leaves a removed keystore alone: UKO no longer manages it.
    let entries = fx.sync(&key_id);
    let tombstone = entries.iter().find(|e| e.keystore_id == keystore_id).unwrap();
    assert_eq!(tombstone.detail, D::TargetKeystoreRemovedByUserContainsAnActiveKey);
    assert_eq!(fx.copy("aws_prod_2", &key_id).unwrap().state, CopyState::Active);
}

#[test]
fn keystore_deleted_in_deactivate_mode_leaves_removed_by_user_entry() {
    let mut fx = Fixture::new();
    let key_id = fx.key("AWS-ACTIVE", "k");
    let keystore_id = fx.ks("aws_prod_2");
    let etag = fx.keystore_etag("aws_prod_2");
    fx.instance
        .delete_keystore(&keystore_id, Some(&super::IfMatch::parse(etag.clone())), DeleteKeystoreMode::Deactivate)
        .unwrap();
    assert_eq!(fx.copy("aws_prod_2", &key_id).unwrap().state, CopyState::Inactive);
    let tombstone = fx.statuses(&key_id).into_iter().find(|e| e.keystore_id == keystore_id).unwrap();
    assert_entry(&tombstone, S::NotPresent, F::OutOfSync, D::TargetKeystoreRemovedByUser);
}

#[test]
fn keystore_deleted_in_destroy_mode_schedules_destruction_of_its_copies() {
    let mut fx = Fixture::new();
    let key_id = fx.key("AWS-ACTIVE", "k");
    let keystore_id = fx.ks("aws_prod_2");
    let etag = fx.keystore_etag("aws_prod_2");
    fx.instance
        .delete_keystore(&keystore_id, Some(&super::IfMatch::parse(etag.clone())), DeleteKeystoreMode::Destroy)
        .unwrap();
    assert_eq!(fx.copy("aws_prod_2", &key_id).unwrap().state, CopyState::PendingDestruction);
    fx.instance.clock.advance(7 * DAY);
    fx.statuses(&key_id);
    assert_eq!(fx.copy("aws_prod_2", &key_id), None);
}

#[test]
fn keystore_delete_in_restrict_mode_is_refused_while_active_or_deactivated_keys_use_it() {
    let mut fx = Fixture::new();
    let key_id = fx.key("AWS-ACTIVE", "k");
    let keystore_id = fx.ks("aws_prod_1");
    let etag = fx.keystore_etag("aws_prod_1");
    assert_conflict(fx.instance.delete_keystore(
        &keystore_id,
        Some(&super::IfMatch::parse(etag.clone())),
        DeleteKeystoreMode::Restrict,
    ));
    fx.act(&key_id, KeyAction::Deactivate).unwrap();
    assert_conflict(fx.instance.delete_keystore(
        &keystore_id,
        Some(&super::IfMatch::parse(etag.clone())),
        DeleteKeystoreMode::Restrict,
    ));
    fx.act(&key_id, KeyAction::Destroy).unwrap();
    fx.key("AWS-PREACTIVE", "p");
    fx.instance
        .delete_keystore(&keystore_id, Some(&super::IfMatch::parse(etag.clone())), DeleteKeystoreMode::Restrict)
        .unwrap();
    assert!(fx.instance.keystore(&keystore_id).is_err());
}

#[test]
fn internal_keystore_delete_is_refused_while_a_destroyed_key_is_pending_there() {
    let settings = Settings { pending_destruction: true, ..Settings::default() };
    let mut fx = Fixture::with(settings, 1);
    let key_id = fx.key("INTERNAL-ACTIVE", "k");
    fx.destroy(&key_id);
    let keystore_id = fx.ks("internal_prod");
    let etag = fx.keystore_etag("internal_prod");
    assert_conflict(fx.instance.delete_keystore(
        &keystore_id,
        Some(&super::IfMatch::parse(etag.clone())),
        DeleteKeystoreMode::Restrict,
    ));
    fx.instance.clock.advance(30 * DAY);
    fx.instance
        .delete_keystore(&keystore_id, Some(&super::IfMatch::parse(etag.clone())), DeleteKeystoreMode::Restrict)
        .unwrap();
}

#[test]
fn keystore_delete_checks_if_match() {
    let mut fx = Fixture::new();
    let keystore_id = fx.ks("aws_test");
    let result = fx.instance.delete_keystore(&keystore_id, None, DeleteKeystoreMode::Restrict);
    assert_eq!(result, Err(Error::PreconditionRequired));
    let result = fx.instance.delete_keystore(
        &keystore_id,
        Some(&super::IfMatch::parse("2020-01-01T00:00:00Z")),
        DeleteKeystoreMode::Restrict,
    );
    assert!(matches!(result, Err(Error::PreconditionFailed { .. })));
    assert!(fx.instance.keystore(&keystore_id).is_ok());
}

#[test]
fn internal_keystore_limit_is_fifty_per_instance() {
    let mut instance = instance();
    let vault_id = instance.create_vault(vault_input("v")).unwrap().id.clone();
    let internal = |n: usize| keystore_input(&vault_id, &format!("internal_{n}"), KeystoreType::IbmCloudKms, &["g"]);
    let mut ids = Vec::new();
    for n in 0..50 {
        ids.push(instance.create_keystore(internal(n), false).unwrap().id);
    }
    match instance.create_keystore(internal(50), false) {
        Err(Error::Conflict { message }) => {
            assert!(message.starts_with("The operation on the keystore has failed."), "{message}")
        }
        other => panic!("expected the 51st internal keystore to be refused, found {other:?}"),
    }
    assert!(instance.create_keystore(internal(50), true).is_ok(), "a dry run stores nothing, so it is not limited");
    assert_eq!(instance.keystores.len(), 50);
    instance.create_keystore(keystore_input(&vault_id, "external", KeystoreType::AwsKms, &["g"]), false).unwrap();
    let etag = instance.keystore(&ids[0]).unwrap().updated_at.etag();
    instance
        .delete_keystore(&ids[0], Some(&super::IfMatch::parse(etag.clone())), DeleteKeystoreMode::Restrict)
        .unwrap();
    instance.create_keystore(internal(51), false).unwrap();
}

#[test]
fn internal_keystore_limit_is_configurable() {
    let mut instance = instance_with(Settings { internal_keystore_limit: 1, ..Settings::default() }, 1);
    let vault_id = instance.create_vault(vault_input("v")).unwrap().id.clone();
    instance.create_keystore(keystore_input(&vault_id, "one", KeystoreType::IbmCloudKms, &["g"]), false).unwrap();
    let second = instance.create_keystore(keystore_input(&vault_id, "two", KeystoreType::IbmCloudKms, &["g"]), false);
    assert_conflict(second);
}

#[test]
fn keystore_create_validates_type_specific_fields() {
    let mut fx = Fixture::new();
    let vault_id = fx.vault_id.clone();
    let mut no_secret = keystore_input(&vault_id, "aws_x", KeystoreType::AwsKms, &["g"]);
    no_secret.connection.aws_secret_access_key = None;
    assert_eq!(
        fx.instance.create_keystore(no_secret, false).unwrap_err(),
        Error::missing_field("aws_secret_access_key")
    );
    let mut no_variant = keystore_input(&vault_id, "ibm_x", KeystoreType::IbmCloudKms, &["g"]);
    no_variant.connection.ibm_variant = None;
    assert_eq!(fx.instance.create_keystore(no_variant, false).unwrap_err(), Error::missing_field("ibm_variant"));
    let mut bad_port = keystore_input(&vault_id, "cca_x", KeystoreType::Cca, &["g"]);
    bad_port.connection.cca_port = Some(70_000);
    assert_invalid_field(fx.instance.create_keystore(bad_port, false), "cca_port");
    let bad_group = keystore_input(&vault_id, "aws_y", KeystoreType::AwsKms, &["_bad"]);
    assert_invalid_field(fx.instance.create_keystore(bad_group, false), "groups[0]");
    let unknown_vault = keystore_input("no-such-vault", "aws_z", KeystoreType::AwsKms, &["g"]);
    assert!(matches!(fx.instance.create_keystore(unknown_vault, false), Err(Error::NotFound { .. })));
    assert_eq!(fx.instance.keystores.len(), KEYSTORES.len());
}

#[test]
fn keystore_without_groups_gets_its_name_as_group_and_internal_ones_the_region() {
    let mut fx = Fixture::new();
    let mut input = keystore_input(&fx.vault_id, "lonely", KeystoreType::IbmCloudKms, &[]);
    input.groups = None;
    let keystore = fx.instance.create_keystore(input, false).unwrap();
    assert_eq!(keystore.groups, ["lonely"]);
    assert_eq!(keystore.location, "us-south");
    assert!(keystore.is_internal());
    assert_eq!(keystore.connection.ibm_instance_id.as_deref(), Some("test"));
}

#[test]
fn keystore_dry_run_stores_nothing() {
    let mut fx = Fixture::new();
    let clock_before = fx.instance.clock.clone();
    let input = keystore_input(&fx.vault_id, "trial", KeystoreType::AwsKms, &["prod"]);
    let keystore = fx.instance.create_keystore(input, true).unwrap();
    assert!(fx.instance.keystore(&keystore.id).is_err());
    assert_eq!(fx.instance.clock.last_stamp, clock_before.last_stamp);
}

#[test]
fn keystore_identity_fields_are_locked_and_credentials_editable() {
    let mut fx = Fixture::new();
    let keystore_id = fx.ks("aws_test");
    let etag = fx.keystore_etag("aws_test");
    let region = KeystoreInput {
        connection: KeystoreConnection { aws_region: Some("eu-west-1".to_owned()), ..KeystoreConnection::default() },
        ..KeystoreInput::default()
    };
    assert_invalid_field(
        fx.instance.update_keystore(&keystore_id, Some(&super::IfMatch::parse(etag.clone())), region),
        "aws_region",
    );
    let retype = KeystoreInput { keystore_type: Some(KeystoreType::GoogleKms), ..KeystoreInput::default() };
    assert_invalid_field(
        fx.instance.update_keystore(&keystore_id, Some(&super::IfMatch::parse(etag.clone())), retype),
        "type",
    );
    let secret = KeystoreInput {
        connection: KeystoreConnection {
            aws_secret_access_key: Some("rotated".to_owned()),
            ..KeystoreConnection::default()
        },
        ..KeystoreInput::default()
    };
    let updated =
        fx.instance.update_keystore(&keystore_id, Some(&super::IfMatch::parse(etag.clone())), secret).unwrap();
    assert_eq!(updated.connection.aws_secret_access_key.as_deref(), Some("rotated"));
    assert_eq!(updated.connection.aws_region.as_deref(), Some("us-east-1"));
}

// ---------------------------------------------------------------------------------------------------
// Templates (§5)
// ---------------------------------------------------------------------------------------------------

#[test]
fn template_delete_is_refused_while_keys_reference_it_even_destroyed_ones() {
    let mut fx = Fixture::new();
    let key_id = fx.key("AWS-ACTIVE", "k");
    let template_id = fx.template_id("AWS-ACTIVE");
    let etag = fx.template_etag("AWS-ACTIVE");
    assert_conflict(fx.instance.delete_template(&template_id, Some(&super::IfMatch::parse(etag.clone()))));
    fx.destroy(&key_id);
    assert_conflict(fx.instance.delete_template(&template_id, Some(&super::IfMatch::parse(etag.clone()))));
    fx.delete(&key_id, false).unwrap();
    fx.instance.delete_template(&template_id, Some(&super::IfMatch::parse(etag.clone()))).unwrap();
    assert!(fx.instance.template(&template_id).is_err());
    assert_eq!(fx.instance.vault_templates_count(&fx.vault_id), TEMPLATES.len() - 1);
}

#[test]
fn archived_template_can_be_deleted() {
    let mut fx = Fixture::new();
    let template_id = fx.template_id("AWS-PREACTIVE");
    let etag = fx.template_etag("AWS-PREACTIVE");
    let archived = fx
        .instance
        .archive_template(&template_id, Some(&super::IfMatch::parse(etag.clone())))
        .unwrap()
        .updated_at
        .etag();
    assert_eq!(
        fx.instance.delete_template(&template_id, Some(&super::IfMatch::parse(etag.clone()))),
        Err(Error::PreconditionFailed { given: etag, current: archived.clone() })
    );
    fx.instance.delete_template(&template_id, Some(&super::IfMatch::parse(archived.clone()))).unwrap();
}

#[test]
fn duplicate_template_name_is_conflict() {
    let mut fx = Fixture::new();
    let other_vault = fx.instance.create_vault(vault_input("Other")).unwrap().id.clone();
    let input = template_input(&other_vault, "AWS-ACTIVE", KeystoreType::AwsKms, "prod", InitialKeyState::Active);
    assert_conflict(fx.instance.create_template(input));
    let template_id = fx.template_id("AWS-PREACTIVE");
    let etag = fx.template_etag("AWS-PREACTIVE");
    let rename = TemplateInput { name: Some("AWS-ACTIVE".to_owned()), ..TemplateInput::default() };
    assert_conflict(fx.instance.update_template(&template_id, Some(&super::IfMatch::parse(etag.clone())), rename));
}

#[test]
fn template_create_validates_its_body() {
    let mut fx = Fixture::new();
    let vault_id = fx.vault_id.clone();
    let mut two = template_input(&vault_id, "TWO", KeystoreType::AwsKms, "prod", InitialKeyState::Active);
    two.keystores.as_mut().unwrap().push(TemplateKeystoreInput {
        keystore_type: Some(KeystoreType::AzureKeyVault),
        group: Some("prod".to_owned()),
        ..TemplateKeystoreInput::default()
    });
    assert_invalid_field(fx.instance.create_template(two), "keystores");
    let mut none = template_input(&vault_id, "NONE", KeystoreType::AwsKms, "prod", InitialKeyState::Active);
    none.keystores = Some(Vec::new());
    assert_invalid_field(fx.instance.create_template(none), "keystores");
    let bad_name =
        template_input(&vault_id, "1-starts-with-digit", KeystoreType::AwsKms, "prod", InitialKeyState::Active);
    assert_invalid_field(fx.instance.create_template(bad_name), "name");
    let mut bad_period = template_input(&vault_id, "PERIOD", KeystoreType::AwsKms, "prod", InitialKeyState::Active);
    bad_period.key.as_mut().unwrap().expiration_date = Some("1Y".to_owned());
    assert_invalid_field(fx.instance.create_template(bad_period), "key.expiration_date");
    let mut no_state = template_input(&vault_id, "NOSTATE", KeystoreType::AwsKms, "prod", InitialKeyState::Active);
    no_state.key.as_mut().unwrap().state = None;
    assert_eq!(fx.instance.create_template(no_state).unwrap_err(), Error::missing_field("key.state"));
    let unknown_vault = template_input("nope", "ORPHAN", KeystoreType::AwsKms, "prod", InitialKeyState::Active);
    assert!(matches!(
        fx.instance.create_template(unknown_vault),
        Err(Error::NotFound { kind: ResourceKind::Vault, .. })
    ));
}

#[test]
fn new_template_starts_at_version_zero_unarchived_and_user_defined() {
    let fx = Fixture::new();
    let template = fx.instance.template_by_name("AWS-ACTIVE").unwrap();
    assert_eq!(template.version, 0);
    assert_eq!(template.state, TemplateState::Unarchived);
    assert_eq!(template.types, [TemplateType::UserDefined]);
    assert_eq!(template.description, "");
}

#[test]
fn template_algorithm_keystore_type_and_naming_scheme_are_immutable() {
    let mut fx = Fixture::new();
    let template_id = fx.template_id("AWS-ACTIVE");
    let etag = fx.template_etag("AWS-ACTIVE");
    let algorithm = TemplateInput {
        key: Some(KeyPropertiesInput { algorithm: Some(Algorithm::Rsa), ..KeyPropertiesInput::default() }),
        ..TemplateInput::default()
    };
    assert_invalid_field(
        fx.instance.update_template(&template_id, Some(&super::IfMatch::parse(etag.clone())), algorithm),
        "key.algorithm",
    );
    let retype = TemplateInput {
        keystores: Some(vec![TemplateKeystoreInput {
            keystore_type: Some(KeystoreType::GoogleKms),
            ..TemplateKeystoreInput::default()
        }]),
        ..TemplateInput::default()
    };
    assert_invalid_field(
        fx.instance.update_template(&template_id, Some(&super::IfMatch::parse(etag.clone())), retype),
        "keystores[0].type",
    );
    let scheme = TemplateInput { naming_scheme: Some("<A>".to_owned()), ..TemplateInput::default() };
    assert_invalid_field(
        fx.instance.update_template(&template_id, Some(&super::IfMatch::parse(etag.clone())), scheme),
        "naming_scheme",
    );
    assert_eq!(fx.instance.template(&template_id).unwrap().version, 0);
}

#[test]
fn template_group_change_redirects_new_keys() {
    let mut fx = Fixture::new();
    let template_id = fx.template_id("AWS-ACTIVE");
    let etag = fx.template_etag("AWS-ACTIVE");
    let regroup = TemplateInput {
        keystores: Some(vec![TemplateKeystoreInput {
            group: Some("test".to_owned()),
            ..TemplateKeystoreInput::default()
        }]),
        ..TemplateInput::default()
    };
    fx.instance.update_template(&template_id, Some(&super::IfMatch::parse(etag.clone())), regroup).unwrap();
    let key_id = fx.key("AWS-ACTIVE", "k");
    assert_eq!(fx.record(&key_id).referenced_keystores, [fx.ks("aws_test")]);
}

#[test]
fn archived_template_refuses_updates_and_a_second_archive() {
    let mut fx = Fixture::new();
    let template_id = fx.template_id("AWS-ACTIVE");
    let etag = fx.template_etag("AWS-ACTIVE");
    let etag = fx
        .instance
        .archive_template(&template_id, Some(&super::IfMatch::parse(etag.clone())))
        .unwrap()
        .updated_at
        .etag();
    assert_invalid_state(fx.instance.archive_template(&template_id, Some(&super::IfMatch::parse(etag.clone()))));
    let describe = TemplateInput { description: Some("x".to_owned()), ..TemplateInput::default() };
    assert_invalid_state(fx.instance.update_template(
        &template_id,
        Some(&super::IfMatch::parse(etag.clone())),
        describe,
    ));
    let etag = fx
        .instance
        .unarchive_template(&template_id, Some(&super::IfMatch::parse(etag.clone())))
        .unwrap()
        .updated_at
        .etag();
    assert_invalid_state(fx.instance.unarchive_template(&template_id, Some(&super::IfMatch::parse(etag.clone()))));
    fx.key("AWS-ACTIVE", "k");
}

#[test]
fn only_shadow_templates_can_be_exposed() {
    let mut fx = Fixture::new();
    let template_id = fx.template_id("AWS-ACTIVE");
    let etag = fx.template_etag("AWS-ACTIVE");
    assert_invalid_state(fx.instance.expose_template(&template_id, Some(&super::IfMatch::parse(etag.clone()))));
    let mut shadow = template_input(&fx.vault_id, "SHADOW", KeystoreType::AwsKms, "prod", InitialKeyState::Active);
    shadow.types = Some(vec![TemplateType::Shadow]);
    let shadow = fx.instance.create_template(shadow).unwrap();
    let (id, etag) = (shadow.id.clone(), shadow.updated_at.etag());
    let exposed = fx.instance.expose_template(&id, Some(&super::IfMatch::parse(etag.clone()))).unwrap();
    assert_eq!(exposed.types, [TemplateType::UserDefined]);
    assert!(exposed.updated_at.etag() > etag);
}

// ---------------------------------------------------------------------------------------------------
// Vaults (§8)
// ---------------------------------------------------------------------------------------------------

#[test]
fn vault_delete_is_refused_while_it_holds_keystores_or_keys() {
    let mut fx = Fixture::new();
    let vault_id = fx.vault_id.clone();
    let etag = fx.instance.vault(&vault_id).unwrap().updated_at.etag();
    assert_conflict(fx.instance.delete_vault(&vault_id, Some(&super::IfMatch::parse(etag.clone()))));
    assert!(fx.instance.vault(&vault_id).is_ok());
}

#[test]
fn vault_delete_is_refused_while_unarchived_templates_remain_and_takes_archived_ones_along() {
    let mut instance = instance();
    let vault_id = instance.create_vault(vault_input("v")).unwrap().id.clone();
    let template = instance
        .create_template(template_input(&vault_id, "T", KeystoreType::AwsKms, "g", InitialKeyState::Active))
        .unwrap();
    let (template_id, template_etag) = (template.id.clone(), template.updated_at.etag());
    let etag = instance.vault(&vault_id).unwrap().updated_at.etag();
    assert_conflict(instance.delete_vault(&vault_id, Some(&super::IfMatch::parse(etag.clone()))));
    instance.archive_template(&template_id, Some(&super::IfMatch::parse(template_etag.clone()))).unwrap();
    instance.delete_vault(&vault_id, Some(&super::IfMatch::parse(etag.clone()))).unwrap();
    assert!(instance.vault(&vault_id).is_err());
    assert!(instance.template(&template_id).is_err(), "archived templates go with their vault");
}

#[test]
fn empty_vault_delete_checks_if_match_and_succeeds() {
    let mut instance = instance();
    let vault_id = instance.create_vault(vault_input("v")).unwrap().id.clone();
    let etag = instance.vault(&vault_id).unwrap().updated_at.etag();
    assert_eq!(instance.delete_vault(&vault_id, None), Err(Error::PreconditionRequired));
    assert!(matches!(
        instance.delete_vault(&vault_id, Some(&super::IfMatch::parse("2020-01-01T00:00:00Z"))),
        Err(Error::PreconditionFailed { .. })
    ));
    instance.delete_vault(&vault_id, Some(&super::IfMatch::parse(etag.clone()))).unwrap();
    assert!(matches!(
        instance.delete_vault(&vault_id, Some(&super::IfMatch::parse(etag.clone()))),
        Err(Error::NotFound { kind: ResourceKind::Vault, .. })
    ));
}

#[test]
fn vault_create_validates_name() {
    let mut instance = instance();
    assert_eq!(instance.create_vault(VaultInput::default()).unwrap_err(), Error::missing_field("name"));
    assert_invalid_field(instance.create_vault(vault_input(" leading space")), "name");
    assert_invalid_field(instance.create_vault(vault_input(&"v".repeat(101))), "name");
    let vault = instance.create_vault(vault_input("Payments #1")).unwrap();
    assert_eq!(vault.created_at, vault.updated_at);
    assert_eq!(vault.created_at.etag(), START);
}

// ---------------------------------------------------------------------------------------------------
// List queries (uko-api-v4.md §7)
// ---------------------------------------------------------------------------------------------------

/// The `offset` of the next page, as the HTTP layer's `next` link carries it.
fn next_offset(listing: &Listing) -> Option<usize> {
    let next = listing.page.offset + listing.page.limit;
    (next < listing.total_count).then_some(next)
}

/// Five keys: labels a..e, created in that order, in several states.
fn listing_fixture() -> (Fixture, Vec<String>) {
    let mut fx = Fixture::new();
    let a = fx.key("AWS-ACTIVE", "alpha");
    let b = fx.key("AWS-PREACTIVE", "bravo");
    let c = fx.key("AWS-ACTIVE", "charlie");
    let d = fx.key("INTERNAL-ACTIVE", "delta");
    let e = fx.key("AWS-ACTIVE", "echo");
    fx.act(&c, KeyAction::Deactivate).unwrap();
    fx.destroy(&e);
    (fx, vec![a, b, c, d, e])
}

#[test]
fn list_limit_must_lie_between_one_and_a_thousand() {
    let (fx, _) = listing_fixture();
    for bad in ["0", "1001", "-1", "ten", ""] {
        assert_invalid_parameter(fx.list_keys(&[("limit", bad)]), "limit");
    }
    assert_invalid_parameter(fx.list_keys(&[("offset", "-1")]), "offset");
    assert_eq!(fx.list_keys(&[]).unwrap().page, query::Page { limit: 20, offset: 0 });
    assert_eq!(fx.list_keys(&[("limit", "1000")]).unwrap().page.limit, 1000);
    let one = fx.list_keys(&[("limit", "1")]).unwrap();
    assert_eq!((one.ids.len(), one.total_count), (1, 5));
}

#[test]
fn listing_next_offset_walks_every_page_once() {
    let (fx, keys) = listing_fixture();
    let everything = fx.list_keys(&[("sort", "label")]).unwrap();
    assert_eq!(everything.ids, keys);
    assert_eq!(next_offset(&everything), None);

    let mut seen = Vec::new();
    let mut offset = Some(0);
    let mut pages = 0;
    while let Some(current) = offset {
        let offset_text = current.to_string();
        let page = fx.list_keys(&[("sort", "label"), ("limit", "2"), ("offset", offset_text.as_str())]).unwrap();
        assert_eq!(page.total_count, 5);
        assert!(page.ids.len() <= 2);
        seen.extend(page.ids.clone());
        offset = next_offset(&page);
        pages += 1;
    }
    assert_eq!(pages, 3);
    assert_eq!(seen, keys);

    let beyond = fx.list_keys(&[("offset", "5")]).unwrap();
    assert_eq!((beyond.ids.len(), beyond.total_count, next_offset(&beyond)), (0, 5, None));
}

#[test]
fn list_filters_are_anded_and_their_values_ored() {
    let (fx, keys) = listing_fixture();
    let active_or_deactivated = fx.list_keys(&[("state", "active,deactivated"), ("sort", "label")]).unwrap();
    assert_eq!(active_or_deactivated.ids, [keys[0].clone(), keys[2].clone(), keys[3].clone()]);
    let repeated = fx.list_keys(&[("state", "active"), ("state", "deactivated"), ("sort", "label")]).unwrap();
    assert_eq!(repeated.ids, active_or_deactivated.ids);
    let with_prefix = fx.list_keys(&[("state", "active,deactivated"), ("label", "ch")]).unwrap();
    assert_eq!(with_prefix.ids, [keys[2].clone()]);
    let internal = fx.list_keys(&[("instances[].keystore.type", "ibm_cloud_kms")]).unwrap();
    assert_eq!(internal.ids, [keys[3].clone()]);
    let by_template = fx.list_keys(&[("template.name", "AWS-PRE")]).unwrap();
    assert_eq!(by_template.ids, [keys[1].clone()]);
    let by_vault = fx.list_keys(&[("vault.id", "elsewhere")]).unwrap();
    assert_eq!(by_vault.total_count, 0);
    let compromised = fx.list_keys(&[("state", "compromised")]).unwrap();
    assert_eq!(compromised.total_count, 0, "compromised is accepted as a filter value");
    assert_invalid_parameter(fx.list_keys(&[("state", "gone")]), "state");
    assert_invalid_parameter(fx.list_keys(&[("algorithm", "rot13")]), "algorithm");
}

#[test]
fn list_sorts_by_field_and_reverses_with_minus() {
    let (fx, keys) = listing_fixture();
    let by_label_desc = fx.list_keys(&[("sort", "-label")]).unwrap();
    let mut reversed = keys.clone();
    reversed.reverse();
    assert_eq!(by_label_desc.ids, reversed);
    // Default sort is -updated_at: the last changed key comes first (echo was destroyed last).
    let default = fx.list_keys(&[]).unwrap();
    assert_eq!(default.ids[0], keys[4]);
    let by_state = fx.list_keys(&[("sort", "state,label")]).unwrap();
    assert_eq!(by_state.ids, [&keys[1], &keys[0], &keys[3], &keys[2], &keys[4]].map(String::clone));
    assert_invalid_parameter(fx.list_keys(&[("sort", "colour")]), "sort");
}

#[test]
fn list_date_filter_combinations_are_refused() {
    let (fx, keys) = listing_fixture();
    let combined = fx.list_keys(&[("expiration_date_min", "2026-01-01"), ("deactivation_date_max", "2030-01-01")]);
    assert_invalid_parameter(combined, "deactivation_date");
    let exact_and_range = fx.list_keys(&[("activation_date", "2026-01-01"), ("activation_date_min", "2025-01-01")]);
    assert_invalid_parameter(exact_and_range, "activation_date");
    assert_invalid_parameter(fx.list_keys(&[("created_at_min", "2026-1-1")]), "created_at_min");
    let size = fx.list_keys(&[("size", "256"), ("size_min", "128")]);
    assert_invalid_parameter(size, "size");
    let types = fx.list_keys(&[("referenced_keystores[].type", "aws_kms"), ("instances[].keystore.type", "aws_kms")]);
    assert_invalid_parameter(types, "referenced_keystores[].type");
    // Each alone works: every key expires on 2027-01-01.
    assert_eq!(fx.list_keys(&[("expiration_date", "2027-01-01")]).unwrap().total_count, keys.len());
    assert_eq!(fx.list_keys(&[("deactivation_date_min", "2027-01-02")]).unwrap().total_count, 0);
    assert_eq!(fx.list_keys(&[("size_min", "256"), ("size_max", "256")]).unwrap().total_count, keys.len());
}

#[test]
fn keystore_scope_lists_pre_active_and_active_keys_by_default() {
    let (fx, keys) = listing_fixture();
    let keystore_id = fx.ks("aws_prod_1");
    let scope = KeyListScope::Keystore(&keystore_id);
    let default = fx.instance.list_managed_keys_with(&params(&[("sort", "label")]), scope).unwrap();
    assert_eq!(default.ids, [keys[0].clone(), keys[1].clone()]);
    let all =
        fx.instance.list_managed_keys_with(&params(&[("state", "deactivated,destroyed"), ("sort", "label")]), scope);
    assert_eq!(all.unwrap().ids, [keys[2].clone(), keys[4].clone()]);
    let unknown = fx.instance.list_managed_keys_with(&params(&[]), KeyListScope::Keystore("nope"));
    assert!(matches!(unknown, Err(Error::NotFound { kind: ResourceKind::Keystore, .. })));
}

#[test]
fn sync_flag_filter_finds_out_of_sync_keys_without_contacting_keystores() {
    let (mut fx, keys) = listing_fixture();
    fx.set_copy("aws_prod_1", &keys[0], Observed::Inactive);
    let keystore_id = fx.ks("aws_prod_2");
    fx.set_reachability("aws_prod_2", Reachability::UnreachableForCalls { remaining: 1 });
    let out_of_sync = fx.list_keys(&[("status_in_keystores[].keystore_sync_flag", "out_of_sync")]).unwrap();
    assert_eq!(out_of_sync.ids, [keys[0].clone()]);
    let errors = fx.list_keys(&[("status_in_keystores[].keystore_sync_flag", "error")]).unwrap();
    assert_eq!(errors.total_count, 4, "every AWS key shows the failing keystore as an error");
    assert_eq!(
        fx.instance.keystores[&keystore_id].simulation.reachability,
        Reachability::UnreachableForCalls { remaining: 1 },
        "lists do not count as calls"
    );
}

#[test]
fn keystore_list_filters_by_group_type_and_vault() {
    let fx = Fixture::new();
    let list = |pairs: &[(&str, &str)]| fx.instance.list_keystores_with(&params(pairs));
    assert_eq!(list(&[("group", "shared")]).unwrap().ids, [fx.ks("aws_prod_2")]);
    assert_eq!(list(&[("groups[]", "test,shared")]).unwrap().total_count, 2);
    assert_invalid_parameter(list(&[("group", "prod"), ("groups[]", "test")]), "group");
    assert_eq!(list(&[("type", "aws_kms")]).unwrap().total_count, 3);
    assert_eq!(list(&[("vault.id", fx.vault_id.as_str())]).unwrap().total_count, KEYSTORES.len());
    let sorted = list(&[("sort", "name"), ("limit", "2")]).unwrap();
    assert_eq!(sorted.ids, [fx.ks("aws_prod_1"), fx.ks("aws_prod_2")]);
    assert_invalid_parameter(list(&[("type", "vault")]), "type");
}

#[test]
fn template_and_vault_lists_filter_and_sort() {
    let mut fx = Fixture::new();
    let template_id = fx.template_id("AWS-PREACTIVE");
    let etag = fx.template_etag("AWS-PREACTIVE");
    fx.instance.archive_template(&template_id, Some(&super::IfMatch::parse(etag.clone()))).unwrap();
    let templates = |pairs: &[(&str, &str)]| fx.instance.list_templates_with(&params(pairs));
    assert_eq!(templates(&[("state", "archived")]).unwrap().ids, [template_id.as_str()]);
    assert_eq!(templates(&[("name", "AWS")]).unwrap().total_count, 2);
    assert_eq!(templates(&[("keystores[].type", "cca")]).unwrap().total_count, 1);
    assert_eq!(templates(&[("type[]", "shadow")]).unwrap().total_count, 0);
    assert_eq!(templates(&[("sort", "-updated_at"), ("limit", "1")]).unwrap().ids, [template_id]);
    let vaults = fx.instance.list_vaults_with(&params(&[("name", "Pay")])).unwrap();
    assert_eq!(vaults.ids, [fx.vault_id.clone()]);
    assert_eq!(fx.instance.list_vaults_with(&params(&[("name", "Zed")])).unwrap().total_count, 0);
}

// ---------------------------------------------------------------------------------------------------
// The §4 table: status derivation is total and matches the reference
// ---------------------------------------------------------------------------------------------------

/// One row of [`STATUS_TABLE`].
type StatusRow = (KeyState, Observed, Option<bool>, S, F, D);

/// §4, written out row by row from the reference: (key state, observed O, pending in another keystore
/// (`None` = either), status, flag, detail). Rows the reference leaves open are marked *inferred*.
const STATUS_TABLE: &[StatusRow] = &[
    (KeyState::PreActivation, Observed::Absent, None, S::NotPresent, F::Ok, D::PreActiveKeyIsNotPresentInKeystore),
    (KeyState::PreActivation, Observed::Active, None, S::Active, F::OutOfSync, D::PreActiveKeyIsPresentInKeystore),
    (KeyState::PreActivation, Observed::Inactive, None, S::NotActive, F::OutOfSync, D::PreActiveKeyIsPresentInKeystore),
    // Inferred: any copy of a pre-active key is "present".
    (
        KeyState::PreActivation,
        Observed::PendingDestruction,
        None,
        S::PendingDestruction,
        F::OutOfSync,
        D::PreActiveKeyIsPresentInKeystore,
    ),
    (KeyState::PreActivation, Observed::WrongKey, None, S::Active, F::OutOfSync, D::PreActiveKeyIsPresentInKeystore),
    (KeyState::Active, Observed::Active, None, S::Active, F::Ok, D::ActiveKeyIsActiveInKeystore),
    (KeyState::Active, Observed::Inactive, None, S::NotActive, F::OutOfSync, D::ActiveKeyIsNotActiveInKeystore),
    (KeyState::Active, Observed::Absent, None, S::NotPresent, F::OutOfSync, D::ActiveKeyIsNotActiveInKeystore),
    (KeyState::Active, Observed::WrongKey, None, S::WrongKey, F::OutOfSync, D::ActiveKeyIsNotActiveInKeystore),
    // Inferred: a copy scheduled for deletion is not active.
    (
        KeyState::Active,
        Observed::PendingDestruction,
        None,
        S::PendingDestruction,
        F::OutOfSync,
        D::ActiveKeyIsNotActiveInKeystore,
    ),
    (KeyState::Deactivated, Observed::Inactive, None, S::NotActive, F::Ok, D::DeactivatedKeyIsDeactivatedInKeystore),
    (KeyState::Deactivated, Observed::Absent, None, S::NotPresent, F::Ok, D::DeactivatedKeyIsDeactivatedInKeystore),
    (
        KeyState::Deactivated,
        Observed::Active,
        None,
        S::Active,
        F::OutOfSync,
        D::DeactivatedKeyIsNotDeactivatedInKeystore,
    ),
    // Inferred: usable other material is still an active copy of a deactivated key.
    (
        KeyState::Deactivated,
        Observed::WrongKey,
        None,
        S::Active,
        F::OutOfSync,
        D::DeactivatedKeyIsNotDeactivatedInKeystore,
    ),
    // Inferred: a copy on its way to absent (acceptable for deactivated keys, §3) is unusable, so in sync.
    (
        KeyState::Deactivated,
        Observed::PendingDestruction,
        None,
        S::PendingDestruction,
        F::Ok,
        D::DeactivatedKeyIsDeactivatedInKeystore,
    ),
    (
        KeyState::Destroyed,
        Observed::PendingDestruction,
        None,
        S::PendingDestruction,
        F::Ok,
        D::DestroyedPendingKeyIsPendingDestructionInKeystore,
    ),
    (
        KeyState::Destroyed,
        Observed::Absent,
        Some(true),
        S::NotPresent,
        F::Ok,
        D::DestroyedPendingKeyIsNotPresentInKeystore,
    ),
    (KeyState::Destroyed, Observed::Absent, Some(false), S::NotPresent, F::Ok, D::DestroyedKeyIsNotPresentInKeystore),
    (KeyState::Destroyed, Observed::Active, None, S::Active, F::OutOfSync, D::DestroyedKeyIsPresentInKeystore),
    (KeyState::Destroyed, Observed::Inactive, None, S::NotActive, F::OutOfSync, D::DestroyedKeyIsPresentInKeystore),
    (KeyState::Destroyed, Observed::WrongKey, None, S::Active, F::OutOfSync, D::DestroyedKeyIsPresentInKeystore),
];

/// The expected (status, flag, detail) for one combination, from [`STATUS_TABLE`] and the "any" rows.
fn expected_status(
    state: KeyState,
    observed: Observed,
    reachable: bool,
    removed: bool,
    pending_elsewhere: bool,
) -> (S, F, D) {
    if removed {
        return match observed {
            Observed::Active | Observed::WrongKey => {
                (S::Active, F::OutOfSync, D::TargetKeystoreRemovedByUserContainsAnActiveKey)
            }
            _ => (S::NotPresent, F::OutOfSync, D::TargetKeystoreRemovedByUser),
        };
    }
    if !reachable {
        return (S::Error, F::Error, D::ConnectionError);
    }
    // Inferred: the never-produced compromised states look like their non-compromised neighbours.
    let state = match state {
        KeyState::Compromised => KeyState::Deactivated,
        KeyState::DestroyedCompromised => KeyState::Destroyed,
        other => other,
    };
    let rows: Vec<_> = STATUS_TABLE
        .iter()
        .filter(|row| row.0 == state && row.1 == observed && row.2.is_none_or(|p| p == pending_elsewhere))
        .collect();
    assert_eq!(rows.len(), 1, "the expected table must have exactly one row for {state:?}/{observed:?}");
    (rows[0].3, rows[0].4, rows[0].5)
}

/// Builds a key and a keystore in the given situation and derives the entry.
struct TableCase {
    key: ManagedKey,
    keystore: Keystore,
}

impl TableCase {
    fn new(keystore_type: KeystoreType) -> Self {
        let mut fx = Fixture::new();
        let key_id = fx.key("AWS-ACTIVE", "table");
        let key = fx.record(&key_id);
        let mut keystore = fx.instance.keystore(&fx.ks("aws_prod_1")).unwrap().clone();
        keystore.keystore_type = keystore_type;
        TableCase { key, keystore }
    }

    fn derive(
        &mut self,
        state: KeyState,
        observed: Observed,
        reachable: bool,
        removed: bool,
        pending: bool,
    ) -> StatusEntry {
        self.key.state = state;
        let material = self.key.current_material().to_owned();
        let copy = |state, material: String, destruction_at| KeyCopy {
            state,
            material,
            key_id_in_keystore: "native".to_owned(),
            destruction_at,
        };
        let copies = &mut self.keystore.simulation.copies;
        copies.clear();
        let at = Timestamp::parse(START).map(|t| t.plus_seconds(DAY));
        match observed {
            Observed::Absent => None,
            Observed::Active => copies.insert(self.key.id.clone(), copy(CopyState::Active, material, None)),
            Observed::Inactive => copies.insert(self.key.id.clone(), copy(CopyState::Inactive, material, None)),
            Observed::PendingDestruction => {
                copies.insert(self.key.id.clone(), copy(CopyState::PendingDestruction, material, at))
            }
            Observed::WrongKey => {
                copies.insert(self.key.id.clone(), copy(CopyState::Active, format!("{material}-X"), None))
            }
        };
        derive_entry(&self.key, &self.keystore, reachable, pending, removed)
    }
}

#[track_caller]
fn check_table_row(
    case: &mut TableCase,
    state: KeyState,
    observed: Observed,
    reachable: bool,
    removed: bool,
    pending: bool,
) {
    let entry = case.derive(state, observed, reachable, removed, pending);
    let context =
        format!("{state:?} / {observed:?} / reachable={reachable} removed={removed} pending_elsewhere={pending}");
    let expected = expected_status(state, observed, reachable, removed, pending);
    assert_eq!((entry.status, entry.sync_flag, entry.detail), expected, "{context}");
    assert_eq!(entry.keystore_id, case.keystore.id, "{context}");
    assert_eq!(entry.instance_id.as_deref(), Some(case.key.instances[0].id.as_str()), "{context}");
    assert_eq!(entry.error.is_some(), !reachable && !removed, "error object only for connection errors: {context}");
    assert_eq!(entry.key_id_in_keystore.is_some(), observed != Observed::Absent, "{context}");
    assert_eq!(entry.destruction_policy_duration.is_some(), observed == Observed::PendingDestruction, "{context}");
    assert_eq!(entry.destruction_at.is_some(), observed == Observed::PendingDestruction, "{context}");
}

#[test]
fn status_derivation_matches_the_reference_table_for_every_combination() {
    let mut case = TableCase::new(KeystoreType::AwsKms);
    let mut checked = 0;
    for &state in KeyState::ALL {
        for observed in OBSERVED {
            for reachable in [true, false] {
                for removed in [true, false] {
                    for pending in [true, false] {
                        check_table_row(&mut case, state, observed, reachable, removed, pending);
                        checked += 1;
                    }
                }
            }
        }
    }
    assert_eq!(checked, 6 * 5 * 8);
}

#[test]
fn pending_destruction_entry_carries_the_keystore_period() {
    for (keystore_type, duration) in [
        (KeystoreType::AwsKms, "PT168H"),
        (KeystoreType::AzureKeyVault, "PT2160H"),
        (KeystoreType::GoogleKms, "PT720H"),
        (KeystoreType::IbmCloudKms, "PT720H"),
        (KeystoreType::Cca, "PT0H"),
    ] {
        let mut case = TableCase::new(keystore_type);
        let entry = case.derive(KeyState::Destroyed, Observed::PendingDestruction, true, false, false);
        assert_eq!(entry.destruction_policy_duration.as_deref(), Some(duration), "{keystore_type}");
    }
}

fn arb_observed() -> impl Strategy<Value = Observed> {
    prop::sample::select(OBSERVED.to_vec())
}

proptest! {
    /// The same table as a property, also over keystore types and a key that was rotated any number of
    /// times (so "the current material" moves).
    #[test]
    fn status_derivation_is_total_and_consistent_with_the_table(
        state in prop::sample::select(KeyState::ALL.to_vec()),
        observed in arb_observed(),
        reachable in any::<bool>(),
        removed in any::<bool>(),
        pending in any::<bool>(),
        keystore_type in prop::sample::select(KeystoreType::ALL.to_vec()),
        rotations in 0u32..4,
    ) {
        let mut case = TableCase::new(keystore_type);
        for n in 0..rotations {
            case.key.versions.push(KeyVersion {
                version: n + 2,
                material: format!("MATERIAL-{n}"),
                created_at: case.key.created_at,
                state: None,
            });
        }
        check_table_row(&mut case, state, observed, reachable, removed, pending);
    }
}

// ---------------------------------------------------------------------------------------------------
// Reference model of §2 and a state machine over it
// ---------------------------------------------------------------------------------------------------

#[path = "../../tests/shared/lifecycle_model.rs"]
mod lifecycle_model;
use lifecycle_model::{arb_op, IfMatch, Lifecycle, ModelKey, ModelRules, Op, Outcome};

#[derive(Clone, Debug)]
enum Step {
    Call { key: usize, op: Op, if_match: IfMatch },
    Read { key: usize },
    SetReachable { keystore: usize, reachable: bool },
    SetFlapping { keystore: usize, percent: u8 },
    Drift { keystore: usize, key: usize, observed: Observed },
    AdvanceClock { seconds: i64 },
}

fn outcome<T>(result: &Result<T>) -> Outcome {
    match result {
        Ok(_) => Outcome::Ok,
        Err(Error::PreconditionRequired) => Outcome::PreconditionRequired,
        Err(Error::PreconditionFailed { .. }) => Outcome::PreconditionFailed,
        Err(Error::InvalidState { .. }) => Outcome::InvalidState,
        Err(Error::NotFound { .. }) => Outcome::NotFound,
        Err(other) => Outcome::Other(format!("{other:?}")),
    }
}

fn lifecycle(state: KeyState) -> Lifecycle {
    match state {
        KeyState::PreActivation => Lifecycle::PreActive,
        KeyState::Active => Lifecycle::Active,
        KeyState::Deactivated | KeyState::Compromised => Lifecycle::Deactivated,
        KeyState::Destroyed | KeyState::DestroyedCompromised => Lifecycle::Destroyed,
    }
}

/// The keystores the state machine plays with: both receive the fixture keys.
const MACHINE_KEYSTORES: [&str; 2] = ["aws_prod_1", "aws_prod_2"];

/// Drives one fixture with steps and remembers what a client would: every ETag it has seen.
struct Harness {
    fx: Fixture,
    keys: Vec<String>,
    /// ETags seen per key, oldest first; the last one is current (or last known, once deleted).
    etags: Vec<Vec<String>>,
    reachable: Vec<bool>,
}

impl Harness {
    fn new(settings: Settings, seed: u64, second_active: bool) -> Self {
        let mut fx = Fixture::with(settings, seed);
        let first = fx.key("AWS-ACTIVE", "first");
        let second = fx.key(if second_active { "AWS-ACTIVE" } else { "AWS-PREACTIVE" }, "second");
        let etags = vec![vec![fx.etag(&first)], vec![fx.etag(&second)]];
        Harness { fx, keys: vec![first, second], etags, reachable: vec![true; MACHINE_KEYSTORES.len()] }
    }

    fn if_match_value(&self, key: usize, if_match: IfMatch) -> Option<String> {
        let seen = &self.etags[key];
        match if_match {
            IfMatch::Current => seen.last().cloned(),
            IfMatch::Stale if seen.len() >= 2 => Some(seen[seen.len() - 2].clone()),
            IfMatch::Stale => Some("2025-12-31T23:59:59Z".to_owned()),
            IfMatch::Missing => None,
            IfMatch::Wildcard => Some("*".to_owned()),
        }
    }

    /// Whether the key still has a copy pending destruction that has not reached its end (guard 2.4c).
    fn pending_destruction(&self, key: usize) -> bool {
        let instance = &self.fx.instance;
        let now = instance.clock.now;
        let Ok(record) = instance.managed_key(&self.keys[key]) else {
            return false;
        };
        record.referenced_keystores.iter().any(|ks| {
            instance
                .keystores
                .get(ks)
                .and_then(|k| k.simulation.copies.get(&record.id))
                .is_some_and(|c| c.state == CopyState::PendingDestruction && c.destruction_at.is_none_or(|at| at > now))
        })
    }

    fn call(&mut self, key: usize, op: Op, if_match: IfMatch, step: usize) -> (Outcome, Option<Vec<StatusEntry>>) {
        let id = self.keys[key].clone();
        let value = self.if_match_value(key, if_match);
        let if_match = value.as_deref();
        let instance = &mut self.fx.instance;
        let (result, entries) = match op {
            Op::Activate => (
                outcome(&instance.change_key_state(
                    &id,
                    if_match.map(super::IfMatch::parse).as_ref(),
                    KeyAction::Activate,
                )),
                None,
            ),
            Op::Deactivate => (
                outcome(&instance.change_key_state(
                    &id,
                    if_match.map(super::IfMatch::parse).as_ref(),
                    KeyAction::Deactivate,
                )),
                None,
            ),
            Op::Destroy => (
                outcome(&instance.change_key_state(
                    &id,
                    if_match.map(super::IfMatch::parse).as_ref(),
                    KeyAction::Destroy,
                )),
                None,
            ),
            Op::Rotate => {
                (outcome(&instance.rotate_managed_key(&id, if_match.map(super::IfMatch::parse).as_ref())), None)
            }
            Op::Update => {
                let input =
                    ManagedKeyUpdate { description: Some(format!("step {step}")), ..ManagedKeyUpdate::default() };
                (outcome(&instance.update_managed_key(&id, if_match.map(super::IfMatch::parse).as_ref(), input)), None)
            }
            Op::Sync => {
                let result = instance.sync_managed_key(&id, if_match.map(super::IfMatch::parse).as_ref());
                (outcome(&result), result.ok())
            }
            Op::Delete { force } => {
                (outcome(&instance.delete_managed_key(&id, if_match.map(super::IfMatch::parse).as_ref(), force)), None)
            }
        };
        if let Ok(record) = self.fx.instance.managed_key(&id) {
            let etag = record.updated_at.etag();
            if self.etags[key].last() != Some(&etag) {
                self.etags[key].push(etag);
            }
        }
        (result, entries)
    }

    fn read(&mut self, key: usize) -> String {
        let id = self.keys[key].clone();
        let statuses = self.fx.instance.status_in_keystores(&id);
        let listed = self.fx.list_keys(&[("status_in_keystores[].keystore_sync_flag", "out_of_sync")]);
        format!("{statuses:?} {listed:?}")
    }

    fn fault(&mut self, step: &Step) {
        match *step {
            Step::SetReachable { keystore, reachable } => {
                let id = self.fx.ks(MACHINE_KEYSTORES[keystore]);
                self.reachable[keystore] = reachable;
                let reachability = if reachable { Reachability::Reachable } else { Reachability::Unreachable };
                self.fx.instance.keystores.get_mut(&id).unwrap().simulation.reachability = reachability;
            }
            Step::SetFlapping { keystore, percent } => {
                let id = self.fx.ks(MACHINE_KEYSTORES[keystore]);
                let probability = f64::from(percent) / 100.0;
                self.fx.instance.keystores.get_mut(&id).unwrap().simulation.reachability =
                    Reachability::Flapping { probability };
            }
            Step::Drift { keystore, key, observed } => {
                let id = self.fx.ks(MACHINE_KEYSTORES[keystore]);
                let key_id = self.keys[key].clone();
                if self.fx.instance.managed_key(&key_id).is_ok() {
                    set_observed(&mut self.fx.instance, &id, &key_id, observed);
                }
            }
            Step::AdvanceClock { seconds } => self.fx.instance.clock.advance(seconds),
            Step::Call { .. } | Step::Read { .. } => {}
        }
    }

    /// Applies any step and describes what the caller saw (for comparing two runs).
    fn apply(&mut self, step: &Step, index: usize) -> String {
        match *step {
            Step::Call { key, op, if_match } => format!("{:?}", self.call(key, op, if_match, index)),
            Step::Read { key } => self.read(key),
            _ => {
                self.fault(step);
                String::new()
            }
        }
    }

    /// The copies of a key that still exist once due destructions are settled.
    fn effective_copies(&self, key: usize) -> Vec<Option<KeyCopy>> {
        let now = self.fx.instance.clock.now;
        self.fx
            .instance
            .keystores
            .values()
            .map(|k| {
                k.simulation.copies.get(&self.keys[key]).cloned().filter(|c| {
                    !(c.state == CopyState::PendingDestruction && c.destruction_at.is_some_and(|at| at <= now))
                })
            })
            .collect()
    }
}

fn arb_if_match() -> impl Strategy<Value = IfMatch> {
    prop_oneof![
        5 => Just(IfMatch::Current),
        2 => Just(IfMatch::Stale),
        1 => Just(IfMatch::Missing),
        1 => Just(IfMatch::Wildcard),
    ]
}

fn arb_step(flapping: bool) -> BoxedStrategy<Step> {
    let keystore = 0..MACHINE_KEYSTORES.len();
    let base = prop_oneof![
        10 => (0..2usize, arb_op(any::<bool>()), arb_if_match())
            .prop_map(|(key, op, if_match)| Step::Call { key, op, if_match }),
        2 => (0..2usize).prop_map(|key| Step::Read { key }),
        2 => (keystore.clone(), any::<bool>()).prop_map(|(keystore, reachable)| Step::SetReachable { keystore, reachable }),
        2 => (keystore.clone(), 0..2usize, arb_observed()).prop_map(|(keystore, key, observed)| Step::Drift { keystore, key, observed }),
        1 => prop_oneof![Just(1i64), Just(DAY), Just(8 * DAY)].prop_map(|seconds| Step::AdvanceClock { seconds }),
    ];
    if flapping {
        prop_oneof![
            8 => base,
            1 => (keystore, 0..=100u8).prop_map(|(keystore, percent)| Step::SetFlapping { keystore, percent }),
        ]
        .boxed()
    } else {
        base.boxed()
    }
}

fn arb_settings() -> impl Strategy<Value = Settings> {
    (any::<bool>(), any::<bool>(), any::<bool>()).prop_map(
        |(destroy_requires_deactivated, pending_destruction, sync_bumps_etag)| Settings {
            destroy_requires_deactivated,
            pending_destruction,
            sync_bumps_etag,
            ..Settings::default()
        },
    )
}

fn run_model(settings: Settings, second_active: bool, steps: &[Step]) -> std::result::Result<(), TestCaseError> {
    let rules = ModelRules {
        destroy_requires_deactivated: settings.destroy_requires_deactivated,
        sync_bumps_etag: settings.sync_bumps_etag,
    };
    let mut harness = Harness::new(settings, 7, second_active);
    let mut model = [ModelKey::new(true), ModelKey::new(second_active)];
    for (index, step) in steps.iter().enumerate() {
        let records_before: Vec<Option<ManagedKey>> =
            harness.keys.iter().map(|id| harness.fx.instance.managed_key(id).ok().cloned()).collect();
        let copies_before: Vec<_> = (0..2).map(|key| harness.effective_copies(key)).collect();
        match *step {
            Step::Call { key, op, if_match } => {
                let pending = harness.pending_destruction(key);
                let expected = model[key].apply(op, if_match, rules, pending);
                let (actual, entries) = harness.call(key, op, if_match, index);
                prop_assert_eq!(&actual, &expected, "step {}: {:?}", index, step);
                let after = harness.fx.instance.managed_key(&harness.keys[key]).ok().cloned();
                let before = &records_before[key];
                match (&actual, op) {
                    (Outcome::Ok, Op::Delete { .. }) => prop_assert!(after.is_none()),
                    (Outcome::Ok, Op::Sync) => {
                        let (before, after) = (before.as_ref().unwrap(), after.as_ref().unwrap());
                        if rules.sync_bumps_etag {
                            prop_assert!(after.updated_at > before.updated_at);
                        } else {
                            prop_assert_eq!(after.updated_at, before.updated_at, "sync changed the ETag");
                        }
                        prop_assert_eq!(after.state, before.state);
                        prop_assert_eq!(&after.versions, &before.versions);
                        let entries = entries.unwrap();
                        prop_assert_eq!(entries.len(), after.referenced_keystores.len());
                        for entry in &entries {
                            let position = MACHINE_KEYSTORES.iter().position(|n| harness.fx.ks(n) == entry.keystore_id);
                            let reachable = harness.reachable[position.unwrap()];
                            let wanted = if reachable { SyncFlag::Ok } else { SyncFlag::Error };
                            prop_assert_eq!(entry.sync_flag, wanted, "step {}: after sync {:?}", index, entry);
                        }
                    }
                    (Outcome::Ok, _) => {
                        let (before, after) = (before.as_ref().unwrap(), after.as_ref().unwrap());
                        prop_assert!(after.updated_at > before.updated_at, "step {}: {:?} kept the ETag", index, op);
                    }
                    _ => prop_assert_eq!(&after, before, "step {}: a refused {:?} changed the key", index, op),
                }
                let other = 1 - key;
                let other_after = harness.fx.instance.managed_key(&harness.keys[other]).ok().cloned();
                prop_assert_eq!(&other_after, &records_before[other], "step {}: touched the other key", index);
                prop_assert_eq!(
                    harness.effective_copies(other),
                    copies_before[other].clone(),
                    "step {}: touched the other key's copies",
                    index
                );
            }
            Step::Read { key } => {
                harness.read(key);
                for (key, before) in records_before.iter().enumerate() {
                    let after = harness.fx.instance.managed_key(&harness.keys[key]).ok().cloned();
                    prop_assert_eq!(&after, before, "step {}: a read changed a key", index);
                }
            }
            _ => harness.fault(step),
        }
        for (key, model_key) in model.iter().enumerate() {
            let record = harness.fx.instance.managed_key(&harness.keys[key]).ok();
            prop_assert_eq!(record.map(|r| lifecycle(r.state)), model_key.state, "step {}: key {} state", index, key);
            if let Some(record) = record {
                prop_assert_eq!(record.version_number(), model_key.versions);
                prop_assert_eq!(harness.etags[key].len() - 1, model_key.etag_changes, "step {}: ETag changes", index);
            }
        }
    }
    Ok(())
}

proptest! {
    /// Random action sequences agree with the §2 reference model on success and on the error kind;
    /// successful mutations change the ETag, refusals and reads change nothing, and sync leaves every
    /// reachable keystore `ok`.
    #[test]
    fn instance_agrees_with_the_reference_model(
        settings in arb_settings(),
        second_active in any::<bool>(),
        steps in prop::collection::vec(arb_step(false), 1..40),
    ) {
        run_model(settings, second_active, &steps)?;
    }

    /// Same seed and same requests give the same instance, byte for byte.
    #[test]
    fn same_seed_and_operations_give_identical_instances(
        settings in arb_settings(),
        seed in any::<u64>(),
        second_active in any::<bool>(),
        steps in prop::collection::vec(arb_step(true), 1..40),
    ) {
        let mut first = Harness::new(settings.clone(), seed, second_active);
        let mut second = Harness::new(settings, seed, second_active);
        for (index, step) in steps.iter().enumerate() {
            let seen_first = first.apply(step, index);
            let seen_second = second.apply(step, index);
            prop_assert_eq!(seen_first, seen_second, "step {}: {:?}", index, step);
            prop_assert!(first.fx.instance == second.fx.instance, "step {}: instances diverged", index);
        }
        let first_json = serde_json::to_string(&first.fx.instance).unwrap();
        let second_json = serde_json::to_string(&second.fx.instance).unwrap();
        prop_assert_eq!(first_json, second_json);
    }
}

#[test]
fn different_seeds_give_different_ids() {
    let first = Fixture::with(Settings::default(), 1);
    let second = Fixture::with(Settings::default(), 2);
    assert_ne!(first.vault_id, second.vault_id);
    assert_eq!(Fixture::with(Settings::default(), 1).vault_id, first.vault_id);
}
