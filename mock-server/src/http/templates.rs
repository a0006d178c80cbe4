//! Key template handlers: list, create, get, update, delete, archive, unarchive, expose.

use axum::extract::{Path, State};
use axum::http::{HeaderMap, StatusCode};

use super::extract::{Ctx, JsonBody};
use super::{check_list_accept, envelope, paging_links, run, wire, ApiError, AppState, Reply};
use crate::domain::operation::Operation;
use crate::domain::templates::TemplateInput;
use crate::domain::Instance;

pub async fn list_key_templates(
    State(state): State<AppState>,
    ctx: Ctx,
    headers: HeaderMap,
) -> Result<Reply, ApiError> {
    check_list_accept(&headers, "key-template")?;
    run(&state, &ctx, Operation::ListKeyTemplates, |instance, links| {
        let listing = instance.list_templates(&ctx.params)?;
        let items = listing
            .ids
            .iter()
            .filter_map(|id| instance.templates.get(id))
            .map(|t| wire::template(instance, t, links))
            .collect();
        let paging = paging_links(&ctx, "/templates", &ctx.params, listing.page, listing.total_count);
        Ok(Reply::json(StatusCode::OK, &envelope("templates", items, listing.total_count, listing.page, paging)))
    })
    .await
}

pub async fn create_key_template(
    State(state): State<AppState>,
    ctx: Ctx,
    JsonBody(input): JsonBody<TemplateInput>,
) -> Result<Reply, ApiError> {
    run(&state, &ctx, Operation::CreateKeyTemplate, |instance, links| {
        let id = instance.create_template(input)?.id.clone();
        Ok(render(instance, &id, links, StatusCode::CREATED)?.with_location(format!("{}/templates/{id}", ctx.api_path)))
    })
    .await
}

pub async fn get_key_template(
    State(state): State<AppState>,
    ctx: Ctx,
    Path(id): Path<String>,
) -> Result<Reply, ApiError> {
    run(&state, &ctx, Operation::GetKeyTemplate, |instance, links| render(instance, &id, links, StatusCode::OK)).await
}

pub async fn update_key_template(
    State(state): State<AppState>,
    ctx: Ctx,
    Path(id): Path<String>,
    JsonBody(input): JsonBody<TemplateInput>,
) -> Result<Reply, ApiError> {
    run(&state, &ctx, Operation::UpdateKeyTemplate, |instance, links| {
        instance.update_template(&id, ctx.if_match(), input)?;
        render(instance, &id, links, StatusCode::OK)
    })
    .await
}

pub async fn delete_key_template(
    State(state): State<AppState>,
    ctx: Ctx,
    Path(id): Path<String>,
) -> Result<Reply, ApiError> {
    run(&state, &ctx, Operation::DeleteKeyTemplate, |instance, _| {
        instance.delete_template(&id, ctx.if_match())?;
        Ok(Reply::no_content())
    })
    .await
}

pub async fn archive_key_template(
    State(state): State<AppState>,
    ctx: Ctx,
    Path(id): Path<String>,
) -> Result<Reply, ApiError> {
    run(&state, &ctx, Operation::ArchiveKeyTemplate, |instance, links| {
        instance.archive_template(&id, ctx.if_match())?;
        render(instance, &id, links, StatusCode::OK)
    })
    .await
}

pub async fn unarchive_key_template(
    State(state): State<AppState>,
    ctx: Ctx,
    Path(id): Path<String>,
) -> Result<Reply, ApiError> {
    run(&state, &ctx, Operation::UnarchiveKeyTemplate, |instance, links| {
        instance.unarchive_template(&id, ctx.if_match())?;
        render(instance, &id, links, StatusCode::OK)
    })
    .await
}

pub async fn expose_key_template(
    State(state): State<AppState>,
    ctx: Ctx,
    Path(id): Path<String>,
) -> Result<Reply, ApiError> {
    run(&state, &ctx, Operation::ExposeKeyTemplate, |instance, links| {
        instance.expose_template(&id, ctx.if_match())?;
        render(instance, &id, links, StatusCode::OK)
    })
    .await
}

fn render(instance: &Instance, id: &str, links: &wire::Links<'_>, status: StatusCode) -> Result<Reply, ApiError> {
    let template = instance.template(id)?;
    Ok(Reply::json(status, &wire::template(instance, template, links)).with_etag(template.updated_at.etag()))
}
