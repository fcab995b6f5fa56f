//! The WebDAV front door (RFC 4918 class 1 and 2) at `/dav/`, beside the HTTP API: the
//! `dav-server` crate speaks the protocol, over a file system (`fs`) that calls dbx's
//! area logic. Here: HTTP Basic auth with app passwords, the API's name rules, refusing
//! `Depth: infinity` listings and moves that would swallow their own source, and one
//! in-memory lock table per user (LOCK/UNLOCK, enough for Finder and Windows to write).

mod file;
mod fs;
mod meta;
pub mod paths;

use std::collections::HashMap;
use std::error::Error as StdError;
use std::net::IpAddr;
use std::sync::{Arc, Mutex};

use bytes::Buf;
use dav_server::body::Body;
use dav_server::memls::MemLs;
use dav_server::DavHandler;
use futures_util::FutureExt;
use http::{header, Method, Request, Response, StatusCode};
use http_body::Body as HttpBody;

use crate::auth::Auth;
use crate::error::{AppError, AppResult};
use crate::files::{Files, ToRead};
use crate::properties::Properties;
use fs::{DavUser, DbxFs};

/// Read size when streaming a file out.
const READ_PIECE: usize = 256 * 1024;

pub struct WebDav {
    auth: Arc<Auth>,
    fs: DbxFs,
    /// One handler per user, each with its own lock table, so that no user can see or
    /// trip over another's locks (lock paths are per-user paths).
    handlers: Mutex<HashMap<String, DavHandler<DavUser>>>,
}

impl WebDav {
    pub fn new(auth: Arc<Auth>, files: Arc<Files>, properties: Arc<Properties>) -> Self {
        WebDav {
            fs: DbxFs::new(files, properties),
            auth,
            handlers: Mutex::new(HashMap::new()),
        }
    }

    fn handler(&self, user_id: &str) -> DavHandler<DavUser> {
        let mut handlers = self.handlers.lock().unwrap_or_else(|p| p.into_inner());
        handlers
            .entry(user_id.to_string())
            .or_insert_with(|| {
                DavHandler::<DavUser>::builder()
                    .filesystem(Box::new(self.fs.clone()))
                    .locksystem(MemLs::new())
                    .strip_prefix(paths::PREFIX)
                    .read_buf_size(READ_PIECE)
                    .autoindex(true)
                    .build_handler()
            })
            .clone()
    }

    /// Serves one request below `/dav`. What the front door refuses itself (credentials,
    /// bad names) comes back as `Err`, for the caller to render as API.md's error body.
    pub async fn handle<B, D, E>(
        &self,
        mut req: Request<B>,
        addr: Option<IpAddr>,
    ) -> AppResult<Response<Body>>
    where
        B: HttpBody<Data = D, Error = E>,
        D: Buf + Send + 'static,
        E: StdError + Send + Sync + 'static,
    {
        let auth = req
            .headers()
            .get(header::AUTHORIZATION)
            .and_then(|v| v.to_str().ok());
        // A GET reads its path's entry (and a small file's content) with the credentials.
        let names = paths::names_of_url(req.uri().path());
        let prefetch = match &names {
            Ok(n) if req.method() == Method::GET && !n.is_empty() => Some(n.clone()),
            _ => None,
        };
        let (user, looked_up) = self
            .auth
            .authenticate_basic(auth, addr, move |r, user| match prefetch {
                Some(n) => ToRead::at(r, &user.id, &n),
                None => Ok(None),
            })
            .await?;
        let names = names?;
        let destination = match req.headers().get("destination") {
            Some(v) => {
                let v = v
                    .to_str()
                    .map_err(|_| AppError::bad_request("the Destination header is not valid"))?;
                Some(paths::names_of_url(v)?)
            }
            None => None,
        };
        if req.method().as_str() == "PROPFIND" {
            match depth(&req) {
                Some(d) if d.eq_ignore_ascii_case("infinity") => return Ok(finite_depth_only()),
                Some(_) => {}
                // RFC 4918 reads a missing Depth as infinity, which is refused; the
                // folder and its children is what such clients want to see.
                None => {
                    req.headers_mut()
                        .insert("depth", header::HeaderValue::from_static("1"));
                }
            }
        }
        if let Some(dest) = &destination {
            check_destination(req.method(), &names, dest)?;
        }
        if let Some(v) = req.headers().get("if") {
            check_if_header(v.as_bytes())?;
        }
        let creds = DavUser {
            id: user.id.clone(),
            created_at: user.created_at,
            method: req.method().clone(),
            source: names,
            destination,
            looked_up: Arc::new(Mutex::new(looked_up)),
        };
        // A panic in the protocol library must cost one request a 500, not the
        // connection (and its other requests) a reset.
        let handler = self.handler(&user.id);
        let handled = handler.handle_guarded(req, user.email, creds);
        std::panic::AssertUnwindSafe(handled)
            .catch_unwind()
            .await
            .map_err(|_| AppError::internal("the WebDAV handler panicked"))
    }
}

