//! The one API error type. Every failure a handler can meet becomes an `AppError`, and
//! `http::reply::error_response` turns it into API.md's status and JSON body in one place.

use dbx_shared::ErrorCode;

use crate::metadata::RepoError;
use crate::storage::BlobError;

#[derive(Debug, thiserror::Error)]
pub enum AppError {
    #[error("{0}")]
    BadRequest(String),
    #[error("{0}")]
    Unauthorized(String),
    #[error("{0}")]
    Forbidden(String),
    #[error("{0}")]
    NotFound(String),
    #[error("{0}")]
    Conflict(String),
    #[error("{0}")]
    Gone(String),
    /// A delta cursor that does not belong to this server's history.
    #[error("{0}")]
    CursorReset(String),
    #[error("the file's current version does not match If-Match")]
    PreconditionFailed,
    /// A tus request in a protocol version this server does not speak.
    #[error("{0}")]
    TusVersion(String),
    #[error("the body is larger than the limit of {0} bytes")]
    PayloadTooLarge(u64),
    #[error("the requested range is not satisfiable")]
    RangeNotSatisfiable { size: u64 },
    #[error("the uploaded bytes do not match X-Content-Hash")]
    ChecksumMismatch,
    /// A tus PATCH whose `Upload-Checksum` does not match its body (status 460, the tus
    /// checksum extension's): the piece was dropped.
    #[error("the piece does not match its Upload-Checksum; it was dropped")]
    PieceChecksumMismatch,
    #[error("too many attempts, try again later")]
    RateLimited { retry_after_secs: u64 },
    #[error("this would take the account over its storage quota")]
    QuotaExceeded,
    /// A bug: the detail goes to the log, never to the client.
    #[error("internal error")]
    Internal(String),
    /// The database or blob store is down or does not answer; nothing changed. The detail
    /// goes to the log.
    #[error("the service is unavailable for a moment, try again shortly")]
    Unavailable(String),
}

pub type AppResult<T> = Result<T, AppError>;

impl AppError {
    pub fn code(&self) -> ErrorCode {
        match self {
            AppError::BadRequest(_) => ErrorCode::InvalidRequest,
            AppError::Unauthorized(_) => ErrorCode::Unauthorized,
            AppError::Forbidden(_) => ErrorCode::Forbidden,
            AppError::NotFound(_) => ErrorCode::NotFound,
            AppError::Conflict(_) => ErrorCode::Conflict,
            AppError::Gone(_) => ErrorCode::Gone,
            AppError::CursorReset(_) => ErrorCode::CursorReset,
            AppError::PreconditionFailed | AppError::TusVersion(_) => ErrorCode::PreconditionFailed,
            AppError::PayloadTooLarge(_) => ErrorCode::PayloadTooLarge,
            AppError::RangeNotSatisfiable { .. } => ErrorCode::RangeNotSatisfiable,
            AppError::ChecksumMismatch | AppError::PieceChecksumMismatch => {
                ErrorCode::ChecksumMismatch
            }
            AppError::RateLimited { .. } => ErrorCode::RateLimited,
            AppError::QuotaExceeded => ErrorCode::QuotaExceeded,
            AppError::Internal(_) => ErrorCode::Internal,
            AppError::Unavailable(_) => ErrorCode::Unavailable,
        }
    }

    /// The HTTP status: the code's, except where a protocol names its own.
    pub fn status(&self) -> u16 {
        match self {
            AppError::PieceChecksumMismatch => 460,
            other => other.code().status(),
        }
    }

    pub fn bad_request(msg: impl Into<String>) -> Self {
        AppError::BadRequest(msg.into())
    }

    pub fn not_found(what: &str) -> Self {
        AppError::NotFound(format!("no such {what}"))
    }

    pub fn internal(detail: impl std::fmt::Display) -> Self {
        AppError::Internal(detail.to_string())
    }
}

impl From<RepoError> for AppError {
    fn from(e: RepoError) -> Self {
        match e {
            RepoError::NotFound(what) => AppError::NotFound(format!("no such {what}")),
            RepoError::Conflict(msg) => AppError::Conflict(msg),
            RepoError::PreconditionFailed => AppError::PreconditionFailed,
            RepoError::Invalid(msg) => AppError::BadRequest(msg),
            RepoError::QuotaExceeded => AppError::QuotaExceeded,
            RepoError::Backend(detail) => AppError::Internal(detail),
            RepoError::Unavailable(detail) => AppError::Unavailable(detail),
        }
    }
}

impl From<BlobError> for AppError {
    fn from(e: BlobError) -> Self {
        match e {
            BlobError::NotFound(key) => AppError::Internal(format!("blob {key} is missing")),
            BlobError::Unavailable(detail) => AppError::Unavailable(detail),
            other => AppError::Internal(other.to_string()),
        }
    }
}

impl From<dbx_shared::names::NameError> for AppError {
    fn from(e: dbx_shared::names::NameError) -> Self {
        AppError::BadRequest(e.to_string())
    }
}

impl From<crate::auth::password::QueueGone> for AppError {
    fn from(e: crate::auth::password::QueueGone) -> Self {
        AppError::Internal(e.to_string())
    }
}

impl From<tokio::task::JoinError> for AppError {
    fn from(e: tokio::task::JoinError) -> Self {
        AppError::Internal(format!("blocking task failed: {e}"))
    }
}
