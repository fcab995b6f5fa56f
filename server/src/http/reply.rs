//! Building responses: JSON bodies, and the one place where an `AppError` becomes API.md's
//! status and error body.

use dbx_shared::ErrorBody;
use serde::Serialize;
use warp::http::{header, HeaderValue, StatusCode};
use warp::reply::Response;
use warp::Reply;

use crate::error::{AppError, AppResult};

const JSON: &str = "application/json; charset=utf-8";

/// `Retry-After` of a 503: a restarting database or S3 node is usually back within seconds.
const UNAVAILABLE_RETRY_SECS: u64 = 5;

pub fn json<T: Serialize>(status: StatusCode, value: &T) -> Response {
    json_written(status, serde_json::to_vec(value))
}

/// A body already written as JSON.
pub fn json_written(status: StatusCode, body: serde_json::Result<Vec<u8>>) -> Response {
    match body {
        Ok(body) => {
            let mut res = Response::new(body.into());
            *res.status_mut() = status;
            res.headers_mut()
                .insert(header::CONTENT_TYPE, HeaderValue::from_static(JSON));
            res
        }
        Err(e) => error(&AppError::internal(format!("serializing a reply: {e}"))),
    }
}

pub fn no_content() -> Response {
    StatusCode::NO_CONTENT.into_response()
}

/// API.md's error shape; internal details go to the log, never to the client.
pub fn error(e: &AppError) -> Response {
    let code = e.code();
    let status = StatusCode::from_u16(e.status()).unwrap_or(StatusCode::INTERNAL_SERVER_ERROR);
    match e {
        AppError::Internal(detail) => tracing::error!(%detail, "internal error"),
        AppError::Unavailable(detail) => tracing::warn!(%detail, "backend unavailable"),
        _ => {}
    }
    let body = serde_json::to_vec(&ErrorBody::new(code, e.to_string())).unwrap_or_default();
    let mut res = Response::new(body.into());
    *res.status_mut() = status;
    let headers = res.headers_mut();
    headers.insert(header::CONTENT_TYPE, HeaderValue::from_static(JSON));
    match e {
        AppError::RateLimited { retry_after_secs } => {
            headers.insert(header::RETRY_AFTER, HeaderValue::from(*retry_after_secs));
        }
        AppError::Unavailable(_) => {
            headers.insert(
                header::RETRY_AFTER,
                HeaderValue::from(UNAVAILABLE_RETRY_SECS),
            );
        }
        AppError::RangeNotSatisfiable { size } => {
            if let Ok(v) = HeaderValue::from_str(&format!("bytes */{size}")) {
                headers.insert(header::CONTENT_RANGE, v);
            }
        }
        AppError::Unauthorized(_) => {
            headers.insert(header::WWW_AUTHENTICATE, HeaderValue::from_static("Bearer"));
        }
        _ => {}
    }
    res
}

/// Turns a handler's result into a response.
pub fn respond(result: AppResult<Response>) -> Response {
    result.unwrap_or_else(|e| error(&e))
}
