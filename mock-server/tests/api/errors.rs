//! Every error class with its UKO error body (uko-api-v4.md §8): 401, 404, 405, 400 (`missing_field`,
//! `invalid_field`, `invalid_json`, `invalid_query_parameter`), 406, 409, 412 and 428.
//!
//! Each class has one full snapshot (status, headers, body); families of similar cases are pinned in one
//! table snapshot each, one row per case. Every error answer is also checked for the invariants of
//! `TestResponse::check_invariants`: JSON content type, `status_code`, non-empty `errors[]` with `code`
//! and `message`, and `trace` equal to the `X-Correlation-ID` response header.

use reqwest::{Method, RequestBuilder, StatusCode};
use serde_json::{json, Value};

use crate::helpers::*;

/// Sends, checks the status and the error invariants, and snapshots the full answer under `name`.
async fn check(app: &TestApp, request: RequestBuilder, expected: StatusCode, name: &str) -> TestResponse {
    let response = app.send(request).await.assert_status(expected);
    insta::assert_snapshot!(name, response.render());
    response
}

/// One row of a table snapshot: the case, the status, `errors[0]`'s code, target and message.
fn row(case: &str, response: &TestResponse) -> String {
    response.check_invariants();
    let body = response.json();
    let error = &body["errors"][0];
    let target = match error.get("target") {
        Some(target) => format!(" ({} {})", target["type"].as_str().unwrap(), target["name"].as_str().unwrap()),
        None => String::new(),
    };
    format!(
        "{case}\n  {} {}{target}\n  {}\n",
        response.status,
        error["code"].as_str().unwrap(),
        error["message"].as_str().unwrap()
    )
}

// 401: authentication on, token missing, unknown, expired or malformed.

#[tokio::test]
async fn request_without_token_returns_401() {
    let app = TestApp::with_auth(3600).await;

    let response = check(&app, app.request(Method::GET, "/vaults"), StatusCode::UNAUTHORIZED, "401_no_token").await;

    assert_eq!(response.error_code(), "unauthorized");
}

#[tokio::test]
async fn request_with_unknown_token_returns_401() {
    let mut app = TestApp::with_auth(3600).await;
    app.bearer = Some("not-a-token-the-mock-issued".to_owned());

    check(&app, app.request(Method::GET, "/vaults"), StatusCode::UNAUTHORIZED, "401_invalid_token").await;
}

#[tokio::test]
async fn request_with_expired_token_returns_401() {
    // Tokens live 0 seconds, so the issued one is expired when used, whatever the wall clock says.
    let mut app = TestApp::with_auth(0).await;
    let issued = app
        .iam_token(&[("grant_type", "urn:ibm:params:oauth:grant-type:apikey"), ("apikey", TEST_API_KEY)])
        .await
        .assert_status(StatusCode::OK);
    app.bearer = Some(issued.json()["access_token"].as_str().unwrap().to_owned());

    let response =
        check(&app, app.request(Method::GET, "/vaults"), StatusCode::UNAUTHORIZED, "401_expired_token").await;

    assert!(response.json()["errors"][0]["message"].as_str().unwrap().contains("expired"));
}

#[tokio::test]
async fn request_with_basic_authorization_returns_401() {
    let app = TestApp::with_auth(3600).await;

    check(
        &app,
        app.request(Method::GET, "/vaults").header("Authorization", "Basic dXNlcjpwYXNz"),
        StatusCode::UNAUTHORIZED,
        "401_not_bearer",
    )
    .await;
}

#[tokio::test]
async fn authentication_is_checked_before_the_resource_and_the_precondition() {
    let app = TestApp::with_auth(3600).await;

    let unknown = app.get_vault("00000000-0000-4000-8000-000000000000").await;
    let missing_if_match = app.delete_vault(VAULT, None).await;

    assert_eq!((unknown.status, missing_if_match.status), (StatusCode::UNAUTHORIZED, StatusCode::UNAUTHORIZED));
}

// 404: unknown routes and unknown ids.

#[tokio::test]
async fn unknown_route_returns_404_in_uko_shape() {
    let app = TestApp::spawn().await;

    check(&app, app.request(Method::GET, "/key_rings"), StatusCode::NOT_FOUND, "404_unknown_route").await;
    check(
        &app,
        app.request_url(Method::GET, &format!("{}/api/v3/vaults", app.base_url)),
        StatusCode::NOT_FOUND,
        "404_unknown_route_outside_v4",
    )
    .await;
}

#[tokio::test]
async fn unknown_id_returns_404() {
    let app = TestApp::spawn().await;

    check(
        &app,
        app.request(Method::GET, "/managed_keys/00000000-0000-4000-8000-000000000000"),
        StatusCode::NOT_FOUND,
        "404_unknown_managed_key",
    )
    .await;
}

