//! Fault injection for tests: named failpoints (the `fail` crate) at each database and blob
//! call of the write paths, compiled in only with the `failpoints` feature. Without it the
//! macros expand to nothing.
//!
//! A failpoint configured `return` fails its call with a backend error (a 500), `return(unavailable)`
//! with an unavailable one (a 503); `panic` panics where it stands (only the database ones
//! sit on the blocking pool, where a panic costs one request a 500). `server/tests/failpoints.rs`
//! walks every one of them and checks DESIGN.md's invariants after each.

/// A database step: returns `Err` (converted into the caller's error type) when the
/// failpoint named `$name` is configured to return.
#[cfg(feature = "failpoints")]
macro_rules! fail_db {
    ($name:literal) => {
        fail::fail_point!($name, |arg: Option<String>| Err(
            $crate::failpoints::repo_error($name, arg).into()
        ))
    };
}

#[cfg(not(feature = "failpoints"))]
macro_rules! fail_db {
    ($name:literal) => {};
}

/// A blob store call: returns `Err` (converted into the caller's error type) when the
/// failpoint named `$name` is configured to return.
#[cfg(feature = "failpoints")]
macro_rules! fail_blob {
    ($name:literal) => {
        fail::fail_point!($name, |arg: Option<String>| Err(
            $crate::failpoints::blob_error($name, arg).into()
        ))
    };
}

#[cfg(not(feature = "failpoints"))]
macro_rules! fail_blob {
    ($name:literal) => {};
}

pub(crate) use {fail_blob, fail_db};

#[cfg(feature = "failpoints")]
pub(crate) fn repo_error(name: &str, arg: Option<String>) -> crate::metadata::RepoError {
    use crate::metadata::RepoError;
    match arg.as_deref() {
        Some("unavailable") => RepoError::Unavailable(format!("failpoint {name}")),
        _ => RepoError::Backend(format!("failpoint {name}")),
    }
}

#[cfg(feature = "failpoints")]
pub(crate) fn blob_error(name: &str, arg: Option<String>) -> crate::storage::BlobError {
    use crate::storage::BlobError;
    match arg.as_deref() {
        Some("unavailable") => BlobError::Unavailable(format!("failpoint {name}")),
        _ => BlobError::Backend(format!("failpoint {name}")),
    }
}
