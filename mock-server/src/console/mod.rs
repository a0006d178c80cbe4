//! The web console: a static single-page app served at `/` and under `/ui/`, embedded in the binary.
//!
//! It is a client of the mock's public surfaces only (`/identity/token`, `/api/v4`, `/__mock/v1`): the Rust
//! side just serves files, with their content type, an ETag (hash of the bytes, computed at compile time)
//! and `Cache-Control: no-cache`, so a browser revalidates and a new binary's files are picked up at once.
//! The app routes with the URL fragment (`#/keys/…`), so no path beyond the listed files exists: unknown
//! `/ui/` paths are 404. Under an instance prefix (`/instances/{id}/`) the same page is served and the app
//! addresses that instance.

use axum::extract::Path;
use axum::http::{header, HeaderMap, HeaderValue, StatusCode};
use axum::response::{IntoResponse, Response};
use axum::routing::get;
use axum::Router;

use crate::web::error::ErrorCode;
use crate::web::{ApiError, AppState};

/// One embedded file.
struct Asset {
    /// Path under `/ui/`.
    path: &'static str,
    content_type: &'static str,
    body: &'static [u8],
    etag: u64,
}

macro_rules! assets {
    ($($path:literal => $content_type:literal),+ $(,)?) => {
        &[$(Asset {
            path: $path,
            content_type: $content_type,
            body: include_bytes!(concat!("assets/", $path)),
            etag: fnv1a(include_bytes!(concat!("assets/", $path))),
        }),+]
    };
}

const HTML: &str = "text/html; charset=utf-8";

/// Every file of the console. A test checks that this list and the `assets/` folder agree.
static ASSETS: &[Asset] = assets! {
    "index.html" => "text/html; charset=utf-8",
    "style.css" => "text/css; charset=utf-8",
    "favicon.svg" => "image/svg+xml",
    "js/app.js" => "text/javascript; charset=utf-8",
    "js/api.js" => "text/javascript; charset=utf-8",
    "js/dom.js" => "text/javascript; charset=utf-8",
    "js/ui.js" => "text/javascript; charset=utf-8",
    "js/views/keys.js" => "text/javascript; charset=utf-8",
    "js/views/key.js" => "text/javascript; charset=utf-8",
    "js/views/keystores.js" => "text/javascript; charset=utf-8",
    "js/views/vaults.js" => "text/javascript; charset=utf-8",
    "js/views/templates.js" => "text/javascript; charset=utf-8",
    "js/views/mock.js" => "text/javascript; charset=utf-8",
    "js/views/journal.js" => "text/javascript; charset=utf-8",
};

/// The page's policy: everything from this origin, nothing inline, no framing.
const CONTENT_SECURITY_POLICY: &str = "default-src 'self'; script-src 'self'; style-src 'self'; img-src 'self' data:; \
     connect-src 'self'; object-src 'none'; base-uri 'none'; form-action 'self'; frame-ancestors 'none'";

/// Routes of the console (at the root of the server, beside `/api/v4` and `/__mock/v1`).
pub(crate) fn console_router() -> Router<AppState> {
    Router::new()
        .route("/", get(index))
        .route("/ui", get(to_ui_folder))
        .route("/ui/", get(index))
        .route("/ui/{*path}", get(asset))
}

async fn index(headers: HeaderMap) -> Response {
    serve(find("index.html"), &headers)
}

/// `/ui` → `ui/` (relative, so an `/instances/{id}` prefix is kept).
async fn to_ui_folder() -> Response {
    (StatusCode::PERMANENT_REDIRECT, [(header::LOCATION, "ui/")]).into_response()
}

async fn asset(Path(path): Path<String>, headers: HeaderMap) -> Response {
    match find(&path) {
        Some(asset) => serve(Some(asset), &headers),
        None => ApiError::new(
            ErrorCode::NotFound,
            format!("The web console has no file '/ui/{path}'; open the console at '/'"),
        )
        .into_response(),
    }
}

fn find(path: &str) -> Option<&'static Asset> {
    ASSETS.iter().find(|asset| asset.path == path)
}

