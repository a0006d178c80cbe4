//! The domain's one entry point for UKO operations: a [`Command`] (the operation and its typed input) is
//! executed by [`Instance::execute`], which runs the operation's rules and returns an [`Answer`]: the
//! views the client's answer shows, its ETag, and whether it created a resource.
//!
//! `Store::apply` calls it under the instance lock, together with the fault plan and the journal; nothing
//! here knows HTTP.

use super::keystores::KeystoreInput;
use super::managed_keys::{KeyAction, ManagedKeyInput, ManagedKeyUpdate};
use super::operation::Operation;
use super::query::{
    KeyListScope, KeyQuery, KeystoreQuery, Listing, Page, Parsed, ResourceQuery, TemplateQuery, VaultQuery,
    VersionQuery,
};
use super::templates::TemplateInput;
use super::vaults::VaultInput;
use super::view::{KeyView, KeystoreView, ListPage, ResourceView, StatusView, TemplateView, VaultView};
use super::{DeleteKeystoreMode, Error, IfMatch, Instance, ResourceKind, Result};
use crate::domain::keystores::KeystoreHealth;

/// One UKO operation with its input. Path ids are `id`.
///
/// List queries arrive parsed, or as the 400 their parameters earned ([`Parsed`]): the operation raises
/// that error where it used to read its parameters (after the fault plan; after the path's 404 for key
/// versions and associated resources, before it for a keystore's key list), so the check order holds.
#[derive(Clone, Debug)]
pub enum Command {
    ListManagedKeys { query: Parsed<KeyQuery> },
    CreateManagedKey { input: ManagedKeyInput },
    DeleteManagedKey { id: String, force: bool },
    GetManagedKey { id: String },
    UpdateManagedKey { id: String, input: ManagedKeyUpdate },
    ListAssociatedResourcesForManagedKey { id: String, query: Parsed<ResourceQuery> },
    ListManagedKeyVersions { id: String, query: Parsed<VersionQuery> },
    GetKeyDistributionStatusForKeystores { id: String },
    UpdateManagedKeyFromTemplate { id: String, dry_run: bool },
    ChangeKeyState { id: String, action: KeyAction },
    SyncManagedKey { id: String },
    RotateManagedKey { id: String },
    ListKeyTemplates { query: Parsed<TemplateQuery> },
    CreateKeyTemplate { input: TemplateInput },
    DeleteKeyTemplate { id: String },
    GetKeyTemplate { id: String },
    UpdateKeyTemplate { id: String, input: TemplateInput },
    ArchiveKeyTemplate { id: String },
    UnarchiveKeyTemplate { id: String },
    ExposeKeyTemplate { id: String },
    ListKeystores { query: Parsed<KeystoreQuery> },
    CreateKeystore { input: KeystoreInput, dry_run: bool },
    DeleteKeystore { id: String, mode: DeleteKeystoreMode },
    GetKeystore { id: String },
    UpdateKeystore { id: String, input: KeystoreInput },
    ListAssociatedResourcesForTargetKeystore { id: String, query: Parsed<ResourceQuery> },
    GetKeystoreStatus { id: String },
    ListManagedKeysFromKeystore { id: String, query: Parsed<KeyQuery> },
    ListVaults { query: Parsed<VaultQuery> },
    CreateVault { input: VaultInput },
    DeleteVault { id: String },
    GetVault { id: String },
    UpdateVault { id: String, input: VaultInput },
}

/// What an answer shows.
#[derive(Clone, Debug, PartialEq)]
pub enum Output {
    ManagedKey(KeyView),
    ManagedKeys(ListPage<KeyView>),
    /// `status_in_keystores` of one key (GetKeyDistributionStatusForKeystores, SyncManagedKey).
    StatusInKeystores(Vec<StatusView>),
    Template(Box<TemplateView>),
    Templates(ListPage<TemplateView>),
    Keystore(Box<KeystoreView>),
    Keystores(ListPage<KeystoreView>),
    KeystoreStatus(KeystoreHealth),
    Vault(Box<VaultView>),
    Vaults(ListPage<VaultView>),
    AssociatedResources(ListPage<ResourceView>),
    /// A delete: no body.
    Deleted,
}

