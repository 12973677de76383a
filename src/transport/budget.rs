//! The inbound memory budget shared by every app session: the declared
//! sizes of the frames being read and not yet whole. One client sending a
//! huge frame slowly, or many sending large frames at once, cannot make the
//! gateway hold more than `max_inbound_buffer_bytes` for them together: the
//! frame that would go over is refused (1009) when its header arrives,
//! before its payload is buffered.
//!
//! The socket wrapper follows the WebSocket framing of the bytes it passes
//! on (RFC 6455 §5.2: header, optional mask, payload) without copying them,
//! so the session needs to know nothing about it.

use std::io;
use std::pin::Pin;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::Arc;
use std::task::{Context, Poll};

use tokio::io::{AsyncRead, AsyncWrite, ReadBuf};

/// Bytes held across all sessions, and the most they may be.
#[derive(Debug)]
pub struct InboundBudget {
    used: AtomicUsize,
    limit: usize,
}

impl InboundBudget {
    /// A budget of `limit` bytes.
    pub fn new(limit: usize) -> Arc<Self> {
        Arc::new(Self {
            used: AtomicUsize::new(0),
            limit,
        })
    }

    /// Bytes held now.
    pub fn used(&self) -> usize {
        self.used.load(Ordering::Relaxed)
    }

    fn take(&self, n: usize) -> bool {
        let before = self.used.fetch_add(n, Ordering::Relaxed);
        if before.saturating_add(n) > self.limit {
            self.used.fetch_sub(n, Ordering::Relaxed);
            return false;
        }
        true
    }

    fn give(&self, n: usize) {
        if n > 0 {
            self.used.fetch_sub(n, Ordering::Relaxed);
        }
    }
}

/// The message of the error a refused read returns.
pub const REFUSED: &str = "inbound memory budget exhausted";

/// True for the error [`Metered`] returns when the budget is exhausted.
pub fn is_refusal(e: &tokio_tungstenite::tungstenite::Error) -> bool {
    matches!(e, tokio_tungstenite::tungstenite::Error::Io(io) if io.kind() == io::ErrorKind::OutOfMemory)
}

/// Where the reader is in the frame stream.
#[derive(Debug, Clone, Copy)]
enum Framing {
    /// Reading a header: its bytes so far, and how many it has in all.
    Header { bytes: [u8; 14], have: u8, need: u8 },
    /// Inside a payload.
    Payload { left: u64, fin: bool },
}

const FRESH: Framing = Framing::Header {
    bytes: [0; 14],
    have: 0,
    need: 2,
};

/// A socket whose data frames are charged to the budget (none: not metered).
#[derive(Debug)]
pub struct Metered<T> {
    inner: T,
    budget: Option<Arc<InboundBudget>>,
    framing: Framing,
    /// Charged for the message being read (all its fragments so far).
    held: usize,
}

impl<T> Metered<T> {
    /// `inner`, charged to `budget`.
    pub fn new(inner: T, budget: Option<Arc<InboundBudget>>) -> Self {
        Self {
            inner,
            budget,
            framing: FRESH,
            held: 0,
        }
    }

    /// Follows the framing over `data`; false when a frame's declared size
    /// does not fit the budget.
    fn follow(&mut self, mut data: &[u8], budget: &InboundBudget) -> bool {
        while !data.is_empty() {
            match &mut self.framing {
                Framing::Header { bytes, have, need } => {
                    let take = usize::from(*need - *have).min(data.len());
                    bytes[usize::from(*have)..usize::from(*have) + take]
                        .copy_from_slice(&data[..take]);
                    *have += take as u8;
                    data = &data[take..];
                    if *have == 2 {
                        // The length field's size and the mask follow the first two bytes.
                        let ext = match bytes[1] & 0x7f {
                            126 => 2,
                            127 => 8,
                            _ => 0,
                        };
                        let mask = if bytes[1] & 0x80 != 0 { 4 } else { 0 };
                        *need = 2 + ext + mask;
                    }
                    if *have < *need {
                        continue;
                    }
                    let (fin, opcode) = (bytes[0] & 0x80 != 0, bytes[0] & 0x0f);
                    let len = match bytes[1] & 0x7f {
                        126 => u64::from(u16::from_be_bytes([bytes[2], bytes[3]])),
                        127 => u64::from_be_bytes(bytes[2..10].try_into().expect("8 bytes")),
                        n => u64::from(n),
                    };
                    // Control frames (at most 125 bytes) may come between
                    // fragments; only data frames are charged.
                    let control = opcode & 0x08 != 0;
                    if !control {
                        let n = usize::try_from(len).unwrap_or(usize::MAX);
                        if !budget.take(n) {
                            return false;
                        }
                        self.held += n;
                    }
                    // A control frame's end is not its message's end.
                    self.framing = Framing::Payload {
                        left: len,
                        fin: fin && !control,
                    };
                    self.end_of_payload(budget);
                }
                Framing::Payload { left, .. } => {
                    let take = (*left).min(data.len() as u64);
                    *left -= take;
                    data = &data[take as usize..];
                    self.end_of_payload(budget);
                }
            }
        }
        true
    }

