//! Upstreams: what serves a bot's actions and produces its events.
//!
//! Three kinds implement the same contract: the embedded [`sandbox`] account,
//! [`remote`] OneBot implementations reached over WebSocket (the gateway
//! dials them, or they dial the gateway), and [`milky`] implementations,
//! translated.

pub mod milky;
pub mod remote;
pub mod sandbox;

// The contract lives in core (core never names an upstream); re-exported
// here, where its implementations are.
pub use crate::core::serve::{EventSink, LocalUpstream, RemoteLink, UpstreamLink};
