//! Terraform's IBM provider, replayed: the requests `IBM-Cloud/terraform-provider-ibm`
//! (`ibm/service/hpcs/*.go`) makes through `github.com/IBM/ibm-hpcs-uko-sdk` v0.0.20-beta (the generation it
//! pins), sent over HTTPS to the real binary with its generated certificate, in the provider's order, with
//! the SDK's headers (`UKO-Vault` on per-resource calls, `If-Match` from the ETag the provider kept) and
//! bodies (taken from the provider's `examples/ibm-hpcs-uko/main.tf`). Neither Go nor Terraform runs here:
//! the sequences are read from their code.
//!
//! Also the IAM token the provider decodes at configure time: an RS256 JWT whose signature verifies
//! against the JWK set at `GET /identity/keys`, with IBM IAM's claims.

use reqwest::{Method, StatusCode};
use serde_json::{json, Value};

use crate::helpers::binary::Binary;
use crate::tls::{client_trusting, scratch_dir};

const APIKEY_GRANT: &str = "urn:ibm:params:oauth:grant-type:apikey";

/// What Terraform's configuration names: the region and instance id are only parts of resource ids when
/// `IBMCLOUD_HPCS_UKO_URL` is set (the provider then sends everything to that URL).
const REGION: &str = "us-east";
const INSTANCE: &str = "00000000-0000-4000-8000-00000000f00d";

fn base64url_decode(text: &str) -> Vec<u8> {
    let value = |c: u8| match c {
        b'A'..=b'Z' => c - b'A',
        b'a'..=b'z' => c - b'a' + 26,
        b'0'..=b'9' => c - b'0' + 52,
        b'-' => 62,
        b'_' => 63,
        other => panic!("not base64url: {other}"),
    };
    let mut out = Vec::new();
    let (mut buffer, mut bits) = (0u32, 0);
    for c in text.bytes() {
        buffer = (buffer << 6) | u32::from(value(c));
        bits += 6;
        if bits >= 8 {
            bits -= 8;
            out.push((buffer >> bits) as u8);
        }
    }
    out
}

/// The provider's client: an IAM token, then the SDK's requests to the service URL.
struct Provider {
    http: reqwest::Client,
    /// `IBMCLOUD_HPCS_UKO_URL`: the server root or an isolated instance's URL.
    service: String,
    /// The control plane of that instance.
    control: String,
    bearer: String,
    /// Steps run, for the failure messages.
    steps: usize,
}

/// One SDK answer: status, the `Etag` header the provider keeps, the body.
struct Answer {
    status: StatusCode,
    etag: Option<String>,
    body: Value,
}

impl Provider {
    /// `IBMCLOUD_IAM_API_ENDPOINT` → `POST /identity/token` with basic auth `bx:bx` and the API-key grant
    /// (bluemix-go's IAM call); returns the provider with the token, after checking the claims the
    /// provider's `fetchUserDetails` reads (`id`, `account.bss`, `iss`).
    async fn configure(http: reqwest::Client, base: &str, instance: Option<&str>) -> Provider {
        let answer = http
            .post(format!("{base}/identity/token"))
            .basic_auth("bx", Some("bx"))
            .header("Accept", "application/json")
            .form(&[("grant_type", APIKEY_GRANT), ("apikey", "uko-mock-apikey"), ("response_type", "cloud_iam")])
            .send()
            .await
            .expect("IAM over HTTPS");
        assert_eq!(answer.status(), StatusCode::OK);
        let token: Value = answer.json().await.expect("IAM JSON");
        let access = token["access_token"].as_str().expect("access_token").to_owned();
        let claims: Value =
            serde_json::from_slice(&base64url_decode(access.split('.').nth(1).expect("a JWT payload"))).expect("JSON");
        assert!(claims["id"].is_string(), "{claims}");
        assert!(claims["account"]["bss"].is_string(), "{claims}");
        assert!(claims["iss"].as_str().is_some_and(|iss| iss.contains("https://iam.cloud.ibm.com")), "{claims}");
        let (service, control) = match instance {
            Some(id) => (format!("{base}/instances/{id}"), format!("{base}/__mock/v1/instances/{id}")),
            None => (base.to_owned(), format!("{base}/__mock/v1")),
        };
        Provider { http, service, control, bearer: format!("Bearer {access}"), steps: 1 }
    }