#[tokio::test]
async fn unknown_id_returns_404_on_every_operation_with_an_id() {
    let app = TestApp::spawn().await;
    let unknown = "00000000-0000-4000-8000-000000000000";
    let cases: Vec<(Method, String, Option<Value>)> = vec![
        (Method::GET, format!("/managed_keys/{unknown}"), None),
        (Method::PATCH, format!("/managed_keys/{unknown}"), Some(json!({"description": "x"}))),
        (Method::DELETE, format!("/managed_keys/{unknown}"), None),
        (Method::GET, format!("/managed_keys/{unknown}/associated_resources"), None),
        (Method::GET, format!("/managed_keys/{unknown}/versions"), None),
        (Method::GET, format!("/managed_keys/{unknown}/status_in_keystores"), None),
        (Method::POST, format!("/managed_keys/{unknown}/update_from_template"), None),
        (Method::POST, format!("/managed_keys/{unknown}/activate"), None),
        (Method::POST, format!("/managed_keys/{unknown}/deactivate"), None),
        (Method::POST, format!("/managed_keys/{unknown}/destroy"), None),
        (Method::POST, format!("/managed_keys/{unknown}/sync_status_in_keystores"), None),
        (Method::POST, format!("/managed_keys/{unknown}/rotate"), None),
        (Method::GET, format!("/templates/{unknown}"), None),
        (Method::PATCH, format!("/templates/{unknown}"), Some(json!({"description": "x"}))),
        (Method::DELETE, format!("/templates/{unknown}"), None),
        (Method::POST, format!("/templates/{unknown}/archive"), None),
        (Method::POST, format!("/templates/{unknown}/unarchive"), None),
        (Method::POST, format!("/templates/{unknown}/expose"), None),
        (Method::GET, format!("/keystores/{unknown}"), None),
        (Method::PATCH, format!("/keystores/{unknown}"), Some(json!({"description": "x"}))),
        (Method::DELETE, format!("/keystores/{unknown}"), None),
        (Method::GET, format!("/keystores/{unknown}/associated_resources"), None),
        (Method::GET, format!("/keystores/{unknown}/status"), None),
        (Method::GET, format!("/keystores/{unknown}/managed_keys"), None),
        (Method::GET, format!("/vaults/{unknown}"), None),
        (Method::PATCH, format!("/vaults/{unknown}"), Some(json!({"description": "x"}))),
        (Method::DELETE, format!("/vaults/{unknown}"), None),
    ];

    let mut table = String::new();
    for (method, path, body) in cases {
        // An unknown resource is reported before the missing If-Match (uko-api-v4.md §8.2 check order).
        let mut request = app.request(method.clone(), &path);
        if let Some(body) = &body {
            request = request.json(body);
        }
        let response = app.send(request).await.assert_status(StatusCode::NOT_FOUND);
        table.push_str(&row(&format!("{method} {path}"), &response));
    }

    insta::assert_snapshot!(table);
}

#[tokio::test]
async fn unknown_references_in_a_create_body_return_404() {
    let app = TestApp::spawn().await;
    let unknown_vault = json!({"template_name": "INTERNAL-AES256", "vault": {"id": "00000000-0000-4000-8000-000000000000"}, "label": "x"});
    let unknown_template = json!({"template_name": "NO-SUCH-TEMPLATE", "vault": {"id": VAULT}, "label": "x"});

    let vault = app.create_managed_key(&unknown_vault).await.assert_status(StatusCode::NOT_FOUND);
    let template = app.create_managed_key(&unknown_template).await.assert_status(StatusCode::NOT_FOUND);

    insta::assert_snapshot!(format!("{}{}", row("unknown vault.id", &vault), row("unknown template_name", &template)));
}

// 405.

#[tokio::test]
async fn wrong_method_returns_405() {
    let app = TestApp::spawn().await;

    check(&app, app.request(Method::PUT, "/vaults"), StatusCode::METHOD_NOT_ALLOWED, "405_put_vaults").await;
    let delete_list = app.send(app.request(Method::DELETE, "/managed_keys")).await;
    let get_action = app.send(app.request(Method::GET, &format!("/managed_keys/{KEY_ACTIVE}/activate"))).await;

    insta::assert_snapshot!(format!(
        "{}{}",
        row("DELETE /managed_keys", &delete_list.assert_status(StatusCode::METHOD_NOT_ALLOWED)),
        row("GET /managed_keys/{id}/activate", &get_action.assert_status(StatusCode::METHOD_NOT_ALLOWED))
    ));
}

// 400 missing_field.

#[tokio::test]
async fn missing_required_field_returns_400_with_target() {
    let app = TestApp::spawn().await;

    let response = check(
        &app,
        app.request(Method::POST, "/vaults").json(&json!({"description": "no name"})),
        StatusCode::BAD_REQUEST,
        "400_missing_field",
    )
    .await;

    assert_eq!(response.json()["errors"][0]["target"], json!({"type": "field", "name": "name"}));
}

