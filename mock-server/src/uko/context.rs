//! `Ctx`, what a UKO handler needs besides its path and body: the instance, the base of `href`s, the query,
//! the correlation id, and the request's journal record (with its `If-Match`) from `auth_and_record`.

use axum::extract::FromRequestParts;
use axum::http::header;
use axum::http::request::Parts;

use super::auth_and_record::RequestRecord;
use super::query::Params;
use crate::domain::IfMatch;
use crate::store::InstanceId;
use crate::web::error::ApiError;
use crate::web::extract::CorrelationId;
use crate::web::AppState;

/// The request context of a UKO handler.
#[derive(Clone, Debug)]
pub struct Ctx {
    /// Which UKO instance the request addresses.
    pub instance_id: InstanceId,
    /// Absolute URL of the API root for `href`s, e.g. `http://127.0.0.1:9549/api/v4`.
    pub api_base: String,
    /// Path of the API root as the client used it, e.g. `/instances/ci-7/api/v4`.
    pub api_path: String,
    /// The request's path below the API root, as sent (`/managed_keys/{id}/versions`): where a list's paging
    /// links point.
    pub path: String,
    /// Decoded query pairs.
    pub params: Params,
    /// The request's correlation id (also `trace` of embedded keystore errors).
    pub trace: String,
    /// The request's journal record and `If-Match`; `None` only outside the UKO route layer.
    pub record: Option<RequestRecord>,
}

impl Ctx {
    /// The request's `If-Match`, as the route layer parsed it.
    pub fn if_match(&self) -> Option<&IfMatch> {
        self.record.as_ref().and_then(|r| r.if_match())
    }

    /// A boolean query flag (`dry_run`, `force`); anything but `true`/`false` is a 400.
    pub fn flag(&self, name: &str) -> Result<bool, ApiError> {
        match self.params.one(name) {
            None => Ok(false),
            Some("true") => Ok(true),
            Some("false") => Ok(false),
            Some(other) => Err(ApiError::invalid_parameter(name, "true or false", other)),
        }
    }
}

impl FromRequestParts<AppState> for Ctx {
    type Rejection = ApiError;

    async fn from_request_parts(parts: &mut Parts, state: &AppState) -> Result<Self, Self::Rejection> {
        let record = parts.extensions.get::<RequestRecord>().cloned();
        let (instance_id, scoped) = match &record {
            Some(record) => (record.instance_id().clone(), record.scoped()),
            None => (InstanceId::default_instance(), false),
        };
        if !state.store.admits(instance_id.as_str()) {
            return Err(ApiError::too_many_instances(instance_id.as_str()));
        }
        let api_path = if scoped { format!("/instances/{instance_id}/api/v4") } else { "/api/v4".to_owned() };
        let origin = match &state.public_url {
            Some(url) => url.trim_end_matches('/').to_owned(),
            None => {
                let host = parts
                    .headers
                    .get(header::HOST)
                    .and_then(|h| h.to_str().ok())
                    // The gateway admitted only hosts naming this server (`web::browser`); with
                    // `--allowed-host '*'` any, so only authority characters reach an href.
                    .filter(|h| !h.is_empty() && h.chars().all(|c| c.is_ascii_alphanumeric() || "-._:[]".contains(c)))
                    .unwrap_or("localhost");
                format!("{}://{host}", crate::web::ServedOverTls::scheme(&parts.extensions))
            }
        };
        let pairs = parts
            .uri
            .query()
            .map(|q| form_urlencoded::parse(q.as_bytes()).map(|(k, v)| (k.into_owned(), v.into_owned())).collect())
            .unwrap_or_default();
        let trace = parts.extensions.get::<CorrelationId>().map(|c| c.0.clone()).unwrap_or_default();
        Ok(Ctx {
            instance_id,
            api_base: format!("{origin}{api_path}"),
            api_path,
            // Inside the router nested at /api/v4 the URI has lost that prefix already.
            path: parts.uri.path().to_owned(),
            params: Params::new(pairs),
            trace,
            record,
        })
    }
}