    /// One SDK call; panics unless it succeeded (what a Terraform step needs).
    async fn call(
        &mut self,
        step: &str,
        method: Method,
        path: &str,
        uko_vault: Option<&str>,
        if_match: Option<&str>,
        body: Option<Value>,
    ) -> Answer {
        let answer = self.send(method, path, uko_vault, if_match, body).await;
        self.steps += 1;
        assert!(answer.status.is_success(), "step {} ({step}) failed: {} {}", self.steps, answer.status, answer.body);
        answer
    }

    /// A managed key's state change as the provider runs it: the action (`activate`, `deactivate`,
    /// `destroy`) with the ETag it holds, then a GET for the ETag of its next step. Returns the state the
    /// action answered and that ETag.
    async fn key_action(&mut self, step: &str, key_path: &str, vault: &str, etag: &str) -> (Value, String) {
        let action = step.trim_end_matches("ManagedKey").to_lowercase();
        let changed =
            self.call(step, Method::POST, &format!("{key_path}/{action}"), Some(vault), Some(etag), None).await;
        let read = self.call("GetManagedKey", Method::GET, key_path, Some(vault), None, None).await;
        (changed.body["state"].clone(), read.etag.expect("GetManagedKey sends an ETag"))
    }

    async fn send(
        &self,
        method: Method,
        path: &str,
        uko_vault: Option<&str>,
        if_match: Option<&str>,
        body: Option<Value>,
    ) -> Answer {
        let mut request = self
            .http
            .request(method, format!("{}{path}", self.service))
            .header("Authorization", &self.bearer)
            .header("Accept", "application/json")
            .header("User-Agent", "uko-go-sdk/0.0.20-beta (terraform-provider-ibm replay)");
        if let Some(vault) = uko_vault {
            request = request.header("UKO-Vault", vault);
        }
        if let Some(etag) = if_match {
            request = request.header("If-Match", etag);
        }
        if let Some(body) = body {
            request = request.json(&body);
        }
        let response = request.send().await.expect("the SDK's request reaches the mock");
        let status = response.status();
        let etag = response.headers().get("etag").and_then(|v| v.to_str().ok()).map(str::to_owned);
        let text = response.text().await.expect("a body");
        let body = if text.is_empty() { Value::Null } else { serde_json::from_str(&text).expect("JSON") };
        Answer { status, etag, body }
    }

    /// The control plane, as a Terraform user's test moves the virtual clock.
    async fn advance_clock(&self, seconds: i64) {
        let answer = self
            .http
            .post(format!("{}/clock/advance", self.control))
            .json(&json!({"seconds": seconds}))
            .send()
            .await
            .expect("control plane");
        assert_eq!(answer.status(), StatusCode::OK);
    }

    /// `SyncKeys` after a keystore create or update: the first page of `ListManagedKeysFromKeystore`, a GET
    /// of each key (for its ETag), a sync with that ETag.
    async fn sync_keys(&mut self, vault: &str, keystore: &str) -> usize {
        let list = self
            .call(
                "ListManagedKeysFromKeystore",
                Method::GET,
                &format!("/api/v4/keystores/{keystore}/managed_keys"),
                Some(vault),
                None,
                None,
            )
            .await;
        let keys = list.body["managed_keys"].as_array().cloned().unwrap_or_default();
        for key in &keys {
            let id = key["id"].as_str().expect("key id");
            let key_vault = key["vault"]["id"].as_str().expect("the key's vault id");
            let read = self
                .call("GetManagedKey", Method::GET, &format!("/api/v4/managed_keys/{id}"), Some(key_vault), None, None)
                .await;
            let etag = read.etag.expect("GetManagedKey sends an ETag");
            self.call(
                "SyncManagedKey",
                Method::POST,
                &format!("/api/v4/managed_keys/{id}/sync_status_in_keystores"),
                Some(key_vault),
                Some(&etag),
                None,
            )
            .await;
        }
        keys.len()
    }
}

/// A Terraform resource id: `<region>/<instance_id>/<vault_id>[/<id>]`, split as the provider does.
fn parts(id: &str) -> Vec<&str> {
    id.split('/').collect()
}

