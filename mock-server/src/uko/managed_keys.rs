//! Managed key handlers: the 14 managed-key operations, including the seed flow's
//! GetKeyDistributionStatusForKeystores and SyncManagedKey.

use axum::extract::{Path, State};
use axum::http::HeaderMap;
use axum::response::Response;

use super::context::Ctx;
use super::query;
use super::{check_list_accept, respond};
use crate::domain::command::Command;
use crate::domain::managed_keys::{KeyAction, ManagedKeyInput, ManagedKeyUpdate};
use crate::domain::query::KeyListScope;
use crate::web::extract::JsonBody;
use crate::web::{ApiError, AppState};

pub(super) async fn list_managed_keys(
    State(state): State<AppState>,
    ctx: Ctx,
    headers: HeaderMap,
) -> Result<Response, ApiError> {
    check_list_accept(&headers, "managed-key")?;
    let query = query::key_query(&ctx.params, KeyListScope::All);
    respond(&state, &ctx, Command::ListManagedKeys { query }).await
}

pub(super) async fn create_managed_key(
    State(state): State<AppState>,
    ctx: Ctx,
    JsonBody(input): JsonBody<ManagedKeyInput>,
) -> Result<Response, ApiError> {
    respond(&state, &ctx, Command::CreateManagedKey { input }).await
}

pub(super) async fn get_managed_key(
    State(state): State<AppState>,
    ctx: Ctx,
    Path(id): Path<String>,
) -> Result<Response, ApiError> {
    respond(&state, &ctx, Command::GetManagedKey { id }).await
}

pub(super) async fn update_managed_key(
    State(state): State<AppState>,
    ctx: Ctx,
    Path(id): Path<String>,
    JsonBody(input): JsonBody<ManagedKeyUpdate>,
) -> Result<Response, ApiError> {
    respond(&state, &ctx, Command::UpdateManagedKey { id, input }).await
}

pub(super) async fn delete_managed_key(
    State(state): State<AppState>,
    ctx: Ctx,
    Path(id): Path<String>,
) -> Result<Response, ApiError> {
    let force = ctx.flag("force")?;
    respond(&state, &ctx, Command::DeleteManagedKey { id, force }).await
}

pub(super) async fn list_associated_resources_for_managed_key(
    State(state): State<AppState>,
    ctx: Ctx,
    Path(id): Path<String>,
) -> Result<Response, ApiError> {
    let query = query::resource_query(&ctx.params);
    respond(&state, &ctx, Command::ListAssociatedResourcesForManagedKey { id, query }).await
}

pub(super) async fn list_managed_key_versions(
    State(state): State<AppState>,
    ctx: Ctx,
    Path(id): Path<String>,
) -> Result<Response, ApiError> {
    let query = query::version_query(&ctx.params);
    respond(&state, &ctx, Command::ListManagedKeyVersions { id, query }).await
}

pub(super) async fn get_key_distribution_status_for_keystores(
    State(state): State<AppState>,
    ctx: Ctx,
    Path(id): Path<String>,
) -> Result<Response, ApiError> {
    respond(&state, &ctx, Command::GetKeyDistributionStatusForKeystores { id }).await
}

pub(super) async fn update_managed_key_from_template(
    State(state): State<AppState>,
    ctx: Ctx,
    Path(id): Path<String>,
) -> Result<Response, ApiError> {
    let dry_run = ctx.flag("dry_run")?;
    respond(&state, &ctx, Command::UpdateManagedKeyFromTemplate { id, dry_run }).await
}

pub(super) async fn activate_managed_key(
    State(state): State<AppState>,
    ctx: Ctx,
    Path(id): Path<String>,
) -> Result<Response, ApiError> {
    respond(&state, &ctx, Command::ChangeKeyState { id, action: KeyAction::Activate }).await
}

pub(super) async fn deactivate_managed_key(
    State(state): State<AppState>,
    ctx: Ctx,
    Path(id): Path<String>,
) -> Result<Response, ApiError> {
    respond(&state, &ctx, Command::ChangeKeyState { id, action: KeyAction::Deactivate }).await
}

pub(super) async fn destroy_managed_key(
    State(state): State<AppState>,
    ctx: Ctx,
    Path(id): Path<String>,
) -> Result<Response, ApiError> {
    respond(&state, &ctx, Command::ChangeKeyState { id, action: KeyAction::Destroy }).await
}

pub(super) async fn sync_managed_key(
    State(state): State<AppState>,
    ctx: Ctx,
    Path(id): Path<String>,
) -> Result<Response, ApiError> {
    respond(&state, &ctx, Command::SyncManagedKey { id }).await
}

pub(super) async fn rotate_managed_key(
    State(state): State<AppState>,
    ctx: Ctx,
    Path(id): Path<String>,
) -> Result<Response, ApiError> {
    respond(&state, &ctx, Command::RotateManagedKey { id }).await
}
