//! OneBot v11 data without I/O: frames, responses, events, message segments and
//! CQ codes, typed parameters for every known action, retcodes.
//!
//! Nothing here touches tokio or a socket, so every codec is table- and
//! property-testable. Unknown actions, unknown event types and unknown fields
//! pass through untouched: the gateway relays what it does not understand.

pub mod action;
pub mod de;
pub mod event;
pub mod filter;
pub mod frame;
pub mod message;
pub mod milky;
pub mod retcode;

pub use frame::{classify, ActionRequest, Frame, FrameError, Response};
