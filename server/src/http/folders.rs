//! Routes of folders: create, list children, delete.

use std::collections::HashMap;
use std::sync::Arc;

use dbx_shared::api::CreateFolderRequest;
use warp::filters::BoxedFilter;
use warp::http::StatusCode;
use warp::reply::Response;
use warp::Filter;

use super::{json_body, query, reply, user, with};
use crate::auth::Auth;
use crate::error::{AppError, AppResult};
use crate::files::Files;
use crate::metadata::{DeleteCheck, EntryKind};

pub fn routes(auth: &Arc<Auth>, files: &Arc<Files>) -> BoxedFilter<(Response,)> {
    let create = warp::path!("folders")
        .and(warp::post())
        .and(with(files.clone()))
        .and(user(auth))
        .and(json_body())
        .then(create);
    let children = warp::path!("folders" / String / "children")
        .and(warp::get())
        .and(with(files.clone()))
        .and(user(auth))
        .and(query())
        .then(children);
    let get = warp::path!("folders" / String)
        .and(warp::get())
        .and(with(files.clone()))
        .and(user(auth))
        .then(get);
    let delete = warp::path!("folders" / String)
        .and(warp::delete())
        .and(with(files.clone()))
        .and(user(auth))
        .and(query())
        .then(delete);
    create
        .or(children)
        .unify()
        .or(get)
        .unify()
        .or(delete)
        .unify()
        .map(reply::respond)
        .boxed()
}

/// `root` and `null` both name the user's root folder.
fn folder_id(id: Option<String>) -> Option<String> {
    id.filter(|i| i != "root")
}

/// A `limit` parameter within `1..=max`, or `default` when absent.
pub fn limit_param(q: &HashMap<String, String>, default: usize, max: usize) -> AppResult<usize> {
    match q.get("limit") {
        None => Ok(default),
        Some(v) => v
            .parse::<usize>()
            .ok()
            .filter(|n| (1..=max).contains(n))
            .ok_or_else(|| {
                AppError::bad_request(format!("limit must be a number from 1 to {max}"))
            }),
    }
}

async fn create(files: Arc<Files>, user: String, body: CreateFolderRequest) -> AppResult<Response> {
    let folder = files
        .create_folder(&user, folder_id(body.parent_id), &body.name)
        .await?;
    Ok(reply::json(StatusCode::CREATED, &folder.to_api()))
}

async fn children(
    id: String,
    files: Arc<Files>,
    user: String,
    q: HashMap<String, String>,
) -> AppResult<Response> {
    let limit = limit_param(&q, 1000, 10_000)?;
    let page = files
        .list(
            &user,
            folder_id(Some(id)),
            q.get("after").map(String::as_str),
            limit,
        )
        .await?;
    Ok(reply::json(StatusCode::OK, &page))
}

async fn get(id: String, files: Arc<Files>, user: String) -> AppResult<Response> {
    let folder = files.entry(&user, &id, EntryKind::Folder).await?;
    Ok(reply::json(StatusCode::OK, &folder.to_api()))
}

/// `?recursive=false` deletes only an empty folder; without it the whole subtree goes.
async fn delete(
    id: String,
    files: Arc<Files>,
    user: String,
    q: HashMap<String, String>,
) -> AppResult<Response> {
    let recursive = match q.get("recursive").map(String::as_str) {
        None | Some("true") => true,
        Some("false") => false,
        Some(_) => return Err(AppError::bad_request("recursive must be true or false")),
    };
    let check = DeleteCheck {
        if_match: None,
        only_if_empty: !recursive,
    };
    files.delete(&user, &id, EntryKind::Folder, check).await?;
    Ok(reply::no_content())
}
