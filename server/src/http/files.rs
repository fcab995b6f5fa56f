//! Routes of files: upload, metadata, download, delete, and lookup by path.

use std::collections::HashMap;
use std::sync::Arc;

use dbx_shared::api::{ByHashRequest, Entry, FileEntry};
use dbx_shared::ErrorBody;
use warp::filters::BoxedFilter;
use warp::http::{HeaderMap, StatusCode};
use warp::reply::Response;
use warp::Filter;

use super::content::serve_file;
use super::moves::version_tag;
use super::openapi::{
    BadRequest, Binary, Conflict, NotFound, PayloadTooLarge, PreconditionFailed, QuotaExceeded,
    RangeNotSatisfiable,
};
use super::{get_or_head, json_body, query, reply, user, with};
use crate::auth::Auth;
use crate::error::{AppError, AppResult};
use crate::files::{Files, Upload};
use crate::metadata::{DeleteCheck, EntryKind, EntryRow, FileTarget, IfMatch};

pub fn routes(auth: &Arc<Auth>, files: &Arc<Files>) -> BoxedFilter<(Response,)> {
    let upload = warp::path!("files" / "content")
        .and(warp::put())
        .and(with(files.clone()))
        .and(user(auth))
        .and(query())
        .and(warp::header::headers_cloned())
        .and(warp::body::stream())
        .then(upload);
    let by_hash = warp::path!("files" / "by-hash")
        .and(warp::post())
        .and(with(files.clone()))
        .and(user(auth))
        .and(warp::header::headers_cloned())
        .and(json_body())
        .then(by_hash);
    let meta = warp::path!("files" / String)
        .and(warp::get())
        .and(with(files.clone()))
        .and(user(auth))
        .then(meta);
    let download = warp::path!("files" / String / "content")
        .and(get_or_head())
        .and(with(files.clone()))
        .and(user(auth))
        .and(warp::header::headers_cloned())
        .then(download);
    let delete = warp::path!("files" / String)
        .and(warp::delete())
        .and(with(files.clone()))
        .and(user(auth))
        .and(warp::header::headers_cloned())
        .then(delete);
    let by_path = warp::path!("entries")
        .and(warp::get())
        .and(with(files.clone()))
        .and(user(auth))
        .and(query())
        .then(by_path);
    upload
        .or(by_hash)
        .unify()
        .or(meta)
        .unify()
        .or(download)
        .unify()
        .or(delete)
        .unify()
        .or(by_path)
        .unify()
        .map(reply::respond)
        .boxed()
}

pub(super) fn header<'a>(headers: &'a HeaderMap, name: &str) -> AppResult<Option<&'a str>> {
    headers
        .get(name)
        .map(|v| {
            v.to_str()
                .map(str::trim)
                .map_err(|_| AppError::bad_request(format!("the {name} header is not valid")))
        })
        .transpose()
}

/// `If-Match: "3"` (or `3`, or `*`, or `"<file id>:3"`), or `If-None-Match: *` (create
/// only).
fn if_match(headers: &HeaderMap) -> AppResult<Option<IfMatch>> {
    if let Some(v) = header(headers, "if-none-match")? {
        return match v {
            "*" => Ok(Some(IfMatch::Absent)),
            _ => Err(AppError::bad_request(
                "If-None-Match on uploads takes only *",
            )),
        };
    }
    if header(headers, "if-match")? == Some("*") {
        return Ok(Some(IfMatch::Any));
    }
    Ok(version_tag(headers)?.map(IfMatch::Version))
}

fn upload_target(q: &HashMap<String, String>) -> AppResult<FileTarget> {
    use dbx_shared::names::{normalize_name, parse_path};
    match (q.get("path"), q.get("name")) {
        (Some(path), None) if !q.contains_key("parent_id") => {
            let names = parse_path(path)?;
            if names.is_empty() {
                return Err(AppError::bad_request("the path must name a file"));
            }
            Ok(FileTarget::Path(names))
        }
        (None, Some(name)) => Ok(FileTarget::InFolder {
            parent_id: q
                .get("parent_id")
                .filter(|p| *p != "root" && !p.is_empty())
                .cloned(),
            name: normalize_name(name)?,
        }),
        _ => Err(AppError::bad_request(
            "give either ?path=/a/b.txt or ?parent_id=…&name=…",
        )),
    }
}

/// The declared content type, unless it is absent or only describes a form post.
fn declared_mime(headers: &HeaderMap) -> AppResult<Option<String>> {
    let Some(v) = header(headers, "content-type")? else {
        return Ok(None);
    };
    let essence = v
        .split(';')
        .next()
        .unwrap_or("")
        .trim()
        .to_ascii_lowercase();
    let form = essence == "application/x-www-form-urlencoded" || essence.starts_with("multipart/");
    let plausible = essence.contains('/') && essence.len() <= 255;
    Ok((plausible && !form).then(|| v.to_string()))
}