#[tokio::test]
async fn every_missing_required_field_is_named_by_its_path() {
    let app = TestApp::spawn().await;
    let template = json!({
        "vault": {"id": VAULT},
        "name": "MISSING-FIELDS",
        "key": {"size": "256", "algorithm": "aes", "activation_date": "P1W", "expiration_date": "P1Y", "state": "active"},
        "keystores": [{"type": "aws_kms", "group": "Production-AWS"}]
    });
    let without = |pointer: &str| {
        let mut body = template.clone();
        let (parent, field) = pointer.rsplit_once('/').unwrap();
        body.pointer_mut(parent).unwrap().as_object_mut().unwrap().remove(field);
        body
    };
    let cases = vec![
        ("POST /vaults", "/vaults", json!({})),
        ("POST /templates", "/templates", without("/vault")),
        ("POST /templates", "/templates", without("/vault/id")),
        ("POST /templates", "/templates", without("/name")),
        ("POST /templates", "/templates", without("/key")),
        ("POST /templates", "/templates", without("/key/algorithm")),
        ("POST /templates", "/templates", without("/key/state")),
        ("POST /templates", "/templates", without("/keystores")),
        ("POST /templates", "/templates", without("/keystores/0/group")),
        ("POST /managed_keys", "/managed_keys", json!({"vault": {"id": VAULT}, "label": "x"})),
        ("POST /managed_keys", "/managed_keys", json!({"template_name": "INTERNAL-AES256", "label": "x"})),
        ("POST /managed_keys", "/managed_keys", json!({"template_name": "INTERNAL-AES256", "vault": {}})),
        ("POST /keystores", "/keystores", json!({"vault": {"id": VAULT}, "name": "No type"})),
        (
            "POST /keystores",
            "/keystores",
            json!({"type": "aws_kms", "vault": {"id": VAULT}, "name": "AWS", "aws_region": "eu_west_1", "aws_access_key_id": "AKIA"}),
        ),
        ("POST /keystores", "/keystores", json!({"type": "ibm_cloud_kms", "vault": {"id": VAULT}, "name": "IBM"})),
    ];

    let mut table = String::new();
    for (case, path, body) in cases {
        let response =
            app.send(app.request(Method::POST, path).json(&body)).await.assert_status(StatusCode::BAD_REQUEST);
        assert_eq!(response.error_code(), "missing_field", "{case} {body}");
        assert_eq!(response.json()["errors"][0]["target"]["type"], "field");
        table.push_str(&row(case, &response));
    }

    insta::assert_snapshot!(table);
}

// 400 invalid_field.

#[tokio::test]
async fn field_of_the_wrong_type_returns_400_invalid_field() {
    let app = TestApp::spawn().await;

    check(
        &app,
        app.request(Method::POST, "/vaults").json(&json!({"name": 5})),
        StatusCode::BAD_REQUEST,
        "400_invalid_field_wrong_type",
    )
    .await;
}

