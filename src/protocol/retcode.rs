//! Retcodes used on the wire.
//!
//! OneBot v11 defines 0 (ok) and 1 (async); go-cqhttp and NapCat add the
//! HTTP-like 14xx family. Upstream retcodes (100, 102, 1200, -1, ...) are passed
//! through untouched; these are the ones the gateway itself produces.

/// Success.
pub const OK: i64 = 0;
/// Accepted for asynchronous execution (`_async` actions, per the spec).
pub const ASYNC: i64 = 1;
/// Invalid parameters or a malformed frame.
pub const BAD_REQUEST: i64 = 1400;
/// Missing credentials.
pub const UNAUTHORIZED: i64 = 1401;
/// Refused: wrong credentials, or an action from an Event-role app.
pub const FORBIDDEN: i64 = 1403;
/// Unknown action (sandbox) or unknown id.
pub const NOT_FOUND: i64 = 1404;
/// The bot's upstream is not connected, or went away while the action was pending.
pub const UPSTREAM_UNAVAILABLE: i64 = 1502;
/// The upstream did not answer within the action timeout.
pub const TIMEOUT: i64 = 1504;
/// The gateway failed internally (should not happen; logged).
pub const INTERNAL: i64 = 1500;