/// Upload a file: a new file, or a new version of the file at that place.
///
/// The body is streamed to the blob store. Name the file by `path` (missing parent
/// folders are made) or by `parent_id` and `name`. A failed or cut upload changes nothing.
#[utoipa::path(
    put,
    path = "/api/v1/files/content",
    operation_id = "upload_file",
    tag = "files",
    params(
        ("path" = Option<String>, Query, description = "`/a/b.txt`: where the file goes, from the root"),
        ("parent_id" = Option<String>, Query, description = "With `name`: the folder's id (`root` or empty: the root)"),
        ("name" = Option<String>, Query, description = "With `parent_id`: the file's name"),
        ("If-Match" = Option<String>, Header, description = "`\"<file id>:<version>\"` or `\"<version>\"`: 412 unless the current file is that one at that version; `*`: a file must exist"),
        ("If-None-Match" = Option<String>, Header, description = "`*`: create only, 412 if a file exists there"),
        ("X-Content-Hash" = Option<String>, Header, pattern = "^[0-9a-fA-F]{64}$", description = "The content hash of the body: 422 and nothing changes if the bytes differ"),
    ),
    request_body(content = inline(Binary), content_type = "application/octet-stream",
        description = "The file's bytes; the Content-Type (any) is stored as its `mime_type`, else guessed from the name"),
    security(("bearer" = [])),
    responses(
        (status = 200, description = "A new version of an existing file", body = FileEntry),
        (status = 201, description = "A new file", body = FileEntry, links(
            ("get" = (operation_id = "get_file", parameters(("id" = "$response.body#/id")))),
            ("download" = (operation_id = "download_file", parameters(("id" = "$response.body#/id")))),
            ("versions" = (operation_id = "list_versions", parameters(("id" = "$response.body#/id")))),
            ("download_version" = (operation_id = "download_version", parameters(("id" = "$response.body#/id"), ("version" = "$response.body#/version")))),
            ("move" = (operation_id = "move_entry", parameters(("id" = "$response.body#/id")))),
            ("delete" = (operation_id = "delete_file", parameters(("id" = "$response.body#/id")))),
        )),
        (status = 400, response = BadRequest),
        (status = 404, description = "No such parent folder", body = ErrorBody),
        (status = 409, description = "A folder has that name, or a file stands where a folder of the path would be", body = ErrorBody),
        (status = 412, response = PreconditionFailed),
        (status = 413, response = PayloadTooLarge),
        (status = 422, description = "The bytes do not match X-Content-Hash; nothing changed", body = ErrorBody),
        (status = 507, response = QuotaExceeded),
    ),
)]
async fn upload<S, B>(
    files: Arc<Files>,
    user: String,
    q: HashMap<String, String>,
    headers: HeaderMap,
    body: S,
) -> AppResult<Response>
where
    S: futures_util::Stream<Item = Result<B, warp::Error>> + Send + 'static,
    B: bytes::Buf + Send,
{
    let expected_hash = header(&headers, "x-content-hash")?.map(str::to_ascii_lowercase);
    if expected_hash
        .as_deref()
        .is_some_and(|h| !dbx_shared::content_hash::is_valid(h))
    {
        return Err(AppError::bad_request(
            "X-Content-Hash must be 64 hex digits",
        ));
    }
    let content_length = header(&headers, "content-length")?
        .map(|v| v.parse::<u64>())
        .transpose()
        .map_err(|_| AppError::bad_request("Content-Length is not a number"))?;
    let up = Upload {
        target: upload_target(&q)?,
        mime_type: declared_mime(&headers)?,
        if_match: if_match(&headers)?,
        expected_hash,
        content_length,
    };
    let (entry, created) = files.upload(&user, up, body).await?;
    Ok(written(&entry, created))
}

/// The reply of a write: 201 with the entry of a new file, 200 with a new version.
fn written(entry: &EntryRow, created: bool) -> Response {
    let status = if created {
        StatusCode::CREATED
    } else {
        StatusCode::OK
    };
    reply::json(status, &entry.to_api())
}

/// Make a file from content this account already holds, without sending the bytes.
///
/// Dedup never crosses accounts: content only another account holds is a 404.
#[utoipa::path(
    post,
    path = "/api/v1/files/by-hash",
    operation_id = "create_file_by_hash",
    tag = "files",
    params(
        ("If-Match" = Option<String>, Header, description = "`\"<file id>:<version>\"` or `\"<version>\"`: 412 unless the current file is that one at that version; `*`: a file must exist"),
        ("If-None-Match" = Option<String>, Header, description = "`*`: create only, 412 if a file exists there"),
    ),
    request_body = ByHashRequest,
    security(("bearer" = [])),
    responses(
        (status = 200, description = "A new version of an existing file", body = FileEntry),
        (status = 201, description = "A new file", body = FileEntry),
        (status = 404, description = "This account holds no content with that hash and size, or no such folder", body = ErrorBody),
        (status = 409, response = Conflict),
        (status = 412, response = PreconditionFailed),
        (status = 507, response = QuotaExceeded),
    ),
)]
async fn by_hash(
    files: Arc<Files>,
    user: String,
    headers: HeaderMap,
    req: ByHashRequest,
) -> AppResult<Response> {
    let hash = req.content_hash.to_ascii_lowercase();
    if !dbx_shared::content_hash::is_valid(&hash) {
        return Err(AppError::bad_request("content_hash must be 64 hex digits"));
    }
    let mut place = HashMap::new();
    let fields = [
        ("path", req.path),
        ("parent_id", req.parent_id),
        ("name", req.name),
    ];
    for (key, value) in fields {
        if let Some(v) = value {
            place.insert(key.to_string(), v);
        }
    }
    let target = upload_target(&place)?;
    let (entry, created) = files
        .create_from_hash(&user, target, hash, req.size, if_match(&headers)?)
        .await?;
    Ok(written(&entry, created))
}

