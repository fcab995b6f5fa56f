//! The page a browser gets for a share link: what the file is and a download button,
//! with no script, no external asset and a strict Content-Security-Policy. Other clients
//! (curl, wget, the API) never see it: they get the bytes.

use std::sync::LazyLock;

use base64::Engine;
use html_escape::encode_text;
use sha2::{Digest, Sha256};
use warp::http::{header, HeaderMap, HeaderValue, StatusCode};
use warp::reply::Response;

use crate::error::AppError;
use crate::metadata::model::{EntryRow, ShareRow};

const STYLE: &str = "body{font-family:system-ui,-apple-system,'Segoe UI',sans-serif;\
margin:0;background:#f4f5f7;color:#1d2129}\
main{max-width:34rem;margin:12vh auto 0;padding:2rem 1.5rem;background:#fff;\
border-radius:12px;box-shadow:0 1px 4px rgba(0,0,0,.12)}\
h1{font-size:1.35rem;margin:0 0 1rem;overflow-wrap:anywhere}\
dl{display:grid;grid-template-columns:auto 1fr;gap:.35rem 1rem;margin:0 0 1.5rem}\
dt{color:#5f6670}dd{margin:0;overflow-wrap:anywhere}\
a.button{display:inline-block;padding:.8rem 1.6rem;border-radius:8px;background:#0061fe;\
color:#fff;text-decoration:none;font-weight:600}\
p.note{color:#5f6670;font-size:.9rem;margin:1.5rem 0 0}\
@media (max-width:40rem){main{margin:0;border-radius:0;min-height:100vh}}";

/// Only the stylesheet above may apply; nothing may load, run, frame or submit.
static CSP: LazyLock<String> = LazyLock::new(|| {
    let digest = Sha256::digest(STYLE.as_bytes());
    let hash = base64::engine::general_purpose::STANDARD.encode(digest);
    format!(
        "default-src 'none'; style-src 'sha256-{hash}'; base-uri 'none'; \
         form-action 'none'; frame-ancestors 'none'"
    )
});

/// True when the client prefers HTML to anything else it accepts, as browsers do when
/// they navigate (`text/html,…,*/*;q=0.8`); `*/*` alone (curl, wget) is not a browser.
pub fn wants_html(headers: &HeaderMap) -> bool {
    let Some(accept) = headers.get(header::ACCEPT).and_then(|v| v.to_str().ok()) else {
        return false;
    };
    let mut html_q = 0.0_f32;
    let mut other_q = 0.0_f32;
    for item in accept.split(',') {
        let mut parts = item.split(';').map(str::trim);
        let media = parts.next().unwrap_or_default().to_ascii_lowercase();
        let q = parts
            .find_map(|p| p.strip_prefix("q="))
            .and_then(|v| v.parse::<f32>().ok())
            .unwrap_or(1.0);
        if media == "text/html" || media == "application/xhtml+xml" {
            html_q = html_q.max(q);
        } else {
            other_q = other_q.max(q);
        }
    }
    html_q > 0.0 && html_q >= other_q
}

/// The page of a live link.
pub fn page(share: &ShareRow, file: &EntryRow, token: &str) -> Response {
    let (size, mime) = file
        .content
        .as_ref()
        .map_or((0, "application/octet-stream"), |c| {
            (c.size, c.mime_type.as_str())
        });
    let name = encode_text(&file.name);
    let expiry = match share.expires_at {
        Some(at) => format!("{} UTC", at.format("%Y-%m-%d %H:%M")),
        None => "never".to_string(),
    };
    let left = share
        .max_downloads
        .map(|max| {
            let n = max.saturating_sub(share.download_count);
            format!("<dt>Downloads left</dt><dd>{n} of {max}</dd>")
        })
        .unwrap_or_default();
    let body = format!(
        "<main><h1>{name}</h1><dl>\
         <dt>Size</dt><dd>{size}</dd>\
         <dt>Type</dt><dd>{mime}</dd>\
         <dt>Expires</dt><dd>{expiry}</dd>{left}</dl>\
         <a class=\"button\" id=\"download\" href=\"{href}\" download>Download</a>\
         <p class=\"note\">Shared with you through dbx. Opening this page does not use a \
         download.</p></main>",
        size = human_size(size),
        mime = encode_text(mime),
        href = encode_text(&format!("{token}?dl=1")),
    );
    html(StatusCode::OK, &file.name, &body)
}

