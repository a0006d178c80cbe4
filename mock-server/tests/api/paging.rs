//! Paging (uko-api-v4.md §7): `limit`/`offset` echoed, `total_count`, `first`/`last` always, `next` only
//! when a next page exists and with `offset=`, `previous` only when `offset > 0`, other parameters kept in
//! every link, and walking all pages by following `next.href` the way the Go SDK pagers do.

use std::collections::BTreeMap;

use reqwest::{Method, StatusCode};
use serde_json::{json, Value};

use crate::helpers::*;

/// The query parameters of an href, decoded, in order.
fn href_query(href: &str) -> Vec<(String, String)> {
    let query = href.split_once('?').map(|(_, q)| q).unwrap_or("");
    form_urlencoded::parse(query.as_bytes()).into_owned().collect()
}

/// One query parameter of an href, like go-sdk-core's `GetQueryParam`.
fn href_param(href: &str, name: &str) -> Option<String> {
    href_query(href).into_iter().find(|(n, _)| n == name).map(|(_, v)| v)
}

fn link(body: &Value, name: &str) -> Option<String> {
    body.get(name).map(|link| link["href"].as_str().unwrap_or_else(|| panic!("{name} without href")).to_owned())
}

/// Checks the envelope and links of one page of a list whose other parameters are `filters`.
#[track_caller]
fn check_page(body: &Value, items: &str, limit: usize, offset: usize, total: usize, filters: &[(&str, &str)]) {
    assert_eq!(body["total_count"], total, "total_count");
    assert_eq!(body["limit"], limit, "limit is echoed");
    assert_eq!(body["offset"], offset, "offset is echoed");
    assert_eq!(body[items].as_array().unwrap().len(), total.saturating_sub(offset).min(limit), "page size");
    let first = link(body, "first").expect("first is always present");
    let last = link(body, "last").expect("last is always present");
    assert_eq!(href_param(&first, "offset").as_deref().unwrap_or("0"), "0");
    let last_offset = if total == 0 { 0 } else { (total - 1) / limit * limit };
    assert_eq!(href_param(&last, "offset"), Some(last_offset.to_string()), "last points at the last page");
    match link(body, "next") {
        Some(next) => {
            assert!(offset + limit < total, "next on the last page: {next}");
            assert_eq!(href_param(&next, "offset"), Some((offset + limit).to_string()), "next must carry offset=");
        }
        None => assert!(offset + limit >= total, "no next although items remain"),
    }
    match link(body, "previous") {
        Some(previous) => {
            assert!(offset > 0, "previous on the first page");
            assert_eq!(href_param(&previous, "offset"), Some(offset.saturating_sub(limit).to_string()));
        }
        None => assert_eq!(offset, 0, "no previous although offset > 0"),
    }
    for href in ["first", "last", "next", "previous"].iter().filter_map(|name| link(body, name)) {
        assert_eq!(href_param(&href, "limit"), Some(limit.to_string()), "{href} keeps limit");
        for (name, value) in filters {
            assert_eq!(href_param(&href, name).as_deref(), Some(*value), "{href} keeps {name}");
        }
    }
}

/// The default fixture plus `extra` active keys on the internal keystore, for long lists.
fn fixture_with_extra_keys(extra: usize) -> uko_mock::fixture::Fixture {
    let mut fixture = default_fixture_json();
    let keys = fixture["managed_keys"].as_array_mut().unwrap();
    let template = keys[0].clone();
    for n in 0..extra {
        let mut key = template.clone();
        key["id"] = json!(format!("44444444-4444-4444-8444-1{n:011}"));
        key["label"] = json!(format!("bulk-key-{n:03}"));
        // Equal timestamps for some keys exercise the id tie-break of the default sort.
        key["updated_at"] = json!(format!("2025-10-{:02}T10:00:00Z", 1 + n % 20));
        key["instances"][0]["id"] = json!(format!("55555555-5555-4555-8555-1{n:011}"));
        key["instances"][0]["label_in_keystore"] = key["label"].clone();
        keys.push(key);
    }
    fixture_from_value(&fixture)
}

