//! List filters with their literal wire names (uko-api-v4.md §3.1, §4.1, §5.1, §6.1, §7.4): comma-joined
//! and repeated multi-value parameters, prefix and substring matches, ranges and sync flags.

use reqwest::{Method, StatusCode};

use crate::helpers::*;

/// Query parameters of one case.
type Query = &'static [(&'static str, &'static str)];

/// The `label`/`name` of every item of a list answer, in order.
fn names(response: &TestResponse, items: &str, field: &str) -> Vec<String> {
    response.json()[items].as_array().unwrap().iter().map(|item| item[field].as_str().unwrap().to_owned()).collect()
}

/// A list of names for a table row; `(none)` rather than an empty line.
fn listed(names: &[String]) -> String {
    if names.is_empty() {
        "(none)".to_owned()
    } else {
        names.join(", ")
    }
}

#[tokio::test]
async fn managed_key_filters_select_the_expected_keys() {
    let app = TestApp::spawn().await;
    let cases: &[Query] = &[
        &[("state", "active")],
        &[("state", "active,deactivated")],
        &[("state", "active"), ("state", "deactivated")],
        &[("algorithm", "rsa")],
        &[("vault.id", VAULT)],
        &[("label", "bigquery")],
        &[("referenced_keystores[].type", "aws_kms,google_kms")],
        &[("referenced_keystores[].name", "Key Protect Dallas")],
        &[("instances[].keystore.type", "ibm_cloud_kms")],
        &[("template.name", "AWS")],
        &[("template.id", TEMPLATE_GOOGLE)],
        &[("template.type[]", "shadow,system")],
        &[("template.alignment_status", "aligned"), ("state", "pre_activation")],
        &[("size", "2048")],
        &[("size_min", "1000")],
        &[("activation_date", "2025-09-09")],
        &[("expiration_date_max", "2027-09-10")],
        &[("deactivation_date_min", "2027-09-11")],
        &[("created_at_min", "2025-09-05"), ("created_at_max", "2025-09-06")],
        &[("updated_at", "2025-12-01")],
        &[("rotated_at_min", "2025-12-01")],
        &[("status_in_keystores[].keystore_sync_flag", "out_of_sync")],
        &[("key_material_present", "keystores")],
        &[("managing_systems", "workstation")],
    ];

    let mut table = String::new();
    for query in cases {
        let mut query = query.to_vec();
        query.push(("sort", "label"));
        let response = app.list_managed_keys(&query).await.assert_status(StatusCode::OK);
        let labels = names(&response, "managed_keys", "label");
        assert_eq!(response.json()["total_count"], labels.len());
        let case: Vec<String> = query.iter().map(|(name, value)| format!("{name}={value}")).collect();
        table.push_str(&format!("{}\n  {}\n", case.join("&"), listed(&labels)));
    }

    insta::assert_snapshot!(table);
}

#[tokio::test]
async fn template_keystore_and_vault_filters_select_the_expected_items() {
    let app = TestApp::spawn().await;
    let cases: &[(&str, &str, Query)] = &[
        ("/templates", "templates", &[("name", "A")]),
        ("/templates", "templates", &[("naming_scheme", "<APP>")]),
        ("/templates", "templates", &[("key.algorithm", "rsa")]),
        ("/templates", "templates", &[("keystores[].type", "google_kms,azure_key_vault")]),
        ("/templates", "templates", &[("keystores[].group", "Production-Internal")]),
        ("/templates", "templates", &[("key.size_max", "256")]),
        ("/templates", "templates", &[("state", "archived")]),
        ("/templates", "templates", &[("type[]", "user_defined")]),
        ("/keystores", "keystores", &[("type", "ibm_cloud_kms")]),
        ("/keystores", "keystores", &[("name", "Frankfurt")]),
        ("/keystores", "keystores", &[("description", "us-south")]),
        ("/keystores", "keystores", &[("group", "Production-AWS")]),
        ("/keystores", "keystores", &[("groups[]", "Production-AWS,Production-Azure")]),
        ("/keystores", "keystores", &[("location", "eu_central_1,europe-west3")]),
        ("/keystores", "keystores", &[("vault.id", VAULT), ("status.health_status", "ok")]),
        ("/vaults", "vaults", &[("name", "Pay")]),
        ("/vaults", "vaults", &[("name", "payments")]),
        ("/vaults", "vaults", &[("description", "payments platform")]),
    ];

    let mut table = String::new();
    for (path, items, query) in cases {
        let mut query = query.to_vec();
        query.push(("sort", "name"));
        let response = app.send(app.request(Method::GET, path).query(&query)).await.assert_status(StatusCode::OK);
        let found = names(&response, items, "name");
        let case: Vec<String> = query.iter().map(|(name, value)| format!("{name}={value}")).collect();
        table.push_str(&format!("GET {path}?{}\n  {}\n", case.join("&"), listed(&found)));
    }

    insta::assert_snapshot!(table);
}

#[tokio::test]
async fn keystore_managed_keys_list_applies_filters_within_the_keystore() {
    let app = TestApp::spawn().await;

    let all_states = app
        .list_managed_keys_from_keystore(KEYSTORE_GOOGLE, &[("state", "pre_activation,active,deactivated,destroyed")])
        .await
        .assert_status(StatusCode::OK);
    let labelled = app.list_managed_keys_from_keystore(KEYSTORE_GOOGLE, &[("label", "bigquery-cmek-s")]).await;

    assert_eq!(ids(&all_states.json(), "managed_keys").len(), 2);
    assert_eq!(ids(&labelled.json(), "managed_keys"), [KEY_PRE_ACTIVE]);
}
