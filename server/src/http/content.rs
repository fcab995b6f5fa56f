//! Serving a file's bytes: single `Range` requests, `ETag`, `Content-Disposition` with an
//! RFC 6266/5987 filename, `nosniff`. Used by owner downloads and public share links.

use percent_encoding::{utf8_percent_encode, AsciiSet, NON_ALPHANUMERIC};
use sync_wrapper::SyncStream;
use warp::http::{header, HeaderMap, HeaderValue, StatusCode};
use warp::reply::Response;
use warp::Reply;

use crate::error::{AppError, AppResult};
use crate::files::{Files, ToRead};
use crate::storage::ByteRange;

/// Characters RFC 5987's `attr-char` allows unencoded.
const ATTR_CHAR: &AsciiSet = &NON_ALPHANUMERIC
    .remove(b'!')
    .remove(b'#')
    .remove(b'$')
    .remove(b'&')
    .remove(b'+')
    .remove(b'-')
    .remove(b'.')
    .remove(b'^')
    .remove(b'_')
    .remove(b'`')
    .remove(b'|')
    .remove(b'~');

/// The range a `Range` header asks of a `size`-byte file: `Ok(None)` to serve it whole
/// (no header, several ranges, or a header we do not understand, which RFC 9110 says to
/// ignore), `Err` when it cannot be satisfied.
pub fn parse_range(value: Option<&str>, size: u64) -> AppResult<Option<ByteRange>> {
    let Some(spec) = value.and_then(|v| v.trim().strip_prefix("bytes=")) else {
        return Ok(None);
    };
    if spec.contains(',') {
        return Ok(None);
    }
    let Some((first, last)) = spec.trim().split_once('-') else {
        return Ok(None);
    };
    let unsatisfiable = AppError::RangeNotSatisfiable { size };
    let parse = |s: &str| s.trim().parse::<u64>().ok();
    let (start, end) = match (first.trim().is_empty(), parse(first), parse(last)) {
        // `-N`: the last N bytes.
        (true, _, Some(n)) => {
            if n == 0 || size == 0 {
                return Err(unsatisfiable);
            }
            (size.saturating_sub(n), size - 1)
        }
        (false, Some(a), None) if last.trim().is_empty() => (a, size.saturating_sub(1)),
        (false, Some(a), Some(b)) if a <= b => (a, b.min(size.saturating_sub(1))),
        _ => return Ok(None),
    };
    if start >= size {
        return Err(unsatisfiable);
    }
    Ok(Some(ByteRange {
        start,
        len: end - start + 1,
    }))
}

/// `attachment; filename="ascii"; filename*=UTF-8''percent-encoded`.
pub fn content_disposition(name: &str) -> String {
    let fallback: String = name
        .chars()
        .map(|c| {
            if c.is_ascii_graphic() && c != '"' && c != '\\' || c == ' ' {
                c
            } else {
                '_'
            }
        })
        .collect();
    let encoded = utf8_percent_encode(name, ATTR_CHAR);
    format!("attachment; filename=\"{fallback}\"; filename*=UTF-8''{encoded}")
}

fn set(res: &mut Response, name: header::HeaderName, value: &str) {
    if let Ok(v) = HeaderValue::from_str(value) {
        res.headers_mut().insert(name, v);
    }
}

/// Streams `file` (or the requested range) as a download.
pub async fn serve_file(
    files: &Files,
    file: &ToRead,
    headers: &HeaderMap,
    head: bool,
) -> AppResult<Response> {
    let c = file
        .entry
        .content
        .as_ref()
        .ok_or_else(|| AppError::internal("a file row without content"))?;
    let range_header = headers.get(header::RANGE).and_then(|v| v.to_str().ok());
    let range = parse_range(range_header, c.size)?;
    let mut res = if head {
        Response::new(Default::default())
    } else {
        let stream = files.read(file, range).await?;
        warp::reply::stream(SyncStream::new(stream)).into_response()
    };
    let len = range.map_or(c.size, |r| r.len);
    if let Some(r) = range {
        *res.status_mut() = StatusCode::PARTIAL_CONTENT;
        let content_range = format!("bytes {}-{}/{}", r.start, r.start + r.len - 1, c.size);
        set(&mut res, header::CONTENT_RANGE, &content_range);
    }
    set(&mut res, header::CONTENT_LENGTH, &len.to_string());
    set(&mut res, header::CONTENT_TYPE, &c.mime_type);
    set(&mut res, header::ETAG, &format!("\"{}\"", c.content_hash));
    set(&mut res, header::ACCEPT_RANGES, "bytes");
    set(
        &mut res,
        header::CONTENT_DISPOSITION,
        &content_disposition(&file.entry.name),
    );
    set(&mut res, header::X_CONTENT_TYPE_OPTIONS, "nosniff");
    isolate(&mut res);
    Ok(res)
}

/// Served bytes are the users' (or strangers', through a link), never the server's: should
/// a browser render them anyway (an HTML file opened inline), they run no script, load
/// nothing and get an opaque origin, and other sites cannot embed them.
/// A reply that set its own policy (the share page, which needs its style) keeps it.
pub fn isolate(res: &mut Response) {
    if !res.headers().contains_key(header::CONTENT_SECURITY_POLICY) {
        set(
            res,
            header::CONTENT_SECURITY_POLICY,
            "default-src 'none'; sandbox",
        );
    }
    set(
        res,
        header::HeaderName::from_static("cross-origin-resource-policy"),
        "same-origin",
    );
}

#[cfg(test)]
mod tests {
    use super::*;

    fn r(start: u64, len: u64) -> Option<ByteRange> {
        Some(ByteRange { start, len })
    }

    #[test]
    fn parses_single_ranges() {
        assert_eq!(parse_range(Some("bytes=0-9"), 100).ok(), Some(r(0, 10)));
        assert_eq!(parse_range(Some("bytes=90-"), 100).ok(), Some(r(90, 10)));
        assert_eq!(
            parse_range(Some("bytes=90-1000"), 100).ok(),
            Some(r(90, 10))
        );
        assert_eq!(parse_range(Some("bytes=-10"), 100).ok(), Some(r(90, 10)));
        assert_eq!(parse_range(Some("bytes=-1000"), 100).ok(), Some(r(0, 100)));
    }

    #[test]
    fn ignores_what_it_does_not_serve_and_refuses_the_unsatisfiable() {
        assert_eq!(parse_range(None, 100).ok(), Some(None));
        assert_eq!(parse_range(Some("bytes=0-1,5-6"), 100).ok(), Some(None));
        assert_eq!(parse_range(Some("items=0-1"), 100).ok(), Some(None));
        assert_eq!(parse_range(Some("bytes=5-1"), 100).ok(), Some(None));
        assert!(parse_range(Some("bytes=100-"), 100).is_err());
        assert!(parse_range(Some("bytes=-0"), 100).is_err());
        assert!(parse_range(Some("bytes=0-"), 0).is_err());
    }

    #[test]
    fn disposition_has_ascii_fallback_and_utf8_name() {
        assert_eq!(
            content_disposition("naïve \"x\".txt"),
            "attachment; filename=\"na_ve _x_.txt\"; filename*=UTF-8''na%C3%AFve%20%22x%22.txt"
        );
    }
}
