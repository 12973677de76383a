//! The HTTP API (go-cqhttp's `http` server): an action per request,
//! `GET /send_msg?group_id=1&message=hi` or `POST /send_msg` with a JSON or
//! form body, answered with the response JSON. It serves the same listener
//! as the forward WebSocket, behind the same token, through the same
//! dispatcher; `/{self_id}/{action}` or `?self_id=` picks the bot.

use std::sync::Arc;

use axum::body::to_bytes;
use axum::extract::Request;
use axum::http::{header, Method, StatusCode};
use axum::response::{IntoResponse, Response};
use serde_json::{Map, Value};
use tokio::sync::mpsc;

use super::listener::{AppListener, Caller};
use super::reply::error;
use crate::core::{Bot, Role};
use crate::protocol::ActionRequest;

/// `/{action}` or `/{self_id}/{action}`, where the action is not a number and
/// not one of the WebSocket role paths.
pub(crate) fn parse_action_path(path: &str) -> Option<(Option<i64>, &str)> {
    let parts: Vec<&str> = path.split('/').filter(|p| !p.is_empty()).collect();
    let is_action = |p: &str| p.parse::<i64>().is_err() && !matches!(p, "api" | "event");
    match parts.as_slice() {
        [action] if is_action(action) => Some((None, action)),
        [id, action] if is_action(action) => Some((Some(id.parse().ok()?), action)),
        _ => None,
    }
}

/// Answers one HTTP API request.
pub(crate) async fn serve_action(
    l: &AppListener,
    bot: Arc<Bot>,
    caller: Caller,
    action: &str,
    req: Request,
) -> Response {
    let params = match read_params(req).await {
        Ok(p) => p,
        Err(resp) => return resp,
    };
    let ctx = l
        .hub
        .registry
        .ephemeral_app(bot, Role::Api, caller.options, caller.identity);
    let (tx, mut rx) = mpsc::channel(16);
    let request = ActionRequest::new(action, params);
    // The dispatcher answers on a channel, exactly as for a WebSocket app;
    // over HTTP only the final frame is returned.
    l.hub.dispatcher.handle(&ctx, request, &tx).await;
    drop(tx);
    let mut last = None;
    while let Some(frame) = rx.recv().await {
        last = Some(frame);
    }
    match last {
        Some(text) => (
            StatusCode::OK,
            [(header::CONTENT_TYPE, "application/json")],
            text.as_str().to_owned(),
        )
            .into_response(),
        None => error(StatusCode::INTERNAL_SERVER_ERROR, "no answer"),
    }
}

/// Params from the query string (GET) or the body (POST: JSON or form).
async fn read_params(req: Request) -> Result<Value, Response> {
    let mut params: Map<String, Value> = req
        .uri()
        .query()
        .and_then(|q| serde_urlencoded::from_str::<Vec<(String, String)>>(q).ok())
        .unwrap_or_default()
        .into_iter()
        .filter(|(k, _)| k != "access_token" && k != "self_id")
        .map(|(k, v)| (k, Value::String(v)))
        .collect();
    if req.method() != Method::POST {
        return Ok(Value::Object(params));
    }
    let content_type = req
        .headers()
        .get(header::CONTENT_TYPE)
        .and_then(|v| v.to_str().ok())
        .unwrap_or("")
        .to_ascii_lowercase();
    let body = to_bytes(req.into_body(), 16 * 1024 * 1024)
        .await
        .map_err(|e| {
            error(
                StatusCode::PAYLOAD_TOO_LARGE,
                format!("cannot read the body: {e}"),
            )
        })?;
    if body.iter().all(u8::is_ascii_whitespace) {
        return Ok(Value::Object(params));
    }
    let media = content_type.split(';').next().unwrap_or("").trim();
    if media == "application/x-www-form-urlencoded" {
        let pairs: Vec<(String, String)> = serde_urlencoded::from_bytes(&body)
            .map_err(|e| error(StatusCode::BAD_REQUEST, format!("invalid form body: {e}")))?;
        params.extend(pairs.into_iter().map(|(k, v)| (k, Value::String(v))));
        return Ok(Value::Object(params));
    }
    if media != "application/json" {
        // `text/plain` and friends are what a web page can send without a
        // preflight; no OneBot client sends them.
        return Err(error(
            StatusCode::UNSUPPORTED_MEDIA_TYPE,
            format!(
                "unsupported Content-Type `{}`: send the params as application/json or application/x-www-form-urlencoded",
                if media.is_empty() { "(none)" } else { media }
            ),
        ));
    }
    match serde_json::from_slice::<Value>(&body) {
        Ok(Value::Object(body)) => {
            params.extend(body);
            Ok(Value::Object(params))
        }
        Ok(_) => Err(error(
            StatusCode::BAD_REQUEST,
            "the JSON body must be an object of params",
        )),
        Err(e) => Err(error(
            StatusCode::BAD_REQUEST,
            format!("invalid JSON body: {e}"),
        )),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn action_paths() {
        assert_eq!(parse_action_path("/send_msg"), Some((None, "send_msg")));
        assert_eq!(
            parse_action_path("/10000/get_status"),
            Some((Some(10000), "get_status"))
        );
        assert_eq!(parse_action_path("/"), None);
        assert_eq!(parse_action_path("/api"), None);
        assert_eq!(parse_action_path("/10000"), None);
        assert_eq!(parse_action_path("/10000/api"), None);
        assert_eq!(parse_action_path("/x/send_msg"), None);
    }
}
