//! Name and path rules of API.md: NFC, 1–255 bytes, no `/`, NUL or control characters,
//! not `.` or `..`; names compare case-insensitively within a folder.

use unicode_normalization::UnicodeNormalization;

/// Why a name or path was refused; the text is the API's error message.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum NameError {
    #[error("a name must not be empty")]
    Empty,
    #[error("a name must be at most 255 bytes")]
    TooLong,
    #[error("a name must not be '.' or '..'")]
    Dots,
    #[error("a name must not contain '/', NUL or control characters")]
    BadCharacter,
    #[error("a path must start with '/'")]
    NotAbsolute,
}

/// Checks a name and returns its NFC form.
pub fn normalize_name(name: &str) -> Result<String, NameError> {
    let nfc: String = name.nfc().collect();
    if nfc.is_empty() {
        return Err(NameError::Empty);
    }
    if nfc.len() > 255 {
        return Err(NameError::TooLong);
    }
    if nfc == "." || nfc == ".." {
        return Err(NameError::Dots);
    }
    if nfc.chars().any(|c| c == '/' || c.is_control()) {
        return Err(NameError::BadCharacter);
    }
    Ok(nfc)
}

/// The key under which names are unique in a folder: case folded, so `A.txt` and
/// `a.txt` cannot live side by side (they could not on macOS or Windows).
pub fn name_key(normalized: &str) -> String {
    normalized.to_lowercase()
}

/// Splits `/a/b/c` into its normalized names; `/` is the empty list.
pub fn parse_path(path: &str) -> Result<Vec<String>, NameError> {
    let rest = path.strip_prefix('/').ok_or(NameError::NotAbsolute)?;
    if rest.is_empty() {
        return Ok(Vec::new());
    }
    let rest = rest.strip_suffix('/').unwrap_or(rest);
    rest.split('/').map(normalize_name).collect()
}

/// Joins a parent path and a child name.
pub fn join(parent: &str, name: &str) -> String {
    if parent == "/" {
        format!("/{name}")
    } else {
        format!("{parent}/{name}")
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn accepts_ordinary_and_unicode_names() {
        assert_eq!(normalize_name("a b.txt").as_deref(), Ok("a b.txt"));
        // "e" + combining acute becomes the single precomposed character.
        assert_eq!(normalize_name("e\u{301}").as_deref(), Ok("\u{e9}"));
    }

    #[test]
    fn rejects_bad_names() {
        assert_eq!(normalize_name(""), Err(NameError::Empty));
        assert_eq!(normalize_name("."), Err(NameError::Dots));
        assert_eq!(normalize_name(".."), Err(NameError::Dots));
        assert_eq!(normalize_name("a/b"), Err(NameError::BadCharacter));
        assert_eq!(normalize_name("a\0b"), Err(NameError::BadCharacter));
        assert_eq!(normalize_name("a\nb"), Err(NameError::BadCharacter));
        assert_eq!(normalize_name(&"x".repeat(256)), Err(NameError::TooLong));
        assert!(normalize_name(&"x".repeat(255)).is_ok());
    }

    #[test]
    fn parses_paths() {
        assert_eq!(parse_path("/"), Ok(vec![]));
        assert_eq!(parse_path("/a/b"), Ok(vec!["a".into(), "b".into()]));
        assert_eq!(parse_path("/a/"), Ok(vec!["a".into()]));
        assert_eq!(parse_path("a"), Err(NameError::NotAbsolute));
        assert_eq!(parse_path("/a//b"), Err(NameError::Empty));
        assert_eq!(parse_path("/a/../b"), Err(NameError::Dots));
    }

    #[test]
    fn keys_fold_case() {
        assert_eq!(name_key("ReadMe.TXT"), name_key("readme.txt"));
    }
}
