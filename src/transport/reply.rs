//! HTTP answers every transport handler shares: the JSON error body, and
//! the mark on a refused credential.

use axum::http::StatusCode;
use axum::response::{IntoResponse, Response};
use axum::Json;
use serde_json::json;

/// Marks a response as a refused credential, so the listener counts it
/// against the caller's address.
#[derive(Debug, Clone, Copy)]
pub struct AuthRefused;

/// A JSON error answer `{status: failed, message}` with an HTTP status.
pub fn error(status: StatusCode, message: impl Into<String>) -> Response {
    let message = message.into();
    (
        status,
        Json(json!({"status": "failed", "retcode": status.as_u16(), "message": message})),
    )
        .into_response()
}

/// Marks `resp` as a refused credential: the listener counts it against the
/// caller's address.
pub fn auth_refused(mut resp: Response) -> Response {
    resp.extensions_mut().insert(AuthRefused);
    resp
}
