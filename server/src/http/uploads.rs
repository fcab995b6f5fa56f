//! tus 1.0.0 at `/api/v1/uploads` (core, creation, creation-with-upload, termination,
//! checksum, expiration): the headers of the protocol here, the upload logic in
//! `uploads`. Authentication is checked in the handlers rather than by a filter, so that
//! every reply, errors included, carries `Tus-Resumable`.

use std::sync::Arc;

use base64::Engine;
use chrono::{DateTime, Utc};
use dbx_shared::ErrorBody;
use warp::filters::BoxedFilter;
use warp::http::{HeaderMap, HeaderValue, StatusCode};
use warp::reply::Response;
use warp::{Filter, Reply};

use super::files::header;
use super::openapi::{BadRequest, Binary, NotFound, PayloadTooLarge, QuotaExceeded};
use super::{reply, with};
use crate::auth::Auth;
use crate::error::{AppError, AppResult};
use crate::metadata::UploadRow;
use crate::uploads::{Appended, Checksum, NewUpload, Uploads};

const TUS_VERSION: &str = "1.0.0";
const TUS_EXTENSIONS: &str = "creation,creation-with-upload,termination,checksum,expiration";
const OFFSET_STREAM: &str = "application/offset+octet-stream";

pub fn routes(auth: &Arc<Auth>, uploads: &Arc<Uploads>) -> BoxedFilter<(Response,)> {
    let options = warp::path!("uploads")
        .and(warp::options())
        .and(with(uploads.clone()))
        .map(|u: Arc<Uploads>| Ok::<_, AppError>(options(&u)));
    let create = warp::path!("uploads")
        .and(warp::post())
        .and(tus_request(auth, uploads))
        .and(warp::body::stream())
        .then(create);
    let head = warp::path!("uploads" / String)
        .and(warp::head())
        .and(tus_request(auth, uploads))
        .then(head);
    let patch = warp::path!("uploads" / String)
        .and(warp::patch())
        .and(tus_request(auth, uploads))
        .and(warp::body::stream())
        .then(patch);
    let delete = warp::path!("uploads" / String)
        .and(warp::delete())
        .and(tus_request(auth, uploads))
        .then(terminate);
    // Any other method on these paths, so that it too answers with `Tus-Resumable`.
    let other = warp::path("uploads").map(super::method_not_allowed);
    options
        .or(create)
        .unify()
        .or(head)
        .unify()
        .or(patch)
        .unify()
        .or(delete)
        .unify()
        .map(reply::respond)
        .or(other)
        .unify()
        .map(tus_reply)
        .boxed()
}

/// What every tus handler takes: the services and the request's headers.
fn tus_request(
    auth: &Arc<Auth>,
    uploads: &Arc<Uploads>,
) -> impl Filter<Extract = (Arc<Auth>, Arc<Uploads>, HeaderMap), Error = std::convert::Infallible> + Clone
{
    with(auth.clone())
        .and(with(uploads.clone()))
        .and(warp::header::headers_cloned())
}

fn tus_reply(mut res: Response) -> Response {
    res.headers_mut()
        .insert("tus-resumable", HeaderValue::from_static(TUS_VERSION));
    res
}

fn set(res: &mut Response, name: &'static str, value: impl ToString) {
    if let Ok(v) = HeaderValue::from_str(&value.to_string()) {
        res.headers_mut().insert(name, v);
    }
}

/// An HTTP date, as `Upload-Expires` wants it.
fn http_date(t: DateTime<Utc>) -> String {
    t.format("%a, %d %b %Y %H:%M:%S GMT").to_string()
}

/// What this tus server supports.
///
/// The only tus call without a token.
#[utoipa::path(
    options,
    path = "/api/v1/uploads",
    operation_id = "tus_options",
    tag = "uploads",
    responses(
        (status = 204, description = "The protocol versions, extensions, limit and checksums", headers(
            ("Tus-Version" = String, description = "`1.0.0`"),
            ("Tus-Extension" = String, description = "`creation,creation-with-upload,termination,checksum,expiration`"),
            ("Tus-Max-Size" = String, description = "The largest `Upload-Length` accepted, in bytes (`--max-upload-bytes`)"),
            ("Tus-Checksum-Algorithm" = String, description = "`sha1,sha256`"),
        )),
    ),
)]
fn options(uploads: &Uploads) -> Response {
    let mut res = reply::no_content();
    set(&mut res, "tus-version", TUS_VERSION);
    set(&mut res, "tus-extension", TUS_EXTENSIONS);
    set(&mut res, "tus-max-size", uploads.max_size());
    set(&mut res, "tus-checksum-algorithm", "sha1,sha256");
    res
}