#[tokio::test]
async fn invalid_field_values_are_named_by_their_path() {
    let app = TestApp::spawn().await;
    let etag = app.managed_key_etag(KEY_ACTIVE).await;
    let template = |patch: Value| {
        let mut body = json!({
            "vault": {"id": VAULT},
            "name": "VALID-NAME",
            "key": {"size": "256", "algorithm": "aes", "activation_date": "P1W", "expiration_date": "P1Y", "state": "active"},
            "keystores": [{"type": "aws_kms", "group": "Production-AWS"}]
        });
        merge(&mut body, patch);
        body
    };
    let posts = vec![
        ("vault name of the wrong type", "/vaults", json!({"name": ["a"]})),
        ("vault name starting with a space", "/vaults", json!({"name": " leading space"})),
        ("vault name of 101 characters", "/vaults", json!({"name": "v".repeat(101)})),
        ("vault description of 201 characters", "/vaults", json!({"name": "ok", "description": "d".repeat(201)})),
        ("template name starting with a digit", "/templates", template(json!({"name": "1ABC"}))),
        ("template name of 31 characters", "/templates", template(json!({"name": "T".repeat(31)}))),
        ("unknown algorithm", "/templates", template(json!({"key": {"algorithm": "blowfish"}}))),
        ("key state not allowed in a template", "/templates", template(json!({"key": {"state": "destroyed"}}))),
        (
            "activation period that is no period",
            "/templates",
            template(json!({"key": {"activation_date": "2026-01-01"}})),
        ),
        (
            "two keystores entries",
            "/templates",
            template(json!({"keystores": [{"type": "aws_kms", "group": "A"}, {"type": "aws_kms", "group": "B"}]})),
        ),
        ("key size of the wrong type", "/templates", template(json!({"key": {"size": 256}}))),
        (
            "key label with a forbidden character",
            "/managed_keys",
            json!({"template_name": "INTERNAL-AES256", "vault": {"id": VAULT}, "label": "bad*label"}),
        ),
        (
            "label that does not follow the naming scheme",
            "/managed_keys",
            json!({"template_name": "AWS-AES256", "vault": {"id": VAULT}, "label": "payments-key"}),
        ),
        (
            "unknown keystore type",
            "/keystores",
            json!({"type": "hashicorp_vault", "vault": {"id": VAULT}, "name": "Vault"}),
        ),
        (
            "keystore name starting with a dash",
            "/keystores",
            json!({"type": "ibm_cloud_kms", "ibm_variant": "internal", "vault": {"id": VAULT}, "name": "-internal"}),
        ),
        (
            "cca_port out of range",
            "/keystores",
            json!({"type": "cca", "vault": {"id": VAULT}, "name": "CCA", "cca_host": "h", "cca_port": 70000, "cca_public_key_hash": "ab"}),
        ),
    ];

    let mut table = String::new();
    for (case, path, body) in posts {
        let response =
            app.send(app.request(Method::POST, path).json(&body)).await.assert_status(StatusCode::BAD_REQUEST);
        assert_eq!(response.error_code(), "invalid_field", "{case}");
        assert_eq!(response.json()["errors"][0]["target"]["type"], "field", "{case}");
        table.push_str(&row(case, &response));
    }
    let patches = vec![
        ("activation_date that is no date", json!({"activation_date": "2025-13-01"})),
        (
            "expiration_date before activation_date",
            json!({"activation_date": "2026-01-01", "expiration_date": "2025-01-01"}),
        ),
    ];
    for (case, body) in patches {
        let response =
            app.update_managed_key(KEY_ACTIVE, Some(&etag), &body).await.assert_status(StatusCode::BAD_REQUEST);
        assert_eq!(response.error_code(), "invalid_field", "{case}");
        table.push_str(&row(case, &response));
    }
    let keystore_etag = app.get_keystore(KEYSTORE_AWS).await.etag();
    let locked = app.update_keystore(KEYSTORE_AWS, Some(&keystore_etag), &json!({"aws_region": "us_east_1"})).await;
    table.push_str(&row("locked keystore field changed", &locked.assert_status(StatusCode::BAD_REQUEST)));

    insta::assert_snapshot!(table);
}

// 400 invalid_json.

#[tokio::test]
async fn malformed_json_returns_400_invalid_json() {
    let app = TestApp::spawn().await;

    check(
        &app,
        app.request(Method::POST, "/vaults").header("Content-Type", "application/json").body("{\"name\": "),
        StatusCode::BAD_REQUEST,
        "400_invalid_json_malformed",
    )
    .await;
}

#[tokio::test]
async fn create_without_a_body_returns_400_invalid_json() {
    let app = TestApp::spawn().await;

    check(&app, app.request(Method::POST, "/managed_keys"), StatusCode::BAD_REQUEST, "400_invalid_json_empty_body")
        .await;
    let mut table = String::new();
    for path in ["/vaults", "/templates", "/keystores", "/managed_keys"] {
        let empty = app.send(app.request(Method::POST, path)).await.assert_status(StatusCode::BAD_REQUEST);
        assert_eq!(empty.error_code(), "invalid_json");
        table.push_str(&row(&format!("POST {path} without a body"), &empty));
        let array = app.send(app.request(Method::POST, path).json(&json!([]))).await;
        table.push_str(&row(&format!("POST {path} with a JSON array"), &array.assert_status(StatusCode::BAD_REQUEST)));
    }
    let etag = app.get_vault(VAULT).await.etag();
    let patch = app.send(app.request(Method::PATCH, &format!("/vaults/{VAULT}")).header("If-Match", &etag)).await;
    table.push_str(&row("PATCH /vaults/{id} without a body", &patch.assert_status(StatusCode::BAD_REQUEST)));

    insta::assert_snapshot!(table);
}

// 400 invalid_query_parameter.

#[tokio::test]
async fn limit_out_of_range_returns_400_invalid_query_parameter() {
    let app = TestApp::spawn().await;

    check(
        &app,
        app.request(Method::GET, "/managed_keys").query(&[("limit", "1001")]),
        StatusCode::BAD_REQUEST,
        "400_invalid_query_parameter",
    )
    .await;
}

