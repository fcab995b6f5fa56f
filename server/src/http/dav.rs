//! Hands every request below `/dav` (any method, PROPFIND and friends included) to the
//! WebDAV front door, streaming the body both ways, and renders what the front door
//! refuses with API.md's error body and a Basic challenge.

use std::net::IpAddr;
use std::sync::Arc;

use bytes::Buf;
use futures_util::{Stream, StreamExt};
use http_body::Frame;
use sync_wrapper::SyncStream;
use warp::filters::BoxedFilter;
use warp::http::{header, HeaderMap, HeaderValue, Method};
use warp::path::FullPath;
use warp::reply::Response;
use warp::{Filter, Reply};

use super::{client_ip, reply, Services};
use crate::dav::WebDav;
use crate::error::{AppError, AppResult};

pub fn routes(s: &Services) -> BoxedFilter<(Response,)> {
    let dav = Arc::new(WebDav::new(
        s.auth.clone(),
        s.files.clone(),
        s.properties.clone(),
    ));
    let query = warp::query::raw()
        .map(Some)
        .or(warp::any().map(|| None))
        .unify();
    warp::path("dav")
        .and(warp::method())
        .and(warp::path::full())
        .and(query)
        .and(warp::header::headers_cloned())
        .and(warp::body::stream())
        .and(client_ip(&s.proxies))
        .then(move |method, path, query, headers, body, ip| {
            let dav = dav.clone();
            async move {
                let res = handle(&dav, method, path, query, headers, body, ip).await;
                res.unwrap_or_else(|e| error(&e))
            }
        })
        .boxed()
}

#[allow(clippy::too_many_arguments)]
async fn handle<S, B>(
    dav: &WebDav,
    method: Method,
    path: FullPath,
    query: Option<String>,
    headers: HeaderMap,
    body: S,
    ip: Option<IpAddr>,
) -> AppResult<Response>
where
    S: Stream<Item = Result<B, warp::Error>> + Send + 'static,
    B: Buf + Send + 'static,
{
    let uri = match query {
        Some(q) => format!("{}?{q}", path.as_str()),
        None => path.as_str().to_string(),
    };
    let body = http_body_util::StreamBody::new(
        body.map(|piece| piece.map(|mut b| Frame::data(b.copy_to_bytes(b.remaining())))),
    );
    let mut req = http::Request::builder()
        .method(method)
        .uri(uri)
        .body(body)
        .map_err(|e| AppError::bad_request(format!("bad request: {e}")))?;
    *req.headers_mut() = headers;
    let res = dav.handle(req, ip).await?;
    let (parts, body) = res.into_parts();
    let mut out = warp::reply::stream(SyncStream::new(body)).into_response();
    *out.status_mut() = parts.status;
    *out.headers_mut() = parts.headers;
    Ok(out)
}

/// API.md's error body; a 401 challenges for Basic credentials, so that file managers
/// ask for the e-mail and app password.
fn error(e: &AppError) -> Response {
    let mut res = reply::error(e);
    if matches!(e, AppError::Unauthorized(_)) {
        res.headers_mut().insert(
            header::WWW_AUTHENTICATE,
            HeaderValue::from_static("Basic realm=\"dbx\", charset=\"UTF-8\""),
        );
    }
    res
}