/// The user, and a check of the protocol version the client speaks.
fn caller(auth: &Auth, headers: &HeaderMap) -> AppResult<String> {
    if let Some(v) = header(headers, "tus-resumable")? {
        if v != TUS_VERSION {
            return Err(AppError::TusVersion(format!(
                "this server speaks tus {TUS_VERSION}, not {v}"
            )));
        }
    }
    // A value that is not visible ASCII is a malformed token, as for `user()`: 401.
    let token = headers
        .get(warp::http::header::AUTHORIZATION)
        .map(|v| v.to_str().unwrap_or_default());
    auth.authenticate(token)
}

fn number(headers: &HeaderMap, name: &str) -> AppResult<Option<u64>> {
    header(headers, name)?
        .map(|v| {
            v.parse::<u64>()
                .map_err(|_| AppError::bad_request(format!("{name} must be a whole number")))
        })
        .transpose()
}

/// `Upload-Metadata: key base64,key base64,...`: the values of `path`, `if_match`,
/// `if_none_match` and `content_hash` (other keys, such as a client's `filename`, are
/// ignored).
fn metadata(headers: &HeaderMap) -> AppResult<[Option<String>; 4]> {
    let mut out: [Option<String>; 4] = Default::default();
    let Some(v) = header(headers, "upload-metadata")? else {
        return Ok(out);
    };
    for pair in v.split(',').map(str::trim).filter(|p| !p.is_empty()) {
        let (key, value) = pair.split_once(' ').unwrap_or((pair, ""));
        let slot = match key {
            "path" => &mut out[0],
            "if_match" => &mut out[1],
            "if_none_match" => &mut out[2],
            "content_hash" => &mut out[3],
            _ => continue,
        };
        let bytes = base64::engine::general_purpose::STANDARD
            .decode(value.trim())
            .map_err(|_| AppError::bad_request(format!("Upload-Metadata {key} is not base64")))?;
        let text = String::from_utf8(bytes)
            .map_err(|_| AppError::bad_request(format!("Upload-Metadata {key} is not UTF-8")))?;
        *slot = Some(text);
    }
    Ok(out)
}

/// `Upload-Checksum: <algorithm> <base64 digest>`.
fn checksum(headers: &HeaderMap) -> AppResult<Option<Checksum>> {
    let Some(v) = header(headers, "upload-checksum")? else {
        return Ok(None);
    };
    let (algorithm, digest) = v
        .split_once(' ')
        .ok_or_else(|| AppError::bad_request("Upload-Checksum is '<algorithm> <base64>'"))?;
    let digest = base64::engine::general_purpose::STANDARD
        .decode(digest.trim())
        .map_err(|_| AppError::bad_request("the Upload-Checksum digest is not base64"))?;
    match algorithm {
        "sha1" => Ok(Some(Checksum::Sha1(digest))),
        "sha256" => Ok(Some(Checksum::Sha256(digest))),
        _ => Err(AppError::bad_request(
            "Upload-Checksum takes sha1 or sha256",
        )),
    }
}

fn is_offset_stream(headers: &HeaderMap) -> AppResult<bool> {
    Ok(header(headers, "content-type")?
        .is_some_and(|v| v.split(';').next().unwrap_or("").trim() == OFFSET_STREAM))
}

fn location(row: &UploadRow) -> String {
    format!("/api/v1/uploads/{}", row.staged.id)
}

/// `Upload-Offset`, and `Dbx-File-Id` once the file is committed.
fn progress(res: &mut Response, appended: &Appended) {
    match appended {
        Appended::Partial(offset) => set(res, "upload-offset", offset),
        Appended::Done(entry) => {
            let size = entry.content.as_ref().map_or(0, |c| c.size);
            set(res, "upload-offset", size);
            set(res, "dbx-file-id", &entry.id);
        }
    }
}