#[tokio::test]
async fn every_invalid_query_parameter_is_named() {
    let app = TestApp::spawn().await;
    let cases: Vec<(&str, Vec<(&str, &str)>)> = vec![
        ("/managed_keys", vec![("limit", "0")]),
        ("/managed_keys", vec![("limit", "1001")]),
        ("/managed_keys", vec![("limit", "ten")]),
        ("/managed_keys", vec![("offset", "-1")]),
        ("/managed_keys", vec![("sort", "colour")]),
        ("/managed_keys", vec![("sort", "-label,+state")]),
        ("/managed_keys", vec![("state", "active,retired")]),
        ("/managed_keys", vec![("algorithm", "blowfish")]),
        ("/managed_keys", vec![("template.type[]", "custom")]),
        ("/managed_keys", vec![("activation_date", "2025-09-09"), ("activation_date_min", "2025-01-01")]),
        ("/managed_keys", vec![("deactivation_date_max", "2027-01-01"), ("expiration_date_min", "2026-01-01")]),
        ("/managed_keys", vec![("size", "256"), ("size_max", "512")]),
        ("/managed_keys", vec![("referenced_keystores[].type", "aws_kms"), ("instances[].keystore.type", "aws_kms")]),
        ("/managed_keys", vec![("created_at_min", "2025-9-1")]),
        ("/managed_keys", vec![("status_in_keystores[].keystore_sync_flag", "drifted")]),
        ("/templates", vec![("state", "deleted")]),
        ("/keystores", vec![("type", "hashicorp_vault")]),
        ("/keystores", vec![("group", "A"), ("groups[]", "B")]),
        ("/keystores", vec![("sort", "location")]),
        ("/vaults", vec![("sort", "keys_count")]),
        ("/keystores", vec![("dry_run", "maybe")]),
    ];

    let mut table = String::new();
    for (path, query) in cases {
        let method = if query.iter().any(|(name, _)| *name == "dry_run") { Method::POST } else { Method::GET };
        let mut request = app.request(method.clone(), path).query(&query);
        if method == Method::POST {
            request = request.json(
                &json!({"type": "ibm_cloud_kms", "ibm_variant": "internal", "vault": {"id": VAULT}, "name": "Dry"}),
            );
        }
        let response = app.send(request).await.assert_status(StatusCode::BAD_REQUEST);
        assert_eq!(response.error_code(), "invalid_query_parameter", "{path} {query:?}");
        assert_eq!(response.json()["errors"][0]["target"]["type"], "parameter", "{path} {query:?}");
        let case: Vec<String> = query.iter().map(|(name, value)| format!("{name}={value}")).collect();
        table.push_str(&row(&format!("{method} {path}?{}", case.join("&")), &response));
    }
    let etag = app.get_keystore(KEYSTORE_AWS).await.etag();
    let mode = app.delete_keystore(KEYSTORE_AWS, Some(&etag), Some("purge")).await;
    table.push_str(&row("DELETE /keystores/{id}?mode=purge", &mode.assert_status(StatusCode::BAD_REQUEST)));

    insta::assert_snapshot!(table);
}

// 406.

#[tokio::test]
async fn zip_export_accept_returns_406() {
    let app = TestApp::spawn().await;

    check(
        &app,
        app.request(Method::GET, "/vaults").header("Accept", "application/vnd.ibm.uko.vault-list.v4.1.json+zip"),
        StatusCode::NOT_ACCEPTABLE,
        "406_zip_accept",
    )
    .await;
}

#[tokio::test]
async fn every_list_with_an_accept_override_refuses_zip_and_csv_but_serves_its_json_type() {
    let app = TestApp::spawn().await;
    let lists = [
        ("/managed_keys".to_owned(), "managed-key"),
        (format!("/keystores/{KEYSTORE_INTERNAL}/managed_keys"), "managed-key"),
        ("/templates".to_owned(), "key-template"),
        ("/keystores".to_owned(), "keystore"),
        ("/vaults".to_owned(), "vault"),
    ];

    let mut table = String::new();
    for (path, kind) in &lists {
        for suffix in ["json+zip", "csv+zip"] {
            // The Go SDK sends application/json first and the override as a second Accept header.
            let accept = format!("application/vnd.ibm.uko.{kind}-list.v4.1.{suffix}");
            let request = app.request(Method::GET, path).header("Accept", "application/json").header("Accept", &accept);
            let response = app.send(request).await.assert_status(StatusCode::NOT_ACCEPTABLE);
            table.push_str(&row(&format!("GET {path} Accept: {accept}"), &response));
        }
        let json_type = format!("application/vnd.ibm.uko.{kind}-list.v4.1+json");
        let served = app.send(app.request(Method::GET, path).header("Accept", &json_type)).await;
        served.assert_status(StatusCode::OK).check_invariants();
    }

    insta::assert_snapshot!(table);
}

// 409.

