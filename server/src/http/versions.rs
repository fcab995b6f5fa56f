//! Routes of version history: list a file's versions, download one, restore one.

use std::sync::Arc;

use dbx_shared::api::{RestoreVersionRequest, VersionList};
use warp::filters::BoxedFilter;
use warp::http::{HeaderMap, StatusCode};
use warp::reply::Response;
use warp::Filter;

use super::content::serve_file;
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

async fn list(id: String, versions: Arc<Versions>, user: String) -> AppResult<Response> {
    let versions = versions.list(&user, &id).await?;
    let body = VersionList {
        versions: versions.iter().map(VersionRow::to_api).collect(),
    };
    Ok(reply::json(StatusCode::OK, &body))
}

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
    serve_file(&files, &file, &headers, head).await
}

async fn restore(
    id: String,
    versions: Arc<Versions>,
    user: String,
    body: RestoreVersionRequest,
) -> AppResult<Response> {
    let file = versions.restore(&user, &id, body.version).await?;
    Ok(reply::json(StatusCode::OK, &file.to_api()))
}
