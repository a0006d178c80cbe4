//! Managed key handlers: the 14 managed-key operations, including the seed flow's
//! GetKeyDistributionStatusForKeystores and SyncManagedKey.

use axum::extract::{Path, State};
use axum::http::{HeaderMap, StatusCode};

use super::extract::{Ctx, JsonBody};
use super::{check_list_accept, envelope, paging_links, run, wire, ApiError, AppState, Reply};
use crate::domain::managed_keys::{KeyAction, ManagedKeyInput, ManagedKeyUpdate};
use crate::domain::operation::Operation;
use crate::domain::query::{KeyListScope, Listing};
use crate::domain::Instance;

pub async fn list_managed_keys(State(state): State<AppState>, ctx: Ctx, headers: HeaderMap) -> Result<Reply, ApiError> {
    check_list_accept(&headers, "managed-key")?;
    run(&state, &ctx, Operation::ListManagedKeys, |instance, links| {
        let listing = instance.list_managed_keys(&ctx.params, KeyListScope::All)?;
        render_key_list(instance, &ctx, "/managed_keys", listing, links)
    })
    .await
}

pub async fn create_managed_key(
    State(state): State<AppState>,
    ctx: Ctx,
    JsonBody(input): JsonBody<ManagedKeyInput>,
) -> Result<Reply, ApiError> {
    run(&state, &ctx, Operation::CreateManagedKey, |instance, links| {
        let id = instance.create_managed_key(input)?.id.clone();
        Ok(render_peeked(instance, &id, links, &ctx, StatusCode::CREATED)?
            .with_location(format!("{}/managed_keys/{id}", ctx.api_path)))
    })
    .await
}

pub async fn get_managed_key(
    State(state): State<AppState>,
    ctx: Ctx,
    Path(id): Path<String>,
) -> Result<Reply, ApiError> {
    run(&state, &ctx, Operation::GetManagedKey, |instance, links| {
        instance.managed_key(&id)?;
        let entries = instance.status_in_keystores(&id);
        let instance = &*instance;
        let key = instance.managed_key(&id)?;
        let statuses = wire::status_entries(instance, entries, links, &ctx.trace);
        Ok(Reply::json(StatusCode::OK, &wire::managed_key(instance, key, None, statuses, links))
            .with_etag(key.updated_at.etag()))
    })
    .await
}

pub async fn update_managed_key(
    State(state): State<AppState>,
    ctx: Ctx,
    Path(id): Path<String>,
    JsonBody(input): JsonBody<ManagedKeyUpdate>,
) -> Result<Reply, ApiError> {
    run(&state, &ctx, Operation::UpdateManagedKey, |instance, links| {
        instance.update_managed_key(&id, ctx.if_match(), input)?;
        render_peeked(instance, &id, links, &ctx, StatusCode::OK)
    })
    .await
}

pub async fn delete_managed_key(
    State(state): State<AppState>,
    ctx: Ctx,
    Path(id): Path<String>,
) -> Result<Reply, ApiError> {
    let force = ctx.flag("force")?;
    run(&state, &ctx, Operation::DeleteManagedKey, |instance, _| {
        instance.delete_managed_key(&id, ctx.if_match(), force)?;
        Ok(Reply::no_content())
    })
    .await
}

pub async fn list_associated_resources_for_managed_key(
    State(state): State<AppState>,
    ctx: Ctx,
    Path(id): Path<String>,
) -> Result<Reply, ApiError> {
    run(&state, &ctx, Operation::ListAssociatedResourcesForManagedKey, |instance, links| {
        let (total, page, indexes) = instance.list_associated_resources(&ctx.params, Some(&id), None)?;
        let items = indexes
            .iter()
            .filter_map(|i| instance.associated_resources.get(*i))
            .map(|r| wire::associated_resource(instance, r, links))
            .collect();
        let paging = paging_links(&ctx, &format!("/managed_keys/{id}/associated_resources"), &ctx.params, page, total);
        Ok(Reply::json(StatusCode::OK, &envelope("associated_resources", items, total, page, paging)))
    })
    .await
}

pub async fn list_managed_key_versions(
    State(state): State<AppState>,
    ctx: Ctx,
    Path(id): Path<String>,
) -> Result<Reply, ApiError> {
    run(&state, &ctx, Operation::ListManagedKeyVersions, |instance, links| {
        let (total, page, numbers) = instance.list_key_versions(&id, &ctx.params)?;
        let statuses_for_current = peeked_statuses(instance, &id, links, &ctx);
        let key = instance.managed_key(&id)?;
        let current = key.version_number();
        let mut current_statuses = Some(statuses_for_current);
        let items: Vec<_> = numbers
            .iter()
            .filter_map(|n| key.versions.iter().find(|v| v.version == *n))
            .map(|version| {
                // Status in keystores describes the installed (current) material only.
                let statuses =
                    if version.version == current { current_statuses.take().unwrap_or_default() } else { Vec::new() };
                wire::managed_key(instance, key, Some(version), statuses, links)
            })
            .collect();
        let paging = paging_links(&ctx, &format!("/managed_keys/{id}/versions"), &ctx.params, page, total);
        Ok(Reply::json(StatusCode::OK, &envelope("managed_keys", items, total, page, paging)))
    })
    .await
}

