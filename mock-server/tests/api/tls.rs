//! HTTPS through the real binary: `--tls` (HTTPS on `--port`) and `--https-port` (HTTPS beside plain HTTP),
//! called by a real TLS client (reqwest on rustls) that trusts only the generated certificate; a client
//! that does not trust it is refused; a TLS client on the plain port is logged once with what to do; bad
//! certificate files stop the server with one line naming the flag and the file. Also `MockServer` over TLS.

use std::path::{Path, PathBuf};
use std::time::Duration;

use reqwest::StatusCode;
use serde_json::Value;
use uko_mock::tls::TlsIdentity;
use uko_mock::MockServer;

use crate::helpers::binary::Binary;
use crate::helpers::VAULT;

/// A fresh directory for generated certificates.
pub fn scratch_dir(name: &str) -> PathBuf {
    let dir = std::env::temp_dir().join(format!("uko-mock-tls-test-{name}-{}", std::process::id()));
    let _ = std::fs::remove_dir_all(&dir);
    std::fs::create_dir_all(&dir).expect("create the scratch directory");
    dir
}

/// A TLS client that trusts only this certificate (no built-in roots).
pub fn client_trusting(cert_path: &Path) -> reqwest::Client {
    let pem = std::fs::read(cert_path).expect("read the generated certificate");
    reqwest::Client::builder()
        .use_rustls_tls()
        .tls_built_in_root_certs(false)
        .add_root_certificate(reqwest::Certificate::from_pem(&pem).expect("a PEM certificate"))
        .timeout(Duration::from_secs(10))
        .build()
        .expect("a TLS client")
}

/// A port nothing listens on right now.
fn free_port() -> u16 {
    std::net::TcpListener::bind("127.0.0.1:0").expect("bind").local_addr().expect("address").port()
}

fn port_of(url: &str) -> u16 {
    url.rsplit(':').next().and_then(|p| p.parse().ok()).expect("a URL ending in its port")
}

/// Every surface answers over HTTPS: the UKO API (default and isolated instance), IAM, the control plane
/// and the console; generated hrefs say https.
async fn every_surface_answers(client: &reqwest::Client, base: &str) {
    let token: Value = client
        .post(format!("{base}/identity/token"))
        .form(&[("grant_type", "urn:ibm:params:oauth:grant-type:apikey"), ("apikey", "uko-mock-apikey")])
        .send()
        .await
        .expect("IAM over HTTPS")
        .json()
        .await
        .expect("IAM JSON");
    let bearer = format!("Bearer {}", token["access_token"].as_str().expect("an access token"));
    for path in ["/api/v4/vaults", "/instances/tls-suite/api/v4/vaults"] {
        let answer = client.get(format!("{base}{path}")).header("Authorization", &bearer).send().await.expect("UKO");
        assert_eq!(answer.status(), StatusCode::OK, "{path}");
        let body: Value = answer.json().await.expect("JSON");
        assert_eq!(body["vaults"][0]["id"], VAULT, "{path}");
        let first = body["first"]["href"].as_str().expect("a first link");
        assert!(first.starts_with(&format!("{base}{path}")), "href {first} keeps the https origin of {base}{path}");
    }
    let health = client.get(format!("{base}/__mock/v1/health")).send().await.expect("control plane");
    assert_eq!(health.status(), StatusCode::OK);
    let console = client.get(format!("{base}/")).send().await.expect("console");
    assert_eq!(console.status(), StatusCode::OK);
    assert!(console.text().await.expect("HTML").contains("<html"), "the console's page");
}

