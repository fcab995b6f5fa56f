//! The error body every failed API call returns, and its stable machine codes.

use serde::{Deserialize, Serialize};

/// The machine-readable codes of API.md's error table.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum ErrorCode {
    InvalidRequest,
    Unauthorized,
    Forbidden,
    NotFound,
    MethodNotAllowed,
    Conflict,
    Gone,
    /// A delta cursor from another history (restored or replaced database, re-created
    /// account): start over without a cursor and merge.
    CursorReset,
    PreconditionFailed,
    PayloadTooLarge,
    RangeNotSatisfiable,
    ChecksumMismatch,
    RateLimited,
    QuotaExceeded,
    Internal,
    Unavailable,
    /// A code this client does not know (from a newer server); never sent.
    #[serde(other)]
    Unknown,
}

impl ErrorCode {
    /// Every code a server sends: all but `Unknown`.
    pub const SENT: [ErrorCode; 16] = [
        ErrorCode::InvalidRequest,
        ErrorCode::Unauthorized,
        ErrorCode::Forbidden,
        ErrorCode::NotFound,
        ErrorCode::MethodNotAllowed,
        ErrorCode::Conflict,
        ErrorCode::Gone,
        ErrorCode::CursorReset,
        ErrorCode::PreconditionFailed,
        ErrorCode::PayloadTooLarge,
        ErrorCode::RangeNotSatisfiable,
        ErrorCode::ChecksumMismatch,
        ErrorCode::RateLimited,
        ErrorCode::QuotaExceeded,
        ErrorCode::Internal,
        ErrorCode::Unavailable,
    ];

    /// The HTTP status that goes with the code.
    pub fn status(self) -> u16 {
        match self {
            ErrorCode::InvalidRequest => 400,
            ErrorCode::Unauthorized => 401,
            ErrorCode::Forbidden => 403,
            ErrorCode::NotFound => 404,
            ErrorCode::MethodNotAllowed => 405,
            ErrorCode::Conflict => 409,
            ErrorCode::Gone | ErrorCode::CursorReset => 410,
            ErrorCode::PreconditionFailed => 412,
            ErrorCode::PayloadTooLarge => 413,
            ErrorCode::RangeNotSatisfiable => 416,
            ErrorCode::ChecksumMismatch => 422,
            ErrorCode::RateLimited => 429,
            ErrorCode::QuotaExceeded => 507,
            ErrorCode::Internal | ErrorCode::Unknown => 500,
            ErrorCode::Unavailable => 503,
        }
    }
}

/// `{"code": ..., "message": ...}` inside the error envelope.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
pub struct ApiError {
    pub code: ErrorCode,
    pub message: String,
}

/// `{"error": {"code": ..., "message": ...}}`: the whole body of a failed call.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
pub struct ErrorBody {
    pub error: ApiError,
}

impl ErrorBody {
    pub fn new(code: ErrorCode, message: impl Into<String>) -> Self {
        ErrorBody {
            error: ApiError {
                code,
                message: message.into(),
            },
        }
    }
}

impl std::fmt::Display for ApiError {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(&self.message)
    }
}

impl std::error::Error for ApiError {}

/// The code's schema: a string, one of the codes a server sends (not `Unknown`, which
/// only stands for a code a client does not know).
#[cfg(feature = "openapi")]
mod schema {
    use utoipa::openapi::schema::{ObjectBuilder, Schema, Type};
    use utoipa::openapi::RefOr;

    use super::ErrorCode;

    impl utoipa::PartialSchema for ErrorCode {
        fn schema() -> RefOr<Schema> {
            let codes = ErrorCode::SENT
                .iter()
                .filter_map(|c| serde_json::to_value(c).ok());
            ObjectBuilder::new()
                .schema_type(Type::String)
                .enum_values(Some(codes))
                .description(Some(
                    "The error's stable machine code; each goes with one HTTP status",
                ))
                .into()
        }
    }

    impl utoipa::ToSchema for ErrorCode {}
}

#[cfg(test)]
mod tests {
    use super::ErrorCode;

    /// Fails to compile when a code is added without a place here, and fails when that
    /// place is not its place in `SENT`.
    fn place(code: ErrorCode) -> Option<usize> {
        use ErrorCode::*;
        Some(match code {
            InvalidRequest => 0,
            Unauthorized => 1,
            Forbidden => 2,
            NotFound => 3,
            MethodNotAllowed => 4,
            Conflict => 5,
            Gone => 6,
            CursorReset => 7,
            PreconditionFailed => 8,
            PayloadTooLarge => 9,
            RangeNotSatisfiable => 10,
            ChecksumMismatch => 11,
            RateLimited => 12,
            QuotaExceeded => 13,
            Internal => 14,
            Unavailable => 15,
            Unknown => return None,
        })
    }

    #[test]
    fn sent_lists_every_code_but_unknown_once() {
        for (i, code) in ErrorCode::SENT.iter().enumerate() {
            assert_eq!(place(*code), Some(i), "{code:?}");
        }
        assert_eq!(place(ErrorCode::Unknown), None);
    }
}
