//! The HTTP API of API.md on warp: one module per area, shared filters here, and one
//! recovery function that gives every rejection the JSON error shape.

mod app_passwords;
mod auth;
pub mod client_addr;
mod content;
mod dav;
mod delta;
mod files;
mod folders;
pub mod listener;
mod moves;
pub mod openapi;
pub mod reply;
mod share_page;
mod shares;
mod trash;
mod uploads;
mod versions;

use std::collections::HashMap;
use std::convert::Infallible;
use std::net::IpAddr;
use std::sync::Arc;

use bytes::{Buf, BytesMut};
use futures_util::StreamExt;
use serde::de::DeserializeOwned;
use warp::filters::BoxedFilter;
use warp::http::StatusCode;
use warp::reply::Response;
use warp::{Filter, Rejection, Reply};

use crate::auth::Auth;
use crate::changes::Delta;
use crate::error::AppError;
use crate::files::Files;
use crate::properties::Properties;
use crate::sharing::Shares;
use crate::trash::Trash;
use crate::uploads::Uploads;
use crate::versions::Versions;
use client_addr::TrustedProxies;

/// Largest JSON request body.
const JSON_LIMIT: usize = 1024 * 1024;

/// An `AppError` raised by a filter (auth, body, query) rather than a handler.
#[derive(Debug)]
pub struct Rejected(pub AppError);

impl warp::reject::Reject for Rejected {}

fn reject(e: AppError) -> Rejection {
    warp::reject::custom(Rejected(e))
}

/// The area services the HTTP front doors call: built once by the wiring (`app`), and
/// handed to each area's routes as only the services its handlers use.
#[derive(Clone)]
pub struct Services {
    pub auth: Arc<Auth>,
    pub files: Arc<Files>,
    pub shares: Arc<Shares>,
    pub delta: Arc<Delta>,
    pub versions: Arc<Versions>,
    pub trash: Arc<Trash>,
    pub uploads: Arc<Uploads>,
    pub properties: Arc<Properties>,
    /// Whose forwarding headers say where a request comes from.
    pub proxies: Arc<TrustedProxies>,
}

/// Hands a shared service to a handler.
pub fn with<T: Clone + Send + Sync + 'static>(
    service: T,
) -> impl Filter<Extract = (T,), Error = Infallible> + Clone {
    warp::any().map(move || service.clone())
}

/// The authenticated user's id. Goes after path and method matching, so that a wrong
/// path is a 404 rather than a 401. An `Authorization` value that is not visible ASCII is
/// a malformed token like any other: 401, not 400.
pub fn user(auth: &Arc<Auth>) -> impl Filter<Extract = (String,), Error = Rejection> + Clone {
    let auth = auth.clone();
    warp::header::headers_cloned().and_then(move |headers: warp::http::HeaderMap| {
        let auth = auth.clone();
        async move {
            let value = headers
                .get(warp::http::header::AUTHORIZATION)
                .map(|v| v.to_str().unwrap_or_default());
            auth.authenticate(value).map_err(reject)
        }
    })
}

/// The query string as a map; parsing of each field is the handler's.
/// An undecodable query string counts as empty; handlers then name what is missing.
pub fn query() -> impl Filter<Extract = (HashMap<String, String>,), Error = Infallible> + Clone {
    warp::query::<HashMap<String, String>>()
        .or(warp::any().map(HashMap::new))
        .unify()
}

/// A JSON body of type `T`, at most `JSON_LIMIT` bytes, with or without Content-Length.
pub fn json_body<T: DeserializeOwned + Send + 'static>(
) -> impl Filter<Extract = (T,), Error = Rejection> + Clone {
    warp::body::stream().and_then(|body| async move {
        let bytes = collect_limited(body, JSON_LIMIT).await.map_err(reject)?;
        serde_json::from_slice::<T>(&bytes)
            .map_err(|e| reject(AppError::bad_request(format!("malformed JSON: {e}"))))
    })
}

/// Like `json_body`, but an empty body (or only whitespace) is `T::default()`: for calls
/// whose fields are all optional.
pub fn optional_json_body<T: DeserializeOwned + Default + Send + 'static>(
) -> impl Filter<Extract = (T,), Error = Rejection> + Clone {
    warp::body::stream().and_then(|body| async move {
        let bytes = collect_limited(body, JSON_LIMIT).await.map_err(reject)?;
        if bytes.iter().all(u8::is_ascii_whitespace) {
            return Ok(T::default());
        }
        serde_json::from_slice::<T>(&bytes)
            .map_err(|e| reject(AppError::bad_request(format!("malformed JSON: {e}"))))
    })
}

