//! Vault handlers: ListVaults, CreateVault, GetVault, UpdateVault, DeleteVault.

use axum::extract::{Path, State};
use axum::http::HeaderMap;
use axum::response::Response;

use super::context::Ctx;
use super::query;
use super::{check_list_accept, respond};
use crate::domain::command::Command;
use crate::domain::vaults::VaultInput;
use crate::web::extract::JsonBody;
use crate::web::{ApiError, AppState};

pub(super) async fn list_vaults(
    State(state): State<AppState>,
    ctx: Ctx,
    headers: HeaderMap,
) -> Result<Response, ApiError> {
    check_list_accept(&headers, "vault")?;
    let query = query::vault_query(&ctx.params);
    respond(&state, &ctx, Command::ListVaults { query }).await
}

pub(super) async fn create_vault(
    State(state): State<AppState>,
    ctx: Ctx,
    JsonBody(input): JsonBody<VaultInput>,
) -> Result<Response, ApiError> {
    respond(&state, &ctx, Command::CreateVault { input }).await
}

pub(super) async fn get_vault(
    State(state): State<AppState>,
    ctx: Ctx,
    Path(id): Path<String>,
) -> Result<Response, ApiError> {
    respond(&state, &ctx, Command::GetVault { id }).await
}

pub(super) async fn update_vault(
    State(state): State<AppState>,
    ctx: Ctx,
    Path(id): Path<String>,
    JsonBody(input): JsonBody<VaultInput>,
) -> Result<Response, ApiError> {
    respond(&state, &ctx, Command::UpdateVault { id, input }).await
}

pub(super) async fn delete_vault(
    State(state): State<AppState>,
    ctx: Ctx,
    Path(id): Path<String>,
) -> Result<Response, ApiError> {
    respond(&state, &ctx, Command::DeleteVault { id }).await
}