#[tokio::test]
async fn destroy_active_key_returns_409() {
    let app = TestApp::spawn().await;
    let etag = app.managed_key_etag(KEY_ACTIVE).await;

    let response = check(
        &app,
        app.request(Method::POST, &format!("/managed_keys/{KEY_ACTIVE}/destroy")).header("If-Match", &etag),
        StatusCode::CONFLICT,
        "409_destroy_active_key",
    )
    .await;

    assert_eq!(response.error_code(), "invalid_state");
    assert_eq!(app.managed_key_state(KEY_ACTIVE).await, "active");
}

#[tokio::test]
async fn delete_key_that_is_not_destroyed_returns_409() {
    let app = TestApp::spawn().await;
    let etag = app.managed_key_etag(KEY_DEACTIVATED).await;

    check(
        &app,
        app.request(Method::DELETE, &format!("/managed_keys/{KEY_DEACTIVATED}")).header("If-Match", &etag),
        StatusCode::CONFLICT,
        "409_delete_key_not_destroyed",
    )
    .await;

    app.get_managed_key(KEY_DEACTIVATED).await.assert_status(StatusCode::OK);
}

#[tokio::test]
async fn delete_vault_with_keys_returns_409() {
    let app = TestApp::spawn().await;
    let etag = app.get_vault(VAULT).await.etag();

    check(
        &app,
        app.request(Method::DELETE, &format!("/vaults/{VAULT}")).header("If-Match", &etag),
        StatusCode::CONFLICT,
        "409_delete_vault_not_empty",
    )
    .await;
}

#[tokio::test]
async fn every_refused_lifecycle_action_returns_409() {
    let app = TestApp::spawn().await;
    let app_ref = &app;
    let key_etag = |id: &'static str| app_ref.managed_key_etag(id);
    let mut table = String::new();
    let mut record = |case: &str, response: TestResponse| {
        table.push_str(&row(case, &response.assert_status(StatusCode::CONFLICT)));
    };

    record("activate an active key", app.activate_managed_key(KEY_ACTIVE, Some(&key_etag(KEY_ACTIVE).await)).await);
    record(
        "activate a destroyed key",
        app.activate_managed_key(KEY_DESTROYED, Some(&key_etag(KEY_DESTROYED).await)).await,
    );
    record(
        "deactivate a pre-active key",
        app.deactivate_managed_key(KEY_PRE_ACTIVE, Some(&key_etag(KEY_PRE_ACTIVE).await)).await,
    );
    record(
        "deactivate a deactivated key",
        app.deactivate_managed_key(KEY_DEACTIVATED, Some(&key_etag(KEY_DEACTIVATED).await)).await,
    );
    record("destroy an active key", app.destroy_managed_key(KEY_ACTIVE, Some(&key_etag(KEY_ACTIVE).await)).await);
    record(
        "destroy a destroyed key",
        app.destroy_managed_key(KEY_DESTROYED, Some(&key_etag(KEY_DESTROYED).await)).await,
    );
    record(
        "rotate a deactivated key",
        app.rotate_managed_key(KEY_DEACTIVATED, Some(&key_etag(KEY_DEACTIVATED).await)).await,
    );
    record(
        "rotate a pre-active key",
        app.rotate_managed_key(KEY_PRE_ACTIVE, Some(&key_etag(KEY_PRE_ACTIVE).await)).await,
    );
    record("delete an active key", app.delete_managed_key(KEY_ACTIVE, Some(&key_etag(KEY_ACTIVE).await)).await);
    record(
        "update a destroyed key",
        app.update_managed_key(KEY_DESTROYED, Some(&key_etag(KEY_DESTROYED).await), &json!({"description": "x"})).await,
    );
    record(
        "update a destroyed key from its template",
        app.update_managed_key_from_template(KEY_DESTROYED, Some(&key_etag(KEY_DESTROYED).await), None).await,
    );
    record(
        "rename a key whose label follows a naming scheme",
        app.update_managed_key(KEY_OUT_OF_SYNC, Some(&key_etag(KEY_OUT_OF_SYNC).await), &json!({"label": "renamed"}))
            .await,
    );
    let template_etag = app.get_key_template(TEMPLATE_AZURE).await.etag();
    record("delete a template with keys", app.delete_key_template(TEMPLATE_AZURE, Some(&template_etag)).await);
    record("unarchive an unarchived template", app.unarchive_key_template(TEMPLATE_AZURE, Some(&template_etag)).await);
    record("expose a user-defined template", app.expose_key_template(TEMPLATE_AZURE, Some(&template_etag)).await);
    let archived = app.archive_key_template(TEMPLATE_AZURE, Some(&template_etag)).await.assert_status(StatusCode::OK);
    record("archive an archived template", app.archive_key_template(TEMPLATE_AZURE, Some(&archived.etag())).await);
    record(
        "update an archived template",
        app.update_key_template(TEMPLATE_AZURE, Some(&archived.etag()), &json!({"description": "x"})).await,
    );
    record(
        "update a key from its archived template",
        app.update_managed_key_from_template(KEY_AZURE, Some(&key_etag(KEY_AZURE).await), None).await,
    );
    let duplicate = json!({
        "vault": {"id": VAULT},
        "name": "AWS-AES256",
        "key": {"size": "256", "algorithm": "aes", "activation_date": "P1W", "expiration_date": "P1Y", "state": "active"},
        "keystores": [{"type": "aws_kms", "group": "Production-AWS"}]
    });
    record("create a template with a taken name", app.create_key_template(&duplicate).await);
    let keystore_etag = app.get_keystore(KEYSTORE_INTERNAL).await.etag();
    record(
        "delete a keystore with active keys",
        app.delete_keystore(KEYSTORE_INTERNAL, Some(&keystore_etag), Some("restrict")).await,
    );
    let vault_etag = app.get_vault(VAULT).await.etag();
    record("delete a vault with keys", app.delete_vault(VAULT, Some(&vault_etag)).await);

    insta::assert_snapshot!(table);
}