/// A successful operation's answer.
#[derive(Clone, Debug, PartialEq)]
pub struct Answer {
    pub output: Output,
    /// The ETag the answer carries (the resource's `updated_at`), if it carries one.
    pub etag: Option<String>,
    /// True when the operation stored a new resource (the answer names where it is).
    pub created: bool,
}

impl Answer {
    fn shown(output: Output) -> Answer {
        Answer { output, etag: None, created: false }
    }

    fn tagged(output: Output, etag: String) -> Answer {
        Answer { output, etag: Some(etag), created: false }
    }

    fn created(output: Output, etag: String) -> Answer {
        Answer { output, etag: Some(etag), created: true }
    }
}

impl Command {
    /// The SDK operation this command runs.
    pub fn operation(&self) -> Operation {
        match self {
            Command::ListManagedKeys { .. } => Operation::ListManagedKeys,
            Command::CreateManagedKey { .. } => Operation::CreateManagedKey,
            Command::DeleteManagedKey { .. } => Operation::DeleteManagedKey,
            Command::GetManagedKey { .. } => Operation::GetManagedKey,
            Command::UpdateManagedKey { .. } => Operation::UpdateManagedKey,
            Command::ListAssociatedResourcesForManagedKey { .. } => Operation::ListAssociatedResourcesForManagedKey,
            Command::ListManagedKeyVersions { .. } => Operation::ListManagedKeyVersions,
            Command::GetKeyDistributionStatusForKeystores { .. } => Operation::GetKeyDistributionStatusForKeystores,
            Command::UpdateManagedKeyFromTemplate { .. } => Operation::UpdateManagedKeyFromTemplate,
            Command::ChangeKeyState { action: KeyAction::Activate, .. } => Operation::ActivateManagedKey,
            Command::ChangeKeyState { action: KeyAction::Deactivate, .. } => Operation::DeactivateManagedKey,
            Command::ChangeKeyState { action: KeyAction::Destroy, .. } => Operation::DestroyManagedKey,
            Command::SyncManagedKey { .. } => Operation::SyncManagedKey,
            Command::RotateManagedKey { .. } => Operation::RotateManagedKey,
            Command::ListKeyTemplates { .. } => Operation::ListKeyTemplates,
            Command::CreateKeyTemplate { .. } => Operation::CreateKeyTemplate,
            Command::DeleteKeyTemplate { .. } => Operation::DeleteKeyTemplate,
            Command::GetKeyTemplate { .. } => Operation::GetKeyTemplate,
            Command::UpdateKeyTemplate { .. } => Operation::UpdateKeyTemplate,
            Command::ArchiveKeyTemplate { .. } => Operation::ArchiveKeyTemplate,
            Command::UnarchiveKeyTemplate { .. } => Operation::UnarchiveKeyTemplate,
            Command::ExposeKeyTemplate { .. } => Operation::ExposeKeyTemplate,
            Command::ListKeystores { .. } => Operation::ListKeystores,
            Command::CreateKeystore { .. } => Operation::CreateKeystore,
            Command::DeleteKeystore { .. } => Operation::DeleteKeystore,
            Command::GetKeystore { .. } => Operation::GetKeystore,
            Command::UpdateKeystore { .. } => Operation::UpdateKeystore,
            Command::ListAssociatedResourcesForTargetKeystore { .. } => {
                Operation::ListAssociatedResourcesForTargetKeystore
            }
            Command::GetKeystoreStatus { .. } => Operation::GetKeystoreStatus,
            Command::ListManagedKeysFromKeystore { .. } => Operation::ListManagedKeysFromKeystore,
            Command::ListVaults { .. } => Operation::ListVaults,
            Command::CreateVault { .. } => Operation::CreateVault,
            Command::DeleteVault { .. } => Operation::DeleteVault,
            Command::GetVault { .. } => Operation::GetVault,
            Command::UpdateVault { .. } => Operation::UpdateVault,
        }
    }