    /// At the end of a payload: the next header starts; at the end of a
    /// message (FIN), its charge is released.
    fn end_of_payload(&mut self, budget: &InboundBudget) {
        if let Framing::Payload { left: 0, fin } = self.framing {
            if fin {
                budget.give(std::mem::take(&mut self.held));
            }
            self.framing = FRESH;
        }
    }
}

impl<T> Drop for Metered<T> {
    fn drop(&mut self) {
        if let Some(budget) = &self.budget {
            budget.give(self.held);
        }
    }
}

impl<T: AsyncRead + Unpin> AsyncRead for Metered<T> {
    fn poll_read(
        mut self: Pin<&mut Self>,
        cx: &mut Context<'_>,
        buf: &mut ReadBuf<'_>,
    ) -> Poll<io::Result<()>> {
        let before = buf.filled().len();
        let polled = Pin::new(&mut self.inner).poll_read(cx, buf);
        if let (Poll::Ready(Ok(())), Some(budget)) = (&polled, self.budget.clone()) {
            if !self.follow(&buf.filled()[before..], &budget) {
                return Poll::Ready(Err(io::Error::new(
                    io::ErrorKind::OutOfMemory,
                    format!(
                        "{REFUSED} ({} bytes across all sessions, max_inbound_buffer_bytes)",
                        budget.limit
                    ),
                )));
            }
        }
        polled
    }
}

impl<T: AsyncWrite + Unpin> AsyncWrite for Metered<T> {
    fn poll_write(
        mut self: Pin<&mut Self>,
        cx: &mut Context<'_>,
        buf: &[u8],
    ) -> Poll<io::Result<usize>> {
        Pin::new(&mut self.inner).poll_write(cx, buf)
    }

    fn poll_flush(mut self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<io::Result<()>> {
        Pin::new(&mut self.inner).poll_flush(cx)
    }

    fn poll_shutdown(mut self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<io::Result<()>> {
        Pin::new(&mut self.inner).poll_shutdown(cx)
    }

    fn poll_write_vectored(
        mut self: Pin<&mut Self>,
        cx: &mut Context<'_>,
        bufs: &[io::IoSlice<'_>],
    ) -> Poll<io::Result<usize>> {
        Pin::new(&mut self.inner).poll_write_vectored(cx, bufs)
    }

    fn is_write_vectored(&self) -> bool {
        self.inner.is_write_vectored()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// A masked client frame with `len` payload bytes.
    fn frame(opcode: u8, fin: bool, len: usize) -> Vec<u8> {
        let mut out = vec![if fin { 0x80 } else { 0 } | opcode];
        match len {
            n if n < 126 => out.push(0x80 | n as u8),
            n if n < 65536 => {
                out.push(0x80 | 126);
                out.extend_from_slice(&(n as u16).to_be_bytes());
            }
            n => {
                out.push(0x80 | 127);
                out.extend_from_slice(&(n as u64).to_be_bytes());
            }
        }
        out.extend_from_slice(&[1, 2, 3, 4]);
        out.extend(std::iter::repeat_n(b'x', len));
        out
    }

    #[test]
    fn a_frame_is_charged_from_its_header_to_its_end_byte_by_byte() {
        let budget = InboundBudget::new(100_000);
        let mut m = Metered::new((), Some(budget.clone()));
        let bytes = frame(1, true, 70_000);
        for (i, b) in bytes.iter().enumerate() {
            assert!(m.follow(std::slice::from_ref(b), &budget));
            if i == 13 {
                assert_eq!(budget.used(), 70_000, "charged when the header is whole");
            }
        }
        assert_eq!(budget.used(), 0, "released at the end of the message");
    }

    #[test]
    fn fragments_are_held_until_the_message_ends_and_pings_are_free() {
        let budget = InboundBudget::new(1000);
        let mut m = Metered::new((), Some(budget.clone()));
        assert!(m.follow(&frame(1, false, 300), &budget));
        assert!(
            m.follow(&frame(9, true, 100), &budget),
            "a ping between fragments"
        );
        assert_eq!(budget.used(), 300);
        assert!(m.follow(&frame(0, false, 300), &budget));
        assert_eq!(budget.used(), 600);
        assert!(
            !m.follow(&frame(0, true, 500), &budget),
            "over the limit: refused"
        );
        assert_eq!(budget.used(), 600, "the refused frame took nothing");
        drop(m);
        assert_eq!(budget.used(), 0, "a session's end frees its share");
    }

    #[test]
    fn sessions_share_one_budget() {
        let budget = InboundBudget::new(1000);
        let mut a = Metered::new((), Some(budget.clone()));
        let mut b = Metered::new((), Some(budget.clone()));
        let big = frame(1, true, 700);
        assert!(a.follow(&big[..20], &budget));
        assert!(!b.follow(&big[..20], &budget), "700 + 700 > 1000");
        assert!(a.follow(&big[20..], &budget));
        assert_eq!(budget.used(), 0);
    }
}
