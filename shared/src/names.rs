//! Name and path rules of API.md: NFC, 1–255 bytes, no `/`, NUL, control or invisible
//! format characters, not `.` or `..`; a path at most 256 names deep and 4,096 bytes long;
//! names compare case-insensitively within a folder.

use unicode_general_category::{get_general_category, GeneralCategory};
use unicode_normalization::UnicodeNormalization;

/// The most names a path may hold: deeper trees are refused (one upload would otherwise
/// create thousands of folders in one transaction).
pub const MAX_DEPTH: usize = 256;

/// The longest path, in bytes of UTF-8, leading `/` included.
pub const MAX_PATH_BYTES: usize = 4096;

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
    #[error("a name must not contain invisible format characters (bidi controls, zero-width characters)")]
    InvisibleCharacter,
    #[error("a path must start with '/'")]
    NotAbsolute,
    #[error("a path must be at most 256 folders deep")]
    TooDeep,
    #[error("a path must be at most 4096 bytes long")]
    PathTooLong,
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
    // Category Cf (format): bidi overrides that make "txt.exe" read as "exe.txt",
    // zero-width spaces and joiners that make two different names look the same.
    if nfc
        .chars()
        .any(|c| get_general_category(c) == GeneralCategory::Format)
    {
        return Err(NameError::InvisibleCharacter);
    }
    Ok(nfc)
}

/// Refuses a path (`/a/b`, as built from normalized names) past [`MAX_DEPTH`] names or
/// [`MAX_PATH_BYTES`] bytes.
pub fn check_path_bounds(path: &str) -> Result<(), NameError> {
    if path.matches('/').count() > MAX_DEPTH {
        return Err(NameError::TooDeep);
    }
    if path.len() > MAX_PATH_BYTES {
        return Err(NameError::PathTooLong);
    }
    Ok(())
}

/// The key under which names are unique in a folder: case folded, so `A.txt` and
/// `a.txt` cannot live side by side (they could not on macOS or Windows).
pub fn name_key(normalized: &str) -> String {
    normalized.to_lowercase()
}

/// Splits `/a/b/c` into its normalized names; `/` is the empty list. The bounds are
/// checked before any name is, so a huge path costs little to refuse.
pub fn parse_path(path: &str) -> Result<Vec<String>, NameError> {
    let rest = path.strip_prefix('/').ok_or(NameError::NotAbsolute)?;
    if rest.is_empty() {
        return Ok(Vec::new());
    }
    let rest = rest.strip_suffix('/').unwrap_or(rest);
    check_path_bounds(path.strip_suffix('/').unwrap_or(path))?;
    let names = rest
        .split('/')
        .map(normalize_name)
        .collect::<Result<Vec<_>, _>>()?;
    // NFC can lengthen a name: check the normalized path too.
    check_path_bounds(&format!("/{}", names.join("/")))?;
    Ok(names)
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
    fn rejects_invisible_format_characters() {
        for c in [
            '\u{202E}', '\u{200B}', '\u{200D}', '\u{FEFF}', '\u{2066}', '\u{AD}',
        ] {
            assert_eq!(
                normalize_name(&format!("a{c}b.txt")),
                Err(NameError::InvisibleCharacter),
                "U+{:04X}",
                c as u32
            );
        }
        assert!(normalize_name("emoji \u{1F600} and 日本語.txt").is_ok());
    }

    #[test]
    fn bounds_path_depth_and_length() {
        let deep = |n: usize| "/a".repeat(n);
        assert_eq!(parse_path(&deep(256)).map(|v| v.len()), Ok(256));
        assert_eq!(parse_path(&deep(257)), Err(NameError::TooDeep));
        assert_eq!(parse_path(&deep(6000)), Err(NameError::TooDeep));
        let name = "x".repeat(200);
        let long = |n: usize| format!("/{name}").repeat(n);
        assert!(parse_path(&long(20)).is_ok(), "4020 bytes");
        assert_eq!(parse_path(&long(21)), Err(NameError::PathTooLong));
        assert_eq!(check_path_bounds(&deep(256)), Ok(()));
        assert_eq!(check_path_bounds(&deep(257)), Err(NameError::TooDeep));
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
