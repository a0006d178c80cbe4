//! `GET /journal?since=<seq>&limit=<n>`: the UKO requests an instance served, oldest first.
//!
//! `since` is inclusive (entries with `seq >= since`; default 0, everything held) and `next_seq` in the
//! answer is the `since` that continues after the returned entries, so a poller loops on it and sees every
//! entry once. Entries never hold bodies or credentials.

use axum::extract::{RawQuery, State};
use axum::Json;
use serde::Serialize;

use super::Scope;
use crate::domain::request_journal::JournalEntry;
use crate::web::{ApiError, AppState};

#[derive(Serialize)]
pub(super) struct JournalPage {
    next_seq: u64,
    entries: Vec<JournalEntry>,
}

pub(super) async fn get_journal(
    State(state): State<AppState>,
    scope: Scope,
    RawQuery(query): RawQuery,
) -> Result<Json<JournalPage>, ApiError> {
    let since = number_parameter(query.as_deref(), "since", 0)?;
    let limit = number_parameter(query.as_deref(), "limit", 1)?;
    // Once the instance's last change is settled, its entry holds the status its client got.
    let (_, observed) = state.store.read(&scope.0, |_| ());
    let _ = state.store.settle(observed).await;
    let (entries, next_seq) = state.store.with_instance(&scope.0, |instance| {
        let limit = limit.map_or(usize::MAX, |l| usize::try_from(l).unwrap_or(usize::MAX));
        instance.journal.read(since.unwrap_or(0), limit)
    });
    Ok(Json(JournalPage { next_seq, entries }))
}

/// An optional non-negative integer query parameter of at least `minimum`.
fn number_parameter(query: Option<&str>, name: &str, minimum: u64) -> Result<Option<u64>, ApiError> {
    let value = form_urlencoded::parse(query.unwrap_or("").as_bytes())
        .filter(|(key, _)| key == name)
        .map(|(_, value)| value.into_owned())
        .last();
    let Some(value) = value else {
        return Ok(None);
    };
    match value.parse::<u64>() {
        Ok(number) if number >= minimum => Ok(Some(number)),
        _ => Err(ApiError::invalid_parameter(name, format_args!("an integer of at least {minimum}"), &value)),
    }
}
