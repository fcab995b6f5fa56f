//! Routes of the change log: delta pages, the latest cursor, and long-poll.

use std::collections::HashMap;
use std::sync::Arc;
use std::time::Duration;

use dbx_shared::api::{CursorReply, WaitReply};
use warp::filters::BoxedFilter;
use warp::http::StatusCode;
use warp::reply::Response;
use warp::Filter;

use super::folders::limit_param;
use super::{query, reply, user, with};
use crate::auth::Auth;
use crate::changes::Delta;
use crate::error::{AppError, AppResult};

pub fn routes(auth: &Arc<Auth>, delta: &Arc<Delta>) -> BoxedFilter<(Response,)> {
    let latest = warp::path!("delta" / "latest")
        .and(warp::get())
        .and(with(delta.clone()))
        .and(user(auth))
        .then(latest);
    let wait = warp::path!("delta" / "wait")
        .and(warp::get())
        .and(with(delta.clone()))
        .and(user(auth))
        .and(query())
        .then(wait);
    let page = warp::path!("delta")
        .and(warp::get())
        .and(with(delta.clone()))
        .and(user(auth))
        .and(query())
        .then(page);
    latest
        .or(wait)
        .unify()
        .or(page)
        .unify()
        .map(reply::respond)
        .boxed()
}

async fn page(delta: Arc<Delta>, user: String, q: HashMap<String, String>) -> AppResult<Response> {
    let limit = limit_param(&q, 1000, 10_000)?;
    let cursor = q.get("cursor").map(String::as_str);
    let page = delta.page(&user, cursor, limit).await?;
    Ok(reply::json(StatusCode::OK, &page))
}

async fn latest(delta: Arc<Delta>, user: String) -> AppResult<Response> {
    let cursor = delta.latest(&user).await?;
    Ok(reply::json(StatusCode::OK, &CursorReply { cursor }))
}

async fn wait(delta: Arc<Delta>, user: String, q: HashMap<String, String>) -> AppResult<Response> {
    let timeout = match q.get("timeout") {
        None => 30,
        Some(v) => v
            .parse::<u64>()
            .ok()
            .filter(|s| (1..=300).contains(s))
            .ok_or_else(|| AppError::bad_request("timeout must be 1 to 300 seconds"))?,
    };
    let cursor = q.get("cursor").map(String::as_str);
    let changes = delta
        .wait(&user, cursor, Duration::from_secs(timeout))
        .await?;
    Ok(reply::json(StatusCode::OK, &WaitReply { changes }))
}
