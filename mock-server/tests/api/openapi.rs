//! The OpenAPI document (`mock-server/openapi.json`, served at `GET /__mock/v1/openapi.json`) against the
//! routes: every route of `uko::API_ROUTES` (which `api_router` is built from) is in the document with its
//! method, operation id and success codes, and every operation of the document is a route; the live
//! server serves each documented method and refuses the undocumented ones with 405.

use std::collections::BTreeSet;

use reqwest::{Method, StatusCode};
use serde_json::Value;
use uko_mock::domain::operation::Operation;
use uko_mock::uko::API_ROUTES;

use crate::helpers::*;

fn document() -> Value {
    serde_json::from_str(uko_mock::web::OPENAPI_JSON).expect("openapi.json is JSON")
}

const METHODS: [&str; 5] = ["get", "post", "put", "patch", "delete"];

/// (METHOD, path, operationId) of every operation in the document.
fn documented(document: &Value) -> BTreeSet<(String, String, String)> {
    let mut operations = BTreeSet::new();
    for (path, item) in document["paths"].as_object().unwrap() {
        for method in METHODS {
            if let Some(operation) = item.get(method) {
                let id = operation["operationId"].as_str().expect("an operationId").to_owned();
                operations.insert((method.to_uppercase(), path.clone(), id));
            }
        }
    }
    operations
}

/// The success code an operation answers (201 for creates, 204 for deletes, else 200).
fn success_code(method: &str, operation: Operation) -> &'static str {
    match (method, operation) {
        ("POST", operation) if operation.name().starts_with("Create") => "201",
        ("DELETE", _) => "204",
        _ => "200",
    }
}

#[test]
fn every_route_is_documented_and_every_documented_operation_is_a_route() {
    let document = document();
    let routes: BTreeSet<(String, String, String)> = API_ROUTES
        .iter()
        .map(|(method, path, operation)| (method.to_string(), path.to_string(), operation.name().to_owned()))
        .collect();

    let documented = documented(&document);

    let missing: Vec<_> = routes.difference(&documented).collect();
    let extra: Vec<_> = documented.difference(&routes).collect();
    assert!(missing.is_empty(), "routes missing from openapi.json: {missing:?}");
    assert!(extra.is_empty(), "openapi.json documents operations the mock does not route: {extra:?}");
    assert_eq!(routes.len(), Operation::ALL.len(), "one route per UKO operation");
}

#[test]
fn every_operation_documents_its_success_code_and_the_uko_error_shape() {
    let document = document();
    for (method, path, operation) in API_ROUTES {
        let responses = &document["paths"][path][method.to_lowercase()]["responses"];
        let success = success_code(method, operation);
        assert!(responses.get(success).is_some(), "{method} {path}: no {success} response");
        let successes: BTreeSet<&str> =
            responses.as_object().unwrap().keys().map(String::as_str).filter(|code| code.starts_with('2')).collect();
        let expected: &[&str] = if operation == Operation::CreateKeystore { &["200", "201"] } else { &[success] };
        assert_eq!(successes, expected.iter().copied().collect(), "{method} {path}: success codes");
        for code in ["400", "401", "413"] {
            assert_eq!(
                responses[code]["$ref"],
                format!("#/components/responses/{}", ref_name(code)),
                "{method} {path}: {code}"
            );
        }
        let takes_if_match = operation.mutates() && !operation.name().starts_with("Create");
        let parameters = document["paths"][path][method.to_lowercase()]["parameters"].to_string();
        assert_eq!(parameters.contains("IfMatch"), takes_if_match, "{method} {path}: If-Match parameter");
        if takes_if_match {
            assert!(responses.get("412").is_some() && responses.get("428").is_some(), "{method} {path}: 412/428");
        }
    }
}

fn ref_name(code: &str) -> &'static str {
    match code {
        "400" => "BadRequest",
        "401" => "Unauthorized",
        _ => "PayloadTooLarge",
    }
}

#[tokio::test]
async fn the_document_is_served_by_the_control_plane() {
    let app = TestApp::spawn().await;

    let response = app.send(app.request_url(Method::GET, &format!("{}/__mock/v1/openapi.json", app.base_url))).await;

    assert_eq!(response.status, StatusCode::OK);
    assert_eq!(response.header("content-type"), Some("application/json"));
    assert_eq!(response.json(), document());
}

#[tokio::test]
async fn the_live_server_serves_each_documented_method_and_refuses_the_others_with_405() {
    let app = TestApp::spawn().await;
    let document = document();
    for (path, item) in document["paths"].as_object().unwrap() {
        let concrete = path.replace("{id}", KEY_ACTIVE);
        for method in METHODS {
            let request = app.request(Method::from_bytes(method.to_uppercase().as_bytes()).unwrap(), &concrete);
            // No If-Match and no body: nothing changes, and the answer tells whether the route exists.
            let response = app.send(request).await;
            response.check_invariants();
            if item.get(method).is_some() {
                assert_ne!(response.status, StatusCode::METHOD_NOT_ALLOWED, "{method} {path}");
                let routed = response.status != StatusCode::NOT_FOUND || response.error_code() == "not_found";
                assert!(routed, "{method} {path}: {}", response.text);
                assert!(!response.text.contains("does not exist in UKO API v4"), "{method} {path}: not routed");
            } else {
                assert_eq!(response.status, StatusCode::METHOD_NOT_ALLOWED, "{method} {path}");
            }
        }
    }
}
