//! The inbound memory budget shared by every app session: the bytes read
//! off sockets that are not yet a whole message. One client sending a
//! huge frame slowly, or many sending large frames at once, cannot make the
//! gateway hold more than `max_inbound_buffer_bytes` for them together; the
//! frame that would go over is refused (1009) instead of buffered.

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
}

/// One session's share: the bytes it read since its last whole message.
#[derive(Debug)]
pub struct Charge {
    held: AtomicUsize,
    budget: Arc<InboundBudget>,
}

impl Charge {
    fn add(&self, n: usize) -> bool {
        let before = self.budget.used.fetch_add(n, Ordering::Relaxed);
        if before + n > self.budget.limit {
            self.budget.used.fetch_sub(n, Ordering::Relaxed);
            return false;
        }
        self.held.fetch_add(n, Ordering::Relaxed);
        true
    }

    /// A whole message was read: what it held is free again.
    pub fn release(&self) {
        let held = self.held.swap(0, Ordering::Relaxed);
        if held > 0 {
            self.budget.used.fetch_sub(held, Ordering::Relaxed);
        }
    }
}

impl Drop for Charge {
    fn drop(&mut self) {
        self.release();
    }
}

/// The message of the error a refused read returns.
pub const REFUSED: &str = "inbound memory budget exhausted";

/// True for the error [`Metered`] returns when the budget is exhausted.
pub fn is_refusal(e: &tokio_tungstenite::tungstenite::Error) -> bool {
    matches!(e, tokio_tungstenite::tungstenite::Error::Io(io) if io.kind() == io::ErrorKind::OutOfMemory)
}

/// A socket whose reads are charged to the budget (none: not metered).
#[derive(Debug)]
pub struct Metered<T> {
    inner: T,
    charge: Option<Arc<Charge>>,
}

impl<T> Metered<T> {
    /// `inner`, charged to `budget`.
    pub fn new(inner: T, budget: Option<Arc<InboundBudget>>) -> Self {
        Self {
            inner,
            charge: budget.map(|budget| {
                Arc::new(Charge {
                    held: AtomicUsize::new(0),
                    budget,
                })
            }),
        }
    }
}

/// A socket a session can release its charge on (plain sockets have none).
pub trait Budgeted {
    /// This socket's charge, if it is metered.
    fn charge(&self) -> Option<Arc<Charge>> {
        None
    }
}

impl<T> Budgeted for Metered<T> {
    fn charge(&self) -> Option<Arc<Charge>> {
        self.charge.clone()
    }
}

impl Budgeted for tokio_tungstenite::MaybeTlsStream<tokio::net::TcpStream> {}

impl<T: AsyncRead + Unpin> AsyncRead for Metered<T> {
    fn poll_read(
        mut self: Pin<&mut Self>,
        cx: &mut Context<'_>,
        buf: &mut ReadBuf<'_>,
    ) -> Poll<io::Result<()>> {
        let before = buf.filled().len();
        let polled = Pin::new(&mut self.inner).poll_read(cx, buf);
        if let (Poll::Ready(Ok(())), Some(charge)) = (&polled, &self.charge) {
            let n = buf.filled().len() - before;
            if n > 0 && !charge.add(n) {
                let limit = charge.budget.limit;
                return Poll::Ready(Err(io::Error::new(
                    io::ErrorKind::OutOfMemory,
                    format!(
                        "{REFUSED} ({limit} bytes across all sessions, max_inbound_buffer_bytes)"
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

    #[test]
    fn charges_add_up_across_sessions_and_come_back() {
        let budget = InboundBudget::new(100);
        let a = Metered::new((), Some(budget.clone())).charge.unwrap();
        let b = Metered::new((), Some(budget.clone())).charge.unwrap();
        assert!(a.add(60));
        assert!(!b.add(50), "over the shared limit");
        assert!(b.add(40));
        assert_eq!(budget.used(), 100);
        a.release();
        assert_eq!(budget.used(), 40);
        drop(b);
        assert_eq!(budget.used(), 0, "a session's end frees its share");
    }
}