#[tokio::test]
async fn tls_serves_https_on_the_port_with_a_certificate_only_it_trusts() {
    let dir = scratch_dir("tls-flag");
    let binary = Binary::start(&["--tls", "--tls-dir", &dir.display().to_string()]).await;
    assert!(binary.base_url.starts_with("https://127.0.0.1:"), "{}", binary.base_url);
    let cert = dir.join(format!("uko-mock-{}.pem", port_of(&binary.base_url)));

    every_surface_answers(&client_trusting(&cert), &binary.base_url).await;

    let untrusting = reqwest::Client::builder().use_rustls_tls().build().expect("client");
    let refused = untrusting.get(format!("{}/__mock/v1/health", binary.base_url)).send().await;
    let error = refused.expect_err("a client that does not trust the certificate is refused");
    assert!(error.is_connect(), "{error:?}");
    let plain = reqwest::Client::new().get(format!("{}/", binary.base_url.replace("https://", "http://"))).send().await;
    assert!(plain.is_err() || plain.is_ok_and(|a| a.status() == StatusCode::BAD_REQUEST), "plain HTTP on --tls");

    let printed = binary.stop().await;
    let cert_line = format!("certificate:  {}", cert.display());
    assert!(printed.contains(&cert_line), "the banner names the certificate:\n{printed}");
    assert!(printed.contains(&format!("SSL_CERT_FILE={}", cert.display())), "{printed}");
    assert!(printed.contains(&format!("curl --cacert {} https://", cert.display())), "{printed}");
}

#[tokio::test]
async fn https_port_adds_https_beside_plain_http_and_a_tls_client_on_the_plain_port_is_told_once() {
    let dir = scratch_dir("https-port");
    let https_port = free_port();
    let binary =
        Binary::start(&["--https-port", &https_port.to_string(), "--tls-dir", &dir.display().to_string()]).await;
    assert!(binary.base_url.starts_with("http://"), "--port stays plain HTTP: {}", binary.base_url);
    let https = format!("https://127.0.0.1:{https_port}");
    let client = client_trusting(&dir.join(format!("uko-mock-{https_port}.pem")));

    every_surface_answers(&client, &https).await;
    every_surface_answers(&reqwest::Client::new(), &binary.base_url).await;
    // Terraform's provider turns any URL into https://: what it sends to a plain port.
    let plain_as_https = binary.base_url.replace("http://", "https://");
    for _ in 0..3 {
        let attempt = client.get(format!("{plain_as_https}/api/v4/vaults")).send().await;
        assert!(attempt.is_err(), "a TLS client gets no answer from the plain port");
    }

    let printed = binary.stop().await;
    assert!(printed.contains(&format!("HTTPS:        {https}")), "{printed}");
    let warnings = printed.matches("a TLS handshake arrived on the plain-HTTP port").count();
    assert_eq!(warnings, 1, "warned once, not per attempt:\n{printed}");
    assert!(printed.contains("--tls") && printed.contains("--https-port"), "says what to do:\n{printed}");
}

/// Runs the binary expecting it to refuse to start; returns its exit code and stderr.
async fn refused_start(arguments: &[&str]) -> (Option<i32>, String) {
    let output = tokio::time::timeout(
        Duration::from_secs(30),
        tokio::process::Command::new(env!("CARGO_BIN_EXE_uko-mock"))
            .args(["--port", "0"])
            .args(arguments)
            .kill_on_drop(true)
            .output(),
    )
    .await
    .expect("uko-mock exits")
    .expect("uko-mock runs");
    (output.status.code(), String::from_utf8_lossy(&output.stderr).into_owned())
}

