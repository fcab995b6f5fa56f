//! Routes of share links: create, list, revoke, and the public `/s/{token}` download.

use std::collections::HashMap;
use std::net::IpAddr;
use std::sync::Arc;

use dbx_shared::api::{CreateShareRequest, Share, ShareList};
use dbx_shared::ErrorBody;
use warp::filters::BoxedFilter;
use warp::http::{header, HeaderMap, HeaderValue, StatusCode};
use warp::reply::Response;
use warp::Filter;

use super::client_addr::TrustedProxies;
use super::content::{isolate, parse_range, serve_file};
use super::openapi::{Binary, NotFound, RangeNotSatisfiable};
use super::{client_ip, get_or_head, json_body, query, reply, share_page, user, with};
use crate::auth::Auth;
use crate::error::AppResult;
use crate::files::Files;
use crate::sharing::{counts_as_download, Shares};

pub fn routes(auth: &Arc<Auth>, shares: &Arc<Shares>) -> BoxedFilter<(Response,)> {
    let create = warp::path!("shares")
        .and(warp::post())
        .and(with(shares.clone()))
        .and(user(auth))
        .and(json_body())
        .then(create);
    let list = warp::path!("shares")
        .and(warp::get())
        .and(with(shares.clone()))
        .and(user(auth))
        .then(list);
    let revoke = warp::path!("shares" / String)
        .and(warp::delete())
        .and(with(shares.clone()))
        .and(user(auth))
        .then(revoke);
    create
        .or(list)
        .unify()
        .or(revoke)
        .unify()
        .map(reply::respond)
        .boxed()
}

/// `GET` and `HEAD /s/{token}`: no auth, nothing about the owner.
pub fn public_routes(
    shares: &Arc<Shares>,
    files: &Arc<Files>,
    proxies: &Arc<TrustedProxies>,
) -> BoxedFilter<(Response,)> {
    warp::path!("s" / String)
        .and(get_or_head())
        .and(client_ip(proxies))
        .and(with(shares.clone()))
        .and(with(files.clone()))
        .and(warp::header::headers_cloned())
        .and(query())
        .then(download)
        .map(|r: AppResult<Response>| {
            let mut res = reply::respond(r);
            isolate(&mut res);
            let h = res.headers_mut();
            h.insert(
                header::REFERRER_POLICY,
                HeaderValue::from_static("no-referrer"),
            );
            h.insert(header::CACHE_CONTROL, HeaderValue::from_static("no-store"));
            res
        })
        .boxed()
}

/// Make a share link to a file; the token is shown only in this reply.
#[utoipa::path(
    post,
    path = "/api/v1/shares",
    operation_id = "create_share",
    tag = "shares",
    request_body = CreateShareRequest,
    security(("bearer" = [])),
    responses(
        (status = 201, description = "The link, with its `token` and `url`", body = Share, links(
            ("open" = (operation_id = "open_share_link", parameters(("token" = "$response.body#/token")))),
            ("revoke" = (operation_id = "revoke_share", parameters(("id" = "$response.body#/id")))),
        )),
        (status = 404, description = "No such file", body = ErrorBody),
    ),
)]
async fn create(
    shares: Arc<Shares>,
    user: String,
    body: CreateShareRequest,
) -> AppResult<Response> {
    let share = shares.create(&user, body).await?;
    Ok(reply::json(StatusCode::CREATED, &share))
}

/// The caller's own share links (without tokens).
#[utoipa::path(
    get,
    path = "/api/v1/shares",
    operation_id = "list_shares",
    tag = "shares",
    security(("bearer" = [])),
    responses((status = 200, description = "The links", body = ShareList)),
)]
async fn list(shares: Arc<Shares>, user: String) -> AppResult<Response> {
    let shares = shares.list(&user).await?;
    Ok(reply::json(StatusCode::OK, &ShareList { shares }))
}