/// The provider's whole life cycle of every resource type, over HTTPS. Returns how many steps ran.
async fn replay_the_provider(
    binary: &Binary,
    client: reqwest::Client,
    realistic: bool,
    instance: Option<&str>,
) -> usize {
    let mut tf = Provider::configure(client, &binary.base_url, instance).await;

    // ibm_hpcs_vault: create, read (ETag), update with If-Match, read. Vault calls send no UKO-Vault.
    let created = tf
        .call(
            "CreateVault",
            Method::POST,
            "/api/v4/vaults",
            None,
            None,
            Some(json!({"name": "terraformVault", "description": "example vault"})),
        )
        .await;
    let vault = created.body["id"].as_str().expect("vault id").to_owned();
    let vault_resource = format!("{REGION}/{INSTANCE}/{vault}");
    let vault_id = parts(&vault_resource)[2].to_owned();
    let read = tf.call("GetVault", Method::GET, &format!("/api/v4/vaults/{vault_id}"), None, None, None).await;
    let etag = read.etag.expect("GetVault sends an ETag");
    tf.call(
        "UpdateVault",
        Method::PATCH,
        &format!("/api/v4/vaults/{vault_id}"),
        None,
        Some(&etag),
        Some(json!({"description": "example vault, updated"})),
    )
    .await;
    let read = tf.call("GetVault", Method::GET, &format!("/api/v4/vaults/{vault_id}"), None, None, None).await;
    assert_eq!(read.body["description"], "example vault, updated");
    let mut vault_etag = read.etag.expect("ETag");

    // ibm_hpcs_keystore: create (the SDK's AWS KMS body), SyncKeys, read.
    let keystore_body = json!({
        "type": "aws_kms",
        "vault": {"id": vault},
        "name": "terraformKeystore",
        "description": "example keystore",
        "groups": ["Production"],
        "aws_region": "eu_central_1",
        "aws_access_key_id": "XXXXXXX",
        "aws_secret_access_key": "XXXXXXX",
    });
    let created =
        tf.call("CreateKeystore", Method::POST, "/api/v4/keystores", Some(&vault), None, Some(keystore_body)).await;
    let keystore = created.body["id"].as_str().expect("keystore id").to_owned();
    let keystore_resource = format!("{REGION}/{INSTANCE}/{vault}/{keystore}");
    assert_eq!(tf.sync_keys(&vault, &keystore).await, 0, "a new keystore holds no key yet");
    let read =
        tf.call("GetKeystore", Method::GET, &format!("/api/v4/keystores/{keystore}"), Some(&vault), None, None).await;
    let mut keystore_etag = read.etag.expect("GetKeystore sends an ETag");

    // ibm_hpcs_key_template: create (key properties as the 4.7 SDK sends them), read (ETag = `version`),
    // update the description with If-Match, read.
    let template_body = json!({
        "vault": {"id": vault},
        "name": "terraformKeyTemplate",
        "key": {"size": "256", "algorithm": "aes", "activation_date": "P5Y1M1W2D", "expiration_date": "P1Y2M1W4D", "state": "active"},
        "keystores": [{"group": "Production", "type": "aws_kms"}],
        "description": "example key template",
    });
    let created =
        tf.call("CreateKeyTemplate", Method::POST, "/api/v4/templates", Some(&vault), None, Some(template_body)).await;
    let template = created.body["id"].as_str().expect("template id").to_owned();
    let template_name = created.body["name"].as_str().expect("template name").to_owned();
    let read = tf
        .call("GetKeyTemplate", Method::GET, &format!("/api/v4/templates/{template}"), Some(&vault), None, None)
        .await;
    let version = read.etag.expect("GetKeyTemplate sends an ETag");
    tf.call(
        "UpdateKeyTemplate",
        Method::PATCH,
        &format!("/api/v4/templates/{template}"),
        Some(&vault),
        Some(&version),
        Some(json!({"description": "example key template, updated"})),
    )
    .await;
    let read = tf
        .call("GetKeyTemplate", Method::GET, &format!("/api/v4/templates/{template}"), Some(&vault), None, None)
        .await;
    let mut template_version = read.etag.expect("ETag");

    // A second template whose keys start in pre_activation (`key.state`).
    let created = tf
        .call(
            "CreateKeyTemplate",
            Method::POST,
            "/api/v4/templates",
            Some(&vault),
            None,
            Some(json!({
                "vault": {"id": vault},
                "name": "terraformKeyTemplatePreActive",
                "key": {"size": "256", "algorithm": "aes", "activation_date": "P5Y1M1W2D", "expiration_date": "P1Y2M1W4D", "state": "pre_activation"},
                "keystores": [{"group": "Production", "type": "aws_kms"}],
            })),
        )
        .await;
    let second_template = created.body["id"].as_str().expect("template id").to_owned();
    let second_template_name = created.body["name"].as_str().expect("template name").to_owned();

    // ibm_hpcs_managed_key: create, read, update (PATCH, then the state changes with the ETag each
    // previous answer returned), delete only once destroyed.
    let mut keys = Vec::new();
    for (label, template_name) in
        [("terraformKey", &template_name), ("terraformKeyNeverActivated", &second_template_name)]
    {
        let created = tf
            .call(
                "CreateManagedKey",
                Method::POST,
                "/api/v4/managed_keys",
                Some(&vault),
                None,
                Some(json!({
                    "template_name": template_name,
                    "vault": {"id": vault},
                    "label": label,
                    "tags": [{"name": "env", "value": "test"}],
                    "description": "example key",
                })),
            )
            .await;
        let key = created.body["id"].as_str().expect("key id").to_owned();
        keys.push(format!("{REGION}/{INSTANCE}/{vault}/{key}"));
    }
    let key_resource = keys[0].clone();
    let [_, _, key_vault, key] = parts(&key_resource)[..] else { panic!("a four-part id") };
    let key_path = format!("/api/v4/managed_keys/{key}");
    let read = tf.call("GetManagedKey", Method::GET, &key_path, Some(key_vault), None, None).await;
    let state = read.body["state"].as_str().expect("state").to_owned();
    assert_eq!(state, "active", "the template's key.state");
    let mut etag = read.etag.expect("ETag");

    // Keystore update now that a key lives in it: SyncKeys walks that key.
    tf.call(
        "UpdateKeystore",
        Method::PATCH,
        &format!("/api/v4/keystores/{keystore}"),
        Some(&vault),
        Some(&keystore_etag),
        Some(json!({"description": "example keystore, updated"})),
    )
    .await;
    assert_eq!(tf.sync_keys(&vault, &keystore).await, 2, "SyncKeys reads and syncs both keys");
    let read =
        tf.call("GetKeystore", Method::GET, &format!("/api/v4/keystores/{keystore}"), Some(&vault), None, None).await;
    keystore_etag = read.etag.expect("ETag");

    // terraform apply: label and description changed, state active → deactivated.
    let patched = tf
        .call(
            "UpdateManagedKey",
            Method::PATCH,
            &key_path,
            Some(key_vault),
            Some(&etag),
            Some(json!({"label": "terraformKeyRenamed", "description": "example key, updated"})),
        )
        .await;
    etag = patched.etag.expect("UpdateManagedKey sends an ETag");
    let (state, next) = tf.key_action("DeactivateManagedKey", &key_path, key_vault, &etag).await;
    assert_eq!(state, "deactivated");
    // terraform apply: deactivated → active.
    let (state, next) = tf.key_action("ActivateManagedKey", &key_path, key_vault, &next).await;
    assert_eq!(state, "active");
    // terraform apply: active → deactivated.
    let (state, next) = tf.key_action("DeactivateManagedKey", &key_path, key_vault, &next).await;
    assert_eq!(state, "deactivated");
    etag = next;
    // terraform apply: deactivated → destroyed. Under IBM's rules only 4 hours after the deactivation: the
    // test moves the virtual clock, as a Terraform user's test would (the refusal is UKO's 409 first).
    if realistic {
        let early = tf.send(Method::POST, &format!("{key_path}/destroy"), Some(key_vault), Some(&etag), None).await;
        assert_eq!(early.status, StatusCode::CONFLICT, "{}", early.body);
        tf.advance_clock(4 * 3600).await;
    }
    let destroyed = tf
        .call("DestroyManagedKey", Method::POST, &format!("{key_path}/destroy"), Some(key_vault), Some(&etag), None)
        .await;
    assert_eq!(destroyed.body["state"], "destroyed");
    let read = tf.call("GetManagedKey", Method::GET, &key_path, Some(key_vault), None, None).await;
    etag = read.etag.expect("ETag");
    let statuses = tf
        .call(
            "GetKeyDistributionStatusForKeystores",
            Method::GET,
            &format!("{key_path}/status_in_keystores"),
            Some(key_vault),
            None,
            None,
        )
        .await;
    let entry = &statuses.body["status_in_keystores"][0];
    if realistic {
        // IBM's docs: an AWS KMS copy is pending destruction for 7 days before it disappears.
        assert_eq!(entry["status"], "pending_destruction", "{statuses:?}", statuses = statuses.body);
        assert!(entry["destruction_at"].is_string(), "{entry}");
        let early = tf.send(Method::DELETE, &key_path, Some(key_vault), Some(&etag), None).await;
        assert_eq!(early.status, StatusCode::CONFLICT, "delete waits for the pending destruction: {}", early.body);
        tf.advance_clock(7 * 86_400).await;
    } else {
        assert_eq!(entry["status"], "not_present", "{entry}");
    }
    // terraform destroy: DeleteManagedKey with the ETag of the last read.
    tf.call("DeleteManagedKey", Method::DELETE, &key_path, Some(key_vault), Some(&etag), None).await;
    let gone = tf.send(Method::GET, &key_path, Some(key_vault), None, None).await;
    assert_eq!(gone.status, StatusCode::NOT_FOUND, "the provider then drops the resource from its state");

    // The second key: destroyed straight from pre_activation (IBM's docs and the provider allow it, under
    // both profiles), then deleted.
    let [_, _, key_vault, key] = parts(&keys[1])[..] else { panic!("a four-part id") };
    let key_path = format!("/api/v4/managed_keys/{key}");
    let read = tf.call("GetManagedKey", Method::GET, &key_path, Some(key_vault), None, None).await;
    assert_eq!(read.body["state"], "pre_activation");
    let destroyed = tf
        .call(
            "DestroyManagedKey",
            Method::POST,
            &format!("{key_path}/destroy"),
            Some(key_vault),
            read.etag.as_deref(),
            None,
        )
        .await;
    assert_eq!(destroyed.body["state"], "destroyed");
    let read = tf.call("GetManagedKey", Method::GET, &key_path, Some(key_vault), None, None).await;
    // A key never activated left no copy behind, so nothing is pending destruction.
    tf.call("DeleteManagedKey", Method::DELETE, &key_path, Some(key_vault), read.etag.as_deref(), None).await;

    // Data sources and `terraform import`: reads by the parts of the ids.
    let [_, _, vault_id] = parts(&vault_resource)[..] else { panic!("a three-part vault id") };
    let vault_read =
        tf.call("GetVault (data source)", Method::GET, &format!("/api/v4/vaults/{vault_id}"), None, None, None).await;
    vault_etag = vault_read.etag.unwrap_or(vault_etag);
    let [_, _, ks_vault, ks_id] = parts(&keystore_resource)[..] else { panic!("a four-part keystore id") };
    let keystore_read = tf
        .call(
            "GetKeystore (data source)",
            Method::GET,
            &format!("/api/v4/keystores/{ks_id}"),
            Some(ks_vault),
            None,
            None,
        )
        .await;
    assert_eq!(keystore_read.body["name"], "terraformKeystore");
    keystore_etag = keystore_read.etag.unwrap_or(keystore_etag);
    let template_resource = format!("{REGION}/{INSTANCE}/{vault}/{template}");
    let [_, _, t_vault, t_id] = parts(&template_resource)[..] else { panic!("a four-part template id") };
    let template_read = tf
        .call(
            "GetKeyTemplate (data source)",
            Method::GET,
            &format!("/api/v4/templates/{t_id}"),
            Some(t_vault),
            None,
            None,
        )
        .await;
    assert_eq!(template_read.body["vault"]["id"], vault);
    template_version = template_read.etag.unwrap_or(template_version);

    // terraform destroy of the rest, each with the ETag its last read kept.
    tf.call(
        "DeleteKeyTemplate",
        Method::DELETE,
        &format!("/api/v4/templates/{template}"),
        Some(&vault),
        Some(&template_version),
        None,
    )
    .await;
    let read = tf
        .call("GetKeyTemplate", Method::GET, &format!("/api/v4/templates/{second_template}"), Some(&vault), None, None)
        .await;
    tf.call(
        "DeleteKeyTemplate",
        Method::DELETE,
        &format!("/api/v4/templates/{second_template}"),
        Some(&vault),
        read.etag.as_deref(),
        None,
    )
    .await;
    tf.call(
        "DeleteKeystore",
        Method::DELETE,
        &format!("/api/v4/keystores/{keystore}"),
        Some(&vault),
        Some(&keystore_etag),
        None,
    )
    .await;
    tf.call("DeleteVault", Method::DELETE, &format!("/api/v4/vaults/{vault}"), None, Some(&vault_etag), None).await;
    tf.steps
}

