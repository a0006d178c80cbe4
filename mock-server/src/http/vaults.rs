//! Vault handlers: ListVaults, CreateVault, GetVault, UpdateVault, DeleteVault.

use axum::extract::{Path, State};
use axum::http::{HeaderMap, StatusCode};

use super::extract::{Ctx, JsonBody};
use super::{check_list_accept, envelope, paging_links, run, wire, ApiError, AppState, Reply};
use crate::domain::operation::Operation;
use crate::domain::vaults::VaultInput;

pub async fn list_vaults(State(state): State<AppState>, ctx: Ctx, headers: HeaderMap) -> Result<Reply, ApiError> {
    check_list_accept(&headers, "vault")?;
    run(&state, &ctx, Operation::ListVaults, |instance, links| {
        let listing = instance.list_vaults(&ctx.params)?;
        let items = listing
            .ids
            .iter()
            .filter_map(|id| instance.vaults.get(id))
            .map(|v| wire::vault(instance, v, links))
            .collect();
        let paging = paging_links(&ctx, "/vaults", &ctx.params, listing.page, listing.total_count);
        Ok(Reply::json(StatusCode::OK, &envelope("vaults", items, listing.total_count, listing.page, paging)))
    })
    .await
}

pub async fn create_vault(
    State(state): State<AppState>,
    ctx: Ctx,
    JsonBody(input): JsonBody<VaultInput>,
) -> Result<Reply, ApiError> {
    run(&state, &ctx, Operation::CreateVault, |instance, links| {
        let id = instance.create_vault(input)?.id.clone();
        let vault = instance.vault(&id)?;
        Ok(Reply::json(StatusCode::CREATED, &wire::vault(instance, vault, links))
            .with_etag(vault.updated_at.etag())
            .with_location(format!("{}/vaults/{id}", ctx.api_path)))
    })
    .await
}

pub async fn get_vault(State(state): State<AppState>, ctx: Ctx, Path(id): Path<String>) -> Result<Reply, ApiError> {
    run(&state, &ctx, Operation::GetVault, |instance, links| {
        let vault = instance.vault(&id)?;
        Ok(Reply::json(StatusCode::OK, &wire::vault(instance, vault, links)).with_etag(vault.updated_at.etag()))
    })
    .await
}

pub async fn update_vault(
    State(state): State<AppState>,
    ctx: Ctx,
    Path(id): Path<String>,
    JsonBody(input): JsonBody<VaultInput>,
) -> Result<Reply, ApiError> {
    run(&state, &ctx, Operation::UpdateVault, |instance, links| {
        instance.update_vault(&id, ctx.if_match(), input)?;
        let vault = instance.vault(&id)?;
        Ok(Reply::json(StatusCode::OK, &wire::vault(instance, vault, links)).with_etag(vault.updated_at.etag()))
    })
    .await
}

pub async fn delete_vault(State(state): State<AppState>, ctx: Ctx, Path(id): Path<String>) -> Result<Reply, ApiError> {
    run(&state, &ctx, Operation::DeleteVault, |instance, _| {
        instance.delete_vault(&id, ctx.if_match())?;
        Ok(Reply::no_content())
    })
    .await
}