fn depth<B>(req: &Request<B>) -> Option<String> {
    req.headers()
        .get("depth")
        .map(|v| v.to_str().unwrap_or("").trim().to_string())
}

/// RFC 4918 9.1: a server may refuse `Depth: infinity` PROPFIND with 403 and this
/// precondition; a listing of a whole account in one reply would be unbounded.
fn finite_depth_only() -> Response<Body> {
    let body = "<?xml version=\"1.0\" encoding=\"utf-8\"?>\n\
                <D:error xmlns:D=\"DAV:\"><D:propfind-finite-depth/></D:error>\n";
    let mut res = Response::new(Body::from(body));
    *res.status_mut() = StatusCode::FORBIDDEN;
    res.headers_mut().insert(
        header::CONTENT_TYPE,
        header::HeaderValue::from_static("application/xml; charset=utf-8"),
    );
    res
}

/// A MOVE into its own subtree cannot be done (API.md: 400), and a COPY or MOVE onto a
/// folder that holds the source would first delete the source with the destination.
fn check_destination(method: &Method, source: &[String], dest: &[String]) -> AppResult<()> {
    let keys = |names: &[String]| -> Vec<String> {
        names
            .iter()
            .map(|n| dbx_shared::names::name_key(n))
            .collect()
    };
    let (source, dest) = (keys(source), keys(dest));
    if method.as_str() == "MOVE" && dest.len() > source.len() && dest.starts_with(&source) {
        return Err(AppError::bad_request(
            "a folder cannot be moved into itself",
        ));
    }
    if method.as_str() == "COPY" && dest == source {
        return Err(AppError::bad_request(
            "a file or folder cannot be copied onto itself",
        ));
    }
    if dest.len() < source.len() && source.starts_with(&dest) {
        return Err(AppError::bad_request(
            "the destination holds the source: replacing it would delete the source",
        ));
    }
    Ok(())
}

/// Refuses an `If` header with an unterminated `<...>` or `[...]`: dav-server's parser
/// reads past the end of such a header (litmus 0.13 sends one, cut at 200 characters).
fn check_if_header(value: &[u8]) -> AppResult<()> {
    let bad = || AppError::bad_request("the If header is malformed");
    let mut i = 0;
    while i < value.len() {
        let close = match value[i] {
            b'<' => b'>',
            b'[' => b']',
            _ => {
                i += 1;
                continue;
            }
        };
        // The same scan as the parser's: whitespace ends a token (an error it reports
        // itself); the end of the header before the closing character is what it misses.
        let mut j = i + 1;
        let mut quoted = false;
        loop {
            let Some(&c) = value.get(j) else {
                return Err(bad());
            };
            if !quoted && c == close || b" \t\r\n".contains(&c) {
                break;
            }
            if c == b'"' {
                quoted = !quoted;
            }
            j += 1;
        }
        i = j + 1;
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    fn n(p: &[&str]) -> Vec<String> {
        p.iter().map(|s| s.to_string()).collect()
    }

    #[test]
    fn refuses_unterminated_if_headers() {
        assert!(check_if_header(b"(<urn:uuid:1> [\"ab]c\"]) (Not <DAV:no-lock>)").is_ok());
        assert!(check_if_header(b"<http://h/a> ([\"x\"])").is_ok());
        assert!(check_if_header(b"(<urn:uuid:1> [\"abc").is_err());
        assert!(check_if_header(b"(<urn:uuid").is_err());
        assert!(check_if_header(b"([\"a]").is_err());
    }

    #[test]
    fn refuses_moves_into_themselves_and_onto_their_parents() {
        let mv = Method::from_bytes(b"MOVE").unwrap_or(Method::GET);
        let cp = Method::from_bytes(b"COPY").unwrap_or(Method::GET);
        assert!(check_destination(&mv, &n(&["a"]), &n(&["A", "b"])).is_err());
        assert!(check_destination(&cp, &n(&["a"]), &n(&["a", "b"])).is_ok());
        assert!(check_destination(&cp, &n(&["a", "b"]), &n(&["a"])).is_err());
        assert!(check_destination(&mv, &n(&["a", "b"]), &n(&[])).is_err());
        assert!(check_destination(&mv, &n(&["a"]), &n(&["ab"])).is_ok());
        assert!(check_destination(&mv, &n(&["a", "b"]), &n(&["a", "c"])).is_ok());
    }
}