#[tokio::test]
async fn the_providers_flows_run_over_https_with_default_rules() {
    let dir = scratch_dir("terraform-default");
    let binary = Binary::start(&["--tls", "--tls-dir", &dir.display().to_string()]).await;
    let port = binary.base_url.rsplit(':').next().expect("port").to_owned();
    let client = client_trusting(&dir.join(format!("uko-mock-{port}.pem")));

    let steps = replay_the_provider(&binary, client, false, None).await;

    assert_eq!(steps, 46, "every step of the replay ran and succeeded");
}

#[tokio::test]
async fn the_providers_flows_run_over_https_under_the_realistic_profile() {
    let dir = scratch_dir("terraform-realistic");
    let binary = Binary::start(&["--tls", "--tls-dir", &dir.display().to_string(), "--profile", "realistic"]).await;
    let port = binary.base_url.rsplit(':').next().expect("port").to_owned();
    let client = client_trusting(&dir.join(format!("uko-mock-{port}.pem")));

    // On an isolated instance: IBMCLOUD_HPCS_UKO_URL=https://127.0.0.1:PORT/instances/terraform-realistic.
    let steps = replay_the_provider(&binary, client, true, Some("terraform-realistic")).await;

    assert_eq!(steps, 46, "every step of the replay ran and succeeded");
}

