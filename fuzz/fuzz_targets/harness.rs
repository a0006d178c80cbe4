//! The request-parsing harness, shared by the cargo-fuzz target `parse_request` and the corpus test in
//! `mock-server/tests/api/fuzz_corpus.rs` (which includes this file by path, so the harness runs on stable
//! in every `cargo test` too).
//!
//! The first byte picks what the rest is fed to: a JSON body parsed through `web::extract::parse_json` into
//! one of the domain input types, or a query string parsed by `uko::query` into each list's typed query
//! and run through every list of the default fixture. Whatever the bytes, nothing may panic, a refused body is a UKO 400
//! (`invalid_json` or `invalid_field`) with a message, and a page is never larger than the maximum.

use std::sync::OnceLock;

use axum::http::StatusCode;
use uko_mock::domain::keystores::KeystoreInput;
use uko_mock::domain::managed_keys::{ManagedKeyInput, ManagedKeyUpdate};
use uko_mock::domain::query::{KeyListScope, MAX_LIMIT};
use uko_mock::domain::templates::TemplateInput;
use uko_mock::domain::vaults::VaultInput;
use uko_mock::domain::Instance;
use uko_mock::uko::query::{self, Params};
use uko_mock::web::extract::parse_json;
use uko_mock::web::ApiError;

/// Feeds one input to the parsers; panics only when an invariant breaks.
pub fn parse_request(data: &[u8]) {
    let Some((selector, rest)) = data.split_first() else { return };
    match selector % 7 {
        0 => check_body(parse_json::<ManagedKeyInput>(rest).map(drop)),
        1 => check_body(parse_json::<ManagedKeyUpdate>(rest).map(drop)),
        2 => check_body(parse_json::<TemplateInput>(rest).map(drop)),
        3 => check_body(parse_json::<KeystoreInput>(rest).map(drop)),
        4 => check_body(parse_json::<VaultInput>(rest).map(drop)),
        5 => check_body(parse_json::<serde_json::Value>(rest).map(drop)),
        _ => check_query(rest),
    }
}

fn check_body(result: Result<(), ApiError>) {
    if let Err(error) = result {
        assert_eq!(error.status, StatusCode::BAD_REQUEST, "{error:?}");
        assert!(matches!(error.code.as_str(), "invalid_json" | "invalid_field"), "{error:?}");
        assert!(!error.message.is_empty());
    }
}

fn check_query(query: &[u8]) {
    let pairs = form_urlencoded::parse(query).map(|(name, value)| (name.into_owned(), value.into_owned())).collect();
    let params = Params::new(pairs);
    let instance = default_instance();
    let keystore_id = "33333333-3333-4333-8333-000000000001";
    let pages = [
        query::key_query(&params, KeyListScope::All)
            .and_then(|q| instance.list_managed_keys(&q, KeyListScope::All))
            .map(|listing| listing.page),
        query::key_query(&params, KeyListScope::Keystore(keystore_id))
            .and_then(|q| instance.list_managed_keys(&q, KeyListScope::Keystore(keystore_id)))
            .map(|l| l.page),
        query::template_query(&params).map(|q| instance.list_templates(&q).page),
        query::keystore_query(&params).map(|q| instance.list_keystores(&q).page),
        query::vault_query(&params).map(|q| instance.list_vaults(&q).page),
        query::resource_query(&params)
            .and_then(|q| instance.list_associated_resources(&q, None, None))
            .map(|(_, page, _)| page),
        query::version_query(&params)
            .and_then(|q| instance.list_key_versions("44444444-4444-4444-8444-000000000006", &q))
            .map(|(_, page, _)| page),
    ];
    for page in pages {
        match page {
            Ok(page) => assert!((1..=MAX_LIMIT).contains(&page.limit), "{page:?}"),
            Err(error) => {
                let error = ApiError::from(error);
                assert_eq!(error.status, StatusCode::BAD_REQUEST, "{error:?}");
                assert!(error.target.is_some(), "a refused query names its parameter: {error:?}");
            }
        }
    }
}

fn default_instance() -> &'static Instance {
    static INSTANCE: OnceLock<Instance> = OnceLock::new();
    INSTANCE.get_or_init(|| {
        uko_mock::fixture::Fixture::default_fixture()
            .and_then(|fixture| fixture.into_instance("default", None))
            .expect("the default fixture loads")
    })
}
