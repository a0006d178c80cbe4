//! Keystore handlers: list, create (with `dry_run`), get, update, delete (with `mode`), status,
//! associated resources, managed keys in a keystore.

use axum::extract::{Path, State};
use axum::http::HeaderMap;
use axum::response::Response;

use super::context::Ctx;
use super::query;
use super::{check_list_accept, respond};
use crate::domain::command::Command;
use crate::domain::keystores::KeystoreInput;
use crate::domain::query::KeyListScope;
use crate::domain::DeleteKeystoreMode;
use crate::web::extract::JsonBody;
use crate::web::{ApiError, AppState};

pub(super) async fn list_keystores(
    State(state): State<AppState>,
    ctx: Ctx,
    headers: HeaderMap,
) -> Result<Response, ApiError> {
    check_list_accept(&headers, "keystore")?;
    let query = query::keystore_query(&ctx.params);
    respond(&state, &ctx, Command::ListKeystores { query }).await
}

pub(super) async fn create_keystore(
    State(state): State<AppState>,
    ctx: Ctx,
    JsonBody(input): JsonBody<KeystoreInput>,
) -> Result<Response, ApiError> {
    let dry_run = ctx.flag("dry_run")?;
    respond(&state, &ctx, Command::CreateKeystore { input, dry_run }).await
}

pub(super) async fn get_keystore(
    State(state): State<AppState>,
    ctx: Ctx,
    Path(id): Path<String>,
) -> Result<Response, ApiError> {
    respond(&state, &ctx, Command::GetKeystore { id }).await
}

pub(super) async fn update_keystore(
    State(state): State<AppState>,
    ctx: Ctx,
    Path(id): Path<String>,
    JsonBody(input): JsonBody<KeystoreInput>,
) -> Result<Response, ApiError> {
    respond(&state, &ctx, Command::UpdateKeystore { id, input }).await
}

pub(super) async fn delete_keystore(
    State(state): State<AppState>,
    ctx: Ctx,
    Path(id): Path<String>,
) -> Result<Response, ApiError> {
    let mode = match ctx.params.one("mode") {
        None => DeleteKeystoreMode::Restrict,
        Some(text) => DeleteKeystoreMode::parse(text).ok_or_else(|| {
            ApiError::invalid_parameter("mode", format_args!("one of {}", DeleteKeystoreMode::expected()), text)
        })?,
    };
    respond(&state, &ctx, Command::DeleteKeystore { id, mode }).await
}

pub(super) async fn get_keystore_status(
    State(state): State<AppState>,
    ctx: Ctx,
    Path(id): Path<String>,
) -> Result<Response, ApiError> {
    respond(&state, &ctx, Command::GetKeystoreStatus { id }).await
}

pub(super) async fn list_associated_resources_for_target_keystore(
    State(state): State<AppState>,
    ctx: Ctx,
    Path(id): Path<String>,
) -> Result<Response, ApiError> {
    let query = query::resource_query(&ctx.params);
    respond(&state, &ctx, Command::ListAssociatedResourcesForTargetKeystore { id, query }).await
}

pub(super) async fn list_managed_keys_from_keystore(
    State(state): State<AppState>,
    ctx: Ctx,
    headers: HeaderMap,
    Path(id): Path<String>,
) -> Result<Response, ApiError> {
    check_list_accept(&headers, "managed-key")?;
    let query = query::key_query(&ctx.params, KeyListScope::Keystore(&id));
    respond(&state, &ctx, Command::ListManagedKeysFromKeystore { id, query }).await
}