/// Start a resumable upload (tus creation, creation-with-upload).
///
/// The path, the precondition and the quota (from `Upload-Length`) are checked now, and
/// again at the end. With a body (`Content-Type: application/offset+octet-stream`) its
/// bytes are the first piece, as for a `PATCH` at offset 0. An upload whose last byte
/// arrives (or `Upload-Length: 0`) is committed as a `PUT` would be, and the reply
/// carries `Dbx-File-Id`; a failed commit is the usual JSON error and the upload is gone.
#[utoipa::path(
    post,
    path = "/api/v1/uploads",
    operation_id = "tus_create",
    tag = "uploads",
    params(
        ("Upload-Length" = String, Header, pattern = "^[0-9]+$", description = "The size of the whole file in bytes (`Upload-Defer-Length` is not supported: 400)"),
        ("Upload-Metadata" = String, Header, description = "Comma-separated `key <base64 value>` pairs: `path` (required): where the file goes, from the root, missing folders are made; `if_match`: an `If-Match` value (`\"<file id>:<version>\"`, `\"<version>\"`, or `*`: a file must exist); `if_none_match`: `*`: commit only as a new file, 412 if a file exists there; `content_hash`: the content hash (64 hex digits) the bytes must have, else 422 at the end. Other keys (a client's `filename`) are ignored"),
        ("Upload-Checksum" = Option<String>, Header, description = "`sha1 <base64>` or `sha256 <base64>`: the digest of this request's body; 460 and the piece is dropped if it does not match"),
    ),
    request_body(content = inline(Binary), content_type = "application/offset+octet-stream",
        description = "Optional: the first bytes of the file (tus creation-with-upload)"),
    security(("bearer" = [])),
    responses(
        (status = 201, description = "The upload was made (and, when every byte arrived, the file committed)", headers(
            ("Location" = String, description = "`/api/v1/uploads/{id}`: the upload's URL"),
            ("Upload-Expires" = String, description = "An HTTP date: the upload is dropped after it without progress"),
            ("Upload-Offset" = String, description = "With a body: the bytes the server holds"),
            ("Dbx-File-Id" = String, description = "Once committed: the file's id"),
        )),
        (status = 400, response = BadRequest),
        (status = 404, response = NotFound),
        (status = 409, description = "A folder has that name, a file stands where a folder of the path would be, or another request is writing this upload", body = ErrorBody),
        (status = 412, description = "`Tus-Resumable` names another version, or the `if_match` / `if_none_match` precondition fails", body = ErrorBody),
        (status = 413, response = PayloadTooLarge),
        (status = 422, description = "The bytes do not match the `content_hash` metadata; nothing changed", body = ErrorBody),
        (status = 460, description = "The body does not match its `Upload-Checksum`; that piece was dropped", body = ErrorBody),
        (status = 507, response = QuotaExceeded),
    ),
)]
async fn create<S, B>(
    auth: Arc<Auth>,
    uploads: Arc<Uploads>,
    headers: HeaderMap,
    body: S,
) -> AppResult<Response>
where
    S: futures_util::Stream<Item = Result<B, warp::Error>> + Send + 'static,
    B: bytes::Buf + Send,
{
    let user = caller(&auth, &headers)?;
    if header(&headers, "upload-defer-length")?.is_some() {
        return Err(AppError::bad_request(
            "Upload-Defer-Length is not supported: give Upload-Length",
        ));
    }
    let length = number(&headers, "upload-length")?
        .ok_or_else(|| AppError::bad_request("Upload-Length is required"))?;
    let [path, if_match, if_none_match, content_hash] = metadata(&headers)?;
    let only_new = match if_none_match.as_deref().map(str::trim) {
        None => false,
        Some("*") => true,
        Some(_) => {
            return Err(AppError::bad_request(
                "the if_none_match metadata must be *",
            ))
        }
    };
    let path = path.ok_or_else(|| {
        AppError::bad_request("Upload-Metadata must name the file's path (key 'path')")
    })?;
    let new = NewUpload {
        length,
        path,
        if_match,
        only_new,
        content_hash,
    };
    let row = uploads.create(&user, new).await?;
    let with_body = is_offset_stream(&headers)? && number(&headers, "content-length")? != Some(0);
    let appended = if with_body || length == 0 {
        Some(
            uploads
                .append(&user, &row.staged.id, 0, body, checksum(&headers)?)
                .await?,
        )
    } else {
        None
    };
    let mut res = reply::no_content();
    *res.status_mut() = StatusCode::CREATED;
    set(&mut res, "location", location(&row));
    set(&mut res, "upload-expires", http_date(row.expires_at));
    if let Some(a) = &appended {
        progress(&mut res, a);
    }
    Ok(res)
}

/// The state of an upload (tus core): how many bytes the server holds.
#[utoipa::path(
    head,
    path = "/api/v1/uploads/{id}",
    operation_id = "tus_status",
    tag = "uploads",
    params(("id" = String, Path, description = "The upload's id (the last part of its `Location`)")),
    security(("bearer" = [])),
    responses(
        (status = 200, description = "The upload's offset and length", headers(
            ("Upload-Offset" = String, description = "The bytes the server holds: the next `PATCH` starts there"),
            ("Upload-Length" = String, description = "The size of the whole file"),
            ("Upload-Expires" = String, description = "An HTTP date: the upload is dropped after it without progress"),
            ("Cache-Control" = String, description = "`no-store`"),
        )),
        (status = 400, description = "A header that is not valid"),
        (status = 404, description = "No such upload for this user"),
        (status = 410, description = "The upload expired"),
        (status = 412, description = "`Tus-Resumable` names another version"),
    ),
)]
async fn head(
    id: String,
    auth: Arc<Auth>,
    uploads: Arc<Uploads>,
    headers: HeaderMap,
) -> AppResult<Response> {
    let user = caller(&auth, &headers)?;
    let row = uploads.status(&user, &id).await?;
    let mut res = StatusCode::OK.into_response();
    set(&mut res, "upload-offset", row.staged.offset);
    set(&mut res, "upload-length", row.length);
    set(&mut res, "upload-expires", http_date(row.expires_at));
    set(&mut res, "cache-control", "no-store");
    Ok(res)
}