// 412 and 428: the 17 operations that require If-Match.

/// One operation that requires `If-Match`, on a resource of the default fixture.
struct IfMatchOperation {
    name: &'static str,
    method: Method,
    path: String,
    body: Option<Value>,
    /// The path whose GET gives the resource's ETag.
    resource: String,
}

fn if_match_operations() -> Vec<IfMatchOperation> {
    let key = |id: &str| format!("/managed_keys/{id}");
    let template = format!("/templates/{TEMPLATE_AZURE}");
    let keystore = format!("/keystores/{KEYSTORE_AWS}");
    let vault = format!("/vaults/{VAULT}");
    let description = Some(json!({"description": "changed"}));
    let operation = |name, method, path: String, body: Option<Value>, resource: &String| IfMatchOperation {
        name,
        method,
        path,
        body,
        resource: resource.clone(),
    };
    vec![
        operation("DeleteManagedKey", Method::DELETE, key(KEY_DESTROYED), None, &key(KEY_DESTROYED)),
        operation("UpdateManagedKey", Method::PATCH, key(KEY_ACTIVE), description.clone(), &key(KEY_ACTIVE)),
        operation(
            "UpdateManagedKeyFromTemplate",
            Method::POST,
            format!("{}/update_from_template", key(KEY_ACTIVE)),
            None,
            &key(KEY_ACTIVE),
        ),
        operation(
            "ActivateManagedKey",
            Method::POST,
            format!("{}/activate", key(KEY_PRE_ACTIVE)),
            None,
            &key(KEY_PRE_ACTIVE),
        ),
        operation(
            "DeactivateManagedKey",
            Method::POST,
            format!("{}/deactivate", key(KEY_ACTIVE)),
            None,
            &key(KEY_ACTIVE),
        ),
        operation(
            "DestroyManagedKey",
            Method::POST,
            format!("{}/destroy", key(KEY_DEACTIVATED)),
            None,
            &key(KEY_DEACTIVATED),
        ),
        operation(
            "SyncManagedKey",
            Method::POST,
            format!("{}/sync_status_in_keystores", key(KEY_OUT_OF_SYNC)),
            None,
            &key(KEY_OUT_OF_SYNC),
        ),
        operation("RotateManagedKey", Method::POST, format!("{}/rotate", key(KEY_ACTIVE)), None, &key(KEY_ACTIVE)),
        operation("DeleteKeyTemplate", Method::DELETE, template.clone(), None, &template),
        operation("UpdateKeyTemplate", Method::PATCH, template.clone(), description.clone(), &template),
        operation("ArchiveKeyTemplate", Method::POST, format!("{template}/archive"), None, &template),
        operation("UnarchiveKeyTemplate", Method::POST, format!("{template}/unarchive"), None, &template),
        operation("ExposeKeyTemplate", Method::POST, format!("{template}/expose"), None, &template),
        operation("DeleteKeystore", Method::DELETE, keystore.clone(), None, &keystore),
        operation("UpdateKeystore", Method::PATCH, keystore.clone(), description.clone(), &keystore),
        operation("DeleteVault", Method::DELETE, vault.clone(), None, &vault),
        operation("UpdateVault", Method::PATCH, vault.clone(), description, &vault),
    ]
}

impl IfMatchOperation {
    fn request(&self, app: &TestApp, if_match: Option<&str>) -> RequestBuilder {
        let mut request = app.request(self.method.clone(), &self.path);
        if let Some(body) = &self.body {
            request = request.json(body);
        }
        if let Some(if_match) = if_match {
            request = request.header("If-Match", if_match);
        }
        request
    }
}

