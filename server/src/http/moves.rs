//! The route of moves and renames: `POST /entries/{id}/move`.

use std::sync::Arc;

use dbx_shared::api::{Entry, MoveRequest};
use dbx_shared::ErrorBody;
use warp::filters::BoxedFilter;
use warp::http::{HeaderMap, StatusCode};
use warp::reply::Response;
use warp::Filter;

use super::files::header;
use super::openapi::{Conflict, PreconditionFailed};
use super::{json_body, reply, user, with};
use crate::auth::Auth;
use crate::error::{AppError, AppResult};
use crate::files::Files;
use crate::metadata::VersionTag;

pub fn routes(auth: &Arc<Auth>, files: &Arc<Files>) -> BoxedFilter<(Response,)> {
    warp::path!("entries" / String / "move")
        .and(warp::post())
        .and(with(files.clone()))
        .and(user(auth))
        .and(warp::header::headers_cloned())
        .and(json_body())
        .then(move_entry)
        .map(reply::respond)
        .boxed()
}

/// Move or rename a file or folder.
///
/// The entry keeps its id, version, content and share links; a folder moves with its
/// subtree. At least one of `parent_id` and `name`. Nothing is ever overwritten.
#[utoipa::path(
    post,
    path = "/api/v1/entries/{id}/move",
    operation_id = "move_entry",
    tag = "files",
    params(
        ("id" = String, Path, description = "The file's or folder's id"),
        ("If-Match" = Option<String>, Header, description = "A file's `\"<file id>:<version>\"` or `\"<version>\"`: 412 unless it is at that version (a version on a folder is 412)"),
    ),
    request_body = MoveRequest,
    security(("bearer" = [])),
    responses(
        (status = 200, description = "The entry at its new place", body = Entry),
        (status = 400, description = "Neither field, a bad name, a folder into its own subtree, or a path past the bounds", body = ErrorBody),
        (status = 404, description = "No such entry, or no such target folder", body = ErrorBody),
        (status = 409, response = Conflict),
        (status = 412, response = PreconditionFailed),
    ),
)]
async fn move_entry(
    id: String,
    files: Arc<Files>,
    user: String,
    headers: HeaderMap,
    body: MoveRequest,
) -> AppResult<Response> {
    let if_match = version_tag(&headers)?;
    let entry = files.move_entry(&user, &id, body, if_match).await?;
    Ok(reply::json(StatusCode::OK, &entry.to_api()))
}

/// `If-Match: "<version>"` or `"<file id>:<version>"` (quotes optional, `W/` ignored);
/// `*` or no header: no condition (the entry is named by id, so it exists).
pub fn version_tag(headers: &HeaderMap) -> AppResult<Option<VersionTag>> {
    let Some(v) = header(headers, "if-match")? else {
        return Ok(None);
    };
    if v == "*" {
        return Ok(None);
    }
    VersionTag::parse(v).map(Some).ok_or_else(|| {
        AppError::bad_request("If-Match must be \"<version>\" or \"<file id>:<version>\"")
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    fn tag(v: &str) -> AppResult<Option<VersionTag>> {
        let mut h = HeaderMap::new();
        h.insert("if-match", v.parse().expect("header value"));
        version_tag(&h)
    }

    #[test]
    fn parses_both_forms() {
        let v = |file_id: Option<&str>, version| {
            Some(VersionTag {
                file_id: file_id.map(str::to_string),
                version,
            })
        };
        assert_eq!(tag("\"3\"").ok(), Some(v(None, 3)));
        assert_eq!(tag("W/\"3\"").ok(), Some(v(None, 3)));
        assert_eq!(tag("\"abc-1:7\"").ok(), Some(v(Some("abc-1"), 7)));
        assert_eq!(tag("*").ok(), Some(None));
        for bad in ["\"\"", "\"x\"", "\":3\"", "\"id:\"", "\"id:x\""] {
            assert!(tag(bad).is_err(), "{bad}");
        }
    }
}
