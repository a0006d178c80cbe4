//! Bounded memory, measured on the real binary: requests carrying a 30 KB id and a 30 KB `If-Match` are
//! journaled with their fields cut, and the cut entries must not keep the original allocations alive.

use std::time::Duration;

use crate::helpers::binary::Binary;

/// Resident memory of a process, from `/proc/<pid>/status` (Linux), in KiB.
fn rss_kib(pid: u32) -> u64 {
    let status = std::fs::read_to_string(format!("/proc/{pid}/status")).unwrap();
    let line = status.lines().find(|line| line.starts_with("VmRSS:")).unwrap();
    line.split_whitespace().nth(1).unwrap().parse().unwrap()
}

/// Sends `count` requests with a 30 KB id and a 30 KB `If-Match`, on sixteen keep-alive connections. Raw
/// TCP: an unoptimized HTTP client spends more time on 30 KB answers than the server does.
async fn campaign(base_url: &str, count: usize) {
    use tokio::io::{AsyncBufReadExt, AsyncReadExt, AsyncWriteExt, BufReader};
    let address = base_url.trim_start_matches("http://").to_owned();
    let request = format!(
        "GET /api/v4/managed_keys/{} HTTP/1.1\r\nHost: {address}\r\nIf-Match: {}\r\n\r\n",
        "k".repeat(30_000),
        "9".repeat(30_000)
    );
    let mut tasks = tokio::task::JoinSet::new();
    for worker in 0..16 {
        let (address, request) = (address.clone(), request.clone());
        tasks.spawn(async move {
            let mut connection = BufReader::new(tokio::net::TcpStream::connect(&address).await.unwrap());
            let mut body = Vec::new();
            for _ in (worker..count).step_by(16) {
                connection.get_mut().write_all(request.as_bytes()).await.unwrap();
                let mut status = String::new();
                connection.read_line(&mut status).await.unwrap();
                assert!(status.starts_with("HTTP/1.1 4"), "{status}");
                let mut length = 0;
                loop {
                    let mut line = String::new();
                    connection.read_line(&mut line).await.unwrap();
                    if line == "\r\n" {
                        break;
                    }
                    if let Some(value) = line.to_ascii_lowercase().strip_prefix("content-length:") {
                        length = value.trim().parse().unwrap();
                    }
                }
                body.resize(length, 0);
                connection.read_exact(&mut body).await.unwrap();
            }
        });
    }
    while let Some(done) = tasks.join_next().await {
        done.unwrap();
    }
}

#[tokio::test]
async fn ten_thousand_requests_with_30_kb_fields_add_less_than_50_mib() {
    let binary = Binary::start(&["--auth", "none", "--log", "error"]).await;
    // Warm-up: connection buffers and allocator arenas reach their steady size.
    campaign(&binary.base_url, 500).await;
    let before = rss_kib(binary.pid());

    tokio::time::timeout(Duration::from_secs(120), campaign(&binary.base_url, 10_000)).await.unwrap();

    let grown_mib = rss_kib(binary.pid()).saturating_sub(before) / 1024;
    assert!(grown_mib < 50, "RSS grew by {grown_mib} MiB");
    binary.stop().await;
}