    /// The id in the request path, which fault rules can match.
    pub fn resource_id(&self) -> Option<&str> {
        match self {
            Command::ListManagedKeys { .. }
            | Command::CreateManagedKey { .. }
            | Command::ListKeyTemplates { .. }
            | Command::CreateKeyTemplate { .. }
            | Command::ListKeystores { .. }
            | Command::CreateKeystore { .. }
            | Command::ListVaults { .. }
            | Command::CreateVault { .. } => None,
            Command::DeleteManagedKey { id, .. }
            | Command::GetManagedKey { id }
            | Command::UpdateManagedKey { id, .. }
            | Command::ListAssociatedResourcesForManagedKey { id, .. }
            | Command::ListManagedKeyVersions { id, .. }
            | Command::GetKeyDistributionStatusForKeystores { id }
            | Command::UpdateManagedKeyFromTemplate { id, .. }
            | Command::ChangeKeyState { id, .. }
            | Command::SyncManagedKey { id }
            | Command::RotateManagedKey { id }
            | Command::DeleteKeyTemplate { id }
            | Command::GetKeyTemplate { id }
            | Command::UpdateKeyTemplate { id, .. }
            | Command::ArchiveKeyTemplate { id }
            | Command::UnarchiveKeyTemplate { id }
            | Command::ExposeKeyTemplate { id }
            | Command::DeleteKeystore { id, .. }
            | Command::GetKeystore { id }
            | Command::UpdateKeystore { id, .. }
            | Command::ListAssociatedResourcesForTargetKeystore { id, .. }
            | Command::GetKeystoreStatus { id }
            | Command::ListManagedKeysFromKeystore { id, .. }
            | Command::DeleteVault { id }
            | Command::GetVault { id }
            | Command::UpdateVault { id, .. } => Some(id),
        }
    }
}