#[tokio::test]
async fn missing_if_match_returns_428() {
    let app = TestApp::spawn().await;

    let response = check(
        &app,
        app.request(Method::POST, &format!("/managed_keys/{KEY_OUT_OF_SYNC}/sync_status_in_keystores")),
        StatusCode::PRECONDITION_REQUIRED,
        "428_missing_if_match",
    )
    .await;

    assert_eq!(response.json()["errors"][0]["target"], json!({"type": "header", "name": "If-Match"}));
}

#[tokio::test]
async fn stale_if_match_returns_412() {
    let app = TestApp::spawn().await;

    check(
        &app,
        app.request(Method::POST, &format!("/managed_keys/{KEY_OUT_OF_SYNC}/sync_status_in_keystores"))
            .header("If-Match", STALE_ETAG),
        StatusCode::PRECONDITION_FAILED,
        "412_stale_if_match",
    )
    .await;
}

#[tokio::test]
async fn all_17_if_match_operations_refuse_a_missing_or_stale_if_match_and_change_nothing() {
    let operations = if_match_operations();
    assert_eq!(operations.len(), 17);
    let app = TestApp::spawn().await;

    let mut table = String::new();
    for operation in &operations {
        let before = app.send(app.request(Method::GET, &operation.resource)).await.assert_status(StatusCode::OK);

        let missing = app.send(operation.request(&app, None)).await.assert_status(StatusCode::PRECONDITION_REQUIRED);
        let stale =
            app.send(operation.request(&app, Some(STALE_ETAG))).await.assert_status(StatusCode::PRECONDITION_FAILED);

        assert_eq!(missing.error_code(), "precondition_required", "{}", operation.name);
        assert_eq!(stale.error_code(), "precondition_failed", "{}", operation.name);
        let after = app.send(app.request(Method::GET, &operation.resource)).await;
        assert_eq!((after.etag(), after.text), (before.etag(), before.text), "{} changed the resource", operation.name);
        let case = format!("{} {} {}", operation.name, operation.method, operation.path);
        table.push_str(&row(&format!("{case} without If-Match"), &missing));
        table.push_str(&row(&format!("{case} with a stale If-Match"), &stale));
    }

    insta::assert_snapshot!(table);
}

#[tokio::test]
async fn all_17_if_match_operations_pass_the_precondition_with_the_current_etag() {
    for operation in if_match_operations() {
        // A fresh server per operation: each one starts from the fixture.
        let app = TestApp::spawn().await;
        let etag = app.send(app.request(Method::GET, &operation.resource)).await.etag();

        let response = app.send(operation.request(&app, Some(&etag))).await;

        // Lifecycle rules may still refuse (409), but never the precondition.
        assert!(
            !matches!(response.status, StatusCode::PRECONDITION_FAILED | StatusCode::PRECONDITION_REQUIRED),
            "{} refused its current ETag: {}",
            operation.name,
            response.text
        );
        response.check_invariants();
    }
}

#[tokio::test]
async fn if_match_accepts_quotes_a_weak_prefix_and_the_wildcard() {
    let app = TestApp::spawn().await;
    let etag = app.get_vault(VAULT).await.etag();

    let quoted = app.update_vault(VAULT, Some(&format!("\"{etag}\"")), &json!({"description": "a"})).await;
    let weak = app.update_vault(VAULT, Some(&format!("W/\"{}\"", quoted.etag())), &json!({"description": "b"})).await;
    let wildcard = app.update_vault(VAULT, Some("*"), &json!({"description": "c"})).await;

    for response in [quoted, weak, wildcard] {
        response.assert_status(StatusCode::OK);
    }
}

// Correlation ids.

#[tokio::test]
async fn error_trace_is_the_correlation_id_the_client_sent() {
    let app = TestApp::spawn().await;
    let request = app.request(Method::GET, "/vaults/unknown").header("X-Correlation-ID", "client-trace-0001");

    let response = check(&app, request, StatusCode::NOT_FOUND, "404_with_client_correlation_id").await;

    assert_eq!(response.header("x-correlation-id"), Some("client-trace-0001"));
    assert_eq!(response.json()["trace"], "client-trace-0001");
}

#[tokio::test]
async fn successful_answers_echo_the_correlation_id_too() {
    let app = TestApp::spawn().await;

    let response = app
        .send(app.request(Method::GET, &format!("/vaults/{VAULT}")).header("X-Correlation-ID", "client-trace-0002"))
        .await
        .assert_status(StatusCode::OK);

    assert_eq!(response.header("x-correlation-id"), Some("client-trace-0002"));
    response.check_invariants();
}

/// Merges `patch` into `target` (objects recursively, everything else replaced).
fn merge(target: &mut Value, patch: Value) {
    match (target, patch) {
        (Value::Object(target), Value::Object(patch)) => {
            for (name, value) in patch {
                merge(target.entry(name).or_insert(Value::Null), value);
            }
        }
        (target, patch) => *target = patch,
    }
}
