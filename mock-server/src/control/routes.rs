//! The control plane describing itself: [`CONTROL_ROUTES`], the one list of its routes with a line each,
//! served as the index `GET /__mock/v1/` and as an OpenAPI document of its own
//! (`GET /__mock/v1/control-openapi.json`), and the 404 for a path under `/__mock/v1` that is none of them.
//!
//! The UKO surface's document (`/__mock/v1/openapi.json`) stays UKO's alone: schemathesis and SDK
//! generators read it as IBM's API. A test checks that every route listed here answers and that README.md's
//! table names each one.

use axum::extract::OriginalUri;
use axum::http::Method;
use axum::Json;
use serde::Serialize;
use serde_json::{json, Map, Value};

use crate::web::error::ErrorCode;
use crate::web::ApiError;

/// One route of the control plane.
#[derive(Clone, Copy, Debug, Serialize)]
pub(crate) struct ControlRoute {
    /// HTTP method.
    pub(crate) method: &'static str,
    /// Path under `/__mock/v1`, with `{parameters}`.
    pub(crate) path: &'static str,
    /// Also served as `/__mock/v1/instances/{instance_id}{path}` for an isolated instance.
    pub(crate) instance_scoped: bool,
    /// Reachable without the admin token (`--admin-token`).
    pub(crate) open: bool,
    /// What it does, in one line.
    pub(crate) description: &'static str,
}

const fn route(method: &'static str, path: &'static str, description: &'static str) -> ControlRoute {
    ControlRoute { method, path, instance_scoped: true, open: false, description }
}

/// Every control route, in the order the index shows them. Instance-scoped unless said otherwise.
pub(crate) const CONTROL_ROUTES: &[ControlRoute] = &[
    ControlRoute { instance_scoped: false, open: true, ..route("GET", "/", "this list of control routes") },
    ControlRoute {
        instance_scoped: false,
        open: true,
        ..route("GET", "/health", "readiness: answers once the server accepts requests")
    },
    ControlRoute {
        instance_scoped: false,
        open: true,
        ..route("GET", "/openapi.json", "the OpenAPI document of the UKO surface this mock serves")
    },
    ControlRoute {
        instance_scoped: false,
        open: true,
        ..route("GET", "/control-openapi.json", "the OpenAPI document of this control plane")
    },
    ControlRoute { instance_scoped: false, ..route("GET", "/instances", "ids of the instances that exist") },
    ControlRoute {
        instance_scoped: false,
        ..route(
            "PUT",
            "/instances/{instance_id}",
            "creates or replaces an instance from the fixture in the body (empty body: the served fixture)",
        )
    },
    ControlRoute {
        instance_scoped: false,
        ..route("DELETE", "/instances/{instance_id}", "removes an isolated instance (not default)")
    },
    route("POST", "/reset", "the instance back to the served fixture, as new: state, faults, clock and journal"),
    route("POST", "/fixture", "loads the fixture in the body; ?mode=replace (default) or ?mode=merge (by id)"),
    route("GET", "/export", "the instance as a fixture; credentials masked unless ?include_secrets=true"),
    route("GET", "/settings", "the behaviour switches and time-rule profile"),
    route("PATCH", "/settings", "changes behaviour switches, e.g. {\"profile\": \"realistic\"}"),
    route("POST", "/associated_resources", "seeds an associated resource"),
    route("GET", "/faults", "the fault rules"),
    route("POST", "/faults", "adds a fault rule (operation, trigger, effect)"),
    route("DELETE", "/faults", "removes every fault rule"),
    route("DELETE", "/faults/{rule_id}", "removes one fault rule"),
    route("GET", "/keystores/{keystore_id}/copies", "what a simulated keystore holds"),
    route(
        "PUT",
        "/keystores/{keystore_id}/copies/{managed_key_id}",
        "makes a keystore's copy of a key diverge: absent, active, inactive, pending_destruction, wrong_key",
    ),
    route("PUT", "/keystores/{keystore_id}/reachability", "whether a keystore answers, and its configuration error"),
    route("GET", "/clock", "the instance's virtual clock"),
    route("POST", "/clock/advance", "moves the virtual clock forward, e.g. {\"seconds\": 14400}"),
    route("GET", "/journal", "served UKO requests with seq >= ?since (pass next_seq back), at most ?limit"),
];

/// The prefix of every control route.
pub(crate) const CONTROL_PREFIX: &str = "/__mock/v1";

/// `GET /__mock/v1/`: every control route with its line.
pub(crate) async fn index() -> Json<Value> {
    let routes: Vec<Value> = CONTROL_ROUTES
        .iter()
        .map(|route| {
            let mut entry = json!({
                "method": route.method,
                "path": format!("{CONTROL_PREFIX}{}", route.path),
                "description": route.description,
                "admin_token": if route.open { "never needed" } else { "needed beyond loopback" },
            });
            if route.instance_scoped {
                entry["instance_path"] = json!(format!("{CONTROL_PREFIX}/instances/{{instance_id}}{}", route.path));
            }
            entry
        })
        .collect();
    Json(json!({
        "description": "uko-mock's control plane: drives the mock out of band; UKO never uses this prefix",
        "routes": routes,
        "openapi": format!("{CONTROL_PREFIX}/control-openapi.json"),
    }))
}

/// `GET /__mock/v1/control-openapi.json`: an OpenAPI 3.0 document of the control routes, built from
/// [`CONTROL_ROUTES`] (paths, methods, path parameters, one summary each; bodies are described in
/// README.md and fixtures/README.md).
pub(super) async fn openapi() -> Json<Value> {
    let mut paths = Map::new();
    for route in CONTROL_ROUTES {
        let mut forms = vec![format!("{CONTROL_PREFIX}{}", route.path)];
        if route.instance_scoped {
            forms.push(format!("{CONTROL_PREFIX}/instances/{{instance_id}}{}", route.path));
        }
        for path in forms {
            let parameters: Vec<Value> = path
                .split('/')
                .filter_map(|segment| segment.strip_prefix('{').and_then(|s| s.strip_suffix('}')))
                .map(|name| json!({"name": name, "in": "path", "required": true, "schema": {"type": "string"}}))
                .collect();
            let operation = json!({
                "summary": route.description,
                "parameters": parameters,
                "responses": {
                    "default": {
                        "description": "JSON; a refusal in UKO's error shape",
                        "content": {"application/json": {"schema": {"type": "object"}}}
                    }
                }
            });
            let item = paths.entry(path).or_insert_with(|| json!({}));
            item[route.method.to_ascii_lowercase()] = operation;
        }
    }
    Json(json!({
        "openapi": "3.0.3",
        "info": {
            "title": "uko-mock control plane",
            "version": env!("CARGO_PKG_VERSION"),
            "description": "Out-of-band controls of uko-mock. Not part of IBM's UKO API."
        },
        "paths": paths,
    }))
}

/// Any other path under `/__mock/v1`: 404 saying so, not UKO's "does not exist in UKO API v4".
pub(super) async fn no_such_control_route(method: Method, OriginalUri(uri): OriginalUri) -> ApiError {
    ApiError::new(
        ErrorCode::NotFound,
        format!("no such control route: {method} {}; GET {CONTROL_PREFIX}/ lists them", uri.path()),
    )
}