#[tokio::test]
async fn the_iam_access_token_is_an_rs256_jwt_verified_by_the_published_key_with_ibms_claims() {
    let binary = Binary::start(&["--token-ttl", "1200"]).await;
    let http = reqwest::Client::new();
    let base = &binary.base_url;
    let before = time::OffsetDateTime::now_utc().unix_timestamp();

    let token: Value = http
        .post(format!("{base}/identity/token"))
        .form(&[("grant_type", APIKEY_GRANT), ("apikey", "uko-mock-apikey")])
        .send()
        .await
        .expect("IAM")
        .json()
        .await
        .expect("JSON");
    let keys: Value =
        http.get(format!("{base}/identity/keys")).send().await.expect("JWK set").json().await.expect("JSON");

    let access = token["access_token"].as_str().expect("access_token");
    let segments: Vec<&str> = access.split('.').collect();
    assert_eq!(segments.len(), 3);
    let header: Value = serde_json::from_slice(&base64url_decode(segments[0])).expect("header JSON");
    assert_eq!(header["alg"], "RS256");
    let kid = header["kid"].as_str().expect("kid");
    let jwk = keys["keys"].as_array().expect("keys").iter().find(|k| k["kid"] == kid).expect("the kid is published");
    assert_eq!((jwk["kty"].as_str(), jwk["alg"].as_str()), (Some("RSA"), Some("RS256")));
    let public = ring::signature::RsaPublicKeyComponents {
        n: base64url_decode(jwk["n"].as_str().expect("n")),
        e: base64url_decode(jwk["e"].as_str().expect("e")),
    };
    let signed = format!("{}.{}", segments[0], segments[1]);
    let signature = base64url_decode(segments[2]);
    public
        .verify(&ring::signature::RSA_PKCS1_2048_8192_SHA256, signed.as_bytes(), &signature)
        .expect("the signature verifies against the JWK set");
    let mut tampered = signature.clone();
    tampered[0] ^= 1;
    assert!(public.verify(&ring::signature::RSA_PKCS1_2048_8192_SHA256, signed.as_bytes(), &tampered).is_err());

    let claims: Value = serde_json::from_slice(&base64url_decode(segments[1])).expect("claims JSON");
    for claim in ["iam_id", "id", "realmid", "sub", "sub_type", "iss", "grant_type", "scope", "client_id"] {
        assert!(claims[claim].as_str().is_some_and(|v| !v.is_empty()), "claim {claim} in {claims}");
    }
    assert_eq!(claims["iam_id"], claims["id"]);
    assert_eq!(claims["grant_type"], APIKEY_GRANT);
    assert!(claims["account"]["bss"].is_string(), "{claims}");
    let (iat, exp) = (claims["iat"].as_i64().expect("iat"), claims["exp"].as_i64().expect("exp"));
    assert!(iat >= before - 1 && iat <= before + 60, "iat {iat} is now");
    assert_eq!(exp - iat, 1200, "exp is --token-ttl after iat");
    assert_eq!(token["expiration"].as_i64(), Some(exp));

    // The token works as a bearer token; the static one still does.
    for bearer in [access, "uko-mock-token"] {
        let answer = http
            .get(format!("{base}/api/v4/vaults"))
            .header("Authorization", format!("Bearer {bearer}"))
            .send()
            .await
            .expect("UKO");
        assert_eq!(answer.status(), StatusCode::OK);
    }
}
