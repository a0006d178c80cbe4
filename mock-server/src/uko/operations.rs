//! The one table of UKO operations on the HTTP side: each row names the operation, its method and path,
//! the extractors its handler takes (in the order they run, which decides which rejection a bad request
//! gets) and how its domain [`Command`] is built from them. [`API_ROUTES`] and each operation's handler
//! are expanded from it; the domain's `Operation` enum (SDK name, whether it mutates) is the other half,
//! and the exhaustive match in `handler` stops the build when the two disagree.
//!
//! Adding an operation: a variant in `domain::operation`, a `Command` and its rules in the domain, a row here.

use axum::extract::{Path, State};
use axum::http::HeaderMap;
use axum::response::Response;
use axum::routing::{on, MethodFilter, MethodRouter};

use super::context::Ctx;
use super::{check_list_accept, query, respond};
use crate::domain::command::Command;
use crate::domain::keystores::KeystoreInput;
use crate::domain::managed_keys::{KeyAction, ManagedKeyInput, ManagedKeyUpdate};
use crate::domain::operation::Operation;
use crate::domain::query::KeyListScope;
use crate::domain::templates::TemplateInput;
use crate::domain::vaults::VaultInput;
use crate::domain::DeleteKeystoreMode;
use crate::web::extract::JsonBody;
use crate::web::{ApiError, AppState};

/// Expands the table: `Operation: METHOD "path" (ctx, extractors...) => command;`.
macro_rules! uko_operations {
    ($(
        $operation:ident: $method:ident $path:literal ($ctx:ident $(, $($extractor:tt)+)?) => $command:expr;
    )+) => {
        /// Every UKO route: method, path (without the `/api/v4` prefix) and the operation it serves, in the
        /// reference's order. `api_router` is built from it, `operation_for` reads it, and the OpenAPI
        /// document (`openapi.json`) is checked against it.
        pub const API_ROUTES: [(&str, &str, Operation); Operation::ALL.len()] =
            [$((stringify!($method), $path, Operation::$operation)),+];

        /// The handler of an operation under the method of its route: it builds the operation's command
        /// and hands it to `respond`.
        pub(super) fn handler(operation: Operation) -> MethodRouter<AppState> {
            match operation {
                $(Operation::$operation => {
                    async fn handle(
                        State(state): State<AppState>,
                        $ctx: Ctx,
                        $($($extractor)+)?
                    ) -> Result<Response, ApiError> {
                        let command: Command = $command;
                        respond(&state, &$ctx, command).await
                    }
                    on(MethodFilter::$method, handle)
                })+
            }
        }
    };
}