pub async fn get_key_distribution_status_for_keystores(
    State(state): State<AppState>,
    ctx: Ctx,
    Path(id): Path<String>,
) -> Result<Reply, ApiError> {
    run(&state, &ctx, Operation::GetKeyDistributionStatusForKeystores, |instance, links| {
        instance.managed_key(&id)?;
        let entries = instance.status_in_keystores(&id);
        let body = wire::StatusInKeystoresBody {
            status_in_keystores: wire::status_entries(instance, entries, links, &ctx.trace),
        };
        // No ETag here, as in real UKO: clients must take it from GetManagedKey.
        Ok(Reply::json(StatusCode::OK, &body))
    })
    .await
}

pub async fn update_managed_key_from_template(
    State(state): State<AppState>,
    ctx: Ctx,
    Path(id): Path<String>,
) -> Result<Reply, ApiError> {
    let dry_run = ctx.flag("dry_run")?;
    run(&state, &ctx, Operation::UpdateManagedKeyFromTemplate, |instance, links| {
        let updated = instance.update_managed_key_from_template(&id, ctx.if_match(), dry_run)?;
        if dry_run {
            let statuses = peeked_statuses(instance, &id, links, &ctx);
            return Ok(Reply::json(StatusCode::OK, &wire::managed_key(instance, &updated, None, statuses, links))
                .with_etag(updated.updated_at.etag()));
        }
        render_peeked(instance, &id, links, &ctx, StatusCode::OK)
    })
    .await
}

pub async fn activate_managed_key(
    State(state): State<AppState>,
    ctx: Ctx,
    Path(id): Path<String>,
) -> Result<Reply, ApiError> {
    change_state(state, ctx, id, Operation::ActivateManagedKey, KeyAction::Activate).await
}

pub async fn deactivate_managed_key(
    State(state): State<AppState>,
    ctx: Ctx,
    Path(id): Path<String>,
) -> Result<Reply, ApiError> {
    change_state(state, ctx, id, Operation::DeactivateManagedKey, KeyAction::Deactivate).await
}

pub async fn destroy_managed_key(
    State(state): State<AppState>,
    ctx: Ctx,
    Path(id): Path<String>,
) -> Result<Reply, ApiError> {
    change_state(state, ctx, id, Operation::DestroyManagedKey, KeyAction::Destroy).await
}

pub async fn sync_managed_key(
    State(state): State<AppState>,
    ctx: Ctx,
    Path(id): Path<String>,
) -> Result<Reply, ApiError> {
    run(&state, &ctx, Operation::SyncManagedKey, |instance, links| {
        let entries = instance.sync_managed_key(&id, ctx.if_match())?;
        let key = instance.managed_key(&id)?;
        let body = wire::StatusInKeystoresBody {
            status_in_keystores: wire::status_entries(instance, entries, links, &ctx.trace),
        };
        // The key's current ETag is sent (inferred; clients must not rely on it, see ARCHITECTURE.md).
        Ok(Reply::json(StatusCode::OK, &body).with_etag(key.updated_at.etag()))
    })
    .await
}

pub async fn rotate_managed_key(
    State(state): State<AppState>,
    ctx: Ctx,
    Path(id): Path<String>,
) -> Result<Reply, ApiError> {
    run(&state, &ctx, Operation::RotateManagedKey, |instance, links| {
        instance.rotate_managed_key(&id, ctx.if_match())?;
        render_peeked(instance, &id, links, &ctx, StatusCode::OK)
    })
    .await
}

async fn change_state(
    state: AppState,
    ctx: Ctx,
    id: String,
    operation: Operation,
    action: KeyAction,
) -> Result<Reply, ApiError> {
    run(&state, &ctx, operation, |instance, links| {
        instance.change_key_state(&id, ctx.if_match(), action)?;
        render_peeked(instance, &id, links, &ctx, StatusCode::OK)
    })
    .await
}

/// Statuses as of now without contacting the keystores again (the operation just did).
fn peeked_statuses(
    instance: &Instance,
    id: &str,
    links: &wire::Links<'_>,
    ctx: &Ctx,
) -> Vec<wire::StatusInKeystoreBody> {
    wire::status_entries(instance, instance.peek_status_in_keystores(id), links, &ctx.trace)
}

fn render_peeked(
    instance: &Instance,
    id: &str,
    links: &wire::Links<'_>,
    ctx: &Ctx,
    status: StatusCode,
) -> Result<Reply, ApiError> {
    let statuses = peeked_statuses(instance, id, links, ctx);
    let key = instance.managed_key(id)?;
    Ok(Reply::json(status, &wire::managed_key(instance, key, None, statuses, links)).with_etag(key.updated_at.etag()))
}

/// Renders a page of keys (both key lists).
pub fn render_key_list(
    instance: &Instance,
    ctx: &Ctx,
    path: &str,
    listing: Listing,
    links: &wire::Links<'_>,
) -> Result<Reply, ApiError> {
    let items: Vec<_> = listing
        .ids
        .iter()
        .filter_map(|id| {
            let key = instance.managed_keys.get(id)?;
            Some(wire::managed_key(instance, key, None, peeked_statuses(instance, id, links, ctx), links))
        })
        .collect();
    let paging = paging_links(ctx, path, &ctx.params, listing.page, listing.total_count);
    Ok(Reply::json(StatusCode::OK, &envelope("managed_keys", items, listing.total_count, listing.page, paging)))
}
