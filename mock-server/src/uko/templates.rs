//! Key template handlers: list, create, get, update, delete, archive, unarchive, expose.

use axum::extract::{Path, State};
use axum::http::HeaderMap;
use axum::response::Response;

use super::context::Ctx;
use super::query;
use super::{check_list_accept, respond};
use crate::domain::command::Command;
use crate::domain::templates::TemplateInput;
use crate::web::extract::JsonBody;
use crate::web::{ApiError, AppState};

pub(super) async fn list_key_templates(
    State(state): State<AppState>,
    ctx: Ctx,
    headers: HeaderMap,
) -> Result<Response, ApiError> {
    check_list_accept(&headers, "key-template")?;
    let query = query::template_query(&ctx.params);
    respond(&state, &ctx, Command::ListKeyTemplates { query }).await
}

pub(super) async fn create_key_template(
    State(state): State<AppState>,
    ctx: Ctx,
    JsonBody(input): JsonBody<TemplateInput>,
) -> Result<Response, ApiError> {
    respond(&state, &ctx, Command::CreateKeyTemplate { input }).await
}

pub(super) async fn get_key_template(
    State(state): State<AppState>,
    ctx: Ctx,
    Path(id): Path<String>,
) -> Result<Response, ApiError> {
    respond(&state, &ctx, Command::GetKeyTemplate { id }).await
}

pub(super) async fn update_key_template(
    State(state): State<AppState>,
    ctx: Ctx,
    Path(id): Path<String>,
    JsonBody(input): JsonBody<TemplateInput>,
) -> Result<Response, ApiError> {
    respond(&state, &ctx, Command::UpdateKeyTemplate { id, input }).await
}

pub(super) async fn delete_key_template(
    State(state): State<AppState>,
    ctx: Ctx,
    Path(id): Path<String>,
) -> Result<Response, ApiError> {
    respond(&state, &ctx, Command::DeleteKeyTemplate { id }).await
}

pub(super) async fn archive_key_template(
    State(state): State<AppState>,
    ctx: Ctx,
    Path(id): Path<String>,
) -> Result<Response, ApiError> {
    respond(&state, &ctx, Command::ArchiveKeyTemplate { id }).await
}

pub(super) async fn unarchive_key_template(
    State(state): State<AppState>,
    ctx: Ctx,
    Path(id): Path<String>,
) -> Result<Response, ApiError> {
    respond(&state, &ctx, Command::UnarchiveKeyTemplate { id }).await
}

pub(super) async fn expose_key_template(
    State(state): State<AppState>,
    ctx: Ctx,
    Path(id): Path<String>,
) -> Result<Response, ApiError> {
    respond(&state, &ctx, Command::ExposeKeyTemplate { id }).await
}