uko_operations! {
    ListManagedKeys: GET "/managed_keys" (ctx, headers: HeaderMap) => {
        check_list_accept(&headers, "managed-key")?;
        Command::ListManagedKeys { query: query::key_query(&ctx.params, KeyListScope::All) }
    };
    CreateManagedKey: POST "/managed_keys" (ctx, JsonBody(input): JsonBody<ManagedKeyInput>) =>
        Command::CreateManagedKey { input };
    DeleteManagedKey: DELETE "/managed_keys/{id}" (ctx, Path(id): Path<String>) =>
        Command::DeleteManagedKey { id, force: ctx.flag("force")? };
    GetManagedKey: GET "/managed_keys/{id}" (ctx, Path(id): Path<String>) => Command::GetManagedKey { id };
    UpdateManagedKey: PATCH "/managed_keys/{id}"
        (ctx, Path(id): Path<String>, JsonBody(input): JsonBody<ManagedKeyUpdate>) =>
        Command::UpdateManagedKey { id, input };
    ListAssociatedResourcesForManagedKey: GET "/managed_keys/{id}/associated_resources"
        (ctx, Path(id): Path<String>) =>
        Command::ListAssociatedResourcesForManagedKey { id, query: query::resource_query(&ctx.params) };
    ListManagedKeyVersions: GET "/managed_keys/{id}/versions" (ctx, Path(id): Path<String>) =>
        Command::ListManagedKeyVersions { id, query: query::version_query(&ctx.params) };
    GetKeyDistributionStatusForKeystores: GET "/managed_keys/{id}/status_in_keystores"
        (ctx, Path(id): Path<String>) =>
        Command::GetKeyDistributionStatusForKeystores { id };
    UpdateManagedKeyFromTemplate: POST "/managed_keys/{id}/update_from_template" (ctx, Path(id): Path<String>) =>
        Command::UpdateManagedKeyFromTemplate { id, dry_run: ctx.flag("dry_run")? };
    ActivateManagedKey: POST "/managed_keys/{id}/activate" (ctx, Path(id): Path<String>) =>
        Command::ChangeKeyState { id, action: KeyAction::Activate };
    DeactivateManagedKey: POST "/managed_keys/{id}/deactivate" (ctx, Path(id): Path<String>) =>
        Command::ChangeKeyState { id, action: KeyAction::Deactivate };
    DestroyManagedKey: POST "/managed_keys/{id}/destroy" (ctx, Path(id): Path<String>) =>
        Command::ChangeKeyState { id, action: KeyAction::Destroy };
    SyncManagedKey: POST "/managed_keys/{id}/sync_status_in_keystores" (ctx, Path(id): Path<String>) =>
        Command::SyncManagedKey { id };
    RotateManagedKey: POST "/managed_keys/{id}/rotate" (ctx, Path(id): Path<String>) =>
        Command::RotateManagedKey { id };
    ListKeyTemplates: GET "/templates" (ctx, headers: HeaderMap) => {
        check_list_accept(&headers, "key-template")?;
        Command::ListKeyTemplates { query: query::template_query(&ctx.params) }
    };
    CreateKeyTemplate: POST "/templates" (ctx, JsonBody(input): JsonBody<TemplateInput>) =>
        Command::CreateKeyTemplate { input };
    DeleteKeyTemplate: DELETE "/templates/{id}" (ctx, Path(id): Path<String>) => Command::DeleteKeyTemplate { id };
    GetKeyTemplate: GET "/templates/{id}" (ctx, Path(id): Path<String>) => Command::GetKeyTemplate { id };
    UpdateKeyTemplate: PATCH "/templates/{id}"
        (ctx, Path(id): Path<String>, JsonBody(input): JsonBody<TemplateInput>) =>
        Command::UpdateKeyTemplate { id, input };
    ArchiveKeyTemplate: POST "/templates/{id}/archive" (ctx, Path(id): Path<String>) =>
        Command::ArchiveKeyTemplate { id };
    UnarchiveKeyTemplate: POST "/templates/{id}/unarchive" (ctx, Path(id): Path<String>) =>
        Command::UnarchiveKeyTemplate { id };
    ExposeKeyTemplate: POST "/templates/{id}/expose" (ctx, Path(id): Path<String>) =>
        Command::ExposeKeyTemplate { id };
    ListKeystores: GET "/keystores" (ctx, headers: HeaderMap) => {
        check_list_accept(&headers, "keystore")?;
        Command::ListKeystores { query: query::keystore_query(&ctx.params) }
    };
    CreateKeystore: POST "/keystores" (ctx, JsonBody(input): JsonBody<KeystoreInput>) =>
        Command::CreateKeystore { input, dry_run: ctx.flag("dry_run")? };
    DeleteKeystore: DELETE "/keystores/{id}" (ctx, Path(id): Path<String>) =>
        Command::DeleteKeystore { id, mode: delete_keystore_mode(&ctx)? };
    GetKeystore: GET "/keystores/{id}" (ctx, Path(id): Path<String>) => Command::GetKeystore { id };
    UpdateKeystore: PATCH "/keystores/{id}"
        (ctx, Path(id): Path<String>, JsonBody(input): JsonBody<KeystoreInput>) =>
        Command::UpdateKeystore { id, input };
    ListAssociatedResourcesForTargetKeystore: GET "/keystores/{id}/associated_resources"
        (ctx, Path(id): Path<String>) =>
        Command::ListAssociatedResourcesForTargetKeystore { id, query: query::resource_query(&ctx.params) };
    GetKeystoreStatus: GET "/keystores/{id}/status" (ctx, Path(id): Path<String>) =>
        Command::GetKeystoreStatus { id };
    ListManagedKeysFromKeystore: GET "/keystores/{id}/managed_keys"
        (ctx, headers: HeaderMap, Path(id): Path<String>) => {
        check_list_accept(&headers, "managed-key")?;
        let query = query::key_query(&ctx.params, KeyListScope::Keystore(&id));
        Command::ListManagedKeysFromKeystore { id, query }
    };
    ListVaults: GET "/vaults" (ctx, headers: HeaderMap) => {
        check_list_accept(&headers, "vault")?;
        Command::ListVaults { query: query::vault_query(&ctx.params) }
    };
    CreateVault: POST "/vaults" (ctx, JsonBody(input): JsonBody<VaultInput>) => Command::CreateVault { input };
    DeleteVault: DELETE "/vaults/{id}" (ctx, Path(id): Path<String>) => Command::DeleteVault { id };
    GetVault: GET "/vaults/{id}" (ctx, Path(id): Path<String>) => Command::GetVault { id };
    UpdateVault: PATCH "/vaults/{id}" (ctx, Path(id): Path<String>, JsonBody(input): JsonBody<VaultInput>) =>
        Command::UpdateVault { id, input };
}

/// DeleteKeystore's `mode` parameter: `restrict` unless given.
fn delete_keystore_mode(ctx: &Ctx) -> Result<DeleteKeystoreMode, ApiError> {
    match ctx.params.one("mode") {
        None => Ok(DeleteKeystoreMode::Restrict),
        Some(text) => DeleteKeystoreMode::parse(text).ok_or_else(|| {
            ApiError::invalid_parameter("mode", format_args!("one of {}", DeleteKeystoreMode::expected()), text)
        }),
    }
}