/// Revoke a share link at once.
#[utoipa::path(
    delete,
    path = "/api/v1/shares/{id}",
    operation_id = "revoke_share",
    tag = "shares",
    params(("id" = String, Path, description = "The link's id")),
    security(("bearer" = [])),
    responses(
        (status = 204, description = "Revoked"),
        (status = 404, response = NotFound),
    ),
)]
async fn revoke(id: String, shares: Arc<Shares>, user: String) -> AppResult<Response> {
    shares.revoke(&user, &id).await?;
    Ok(reply::no_content())
}

/// A share link, without auth: the file's bytes, or a page about it for a browser.
///
/// A `GET` whose `Accept` prefers `text/html`, without `Range` and without `dl=1`, gets a
/// small HTML page (name, size, type, expiry, a download button) and uses no download;
/// every other request gets the bytes as a download. Unusable links answer JSON errors,
/// or HTML pages to a browser.
#[utoipa::path(
    get,
    path = "/s/{token}",
    operation_id = "open_share_link",
    tag = "shares",
    params(
        ("token" = String, Path, description = "The link's token"),
        ("dl" = Option<String>, Query, description = "`1`: the bytes, also for a browser"),
        ("Range" = Option<String>, Header, description = "One range: `bytes=a-b`, `bytes=a-` or `bytes=-n`"),
        ("Accept" = Option<String>, Header, description = "Preferring `text/html` asks for the page"),
    ),
    responses(
        (status = 200, description = "The bytes as a download, or the page", content(
            (inline(Binary) = "*/*"),
            (String = "text/html"),
        ), headers(
            ("Content-Disposition" = String, description = "`attachment` with the file's name (downloads)"),
            ("ETag" = String, description = "The content hash, quoted (downloads)"),
            ("Cache-Control" = String, description = "`no-store`"),
            ("Referrer-Policy" = String, description = "`no-referrer`"),
        )),
        (status = 206, description = "The range asked for", content_type = "*/*", body = inline(Binary), headers(
            ("Content-Range" = String, description = "`bytes a-b/size`"),
        )),
        (status = 404, description = "Unknown or revoked link, or the file was deleted", content(
            (ErrorBody = "application/json"),
            (String = "text/html"),
        )),
        (status = 410, description = "The link expired or is out of downloads", content(
            (ErrorBody = "application/json"),
            (String = "text/html"),
        )),
        (status = 416, response = RangeNotSatisfiable),
        (status = 429, description = "Too many unknown tokens from this address", content(
            (ErrorBody = "application/json"),
            (String = "text/html"),
        ), headers(("Retry-After" = String, description = "Seconds to wait"))),
    ),
)]
async fn download(
    token: String,
    head: bool,
    ip: Option<IpAddr>,
    shares: Arc<Shares>,
    files: Arc<Files>,
    headers: HeaderMap,
    query: HashMap<String, String>,
) -> AppResult<Response> {
    // A browser opening the link gets a page about the file; its button (`?dl=1`) and
    // every other client get the bytes. Viewing the page uses no download.
    let download_asked = query.get("dl").is_some_and(|v| v == "1");
    if !head
        && !download_asked
        && !headers.contains_key(header::RANGE)
        && share_page::wants_html(&headers)
    {
        return Ok(match shares.open(&token, ip).await {
            Ok((share, file)) => share_page::page(&share, &file, &token),
            Err(e) => share_page::error_page(&e),
        });
    }
    let (share, file) = shares.open(&token, ip).await?;
    // The range against the file's real size: `bytes=-N` may well cover all of it.
    let size = file.content.as_ref().map_or(0, |c| c.size);
    let range_header = headers.get(header::RANGE).and_then(|v| v.to_str().ok());
    let range = parse_range(range_header, size)?;
    if !head && counts_as_download(&share, range) {
        shares.take_download(&share).await?;
    }
    serve_file(&files, &file.into(), &headers, head).await
}
