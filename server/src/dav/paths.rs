//! From WebDAV request paths to dbx names: every segment must be a valid dbx name (API.md
//! "Names and paths", NFC-normalized, so macOS's decomposed names find their entries).

use dav_server::davpath::{DavPath, DavPathRef};
use dbx_shared::names::normalize_name;

use crate::error::{AppError, AppResult};

/// Where WebDAV is served.
pub const PREFIX: &str = "/dav";

/// The normalized names of a path below `PREFIX` (empty for the root).
pub fn names(path: &DavPathRef) -> AppResult<Vec<String>> {
    let text = std::str::from_utf8(path.as_bytes())
        .map_err(|_| AppError::bad_request("a path must be UTF-8"))?;
    text.split('/')
        .filter(|s| !s.is_empty())
        .map(|s| normalize_name(s).map_err(AppError::from))
        .collect()
}

/// The names of a URL path (`/dav/a/b`) or absolute URL (a `Destination` header).
pub fn names_of_url(url: &str) -> AppResult<Vec<String>> {
    let bad = || AppError::bad_request(format!("'{url}' is not a path below {PREFIX}/"));
    let path = match url.parse::<http::Uri>() {
        Ok(uri) => uri.path().to_string(),
        Err(_) => return Err(bad()),
    };
    let mut p = DavPath::new(&path).map_err(|_| bad())?;
    p.set_prefix(PREFIX).map_err(|_| bad())?;
    names(&p)
}

/// `/a/b` from names, as the area logic takes paths.
pub fn api_path(names: &[String]) -> String {
    format!("/{}", names.join("/"))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn urls_become_normalized_names() {
        let n = |u: &str| names_of_url(u).ok();
        assert_eq!(n("/dav/"), Some(vec![]));
        assert_eq!(n("/dav"), Some(vec![]));
        assert_eq!(
            n("http://h:1/dav/a%20b/c.txt"),
            Some(vec!["a b".to_string(), "c.txt".to_string()])
        );
        // "e" + combining acute accent (as macOS sends it) becomes "é".
        assert_eq!(n("/dav/caf%65%CC%81"), Some(vec!["caf\u{e9}".to_string()]));
        assert_eq!(n("/other/a"), None);
        assert_eq!(n("/dav/a%01b"), None, "control characters");
        assert_eq!(api_path(&["a".into(), "b".into()]), "/a/b");
    }
}
