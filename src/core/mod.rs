//! The core: bots, app sessions, the event bus and the action dispatcher.
//!
//! Nothing here knows about WebSocket or HTTP framing: transports turn sockets
//! into [`AppCtx`]s and upstream links, and move frames through the types here.

pub mod bus;
pub mod dispatcher;
pub mod registry;

pub use bus::{BusEvent, EventLog, PostFormat, Retention, Subscription};

pub use registry::{AppCtx, AppOptions, AsyncReply, Bot, Health, Registry, Role};