impl Instance {
    /// Runs one command: its `If-Match` check, its rules, its changes, and the views of its answer.
    pub fn execute(&mut self, command: Command, if_match: Option<&IfMatch>) -> Result<Answer> {
        match command {
            Command::ListManagedKeys { query } => {
                let listing = self.list_managed_keys(&query?, KeyListScope::All)?;
                Ok(self.key_page(listing))
            }
            Command::CreateManagedKey { input } => {
                let id = self.create_managed_key(input)?.id.clone();
                self.key_answer(&id, true)
            }
            Command::DeleteManagedKey { id, force } => {
                self.delete_managed_key(&id, if_match, force)?;
                Ok(Answer::shown(Output::Deleted))
            }
            Command::GetManagedKey { id } => {
                self.managed_key(&id)?;
                let statuses = self.status_in_keystores(&id);
                let view = self.names().key_view(&id, None, statuses).ok_or_else(|| key_not_found(&id))?;
                let etag = view.key.updated_at.etag();
                Ok(Answer::tagged(Output::ManagedKey(view), etag))
            }
            Command::UpdateManagedKey { id, input } => {
                self.update_managed_key(&id, if_match, input)?;
                self.key_answer(&id, false)
            }
            Command::ListAssociatedResourcesForManagedKey { id, query } => {
                // The path's key is looked up before the parameters are checked (404 before 400).
                self.managed_key(&id)?;
                let (total_count, page, indexes) = self.list_associated_resources(&query?, Some(&id), None)?;
                Ok(self.resource_page(total_count, page, &indexes))
            }
            Command::ListManagedKeyVersions { id, query } => {
                // The path's key is looked up before the parameters are checked (404 before 400).
                self.managed_key(&id)?;
                let (total_count, page, numbers) = self.list_key_versions(&id, &query?)?;
                let key = self.managed_key(&id)?;
                let current = key.version_number();
                let mut current_statuses = Some(self.peek_status_in_keystores(&id));
                let mut names = self.names();
                let items = numbers
                    .iter()
                    .filter(|n| key.versions.iter().any(|v| v.version == **n))
                    .filter_map(|n| {
                        // Status in keystores describes the installed (current) material only.
                        let statuses =
                            if *n == current { current_statuses.take().unwrap_or_default() } else { Vec::new() };
                        names.key_view(&id, Some(*n), statuses)
                    })
                    .collect();
                Ok(Answer::shown(Output::ManagedKeys(ListPage { items, total_count, page })))
            }
            Command::GetKeyDistributionStatusForKeystores { id } => {
                self.managed_key(&id)?;
                let statuses = self.status_in_keystores(&id);
                // No ETag here, as in real UKO: clients must take it from GetManagedKey.
                Ok(Answer::shown(Output::StatusInKeystores(self.names().status_views(statuses))))
            }
            Command::UpdateManagedKeyFromTemplate { id, dry_run } => {
                let updated = self.update_managed_key_from_template(&id, if_match, dry_run)?;
                if !dry_run {
                    return self.key_answer(&id, false);
                }
                // The would-be key, not stored.
                let etag = updated.updated_at.etag();
                let statuses = self.peek_status_in_keystores(&id);
                let view = self.names().view_of_key(std::sync::Arc::new(updated), None, statuses);
                Ok(Answer::tagged(Output::ManagedKey(view), etag))
            }
            Command::ChangeKeyState { id, action } => {
                self.change_key_state(&id, if_match, action)?;
                self.key_answer(&id, false)
            }
            Command::SyncManagedKey { id } => {
                let statuses = self.sync_managed_key(&id, if_match)?;
                // The key's current ETag is sent (inferred; clients must not rely on it, see ARCHITECTURE.md).
                let etag = self.managed_key(&id)?.updated_at.etag();
                Ok(Answer::tagged(Output::StatusInKeystores(self.names().status_views(statuses)), etag))
            }
            Command::RotateManagedKey { id } => {
                self.rotate_managed_key(&id, if_match)?;
                self.key_answer(&id, false)
            }
            Command::ListKeyTemplates { query } => {
                let listing = self.list_templates(&query?);
                let mut names = self.names();
                let items = listing.ids.iter().filter_map(|id| self.templates.get(id)).map(|t| names.template_view(t));
                Ok(Answer::shown(Output::Templates(page_of(items.collect(), &listing))))
            }
            Command::CreateKeyTemplate { input } => {
                let id = self.create_template(input)?.id.clone();
                self.template_answer(&id, true)
            }
            Command::DeleteKeyTemplate { id } => {
                self.delete_template(&id, if_match)?;
                Ok(Answer::shown(Output::Deleted))
            }
            Command::GetKeyTemplate { id } => self.template_answer(&id, false),
            Command::UpdateKeyTemplate { id, input } => {
                self.update_template(&id, if_match, input)?;
                self.template_answer(&id, false)
            }
            Command::ArchiveKeyTemplate { id } => {
                self.archive_template(&id, if_match)?;
                self.template_answer(&id, false)
            }
            Command::UnarchiveKeyTemplate { id } => {
                self.unarchive_template(&id, if_match)?;
                self.template_answer(&id, false)
            }
            Command::ExposeKeyTemplate { id } => {
                self.expose_template(&id, if_match)?;
                self.template_answer(&id, false)
            }
            Command::ListKeystores { query } => {
                let listing = self.list_keystores(&query?);
                let mut names = self.names();
                let items = listing
                    .ids
                    .iter()
                    .filter_map(|id| self.keystores.get(id))
                    .map(|k| names.keystore_view(k, self.peek_keystore_health(k)));
                Ok(Answer::shown(Output::Keystores(page_of(items.collect(), &listing))))
            }
            Command::CreateKeystore { input, dry_run } => {
                let keystore = self.create_keystore(input, dry_run)?;
                let view = self.names().keystore_view(&keystore, self.peek_keystore_health(&keystore));
                if dry_run {
                    // Nothing stored: the would-be keystore, without ETag or Location (ARCHITECTURE.md).
                    return Ok(Answer::shown(Output::Keystore(Box::new(view))));
                }
                Ok(Answer::created(Output::Keystore(Box::new(view)), keystore.updated_at.etag()))
            }
            Command::DeleteKeystore { id, mode } => {
                self.delete_keystore(&id, if_match, mode)?;
                Ok(Answer::shown(Output::Deleted))
            }
            Command::GetKeystore { id } => self.keystore_answer(&id),
            Command::UpdateKeystore { id, input } => {
                self.update_keystore(&id, if_match, input)?;
                self.keystore_answer(&id)
            }
            Command::ListAssociatedResourcesForTargetKeystore { id, query } => {
                // The path's keystore is looked up before the parameters are checked (404 before 400).
                self.keystore(&id)?;
                let (total_count, page, indexes) = self.list_associated_resources(&query?, None, Some(&id))?;
                Ok(self.resource_page(total_count, page, &indexes))
            }
            Command::GetKeystoreStatus { id } => Ok(Answer::shown(Output::KeystoreStatus(self.keystore_status(&id)?))),
            Command::ListManagedKeysFromKeystore { id, query } => {
                // The parameters are checked before the path's keystore is looked up (400 before 404).
                let listing = self.list_managed_keys(&query?, KeyListScope::Keystore(&id))?;
                Ok(self.key_page(listing))
            }
            Command::ListVaults { query } => {
                let listing = self.list_vaults(&query?);
                let items = listing.ids.iter().filter_map(|id| self.vaults.get(id)).map(|v| self.vault_view(v));
                Ok(Answer::shown(Output::Vaults(page_of(items.collect(), &listing))))
            }
            Command::CreateVault { input } => {
                let id = self.create_vault(input)?.id.clone();
                self.vault_answer(&id, true)
            }
            Command::DeleteVault { id } => {
                self.delete_vault(&id, if_match)?;
                Ok(Answer::shown(Output::Deleted))
            }
            Command::GetVault { id } => self.vault_answer(&id, false),
            Command::UpdateVault { id, input } => {
                self.update_vault(&id, if_match, input)?;
                self.vault_answer(&id, false)
            }
        }
    }

