//! A WebSocket peer at the byte level, to check what goes over the wire in a
//! closing handshake (tungstenite answers Close frames itself, so it cannot
//! tell whether the gateway did).

use std::time::Duration;

use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::TcpStream;

/// One frame as read off the socket.
#[derive(Debug)]
pub struct RawFrame {
    pub opcode: u8,
    pub masked: bool,
    pub payload: Vec<u8>,
}

impl RawFrame {
    /// A close frame's code and reason.
    pub fn close(&self) -> (u16, String) {
        assert_eq!(self.opcode, 8, "not a close frame: {self:?}");
        assert!(self.payload.len() >= 2, "close frame without a code");
        (
            u16::from_be_bytes([self.payload[0], self.payload[1]]),
            String::from_utf8_lossy(&self.payload[2..]).into_owned(),
        )
    }
}

pub struct RawWs {
    pub stream: TcpStream,
    /// Clients mask what they send (RFC 6455 §5.3); servers must not.
    client: bool,
    buf: Vec<u8>,
}

impl RawWs {
    /// Connects to `addr` and upgrades at `path` with extra header lines.
    pub async fn connect(addr: std::net::SocketAddr, path: &str, headers: &str) -> Self {
        let mut stream = TcpStream::connect(addr).await.unwrap();
        let req = format!(
            "GET {path} HTTP/1.1\r\nHost: {addr}\r\nUpgrade: websocket\r\nConnection: Upgrade\r\nSec-WebSocket-Key: dGhlIHNhbXBsZSBub25jZQ==\r\nSec-WebSocket-Version: 13\r\n{headers}\r\n"
        );
        stream.write_all(req.as_bytes()).await.unwrap();
        let mut ws = Self {
            stream,
            client: true,
            buf: Vec::new(),
        };
        let head = ws.read_head().await;
        assert!(head.starts_with("HTTP/1.1 101"), "not upgraded: {head}");
        ws
    }

    /// Accepts the gateway's dial on `listener` (as an app or an implementation).
    pub async fn accept(listener: &tokio::net::TcpListener) -> Self {
        let (stream, _) = tokio::time::timeout(Duration::from_secs(10), listener.accept())
            .await
            .expect("the gateway dials")
            .unwrap();
        let mut ws = Self {
            stream,
            client: false,
            buf: Vec::new(),
        };
        let head = ws.read_head().await;
        let key = head
            .lines()
            .find_map(|l| {
                let (k, v) = l.split_once(':')?;
                k.eq_ignore_ascii_case("sec-websocket-key")
                    .then(|| v.trim().to_owned())
            })
            .expect("a websocket key");
        let accept = tokio_tungstenite::tungstenite::handshake::derive_accept_key(key.as_bytes());
        let resp = format!("HTTP/1.1 101 Switching Protocols\r\nUpgrade: websocket\r\nConnection: Upgrade\r\nSec-WebSocket-Accept: {accept}\r\n\r\n");
        ws.stream.write_all(resp.as_bytes()).await.unwrap();
        ws
    }

    async fn read_head(&mut self) -> String {
        loop {
            if let Some(end) = self.buf.windows(4).position(|w| w == b"\r\n\r\n") {
                let head = String::from_utf8_lossy(&self.buf[..end]).into_owned();
                self.buf.drain(..end + 4);
                return head;
            }
            self.fill().await.expect("handshake answer");
        }
    }

    /// Reads more bytes; `None` at EOF.
    async fn fill(&mut self) -> Option<()> {
        let mut chunk = [0u8; 4096];
        let n = tokio::time::timeout(Duration::from_secs(10), self.stream.read(&mut chunk))
            .await
            .expect("the peer sends or closes within 10 s")
            .unwrap_or(0);
        if n == 0 {
            return None;
        }
        self.buf.extend_from_slice(&chunk[..n]);
        Some(())
    }

    /// The next frame, or `None` when TCP ended.
    pub async fn next_frame(&mut self) -> Option<RawFrame> {
        loop {
            if let Some((frame, used)) = parse(&self.buf) {
                self.buf.drain(..used);
                return Some(frame);
            }
            self.fill().await?;
        }
    }

    /// Skips frames up to the next close frame.
    pub async fn next_close(&mut self) -> Option<RawFrame> {
        loop {
            let f = self.next_frame().await?;
            if f.opcode == 8 {
                return Some(f);
            }
        }
    }

    /// True when the peer closed TCP (no further bytes).
    pub async fn at_eof(&mut self) -> bool {
        self.buf.is_empty() && self.fill().await.is_none()
    }

    /// Sends one frame (masked when this side is the client).
    pub async fn send(&mut self, opcode: u8, payload: &[u8]) {
        let mut out = vec![0x80 | opcode];
        let mask_bit = if self.client { 0x80 } else { 0 };
        match payload.len() {
            n if n < 126 => out.push(mask_bit | n as u8),
            n if n < 65536 => {
                out.push(mask_bit | 126);
                out.extend_from_slice(&(n as u16).to_be_bytes());
            }
            n => {
                out.push(mask_bit | 127);
                out.extend_from_slice(&(n as u64).to_be_bytes());
            }
        }
        if self.client {
            let key = [0x12, 0x34, 0x56, 0x78];
            out.extend_from_slice(&key);
            out.extend(payload.iter().enumerate().map(|(i, b)| b ^ key[i % 4]));
        } else {
            out.extend_from_slice(payload);
        }
        self.stream.write_all(&out).await.unwrap();
    }

    /// Sends a close frame with a code and reason.
    pub async fn send_close(&mut self, code: u16, reason: &str) {
        let mut payload = code.to_be_bytes().to_vec();
        payload.extend_from_slice(reason.as_bytes());
        self.send(8, &payload).await;
    }
}

fn parse(buf: &[u8]) -> Option<(RawFrame, usize)> {
    if buf.len() < 2 {
        return None;
    }
    let opcode = buf[0] & 0x0f;
    let masked = buf[1] & 0x80 != 0;
    let (len, mut at) = match buf[1] & 0x7f {
        126 => (u16::from_be_bytes([*buf.get(2)?, *buf.get(3)?]) as usize, 4),
        127 => (
            u64::from_be_bytes(buf.get(2..10)?.try_into().ok()?) as usize,
            10,
        ),
        n => (n as usize, 2),
    };
    let key = if masked {
        let k: [u8; 4] = buf.get(at..at + 4)?.try_into().ok()?;
        at += 4;
        Some(k)
    } else {
        None
    };
    let body = buf.get(at..at + len)?;
    let payload = match key {
        Some(k) => body.iter().enumerate().map(|(i, b)| b ^ k[i % 4]).collect(),
        None => body.to_vec(),
    };
    Some((
        RawFrame {
            opcode,
            masked,
            payload,
        },
        at + len,
    ))
}
