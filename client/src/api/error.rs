//! Errors of API calls, and how a failed reply becomes one: from API.md's error body
//! (`{"error": {"code", "message"}}`) when the server sent one.

use dbx_shared::{ErrorBody, ErrorCode};
use reqwest::{Response, StatusCode};

/// Why a call failed, in words fit for one `error:` line.
#[derive(Debug, thiserror::Error)]
pub enum ClientError {
    /// The server answered with an error body; `message` is its sentence.
    #[error("{message}")]
    Api {
        status: StatusCode,
        code: ErrorCode,
        message: String,
    },
    #[error("cannot reach the server at {url}: {reason}")]
    Unreachable { url: String, reason: String },
    #[error("talking to {url}: {reason}")]
    Transport { url: String, reason: String },
    #[error("not logged in, run dbx login")]
    NotLoggedIn,
    #[error("the server's reply is not what API.md says: {0}")]
    BadReply(String),
    #[error("{0}")]
    Local(String),
}

impl ClientError {
    pub fn status(&self) -> Option<StatusCode> {
        match self {
            ClientError::Api { status, .. } => Some(*status),
            _ => None,
        }
    }

    pub fn is_not_found(&self) -> bool {
        self.status() == Some(StatusCode::NOT_FOUND)
    }
}

pub type ApiResult<T> = Result<T, ClientError>;

/// The error of a non-2xx reply, from API.md's error body when there is one.
pub(super) async fn error_from(resp: Response) -> ClientError {
    let status = resp.status();
    let retry_after = resp
        .headers()
        .get(reqwest::header::RETRY_AFTER)
        .and_then(|v| v.to_str().ok())
        .map(str::to_string);
    let body = resp.bytes().await.unwrap_or_default();
    let (code, mut message) = match serde_json::from_slice::<ErrorBody>(&body) {
        Ok(b) => (b.error.code, b.error.message),
        Err(_) => (ErrorCode::Unknown, format!("the server answered {status}")),
    };
    if let Some(s) = retry_after {
        message = format!("{message} (retry after {s} s)");
    }
    // One line, whatever the server sent.
    let message = message.replace(['\n', '\r'], " ");
    ClientError::Api {
        status,
        code,
        message,
    }
}

/// The innermost cause of an error: "Connection refused (os error 111)" rather than
/// reqwest's "error sending request for url (…)".
pub fn root_cause(e: &(dyn std::error::Error + 'static)) -> String {
    let mut cur = e;
    while let Some(next) = cur.source() {
        cur = next;
    }
    cur.to_string()
}