/// Append bytes to an upload (tus core, checksum).
///
/// A body cut off keeps what arrived (unless it declared a checksum): ask `HEAD` for the
/// offset and go on from there. When the offset reaches the length the file is committed
/// as a `PUT` would be, and the reply carries `Dbx-File-Id`; a failed commit is the usual
/// JSON error (412, 422, 507, ...) and the upload is gone.
#[utoipa::path(
    patch,
    path = "/api/v1/uploads/{id}",
    operation_id = "tus_append",
    tag = "uploads",
    params(
        ("id" = String, Path, description = "The upload's id (the last part of its `Location`)"),
        ("Upload-Offset" = String, Header, pattern = "^[0-9]+$", description = "Where this body goes: the server's offset, else 409"),
        ("Upload-Checksum" = Option<String>, Header, description = "`sha1 <base64>` or `sha256 <base64>`: the digest of this body; 460 and the piece is dropped if it does not match"),
    ),
    request_body(content = inline(Binary), content_type = "application/offset+octet-stream",
        description = "The next bytes of the file (another Content-Type is 400)"),
    security(("bearer" = [])),
    responses(
        (status = 204, description = "The bytes are stored (and, when every byte arrived, the file committed)", headers(
            ("Upload-Offset" = String, description = "The bytes the server holds"),
            ("Dbx-File-Id" = String, description = "Once committed: the file's id"),
        )),
        (status = 400, response = BadRequest),
        (status = 404, description = "No such upload for this user (or, at the commit, no such parent folder)", body = ErrorBody),
        (status = 409, description = "`Upload-Offset` is not the server's, another request is writing this upload, or at the commit the path is taken by a folder", body = ErrorBody),
        (status = 410, description = "The upload expired", body = ErrorBody),
        (status = 412, description = "`Tus-Resumable` names another version, or at the commit the `if_match` / `if_none_match` precondition fails", body = ErrorBody),
        (status = 422, description = "At the commit: the bytes do not match the `content_hash` metadata", body = ErrorBody),
        (status = 460, description = "The body does not match its `Upload-Checksum`; that piece was dropped", body = ErrorBody),
        (status = 507, response = QuotaExceeded),
    ),
)]
async fn patch<S, B>(
    id: String,
    auth: Arc<Auth>,
    uploads: Arc<Uploads>,
    headers: HeaderMap,
    body: S,
) -> AppResult<Response>
where
    S: futures_util::Stream<Item = Result<B, warp::Error>> + Send + 'static,
    B: bytes::Buf + Send,
{
    let user = caller(&auth, &headers)?;
    if !is_offset_stream(&headers)? {
        return Err(AppError::bad_request(format!(
            "a PATCH body is Content-Type: {OFFSET_STREAM}"
        )));
    }
    let offset = number(&headers, "upload-offset")?
        .ok_or_else(|| AppError::bad_request("Upload-Offset is required"))?;
    let appended = uploads
        .append(&user, &id, offset, body, checksum(&headers)?)
        .await?;
    let mut res = reply::no_content();
    progress(&mut res, &appended);
    Ok(res)
}

/// Abandon an upload (tus termination): its stored parts are removed.
#[utoipa::path(
    delete,
    path = "/api/v1/uploads/{id}",
    operation_id = "tus_terminate",
    tag = "uploads",
    params(("id" = String, Path, description = "The upload's id (the last part of its `Location`)")),
    security(("bearer" = [])),
    responses(
        (status = 204, description = "The upload is gone"),
        (status = 400, response = BadRequest),
        (status = 404, response = NotFound),
        (status = 409, description = "Another request is writing this upload", body = ErrorBody),
        (status = 412, description = "`Tus-Resumable` names another version", body = ErrorBody),
    ),
)]
async fn terminate(
    id: String,
    auth: Arc<Auth>,
    uploads: Arc<Uploads>,
    headers: HeaderMap,
) -> AppResult<Response> {
    let user = caller(&auth, &headers)?;
    uploads.terminate(&user, &id).await?;
    Ok(reply::no_content())
}
