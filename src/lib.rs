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
//! - [`import`]: an implementation's OneBot config as this gateway's TOML.
//! - [`redact`] and [`ws`]: leaves every layer may use (secret masking,
//!   WebSocket mechanics); they import nothing of the crate.
//!
//! `tests/layers.rs` holds the order: an import that runs up a layer, goes
//! between `transport` and `upstream`, or closes a cycle between files fails it.
//!
//! # Glossary
//!
//! - **implementation**: a program logged into one QQ account (NapCat,
//!   go-cqhttp, Lagrange, LLOneBot); the gateway's *upstream*.
//! - **bot**: one account, by `self_id`.
//! - **link**: one upstream connection of a bot (an API+Event pair is one
//!   link in two halves). Exactly one link is **active** for the bot's
//!   actions and one for its events; the others are **standby**.
//! - **dial-in** / **dialled**: a link the implementation opened
//!   (`type = "ws-reverse"`) or the gateway opened (`type = "ws"`).
//! - **app**: a framework connection (NoneBot2, Koishi, aiocqhttp…); a
//!   **session** is one app connection from open to close.
//! - **named app** / **identity**: an app with a stable name (its own token,
//!   `?app=`, a reverse target's name): it keeps a cursor and has one live
//!   session at a time.
//! - **reverse target**: an app the gateway dials (`[[reverse]]`); **dial**:
//!   any outbound connection (reverse targets, dialled links) as `/status`
//!   lists it.
//! - **event log**: a bot's sequence-numbered events; a **cursor** is the next
//!   sequence number an identity is owed. **Written**: went into the socket;
//!   **confirmed**: provably read by the app (a Ping/Pong after it, or a
//!   completed closing handshake). Saved cursors are confirmed ones.
//! - **journal**: the durable copy of event logs and cursors (SQLite).
//! - **local upstream**: an upstream inside the process (the sandbox), called
//!   as a function; a **remote** one is an implementation over WebSocket.
//! - **link runner**: what transport hands an implementation socket to, dialled
//!   or dialled in (the upstream layer's `remote::run_link`, wired by the gateway).
//! - **action**: an app's request, parsed once into a typed `protocol::action::Action`
//!   (unknown actions stay untyped and are relayed); a **quick operation** is
//!   planned into such actions (`protocol::action::quick`).
//! - **pool**: several bots apps see as one (`[[pool]]`); its **members**
//!   receive, a relay publishes each group message once, and a **pool id**
//!   is a message id of the pool mapped to (member, real id).
//! - **Milky**: the protocol of LagrangeV2 and newer implementations
//!   (SaltifyDev/milky); a **bridge** is an upstream of another protocol whose
//!   actions are translated calls (`core::serve::Bridge`). A Milky message is
//!   (scene, peer, seq); the gateway **mints** the v11 id for it (`core::ids`).
//! - **inbound budget**: the bytes of unfinished app frames held, all
//!   sessions together (`max_inbound_buffer_bytes`).

#![deny(rust_2018_idioms)]
#![forbid(unsafe_code)]
#![warn(missing_docs)]

pub mod config;
pub mod core;
pub mod gateway;
pub mod import;
pub mod protocol;
pub mod redact;
pub mod testkit;
pub mod transport;
pub mod upstream;
pub mod ws;

pub use config::Config;
pub use gateway::Gateway;