#[tokio::test]
async fn bad_certificate_files_stop_the_server_with_one_line_naming_the_flag_and_the_file() {
    let dir = scratch_dir("bad-files");
    let missing = dir.join("missing.pem");
    let garbage = dir.join("garbage.pem");
    std::fs::write(&garbage, "-----BEGIN NOTHING-----\n").expect("write");
    let good = TlsIdentity::generated(&dir, 1, false).expect("a generated pair");
    let (missing, garbage) = (missing.display().to_string(), garbage.display().to_string());
    let (cert, key) = (good.cert_path.display().to_string(), good.key_path.display().to_string());

    let cases = [
        (vec!["--tls", "--tls-cert", missing.as_str(), "--tls-key", key.as_str()], format!("--tls-cert {missing}")),
        (vec!["--tls", "--tls-cert", garbage.as_str(), "--tls-key", key.as_str()], format!("--tls-cert {garbage}")),
        (
            vec!["--https-port", "0", "--tls-cert", cert.as_str(), "--tls-key", garbage.as_str()],
            format!("--tls-key {garbage}"),
        ),
        (vec!["--tls", "--tls-cert", cert.as_str(), "--tls-key", missing.as_str()], format!("--tls-key {missing}")),
    ];
    for (arguments, named) in cases {
        let (code, stderr) = refused_start(&arguments).await;
        assert_eq!(code, Some(1), "{arguments:?}: {stderr}");
        assert!(stderr.contains(&named), "{arguments:?} names {named}:\n{stderr}");
        assert!(!stderr.contains("panicked"), "{stderr}");
    }
    let (code, stderr) = refused_start(&["--tls", "--tls-cert", cert.as_str()]).await;
    assert_eq!(code, Some(2), "clap refuses --tls-cert without --tls-key: {stderr}");
    assert!(stderr.contains("--tls-key"), "{stderr}");
    let dir_text = dir.display().to_string();
    let (code, stderr) = refused_start(&["--tls-dir", dir_text.as_str()]).await;
    assert_eq!(code, Some(1), "{stderr}");
    assert!(stderr.contains("--tls-dir is only used with --tls or --https-port"), "{stderr}");
    let (code, stderr) = refused_start(&["--https-port", "not-a-port"]).await;
    assert_eq!(code, Some(2), "{stderr}");
    assert!(stderr.contains("--https-port"), "{stderr}");
}

#[tokio::test]
async fn user_certificate_files_are_served_as_given() {
    let dir = scratch_dir("user-pair");
    let pair = TlsIdentity::generated(&dir, 7, false).expect("a pair the user made");
    let (cert, key) = (pair.cert_path.display().to_string(), pair.key_path.display().to_string());
    let binary = Binary::start(&["--tls", "--tls-cert", &cert, "--tls-key", &key]).await;

    let health = client_trusting(&pair.cert_path).get(format!("{}/__mock/v1/health", binary.base_url)).send().await;

    assert_eq!(health.expect("served with the user's pair").status(), StatusCode::OK);
    let printed = binary.stop().await;
    assert!(printed.contains(&format!("SSL_CERT_FILE={cert}")), "{printed}");
}

#[tokio::test]
async fn mock_server_starts_with_tls() {
    let dir = scratch_dir("mock-server");
    let identity = TlsIdentity::generated(&dir, 0, false).expect("generated");
    let cert = identity.cert_path.clone();
    let server = MockServer::builder().tls(identity).start().await.expect("started");
    assert!(server.base_url().starts_with("https://127.0.0.1:"), "{}", server.base_url());

    let answer = client_trusting(&cert).get(format!("{}/vaults", server.api_url())).send().await.expect("HTTPS");

    assert_eq!(answer.status(), StatusCode::OK);
}

#[tokio::test]
async fn a_stalled_tls_handshake_is_cut_off_after_the_header_timeout() {
    use tokio::io::AsyncReadExt;
    let dir = scratch_dir("stalled-handshake");
    let identity = TlsIdentity::generated(&dir, 0, false).expect("generated");
    let limits = uko_mock::server::Limits { header_read_timeout: Duration::from_millis(500), ..Default::default() };
    let server = MockServer::builder().tls(identity).limits(limits).start().await.expect("started");

    // A client that connects and never says hello, and one that sends half a ClientHello.
    for first_bytes in [&b""[..], &[0x16, 0x03, 0x01, 0x02, 0x00][..]] {
        let mut stream = tokio::net::TcpStream::connect(server.address()).await.expect("connect");
        tokio::io::AsyncWriteExt::write_all(&mut stream, first_bytes).await.expect("write");
        let mut buffer = [0u8; 64];
        let closed = tokio::time::timeout(Duration::from_secs(5), stream.read(&mut buffer)).await;
        assert!(
            matches!(closed, Ok(Ok(0)) | Ok(Err(_))),
            "the server closes a stalled handshake within its header timeout: {closed:?}"
        );
    }
}
