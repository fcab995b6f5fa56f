//! Routes of the change log: delta pages, the latest cursor, and long-poll.

use std::collections::HashMap;
use std::sync::Arc;
use std::time::Duration;

use dbx_shared::api::{CursorReply, DeltaReply, WaitReply};
use dbx_shared::ErrorBody;
use warp::filters::BoxedFilter;
use warp::http::StatusCode;
use warp::reply::Response;
use warp::Filter;

use super::folders::limit_param;
use super::openapi::CursorReset;
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

/// The changes after a cursor, in the order they were committed.
#[utoipa::path(
    get,
    path = "/api/v1/delta",
    operation_id = "get_delta",
    tag = "delta",
    params(
        ("cursor" = Option<String>, Query, description = "Where the previous page ended; none: from the beginning"),
        ("limit" = Option<u32>, Query, minimum = 1, maximum = 10000, description = "Changes per page, 1 to 10,000 (default 1,000)"),
    ),
    security(("bearer" = [])),
    responses(
        (status = 200, description = "A page of changes", body = DeltaReply),
        (status = 400, description = "A bad limit, or a malformed cursor, another user's or one from the future", body = ErrorBody),
        (status = 410, response = CursorReset),
    ),
)]
async fn page(delta: Arc<Delta>, user: String, q: HashMap<String, String>) -> AppResult<Response> {
    let limit = limit_param(&q, 1000, 10_000)?;
    let cursor = q.get("cursor").map(String::as_str);
    let page = delta.page(&user, cursor, limit).await?;
    Ok(reply::json_written(StatusCode::OK, page.to_json()))
}

/// The position now, to start from without replaying history.
#[utoipa::path(
    get,
    path = "/api/v1/delta/latest",
    operation_id = "get_latest_cursor",
    tag = "delta",
    security(("bearer" = [])),
    responses((status = 200, description = "The latest cursor", body = CursorReply)),
)]
async fn latest(delta: Arc<Delta>, user: String) -> AppResult<Response> {
    let cursor = delta.latest(&user).await?;
    Ok(reply::json(StatusCode::OK, &CursorReply { cursor }))
}

/// Long-poll: answers as soon as a change lands after the cursor, or after `timeout`.
#[utoipa::path(
    get,
    path = "/api/v1/delta/wait",
    operation_id = "wait_for_changes",
    tag = "delta",
    params(
        ("cursor" = Option<String>, Query, description = "Wait for changes after this one; none: after the beginning"),
        ("timeout" = Option<u32>, Query, minimum = 1, maximum = 300, description = "Seconds to wait at most, 1 to 300 (default 30)"),
    ),
    security(("bearer" = [])),
    responses(
        (status = 200, description = "Whether a change landed", body = WaitReply),
        (status = 400, description = "A bad timeout or cursor", body = ErrorBody),
        (status = 410, response = CursorReset),
    ),
)]
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