fn serve(asset: Option<&'static Asset>, request_headers: &HeaderMap) -> Response {
    let Some(asset) = asset else {
        return ApiError::from_status(StatusCode::NOT_FOUND).into_response();
    };
    let etag = format!("\"{:016x}\"", asset.etag);
    let fresh = request_headers
        .get_all(header::IF_NONE_MATCH)
        .iter()
        .filter_map(|value| value.to_str().ok())
        .flat_map(|value| value.split(','))
        .map(|tag| tag.trim().trim_start_matches("W/"))
        .any(|tag| tag == etag || tag == "*");
    let mut response = if fresh { StatusCode::NOT_MODIFIED.into_response() } else { asset.body.into_response() };
    let headers = response.headers_mut();
    headers.insert(header::CONTENT_TYPE, HeaderValue::from_static(asset.content_type));
    headers.insert(header::CACHE_CONTROL, HeaderValue::from_static("no-cache"));
    headers.insert(header::X_CONTENT_TYPE_OPTIONS, HeaderValue::from_static("nosniff"));
    if let Ok(value) = HeaderValue::from_str(&etag) {
        headers.insert(header::ETAG, value);
    }
    if asset.content_type == HTML {
        headers.insert(header::CONTENT_SECURITY_POLICY, HeaderValue::from_static(CONTENT_SECURITY_POLICY));
        headers.insert(header::REFERRER_POLICY, HeaderValue::from_static("no-referrer"));
    }
    response
}

/// FNV-1a, 64 bits: a stable content hash for ETags, computed at compile time.
const fn fnv1a(bytes: &[u8]) -> u64 {
    let mut hash: u64 = 0xcbf2_9ce4_8422_2325;
    let mut index = 0;
    while index < bytes.len() {
        hash ^= bytes[index] as u64;
        hash = hash.wrapping_mul(0x0000_0100_0000_01b3);
        index += 1;
    }
    hash
}

#[cfg(test)]
mod tests {
    use super::*;

    const JS: &str = "text/javascript; charset=utf-8";

    fn files_under(folder: &std::path::Path, prefix: &str, out: &mut Vec<String>) {
        for entry in std::fs::read_dir(folder).expect("assets folder") {
            let entry = entry.expect("entry");
            let name = entry.file_name().to_string_lossy().into_owned();
            let path = if prefix.is_empty() { name.clone() } else { format!("{prefix}/{name}") };
            if entry.file_type().expect("type").is_dir() {
                files_under(&entry.path(), &path, out);
            } else {
                out.push(path);
            }
        }
    }

    #[test]
    fn every_file_in_the_assets_folder_is_embedded_and_nothing_else() {
        let folder = std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("src/console/assets");
        let mut on_disk = Vec::new();
        files_under(&folder, "", &mut on_disk);
        on_disk.sort();
        let mut embedded: Vec<String> = ASSETS.iter().map(|a| a.path.to_owned()).collect();
        embedded.sort();
        assert_eq!(on_disk, embedded);
    }

    #[test]
    fn content_types_follow_the_extension() {
        for asset in ASSETS {
            let expected = match asset.path.rsplit('.').next() {
                Some("html") => HTML,
                Some("js") => JS,
                Some("css") => "text/css; charset=utf-8",
                Some("svg") => "image/svg+xml",
                other => panic!("no content type for {other:?}"),
            };
            assert_eq!(asset.content_type, expected, "{}", asset.path);
        }
    }

    /// Every relative `import … from './x.js'` of a module names an embedded file.
    #[test]
    fn module_imports_resolve_to_embedded_files() {
        for asset in ASSETS.iter().filter(|a| a.path.ends_with(".js")) {
            let text = std::str::from_utf8(asset.body).expect("utf-8");
            let folder = asset.path.rsplit_once('/').map_or("", |(folder, _)| folder);
            for line in text.lines().filter(|l| l.starts_with("import ")) {
                let Some(target) = line.split(['\'', '"']).nth(1) else { continue };
                let mut parts: Vec<&str> = folder.split('/').filter(|p| !p.is_empty()).collect();
                for segment in target.split('/') {
                    match segment {
                        "." => {}
                        ".." => {
                            parts.pop();
                        }
                        name => parts.push(name),
                    }
                }
                let resolved = parts.join("/");
                assert!(
                    find(&resolved).is_some(),
                    "{} imports {target} ({resolved}), which is not embedded",
                    asset.path
                );
            }
        }
    }

    #[test]
    fn etags_differ_between_files() {
        let mut tags: Vec<u64> = ASSETS.iter().map(|a| a.etag).collect();
        tags.sort_unstable();
        tags.dedup();
        assert_eq!(tags.len(), ASSETS.len());
    }
}
