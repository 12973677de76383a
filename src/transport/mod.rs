//! Transports: sockets in, sessions out. Handshakes, auth, heartbeats,
//! reconnects and limits live here; OneBot semantics do not.

pub mod alert;
pub mod budget;
pub mod config;
pub mod dial;
pub mod dial_in;
pub mod guard;
pub mod http;
pub mod http_api;
pub mod http_post;
pub mod listener;
pub mod milky;
pub mod observe;
pub mod reply;
pub mod session;

pub use crate::ws::{
    app_ws_config, close_for_read_error, close_frame, close_handshake, hard_limit,
    upstream_ws_config, Backoff,
};
