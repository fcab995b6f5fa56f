//! Routes of the trash: list it, restore an item, purge one item or everything.

use std::collections::HashMap;
use std::sync::Arc;

use dbx_shared::api::RestoreTrashRequest;
use warp::filters::BoxedFilter;
use warp::http::StatusCode;
use warp::reply::Response;
use warp::Filter;

use super::folders::limit_param;
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

async fn list(trash: Arc<Trash>, user: String, q: HashMap<String, String>) -> AppResult<Response> {
    let limit = limit_param(&q, 1000, 10_000)?;
    let page = trash
        .list(&user, q.get("after").map(String::as_str), limit)
        .await?;
    Ok(reply::json(StatusCode::OK, &page))
}

async fn restore(
    id: String,
    trash: Arc<Trash>,
    user: String,
    body: RestoreTrashRequest,
) -> AppResult<Response> {
    let entry = trash.restore(&user, &id, body).await?;
    Ok(reply::json(StatusCode::OK, &entry.to_api()))
}

async fn purge_one(id: String, trash: Arc<Trash>, user: String) -> AppResult<Response> {
    trash.purge(&user, Some(id)).await?;
    Ok(reply::no_content())
}

async fn purge_all(trash: Arc<Trash>, user: String) -> AppResult<Response> {
    trash.purge(&user, None).await?;
    Ok(reply::no_content())
}
