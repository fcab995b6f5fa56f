//! Routes of folders: create, list children, delete.

use std::collections::HashMap;
use std::sync::Arc;

use dbx_shared::api::{CreateFolderRequest, FolderEntry, ListReply};
use dbx_shared::ErrorBody;
use warp::filters::BoxedFilter;
use warp::http::StatusCode;
use warp::reply::Response;
use warp::Filter;

use super::openapi::{BadRequest, Conflict, NotFound};
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

/// Make a folder.
#[utoipa::path(
    post,
    path = "/api/v1/folders",
    operation_id = "create_folder",
    tag = "folders",
    request_body = CreateFolderRequest,
    security(("bearer" = [])),
    responses(
        (status = 201, description = "The folder", body = FolderEntry, links(
            ("get" = (operation_id = "get_folder", parameters(("id" = "$response.body#/id")))),
            ("list" = (operation_id = "list_folder", parameters(("id" = "$response.body#/id")))),
            ("move" = (operation_id = "move_entry", parameters(("id" = "$response.body#/id")))),
            ("delete" = (operation_id = "delete_folder", parameters(("id" = "$response.body#/id")))),
        )),
        (status = 404, response = NotFound),
        (status = 409, response = Conflict),
    ),
)]
async fn create(files: Arc<Files>, user: String, body: CreateFolderRequest) -> AppResult<Response> {
    let folder = files
        .create_folder(&user, folder_id(body.parent_id), &body.name)
        .await?;
    Ok(reply::json(StatusCode::CREATED, &folder.to_api()))
}

/// List a folder: folders first, then files, each by name, a page at a time.
#[utoipa::path(
    get,
    path = "/api/v1/folders/{id}/children",
    operation_id = "list_folder",
    tag = "folders",
    params(
        ("id" = String, Path, description = "The folder's id, or `root`"),
        ("limit" = Option<u32>, Query, minimum = 1, maximum = 10000,
            description = "Entries per page, 1 to 10,000 (default 1,000)"),
        ("after" = Option<String>, Query,
            description = "The `next` of the previous page"),
    ),
    security(("bearer" = [])),
    responses(
        (status = 200, description = "A page of the folder's entries", body = ListReply),
        (status = 400, response = BadRequest),
        (status = 404, response = NotFound),
    ),
)]
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

/// A folder's metadata.
#[utoipa::path(
    get,
    path = "/api/v1/folders/{id}",
    operation_id = "get_folder",
    tag = "folders",
    params(("id" = String, Path, description = "The folder's id")),
    security(("bearer" = [])),
    responses(
        (status = 200, description = "The folder", body = FolderEntry),
        (status = 404, response = NotFound),
    ),
)]
async fn get(id: String, files: Arc<Files>, user: String) -> AppResult<Response> {
    let folder = files.entry(&user, &id, EntryKind::Folder).await?;
    Ok(reply::json(StatusCode::OK, &folder.to_api()))
}

/// Delete a folder and everything below it (to the trash).
///
/// `?recursive=false` deletes only an empty folder; without it the whole subtree goes.
#[utoipa::path(
    delete,
    path = "/api/v1/folders/{id}",
    operation_id = "delete_folder",
    tag = "folders",
    params(
        ("id" = String, Path, description = "The folder's id"),
        ("recursive" = Option<bool>, Query,
            description = "`false`: delete only an empty folder (409 otherwise); default `true`"),
    ),
    security(("bearer" = [])),
    responses(
        (status = 204, description = "Deleted"),
        (status = 400, response = BadRequest),
        (status = 404, response = NotFound),
        (status = 409, description = "`recursive=false` and the folder is not empty", body = ErrorBody),
    ),
)]
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
