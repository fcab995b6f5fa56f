//! Routes of version history: list a file's versions, download one, restore one.

use std::sync::Arc;

use dbx_shared::api::{FileEntry, RestoreVersionRequest, VersionList};
use dbx_shared::ErrorBody;
use warp::filters::BoxedFilter;
use warp::http::{HeaderMap, StatusCode};
use warp::reply::Response;
use warp::Filter;

use super::content::serve_file;
use super::openapi::{Binary, NotFound, QuotaExceeded, RangeNotSatisfiable};
use super::{get_or_head, json_body, reply, user, with};
use crate::auth::Auth;
use crate::error::{AppError, AppResult};
use crate::files::Files;
use crate::metadata::VersionRow;
use crate::versions::Versions;

pub fn routes(
    auth: &Arc<Auth>,
    versions: &Arc<Versions>,
    files: &Arc<Files>,
) -> BoxedFilter<(Response,)> {
    let list = warp::path!("files" / String / "versions")
        .and(warp::get())
        .and(with(versions.clone()))
        .and(user(auth))
        .then(list);
    let download = warp::path!("files" / String / "versions" / String / "content")
        .and(get_or_head())
        .and(with(versions.clone()))
        .and(with(files.clone()))
        .and(user(auth))
        .and(warp::header::headers_cloned())
        .then(download);
    let restore = warp::path!("files" / String / "restore")
        .and(warp::post())
        .and(with(versions.clone()))
        .and(user(auth))
        .and(json_body())
        .then(restore);
    list.or(download)
        .unify()
        .or(restore)
        .unify()
        .map(reply::respond)
        .boxed()
}

/// A file's versions, newest first, the current one included.
#[utoipa::path(
    get,
    path = "/api/v1/files/{id}/versions",
    operation_id = "list_versions",
    tag = "versions",
    params(("id" = String, Path, description = "The file's id")),
    security(("bearer" = [])),
    responses(
        (status = 200, description = "The versions", body = VersionList),
        (status = 404, response = NotFound),
    ),
)]
async fn list(id: String, versions: Arc<Versions>, user: String) -> AppResult<Response> {
    let versions = versions.list(&user, &id).await?;
    let body = VersionList {
        versions: versions.iter().map(VersionRow::to_api).collect(),
    };
    Ok(reply::json(StatusCode::OK, &body))
}

/// Download a version's content, whole or one range, as for the current content.
#[utoipa::path(
    get,
    path = "/api/v1/files/{id}/versions/{version}/content",
    operation_id = "download_version",
    tag = "versions",
    params(
        ("id" = String, Path, description = "The file's id"),
        ("version" = i64, Path, description = "The version number"),
        ("Range" = Option<String>, Header, description = "One range: `bytes=a-b`, `bytes=a-` or `bytes=-n`"),
    ),
    security(("bearer" = [])),
    responses(
        (status = 200, description = "The bytes", content_type = "*/*", body = inline(Binary), headers(
            ("ETag" = String, description = "The version's content hash, quoted"),
            ("Content-Disposition" = String, description = "`attachment` with the file's name"),
        )),
        (status = 206, description = "The range asked for", content_type = "*/*", body = inline(Binary), headers(
            ("Content-Range" = String, description = "`bytes a-b/size`"),
        )),
        (status = 400, description = "The version is not a number", body = ErrorBody),
        (status = 404, description = "No such file or version (or it expired)", body = ErrorBody),
        (status = 416, response = RangeNotSatisfiable),
    ),
)]
async fn download(
    id: String,
    version: String,
    head: bool,
    versions: Arc<Versions>,
    files: Arc<Files>,
    user: String,
    headers: HeaderMap,
) -> AppResult<Response> {
    let version = version
        .parse::<i64>()
        .map_err(|_| AppError::bad_request("the version must be a number"))?;
    let file = versions.as_file(&user, &id, version).await?;
    serve_file(&files, &file.into(), &headers, head).await
}

/// Make a version the current content again, as a new version.
#[utoipa::path(
    post,
    path = "/api/v1/files/{id}/restore",
    operation_id = "restore_version",
    tag = "versions",
    params(("id" = String, Path, description = "The file's id")),
    request_body = RestoreVersionRequest,
    security(("bearer" = [])),
    responses(
        (status = 200, description = "The file, at its new version", body = FileEntry),
        (status = 404, description = "No such file or version", body = ErrorBody),
        (status = 507, response = QuotaExceeded),
    ),
)]
async fn restore(
    id: String,
    versions: Arc<Versions>,
    user: String,
    body: RestoreVersionRequest,
) -> AppResult<Response> {
    let file = versions.restore(&user, &id, body.version).await?;
    Ok(reply::json(StatusCode::OK, &file.to_api()))
}
