//! Routes of the trash: list it, restore an item, purge one item or everything.

use std::collections::HashMap;
use std::sync::Arc;

use dbx_shared::api::{Entry, RestoreTrashRequest, TrashList};
use dbx_shared::ErrorBody;
use warp::filters::BoxedFilter;
use warp::http::StatusCode;
use warp::reply::Response;
use warp::Filter;

use super::folders::limit_param;
use super::openapi::{BadRequest, Conflict, NotFound, QuotaExceeded};
use super::{optional_json_body, query, reply, user, with};
use crate::auth::Auth;
use crate::error::AppResult;
use crate::trash::Trash;

pub fn routes(auth: &Arc<Auth>, trash: &Arc<Trash>) -> BoxedFilter<(Response,)> {
    let list = warp::path!("trash")
        .and(warp::get())
        .and(with(trash.clone()))
        .and(user(auth))
        .and(query())
        .then(list);
    let restore = warp::path!("trash" / String / "restore")
        .and(warp::post())
        .and(with(trash.clone()))
        .and(user(auth))
        .and(optional_json_body())
        .then(restore);
    let purge_one = warp::path!("trash" / String)
        .and(warp::delete())
        .and(with(trash.clone()))
        .and(user(auth))
        .then(purge_one);
    let purge_all = warp::path!("trash")
        .and(warp::delete())
        .and(with(trash.clone()))
        .and(user(auth))
        .then(purge_all);
    list.or(restore)
        .unify()
        .or(purge_one)
        .unify()
        .or(purge_all)
        .unify()
        .map(reply::respond)
        .boxed()
}

/// The trash, newest deletion first, a page at a time.
#[utoipa::path(
    get,
    path = "/api/v1/trash",
    operation_id = "list_trash",
    tag = "trash",
    params(
        ("limit" = Option<u32>, Query, minimum = 1, maximum = 10000, description = "Items per page, 1 to 10,000 (default 1,000)"),
        ("after" = Option<String>, Query, description = "The `next` of the previous page"),
    ),
    security(("bearer" = [])),
    responses(
        (status = 200, description = "A page of the trash", body = TrashList),
        (status = 400, response = BadRequest),
    ),
)]
async fn list(trash: Arc<Trash>, user: String, q: HashMap<String, String>) -> AppResult<Response> {
    let limit = limit_param(&q, 1000, 10_000)?;
    let page = trash
        .list(&user, q.get("after").map(String::as_str), limit)
        .await?;
    Ok(reply::json(StatusCode::OK, &page))
}

/// Restore a trash item, with everything deleted with it.
///
/// By default at its old path (missing parent folders are made again); `parent_id` and
/// `name` put it elsewhere. The body may be empty.
#[utoipa::path(
    post,
    path = "/api/v1/trash/{id}/restore",
    operation_id = "restore_trash_item",
    tag = "trash",
    params(("id" = String, Path, description = "The trash item's id (the entry's)")),
    request_body(content = Option<RestoreTrashRequest>, content_type = "application/json",
        description = "Where to restore it; empty or `{}`: its old place"),
    security(("bearer" = [])),
    responses(
        (status = 200, description = "The restored entry", body = Entry),
        (status = 404, description = "No such trash item, or no such target folder", body = ErrorBody),
        (status = 409, response = Conflict),
        (status = 507, response = QuotaExceeded),
    ),
)]
async fn restore(
    id: String,
    trash: Arc<Trash>,
    user: String,
    body: RestoreTrashRequest,
) -> AppResult<Response> {
    let entry = trash.restore(&user, &id, body).await?;
    Ok(reply::json(StatusCode::OK, &entry.to_api()))
}

/// Purge a trash item for good.
#[utoipa::path(
    delete,
    path = "/api/v1/trash/{id}",
    operation_id = "purge_trash_item",
    tag = "trash",
    params(("id" = String, Path, description = "The trash item's id")),
    security(("bearer" = [])),
    responses(
        (status = 204, description = "Purged"),
        (status = 404, response = NotFound),
    ),
)]
async fn purge_one(id: String, trash: Arc<Trash>, user: String) -> AppResult<Response> {
    trash.purge(&user, Some(id)).await?;
    Ok(reply::no_content())
}

/// Empty the caller's trash.
#[utoipa::path(
    delete,
    path = "/api/v1/trash",
    operation_id = "empty_trash",
    tag = "trash",
    security(("bearer" = [])),
    responses((status = 204, description = "Emptied")),
)]
async fn purge_all(trash: Arc<Trash>, user: String) -> AppResult<Response> {
    trash.purge(&user, None).await?;
    Ok(reply::no_content())
}