    /// A managed key with its statuses as of now (the operation already contacted the keystores).
    fn key_answer(&self, id: &str, created: bool) -> Result<Answer> {
        let view = self.names().peeked_key_view(id).ok_or_else(|| key_not_found(id))?;
        let etag = view.key.updated_at.etag();
        Ok(Answer { output: Output::ManagedKey(view), etag: Some(etag), created })
    }

    fn key_page(&self, listing: Listing) -> Answer {
        let mut names = self.names();
        let items = listing.ids.iter().filter_map(|id| names.peeked_key_view(id)).collect();
        Answer::shown(Output::ManagedKeys(page_of(items, &listing)))
    }

    fn template_answer(&self, id: &str, created: bool) -> Result<Answer> {
        let template = self.template(id)?;
        let etag = template.updated_at.etag();
        Ok(Answer {
            output: Output::Template(Box::new(self.names().template_view(template))),
            etag: Some(etag),
            created,
        })
    }

    fn keystore_answer(&self, id: &str) -> Result<Answer> {
        let keystore = self.keystore(id)?;
        let view = self.names().keystore_view(keystore, self.peek_keystore_health(keystore));
        Ok(Answer::tagged(Output::Keystore(Box::new(view)), keystore.updated_at.etag()))
    }

    fn vault_answer(&self, id: &str, created: bool) -> Result<Answer> {
        let vault = self.vault(id)?;
        let etag = vault.updated_at.etag();
        Ok(Answer { output: Output::Vault(Box::new(self.vault_view(vault))), etag: Some(etag), created })
    }

    fn resource_page(&self, total_count: usize, page: Page, indexes: &[usize]) -> Answer {
        let mut names = self.names();
        let items =
            indexes.iter().filter_map(|i| self.associated_resources.get(*i)).map(|r| names.resource_view(r)).collect();
        Answer::shown(Output::AssociatedResources(ListPage { items, total_count, page }))
    }
}

fn page_of<T>(items: Vec<T>, listing: &Listing) -> ListPage<T> {
    ListPage { items, total_count: listing.total_count, page: listing.page }
}

fn key_not_found(id: &str) -> Error {
    Error::not_found(ResourceKind::ManagedKey, id)
}
