//! WebSocket mechanics every side shares (apps and implementations, accepted
//! and dialled): socket limits, closing handshakes, close codes for protocol
//! errors, and reconnect backoff. It imports nothing of the crate, so the
//! transport and upstream layers can both stand on it.

use std::time::Duration;

use tokio_tungstenite::tungstenite::protocol::frame::coding::CloseCode;
use tokio_tungstenite::tungstenite::protocol::{CloseFrame, WebSocketConfig};
use tokio_tungstenite::tungstenite::{Message, Utf8Bytes};

/// WebSocket limits for app connections: small eager read buffers keep idle
/// connections cheap (tungstenite's defaults cost ~134 KiB each), and an
/// explicit inbound size limit protects the gateway from a hostile peer.
///
/// The read buffer (allocated up front, per connection) is 2 KiB: apps send
/// small action frames, and a large one is still read whole, 2 KiB per read
/// call. 4 KiB made an idle app connection cost ~11.2 KiB of RSS instead of
/// ~9.2 KiB (measured with 10,000 connections, `loadgen idle`).
pub fn app_ws_config(max_inbound: usize) -> WebSocketConfig {
    WebSocketConfig::default()
        .read_buffer_size(2 * 1024)
        .write_buffer_size(16 * 1024)
        .max_write_buffer_size(64 * 1024 * 1024)
        .max_message_size(Some(hard_limit(max_inbound)))
        .max_frame_size(Some(hard_limit(max_inbound)))
}

/// The size past which a frame is not even read: frames between the
/// configured limit and this one are read and answered with a clear 1400,
/// and the connection stays up; beyond it the connection closes with 1009.
pub fn hard_limit(max_inbound: usize) -> usize {
    max_inbound.saturating_mul(4)
}

/// WebSocket limits for upstream connections (few, busy: larger buffers).
///
/// The read buffer is 16 KiB, not tungstenite's 128 KiB: tungstenite zeroes
/// the whole spare buffer before every read, so 128 KiB cost a 128 KiB memset
/// on every answer read from an implementation.
pub fn upstream_ws_config(max_inbound: usize) -> WebSocketConfig {
    WebSocketConfig::default()
        .read_buffer_size(16 * 1024)
        .max_message_size(Some(max_inbound))
        .max_frame_size(Some(max_inbound))
}

/// Ends a WebSocket with a closing handshake, whichever side started it.
///
/// With `ours`, the gateway starts the close: the frame is sent, then the
/// socket is read until the peer's Close (or TCP end), at most `limit`. Without
/// it, the peer's Close was just received: reading on flushes the Close reply
/// tungstenite queued (echoing the peer's code), and then ends (a server) or
/// waits for the peer to drop TCP (a client), again at most `limit`. Text
/// frames still arriving meanwhile go to `on_text` (an upstream's last events).
/// Returns whether the peer's Close arrived during this call.
pub async fn close_handshake<S, K>(
    sink: &mut K,
    stream: &mut S,
    ours: Option<CloseFrame>,
    limit: Duration,
    mut on_text: impl FnMut(Utf8Bytes),
) -> bool
where
    K: futures::Sink<Message> + Unpin,
    S: futures::Stream<Item = Result<Message, tokio_tungstenite::tungstenite::Error>> + Unpin,
{
    use futures::{SinkExt, StreamExt};
    let work = async {
        if let Some(frame) = ours {
            if sink.send(Message::Close(Some(frame))).await.is_err() {
                return false;
            }
        }
        let mut replied = false;
        while let Some(Ok(msg)) = stream.next().await {
            match msg {
                Message::Text(text) => on_text(text),
                Message::Close(_) => replied = true,
                _ => {}
            }
        }
        replied
    };
    tokio::time::timeout(limit, work).await.unwrap_or(false)
}

/// A close frame with a numeric code and a reason.
pub fn close_frame(code: u16, reason: impl Into<String>) -> CloseFrame {
    let mut reason: String = reason.into();
    // A control frame's payload is at most 125 bytes: 2 for the code.
    if reason.len() > 123 {
        let mut cut = 123;
        while !reason.is_char_boundary(cut) {
            cut -= 1;
        }
        reason.truncate(cut);
    }
    CloseFrame {
        code: CloseCode::from(code),
        reason: Utf8Bytes::from(reason),
    }
}

/// The close code a read error calls for (RFC 6455 §7.4.1), when the socket
/// can still carry a Close: 1002 protocol error, 1007 bad UTF-8, 1009 too big.
pub fn close_for_read_error(err: &tokio_tungstenite::tungstenite::Error) -> Option<CloseFrame> {
    use tokio_tungstenite::tungstenite::error::ProtocolError;
    use tokio_tungstenite::tungstenite::Error;
    match err {
        // The peer is gone: no Close can be sent.
        Error::Protocol(ProtocolError::ResetWithoutClosingHandshake) => None,
        Error::Protocol(p) => Some(close_frame(1002, format!("protocol error: {p}"))),
        Error::Utf8(_) => Some(close_frame(1007, "text frame is not valid UTF-8")),
        Error::Capacity(c) => Some(close_frame(1009, format!("frame too large: {c}"))),
        _ => None,
    }
}

/// Capped exponential backoff with full jitter, reset after a healthy period.
#[derive(Debug, Clone)]
pub struct Backoff {
    base: Duration,
    cap: Duration,
    attempt: u32,
}

impl Backoff {
    /// A backoff starting at `base`, never above `cap`.
    pub fn new(base: Duration, cap: Duration) -> Self {
        Self {
            base,
            cap,
            attempt: 0,
        }
    }

    /// The next delay: uniform in [d/2, d] where d = min(cap, base·2^attempt).
    pub fn next_delay(&mut self) -> Duration {
        let exp = self.base.saturating_mul(1u32 << self.attempt.min(16));
        let d = exp.min(self.cap);
        self.attempt = self.attempt.saturating_add(1);
        let half = d / 2;
        half + d.saturating_sub(half).mul_f64(fastrand::f64())
    }

    /// Starts over (after a connection stayed up long enough).
    pub fn reset(&mut self) {
        self.attempt = 0;
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn backoff_grows_to_the_cap_with_jitter_and_resets() {
        let mut b = Backoff::new(Duration::from_millis(100), Duration::from_millis(1000));
        let first = b.next_delay();
        assert!(first >= Duration::from_millis(50) && first <= Duration::from_millis(100));
        for _ in 0..10 {
            let d = b.next_delay();
            assert!(d <= Duration::from_millis(1000) && d >= Duration::from_millis(50));
        }
        let capped = b.next_delay();
        assert!(capped >= Duration::from_millis(500), "{capped:?}");
        b.reset();
        assert!(b.next_delay() <= Duration::from_millis(100));
    }
}