/// The page of a link that cannot be used: the same status the API would answer.
pub fn error_page(e: &AppError) -> Response {
    let status = StatusCode::from_u16(e.code().status()).unwrap_or(StatusCode::NOT_FOUND);
    let (title, text) = match e {
        AppError::Gone(_) => (
            "This link has expired",
            "The link has expired or has been used as many times as its owner allowed.",
        ),
        AppError::RateLimited { .. } => (
            "Too many attempts",
            "Too many links were tried from your address. Wait a little and try again.",
        ),
        AppError::NotFound(_) => (
            "This link does not work",
            "The link is unknown, was revoked by its owner, or its file was deleted.",
        ),
        _ => (
            "Something went wrong",
            "The server could not open this link. Try again later.",
        ),
    };
    let body = format!("<main><h1>{title}</h1><p>{text}</p></main>");
    let mut res = html(status, title, &body);
    if let AppError::RateLimited { retry_after_secs } = e {
        res.headers_mut()
            .insert(header::RETRY_AFTER, HeaderValue::from(*retry_after_secs));
    }
    res
}

fn html(status: StatusCode, title: &str, body: &str) -> Response {
    let doc = format!(
        "<!doctype html><html lang=\"en\"><head><meta charset=\"utf-8\">\
         <meta name=\"viewport\" content=\"width=device-width,initial-scale=1\">\
         <meta name=\"robots\" content=\"noindex\">\
         <title>{title} · dbx</title><style>{STYLE}</style></head><body>{body}</body></html>",
        title = encode_text(title),
    );
    let mut res = Response::new(doc.into());
    *res.status_mut() = status;
    let h = res.headers_mut();
    h.insert(
        header::CONTENT_TYPE,
        HeaderValue::from_static("text/html; charset=utf-8"),
    );
    if let Ok(csp) = HeaderValue::from_str(&CSP) {
        h.insert(header::CONTENT_SECURITY_POLICY, csp);
    }
    h.insert(header::X_FRAME_OPTIONS, HeaderValue::from_static("DENY"));
    h.insert(
        header::X_CONTENT_TYPE_OPTIONS,
        HeaderValue::from_static("nosniff"),
    );
    h.insert(header::VARY, HeaderValue::from_static("Accept"));
    res
}

/// Bytes as people read them: `1.5 MB` (decimal units, as file managers show).
fn human_size(bytes: u64) -> String {
    const UNITS: [&str; 5] = ["kB", "MB", "GB", "TB", "PB"];
    if bytes < 1000 {
        return format!("{bytes} bytes");
    }
    let mut value = bytes as f64;
    let mut unit = "";
    for u in UNITS {
        value /= 1000.0;
        unit = u;
        if value < 1000.0 {
            break;
        }
    }
    format!("{value:.1} {unit}")
}

#[cfg(test)]
mod tests {
    use super::*;

    fn accept(v: &str) -> HeaderMap {
        let mut h = HeaderMap::new();
        if let Ok(v) = HeaderValue::from_str(v) {
            h.insert(header::ACCEPT, v);
        }
        h
    }

    #[test]
    fn browsers_get_the_page_and_tools_get_bytes() {
        let chrome = "text/html,application/xhtml+xml,application/xml;q=0.9,image/avif,\
                      image/webp,image/apng,*/*;q=0.8,application/signed-exchange;v=b3;q=0.7";
        assert!(wants_html(&accept(chrome)));
        assert!(wants_html(&accept(
            "text/html,application/xhtml+xml,application/xml;q=0.9,*/*;q=0.8"
        )));
        assert!(!wants_html(&accept("*/*")));
        assert!(!wants_html(&HeaderMap::new()));
        assert!(!wants_html(&accept("application/json")));
        assert!(!wants_html(&accept("text/html;q=0.1,*/*")));
        assert!(!wants_html(&accept("text/html;q=0")));
    }

    #[test]
    fn sizes_read_like_a_file_manager() {
        assert_eq!(human_size(0), "0 bytes");
        assert_eq!(human_size(999), "999 bytes");
        assert_eq!(human_size(1500), "1.5 kB");
        assert_eq!(human_size(2_500_000), "2.5 MB");
        assert_eq!(human_size(3_000_000_000), "3.0 GB");
    }
}
