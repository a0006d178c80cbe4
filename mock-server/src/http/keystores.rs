//! Keystore handlers: list, create (with `dry_run`), get, update, delete (with `mode`), status,
//! associated resources, managed keys in a keystore.

use axum::extract::{Path, State};
use axum::http::{HeaderMap, StatusCode};

use super::error::TargetType;
use super::extract::{Ctx, JsonBody};
use super::{check_list_accept, envelope, paging_links, run, wire, ApiError, AppState, Reply};
use crate::domain::keystores::KeystoreInput;
use crate::domain::operation::Operation;
use crate::domain::query::KeyListScope;
use crate::domain::{DeleteKeystoreMode, Instance};

pub async fn list_keystores(State(state): State<AppState>, ctx: Ctx, headers: HeaderMap) -> Result<Reply, ApiError> {
    check_list_accept(&headers, "keystore")?;
    run(&state, &ctx, Operation::ListKeystores, |instance, links| {
        let listing = instance.list_keystores(&ctx.params)?;
        let items = listing
            .ids
            .iter()
            .filter_map(|id| instance.keystores.get(id))
            .map(|k| wire::keystore(instance, k, instance.peek_keystore_health(k), links))
            .collect();
        let paging = paging_links(&ctx, "/keystores", &ctx.params, listing.page, listing.total_count);
        Ok(Reply::json(StatusCode::OK, &envelope("keystores", items, listing.total_count, listing.page, paging)))
    })
    .await
}

pub async fn create_keystore(
    State(state): State<AppState>,
    ctx: Ctx,
    JsonBody(input): JsonBody<KeystoreInput>,
) -> Result<Reply, ApiError> {
    let dry_run = ctx.flag("dry_run")?;
    run(&state, &ctx, Operation::CreateKeystore, |instance, links| {
        let keystore = instance.create_keystore(input, dry_run)?;
        let health = instance.peek_keystore_health(&keystore);
        let body = wire::keystore(instance, &keystore, health, links);
        if dry_run {
            // Nothing stored: the would-be keystore, without ETag or Location (ARCHITECTURE.md, Decisions).
            return Ok(Reply::json(StatusCode::OK, &body));
        }
        Ok(Reply::json(StatusCode::CREATED, &body)
            .with_etag(keystore.updated_at.etag())
            .with_location(format!("{}/keystores/{}", ctx.api_path, keystore.id)))
    })
    .await
}

pub async fn get_keystore(State(state): State<AppState>, ctx: Ctx, Path(id): Path<String>) -> Result<Reply, ApiError> {
    run(&state, &ctx, Operation::GetKeystore, |instance, links| render(instance, &id, links)).await
}

pub async fn update_keystore(
    State(state): State<AppState>,
    ctx: Ctx,
    Path(id): Path<String>,
    JsonBody(input): JsonBody<KeystoreInput>,
) -> Result<Reply, ApiError> {
    run(&state, &ctx, Operation::UpdateKeystore, |instance, links| {
        instance.update_keystore(&id, ctx.if_match(), input)?;
        render(instance, &id, links)
    })
    .await
}

pub async fn delete_keystore(
    State(state): State<AppState>,
    ctx: Ctx,
    Path(id): Path<String>,
) -> Result<Reply, ApiError> {
    let mode = match ctx.params.one("mode") {
        None => DeleteKeystoreMode::Restrict,
        Some(text) => DeleteKeystoreMode::parse(text).ok_or_else(|| {
            ApiError::new(
                StatusCode::BAD_REQUEST,
                "invalid_query_parameter",
                format!("The mode parameter must be one of {}, found '{text}'", DeleteKeystoreMode::expected()),
            )
            .with_target(TargetType::Parameter, "mode")
        })?,
    };
    run(&state, &ctx, Operation::DeleteKeystore, |instance, _| {
        instance.delete_keystore(&id, ctx.if_match(), mode)?;
        Ok(Reply::no_content())
    })
    .await
}

pub async fn get_keystore_status(
    State(state): State<AppState>,
    ctx: Ctx,
    Path(id): Path<String>,
) -> Result<Reply, ApiError> {
    run(&state, &ctx, Operation::GetKeystoreStatus, |instance, _| {
        let health = instance.keystore_status(&id)?;
        Ok(Reply::json(StatusCode::OK, &wire::keystore_status(health)))
    })
    .await
}

pub async fn list_associated_resources_for_target_keystore(
    State(state): State<AppState>,
    ctx: Ctx,
    Path(id): Path<String>,
) -> Result<Reply, ApiError> {
    run(&state, &ctx, Operation::ListAssociatedResourcesForTargetKeystore, |instance, links| {
        let (total, page, indexes) = instance.list_associated_resources(&ctx.params, None, Some(&id))?;
        let items = indexes
            .iter()
            .filter_map(|i| instance.associated_resources.get(*i))
            .map(|r| wire::associated_resource(instance, r, links))
            .collect();
        let paging = paging_links(&ctx, &format!("/keystores/{id}/associated_resources"), &ctx.params, page, total);
        Ok(Reply::json(StatusCode::OK, &envelope("associated_resources", items, total, page, paging)))
    })
    .await
}

pub async fn list_managed_keys_from_keystore(
    State(state): State<AppState>,
    ctx: Ctx,
    headers: HeaderMap,
    Path(id): Path<String>,
) -> Result<Reply, ApiError> {
    check_list_accept(&headers, "managed-key")?;
    run(&state, &ctx, Operation::ListManagedKeysFromKeystore, |instance, links| {
        let listing = instance.list_managed_keys(&ctx.params, KeyListScope::Keystore(&id))?;
        let path = format!("/keystores/{id}/managed_keys");
        super::managed_keys::render_key_list(instance, &ctx, &path, listing, links)
    })
    .await
}

fn render(instance: &Instance, id: &str, links: &wire::Links<'_>) -> Result<Reply, ApiError> {
    let keystore = instance.keystore(id)?;
    let health = instance.peek_keystore_health(keystore);
    Ok(Reply::json(StatusCode::OK, &wire::keystore(instance, keystore, health, links))
        .with_etag(keystore.updated_at.etag()))
}