/// A file's metadata.
#[utoipa::path(
    get,
    path = "/api/v1/files/{id}",
    operation_id = "get_file",
    tag = "files",
    params(("id" = String, Path, description = "The file's id")),
    security(("bearer" = [])),
    responses(
        (status = 200, description = "The file", body = FileEntry),
        (status = 404, response = NotFound),
    ),
)]
async fn meta(id: String, files: Arc<Files>, user: String) -> AppResult<Response> {
    let file = files.entry(&user, &id, EntryKind::File).await?;
    Ok(reply::json(StatusCode::OK, &file.to_api()))
}

/// Download a file's current content, whole or one range.
#[utoipa::path(
    get,
    path = "/api/v1/files/{id}/content",
    operation_id = "download_file",
    tag = "files",
    params(
        ("id" = String, Path, description = "The file's id"),
        ("Range" = Option<String>, Header, description = "One range: `bytes=a-b`, `bytes=a-` or `bytes=-n`; others are ignored"),
    ),
    security(("bearer" = [])),
    responses(
        (status = 200, description = "The bytes", content_type = "*/*", body = inline(Binary), headers(
            ("Content-Type" = String, description = "The file's `mime_type`"),
            ("ETag" = String, description = "The content hash, quoted"),
            ("Content-Disposition" = String, description = "`attachment` with the file's name (RFC 6266, `filename*` per RFC 5987)"),
            ("Accept-Ranges" = String, description = "`bytes`"),
            ("X-Content-Type-Options" = String, description = "`nosniff`"),
            ("Content-Security-Policy" = String, description = "`default-src 'none'; sandbox`"),
            ("Cross-Origin-Resource-Policy" = String, description = "`same-origin`"),
        )),
        (status = 206, description = "The range asked for", content_type = "*/*", body = inline(Binary), headers(
            ("Content-Range" = String, description = "`bytes a-b/size`"),
            ("ETag" = String, description = "The content hash, quoted"),
        )),
        (status = 404, response = NotFound),
        (status = 416, response = RangeNotSatisfiable),
    ),
)]
async fn download(
    id: String,
    head: bool,
    files: Arc<Files>,
    user: String,
    headers: HeaderMap,
) -> AppResult<Response> {
    let file = files.file_to_read(&user, &id).await?;
    serve_file(&files, &file, &headers, head).await
}

/// Delete a file (to the trash).
#[utoipa::path(
    delete,
    path = "/api/v1/files/{id}",
    operation_id = "delete_file",
    tag = "files",
    params(
        ("id" = String, Path, description = "The file's id"),
        ("If-Match" = Option<String>, Header, description = "`\"<file id>:<version>\"` or `\"<version>\"`: 412 and nothing deleted unless the file is that one at that version"),
    ),
    security(("bearer" = [])),
    responses(
        (status = 204, description = "Deleted"),
        (status = 400, response = BadRequest),
        (status = 404, response = NotFound),
        (status = 412, response = PreconditionFailed),
    ),
)]
async fn delete(
    id: String,
    files: Arc<Files>,
    user: String,
    headers: HeaderMap,
) -> AppResult<Response> {
    let if_match = match if_match(&headers)? {
        Some(IfMatch::Absent) => {
            return Err(AppError::bad_request(
                "If-None-Match does not apply to a delete",
            ))
        }
        other => other,
    };
    let check = DeleteCheck {
        if_match,
        only_if_empty: false,
    };
    files.delete(&user, &id, EntryKind::File, check).await?;
    Ok(reply::no_content())
}

/// The entry at a path.
#[utoipa::path(
    get,
    path = "/api/v1/entries",
    operation_id = "get_entry_by_path",
    tag = "files",
    params(("path" = String, Query, description = "`/a/b.txt`, from the root; `/` is no entry (404)")),
    security(("bearer" = [])),
    responses(
        (status = 200, description = "The file or folder at that path", body = Entry),
        (status = 400, response = BadRequest),
        (status = 404, response = NotFound),
    ),
)]
async fn by_path(
    files: Arc<Files>,
    user: String,
    q: HashMap<String, String>,
) -> AppResult<Response> {
    let path = q
        .get("path")
        .ok_or_else(|| AppError::bad_request("the path parameter is required"))?;
    let entry = files.entry_at(&user, path).await?;
    Ok(reply::json(StatusCode::OK, &entry.to_api()))
}
