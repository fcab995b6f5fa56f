//! Routes of share links: create, list, revoke, and the public `/s/{token}` download.

use std::collections::HashMap;
use std::net::IpAddr;
use std::sync::Arc;

use dbx_shared::api::{CreateShareRequest, ShareList};
use warp::filters::BoxedFilter;
use warp::http::{header, HeaderMap, HeaderValue, StatusCode};
use warp::reply::Response;
use warp::Filter;

use super::client_addr::TrustedProxies;
use super::content::{isolate, parse_range, serve_file};
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

async fn create(
    shares: Arc<Shares>,
    user: String,
    body: CreateShareRequest,
) -> AppResult<Response> {
    let share = shares.create(&user, body).await?;
    Ok(reply::json(StatusCode::CREATED, &share))
}

async fn list(shares: Arc<Shares>, user: String) -> AppResult<Response> {
    let shares = shares.list(&user).await?;
    Ok(reply::json(StatusCode::OK, &ShareList { shares }))
}

async fn revoke(id: String, shares: Arc<Shares>, user: String) -> AppResult<Response> {
    shares.revoke(&user, &id).await?;
    Ok(reply::no_content())
}

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
    serve_file(&files, &file, &headers, head).await
}