#[tokio::test]
async fn first_page_has_first_last_next_and_no_previous() {
    let app = TestApp::spawn().await;

    let response = app.list_managed_keys(&[("limit", "3")]).await.assert_status(StatusCode::OK);

    let body = response.json();
    check_page(&body, "managed_keys", 3, 0, 8, &[]);
    assert!(body.get("previous").is_none());
    let links: BTreeMap<&str, Value> = ["first", "last", "previous", "next"]
        .into_iter()
        .map(|name| (name, body.get(name).cloned().unwrap_or(json!("(absent)"))))
        .collect();
    insta::assert_snapshot!(redact::host(&serde_json::to_string_pretty(&links).unwrap(), &app.base_url));
}

#[tokio::test]
async fn middle_page_has_previous_and_next() {
    let app = TestApp::spawn().await;

    let body = app.list_managed_keys(&[("limit", "3"), ("offset", "3")]).await.assert_status(StatusCode::OK).json();

    check_page(&body, "managed_keys", 3, 3, 8, &[]);
    assert!(body.get("previous").is_some() && body.get("next").is_some());
}

#[tokio::test]
async fn last_page_has_no_next() {
    let app = TestApp::spawn().await;

    let body = app.list_managed_keys(&[("limit", "3"), ("offset", "6")]).await.assert_status(StatusCode::OK).json();

    check_page(&body, "managed_keys", 3, 6, 8, &[]);
    assert!(body.get("next").is_none());
}

#[tokio::test]
async fn exact_fit_and_single_page_have_no_next_but_keep_first_and_last() {
    let app = TestApp::spawn().await;

    for limit in ["4", "8", "20", "1000"] {
        let offsets: &[&str] = if limit == "4" { &["4"] } else { &["0"] };
        for offset in offsets {
            let body = app.list_managed_keys(&[("limit", limit), ("offset", offset)]).await.json();
            check_page(&body, "managed_keys", limit.parse().unwrap(), offset.parse().unwrap(), 8, &[]);
        }
    }
}

#[tokio::test]
async fn offset_past_the_end_returns_an_empty_page_with_previous_and_no_next() {
    let app = TestApp::spawn().await;

    let body = app.list_managed_keys(&[("limit", "5"), ("offset", "40")]).await.assert_status(StatusCode::OK).json();

    check_page(&body, "managed_keys", 5, 40, 8, &[]);
    assert_eq!(body["managed_keys"], json!([]));
}

#[tokio::test]
async fn empty_list_has_first_and_last_and_total_count_zero() {
    let app = TestApp::spawn().await;

    let response = app.list_managed_keys(&[("state", "compromised")]).await.assert_status(StatusCode::OK);

    check_page(&response.json(), "managed_keys", 20, 0, 0, &[("state", "compromised")]);
    assert_response_snapshot!(response);
}

#[tokio::test]
async fn filters_are_kept_in_every_link() {
    let app = TestApp::spawn().await;
    let filters =
        [("state", "active,deactivated"), ("vault.id", VAULT), ("template.type[]", "user_defined"), ("sort", "label")];
    let mut query = filters.to_vec();
    query.extend([("limit", "2"), ("offset", "2")]);

    let body = app.list_managed_keys(&query).await.assert_status(StatusCode::OK).json();

    check_page(&body, "managed_keys", 2, 2, 6, &filters);
    let labels: Vec<&str> =
        body["managed_keys"].as_array().unwrap().iter().map(|k| k["label"].as_str().unwrap()).collect();
    assert_eq!(labels, ["bigquery-cmek-prod", "cos-root-key-prod"], "sorted by label, byte order");
}