async fn collect_limited<S, B>(body: S, limit: usize) -> Result<BytesMut, AppError>
where
    S: futures_util::Stream<Item = Result<B, warp::Error>>,
    B: Buf,
{
    let mut body = std::pin::pin!(body);
    let mut out = BytesMut::new();
    while let Some(piece) = body.next().await {
        let mut piece =
            piece.map_err(|e| AppError::bad_request(format!("reading the body: {e}")))?;
        if out.len() + piece.remaining() > limit {
            return Err(AppError::PayloadTooLarge(limit as u64));
        }
        while piece.has_remaining() {
            let n = piece.chunk().len();
            out.extend_from_slice(piece.chunk());
            piece.advance(n);
        }
    }
    Ok(out)
}

/// The client's IP address, for rate limits: the peer's, or what a trusted proxy says.
pub fn client_ip(
    proxies: &Arc<TrustedProxies>,
) -> impl Filter<Extract = (Option<IpAddr>,), Error = Infallible> + Clone {
    let proxies = proxies.clone();
    warp::ext::optional::<listener::PeerAddr>()
        .and(warp::header::headers_cloned())
        .map(
            move |peer: Option<listener::PeerAddr>, headers: warp::http::HeaderMap| {
                peer.map(|p| proxies.client(p.0, &headers))
            },
        )
}

/// GET or HEAD of a download: true for HEAD (headers only).
pub fn get_or_head() -> impl Filter<Extract = (bool,), Error = Rejection> + Clone {
    warp::get()
        .map(|| false)
        .or(warp::head().map(|| true))
        .unify()
}

/// Every route of the server.
pub fn routes(s: &Services) -> BoxedFilter<(Response,)> {
    let health = warp::path!("healthz")
        .and(warp::get().or(warp::head()).unify())
        .map(|| reply::json(StatusCode::OK, &serde_json::json!({"status": "ok"})));
    let api = warp::path!("api" / "v1" / ..).and(
        openapi::routes()
            .or(auth::routes(&s.auth, &s.files, &s.proxies))
            .unify()
            .or(folders::routes(&s.auth, &s.files))
            .unify()
            .or(files::routes(&s.auth, &s.files))
            .unify()
            .or(shares::routes(&s.auth, &s.shares))
            .unify()
            .or(delta::routes(&s.auth, &s.delta))
            .unify()
            .or(moves::routes(&s.auth, &s.files))
            .unify()
            .or(versions::routes(&s.auth, &s.versions, &s.files))
            .unify()
            .or(trash::routes(&s.auth, &s.trash))
            .unify()
            .or(app_passwords::routes(&s.auth))
            .unify()
            .or(uploads::routes(&s.auth, &s.uploads))
            .unify(),
    );
    let log = warp::log::custom(|info| {
        tracing::info!(
            method = %info.method(),
            path = loggable_path(info.path()),
            status = info.status().as_u16(),
            ms = info.elapsed().as_millis() as u64,
            "request"
        );
    });
    let webdav = dav::routes(s);
    webdav
        .or(health)
        .unify()
        .or(api)
        .unify()
        .or(shares::public_routes(&s.shares, &s.files, &s.proxies))
        .unify()
        .recover(handle_rejection)
        .unify()
        .with(log)
        .map(Reply::into_response)
        .boxed()
}

/// The path as the request log shows it: a share token is a password for its file, and
/// logs are read by more people than links are sent to.
fn loggable_path(path: &str) -> &str {
    if path.starts_with("/s/") {
        "/s/<redacted>"
    } else {
        path
    }
}

/// Gives every rejection API.md's error shape.
async fn handle_rejection(r: Rejection) -> Result<Response, Infallible> {
    let e = if let Some(Rejected(e)) = r.find::<Rejected>() {
        return Ok(reply::error(e));
    } else if r.is_not_found() {
        AppError::NotFound("no such route".into())
    } else if r.find::<warp::reject::MethodNotAllowed>().is_some() {
        return Ok(method_not_allowed());
    } else if let Some(q) = r.find::<warp::reject::InvalidQuery>() {
        AppError::bad_request(format!("bad query string: {q}"))
    } else if r.find::<warp::reject::PayloadTooLarge>().is_some() {
        AppError::PayloadTooLarge(JSON_LIMIT as u64)
    } else if let Some(h) = r.find::<warp::reject::InvalidHeader>() {
        AppError::bad_request(h.to_string())
    } else if let Some(h) = r.find::<warp::reject::MissingHeader>() {
        AppError::bad_request(h.to_string())
    } else if r.find::<warp::reject::LengthRequired>().is_some() {
        AppError::bad_request("Content-Length is required")
    } else if r.find::<warp::reject::UnsupportedMediaType>().is_some() {
        AppError::bad_request("unsupported content type")
    } else {
        AppError::internal(format!("unhandled rejection: {r:?}"))
    };
    Ok(reply::error(&e))
}

pub(super) fn method_not_allowed() -> Response {
    let body = dbx_shared::ErrorBody::new(
        dbx_shared::ErrorCode::MethodNotAllowed,
        "that method is not allowed on this route",
    );
    reply::json(StatusCode::METHOD_NOT_ALLOWED, &body)
}
