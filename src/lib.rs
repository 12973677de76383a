//! onebot-gateway: a OneBot v11 gateway between implementations (accounts) and
//! frameworks (apps), with an embedded sandbox account.
//!
//! # Layout
//!
//! - [`protocol`]: OneBot v11 data, no I/O (frames, events, segments, CQ codes, typed params).
//! - [`core`]: bots, app sessions, the event bus and the dispatcher; no sockets.
//! - [`upstream`]: the sandbox account and remote implementations.
//! - [`transport`]: WebSocket/HTTP listeners and dialers that turn sockets into sessions.
//! - [`config`]: the TOML configuration and its validation.
//! - [`gateway`]: wiring: builds everything from a config, runs it, shuts it down.

#![deny(rust_2018_idioms)]
#![forbid(unsafe_code)]
#![warn(missing_docs)]

pub mod config;
pub mod core;
pub mod gateway;
pub mod protocol;
pub mod testkit;
pub mod transport;
pub mod upstream;

pub use config::Config;
pub use gateway::Gateway;