#[tokio::test]
async fn every_list_operation_pages_the_same_way() {
    let app = TestApp::spawn().await;
    let lists: [(String, &str, usize); 7] = [
        ("/managed_keys".to_owned(), "managed_keys", 8),
        ("/templates".to_owned(), "templates", 5),
        ("/keystores".to_owned(), "keystores", 5),
        ("/vaults".to_owned(), "vaults", 1),
        (format!("/keystores/{KEYSTORE_GOOGLE}/managed_keys"), "managed_keys", 2),
        (format!("/managed_keys/{KEY_COS}/versions"), "managed_keys", 2),
        (format!("/managed_keys/{KEY_COS}/associated_resources"), "associated_resources", 1),
    ];

    for (path, items, total) in lists {
        for offset in 0..=total {
            let response = app
                .send(app.request(Method::GET, &path).query(&[("limit", "1"), ("offset", &offset.to_string())]))
                .await
                .assert_status(StatusCode::OK);
            assert!(response.header("etag").is_none(), "{path}: lists carry no ETag");
            check_page(&response.json(), items, 1, offset, total, &[]);
        }
    }
}

/// Walks a list like the Go SDK pager: request with the caller's options, then read the next offset
/// from `next.href` (go-sdk-core `GetQueryParamAsInt`) and repeat until `next` is absent.
async fn walk_like_the_go_sdk(app: &TestApp, path: &str, items: &str, query: &[(&str, &str)]) -> (Vec<String>, usize) {
    let mut seen = Vec::new();
    let mut offset: Option<String> = None;
    let mut pages = 0;
    loop {
        let mut request = app.request(Method::GET, path).query(query);
        if let Some(offset) = &offset {
            request = request.query(&[("offset", offset)]);
        }
        let body = app.send(request).await.assert_status(StatusCode::OK).json();
        pages += 1;
        assert!(pages <= 1000, "the pager does not terminate");
        seen.extend(ids(&body, items));
        match link(&body, "next") {
            Some(next) => {
                // Following the href itself must give the same page as the options plus its offset.
                let followed = app.send(app.request_url(Method::GET, &next)).await.assert_status(StatusCode::OK);
                offset = Some(href_param(&next, "offset").expect("next.href carries offset="));
                let mut request = app.request(Method::GET, path).query(query);
                request = request.query(&[("offset", offset.as_deref().unwrap())]);
                assert_eq!(followed.json(), app.send(request).await.json(), "next.href gives the next page");
            }
            None => return (seen, pages),
        }
    }
}

#[tokio::test]
async fn walking_next_links_sees_every_key_exactly_once() {
    let app = TestApp::builder().fixture_value(fixture_with_extra_keys(45)).spawn().await;
    let all = app.list_managed_keys(&[("limit", "1000")]).await.json();
    let mut expected = ids(&all, "managed_keys");
    assert_eq!(expected.len(), 53);
    expected.sort();

    for limit in ["1", "7", "10", "20", "53", "1000"] {
        let (mut seen, pages) = walk_like_the_go_sdk(&app, "/managed_keys", "managed_keys", &[("limit", limit)]).await;
        let limit: usize = limit.parse().unwrap();
        assert_eq!(pages, 53usize.div_ceil(limit), "limit {limit}");
        seen.sort();
        assert_eq!(seen, expected, "limit {limit}: every key exactly once");
    }
}

#[tokio::test]
async fn walking_a_filtered_list_sees_exactly_the_filtered_keys() {
    let app = TestApp::builder().fixture_value(fixture_with_extra_keys(45)).spawn().await;
    let query = [("limit", "4"), ("state", "active"), ("sort", "-label")];

    let (seen, _) = walk_like_the_go_sdk(&app, "/managed_keys", "managed_keys", &query).await;

    let all = app.list_managed_keys(&[("limit", "1000"), ("state", "active"), ("sort", "-label")]).await.json();
    assert_eq!(seen, ids(&all, "managed_keys"), "same keys, same order");
    assert_eq!(seen.len(), 50);
}

#[tokio::test]
async fn walking_without_a_limit_uses_the_default_of_20() {
    let app = TestApp::builder().fixture_value(fixture_with_extra_keys(45)).spawn().await;

    let first = app.list_managed_keys(&[]).await.json();
    let (seen, pages) = walk_like_the_go_sdk(&app, "/managed_keys", "managed_keys", &[]).await;

    check_page(&first, "managed_keys", 20, 0, 53, &[]);
    assert_eq!((seen.len(), pages), (53, 3));
}
