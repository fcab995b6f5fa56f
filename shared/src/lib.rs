//! Types and rules shared by the dbx server and client: the HTTP API's requests and
//! replies (API.md), its error codes, the name and path rules, and the content hash.
#![forbid(unsafe_code)]

pub mod api;
pub mod content_hash;
pub mod error;
pub mod names;
pub mod time;

pub use content_hash::{ContentHasher, BLOCK_SIZE};
pub use error::{ApiError, ErrorBody, ErrorCode};
