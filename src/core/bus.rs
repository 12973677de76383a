//! The event bus: one append-only, bounded log per bot.
//!
//! Every event gets the bot's next sequence number and is serialized once per
//! post format; each app reads from its own cursor at its own pace. Publishing
//! never waits for a reader, so a slow app cannot delay the others, and a reader
//! that falls behind the retained window learns exactly which range it lost
//! (never a silent skip). Sequence numbers and cursors are the single source of
//! delivery truth: replay after a reconnect is just reading from a saved cursor.
//!
//! Payloads are tungstenite's `Utf8Bytes` (a refcounted UTF-8 buffer), so
//! handing one event to a thousand sockets copies no bytes.

use std::collections::VecDeque;
use std::sync::{Arc, Mutex, OnceLock};
use std::time::Duration;

use tokio::time::Instant;

use serde_json::Value;
use tokio::sync::watch;
use tokio_tungstenite::tungstenite::Utf8Bytes;

use crate::protocol::event::EventHeader;
use crate::protocol::message;

/// How an app wants the `message` field of message events.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default, serde::Deserialize, serde::Serialize)]
#[serde(rename_all = "lowercase")]
pub enum PostFormat {
    /// Segment array (NapCat, Lagrange, the default).
    #[default]
    Array,
    /// CQ-code string (go-cqhttp's default).
    String,
}

/// One event in a bot's log.
#[derive(Debug)]
pub struct BusEvent {
    /// The bot's sequence number of this event (starts at 1).
    pub seq: u64,
    /// The parsed header (for filters).
    pub header: EventHeader,
    /// When it entered the log (for age-based retention).
    pub added: Instant,
    /// The text exactly as produced.
    original: Utf8Bytes,
    /// The other post format, computed once on first demand.
    converted: OnceLock<Utf8Bytes>,
    /// The parsed event, for filters: parsed once on first demand.
    parsed: OnceLock<Value>,
}

impl BusEvent {
    /// Builds an event from its JSON text and parsed header.
    pub fn new(seq: u64, header: EventHeader, text: Utf8Bytes) -> Self {
        Self {
            seq,
            header,
            added: Instant::now(),
            original: text,
            converted: OnceLock::new(),
            parsed: OnceLock::new(),
        }
    }

    /// The event as a JSON value, parsed at most once whatever the number of
    /// apps with filters.
    pub fn value(&self) -> &Value {
        self.parsed
            .get_or_init(|| serde_json::from_str(&self.original).unwrap_or(Value::Null))
    }

    /// The JSON text in the requested post format. Non-message events have one
    /// form; message events are converted at most once per format, whatever
    /// the number of apps.
    pub fn json(&self, format: PostFormat) -> Utf8Bytes {
        if !self.header.post_type.carries_message() {
            return self.original.clone();
        }
        let original_is_string = self.header.message_is_string;
        if (format == PostFormat::String) == original_is_string {
            return self.original.clone();
        }
        self.converted
            .get_or_init(|| convert_message_format(&self.original, format))
            .clone()
    }

    /// Size in bytes of the original text (for byte-based retention).
    pub fn len(&self) -> usize {
        self.original.len()
    }

    /// True when the text is empty (never, for a real event).
    pub fn is_empty(&self) -> bool {
        self.original.is_empty()
    }
}

/// Rewrites `message` (and `raw_message`) into the requested format.
fn convert_message_format(text: &str, format: PostFormat) -> Utf8Bytes {
    let Ok(mut event) = serde_json::from_str::<Value>(text) else {
        return Utf8Bytes::from(text);
    };
    if let Some(msg) = event.get("message") {
        let converted = match format {
            PostFormat::Array => message::to_array(msg),
            PostFormat::String => Value::String(message::to_cq_string(msg)),
        };
        if event.get("raw_message").is_none() {
            event["raw_message"] = Value::String(message::to_cq_string(msg));
        }
        event["message"] = converted;
    }
    Utf8Bytes::from(serde_json::to_string(&event).unwrap_or_else(|_| text.to_owned()))
}

/// Bounds on what a log retains for apps that are behind or away.
#[derive(Debug, Clone, Copy)]
pub struct Retention {
    /// Most events kept.
    pub max_events: usize,
    /// Most bytes kept (sum of original texts).
    pub max_bytes: usize,
    /// Oldest event kept.
    pub max_age: Duration,
}

impl Default for Retention {
    fn default() -> Self {
        Self {
            max_events: 100_000,
            max_bytes: 64 * 1024 * 1024,
            max_age: Duration::from_secs(3600),
        }
    }
}

/// A reader asked for events that were already evicted.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Gap {
    /// First lost sequence number.
    pub first_lost: u64,
    /// Last lost sequence number.
    pub last_lost: u64,
}

impl Gap {
    /// How many events were lost.
    pub fn count(&self) -> u64 {
        self.last_lost + 1 - self.first_lost
    }
}

struct Ring {
    events: VecDeque<Arc<BusEvent>>,
    /// Sequence number the next published event gets.
    next_seq: u64,
    /// With a journal: the next sequence number handed to the journal writer
    /// (events between `next_seq` and this are being committed).
    next_reserved: u64,
    bytes: usize,
}

impl Ring {
    fn first_seq(&self) -> u64 {
        self.events.front().map_or(self.next_seq, |e| e.seq)
    }
}

/// One bot's event log.
pub struct EventLog {
    ring: Mutex<Ring>,
    head: watch::Sender<u64>,
    retention: Retention,
    /// When set, events go to the durable journal first and enter the ring
    /// only once committed (see [`super::journal`]).
    journal: OnceLock<Box<dyn JournalQueue>>,
    /// Events published in this run, by post type ([`POST_TYPES`], then other).
    by_type: [std::sync::atomic::AtomicU64; POST_TYPES.len() + 1],
}

/// The post types counted apart (anything else counts as `other`).
pub const POST_TYPES: [&str; 5] = ["message", "message_sent", "notice", "request", "meta_event"];

/// Where a log hands its events when a journal is attached: the journal
/// commits them and appends them to the log in sequence order.
pub trait JournalQueue: Send + Sync {
    /// Queues event `seq` of `log` for its commit.
    fn append(&self, log: Arc<EventLog>, seq: u64, header: EventHeader, text: Utf8Bytes);
    /// The places in the bounded queue: a permit is room for one more event.
    fn room(&self) -> &tokio::sync::Semaphore;
}

impl std::fmt::Debug for EventLog {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("EventLog")
            .field("head", &*self.head.borrow())
            .finish()
    }
}

impl EventLog {
    /// An empty log whose first event gets sequence number `first_seq`.
    pub fn new(retention: Retention, first_seq: u64) -> Self {
        let first_seq = first_seq.max(1);
        Self {
            ring: Mutex::new(Ring {
                events: VecDeque::new(),
                next_seq: first_seq,
                next_reserved: first_seq,
                bytes: 0,
            }),
            head: watch::Sender::new(first_seq),
            retention,
            journal: OnceLock::new(),
            by_type: Default::default(),
        }
    }

    /// Events published in this run by post type: ([`POST_TYPES`]…, `other`).
    pub fn published_by_type(&self) -> Vec<(&'static str, u64)> {
        POST_TYPES
            .iter()
            .copied()
            .chain(["other"])
            .zip(&self.by_type)
            .map(|(t, n)| (t, n.load(std::sync::atomic::Ordering::Relaxed)))
            .collect()
    }

    /// A log restored from a journal: `events` are (seq, text) in order, and
    /// `next_seq` is where new events continue.
    pub fn restored(retention: Retention, events: Vec<(u64, String)>, next_seq: u64) -> Self {
        let log = Self::new(retention, events.first().map_or(next_seq, |(seq, _)| *seq));
        for (seq, text) in events {
            if let Ok(header) = EventHeader::parse(&text) {
                log.append_committed(seq, header, Utf8Bytes::from(text));
            }
        }
        let mut ring = log.ring.lock().expect("event log poisoned");
        ring.next_seq = ring.next_seq.max(next_seq);
        ring.next_reserved = ring.next_seq;
        let head = ring.next_seq;
        drop(ring);
        log.head.send_replace(head);
        log
    }

    /// Routes this log's events through the journal from now on.
    pub fn attach_journal(&self, journal: Box<dyn JournalQueue>) {
        let _ = self.journal.set(journal);
    }

    /// With a journal: waits until its bounded queue has room. Upstream
    /// readers call this before publishing, so a disk that falls behind
    /// slows the implementation's link instead of piling events in memory.
    pub async fn journal_room(&self) {
        if let Some(journal) = self.journal.get() {
            if let Ok(permit) = journal.room().acquire().await {
                drop(permit);
            }
        }
    }

    /// Appends an event the journal has committed (journal writer only; it
    /// calls this in sequence order).
    pub(crate) fn append_committed(&self, seq: u64, header: EventHeader, text: Utf8Bytes) {
        {
            let mut ring = self.ring.lock().expect("event log poisoned");
            debug_assert!(seq >= ring.next_seq, "journal commits in order");
            ring.next_seq = seq + 1;
            ring.next_reserved = ring.next_reserved.max(seq + 1);
            ring.bytes += text.len();
            ring.events
                .push_back(Arc::new(BusEvent::new(seq, header, text)));
            self.evict(&mut ring);
        }
        self.advance_head(seq + 1);
    }

    /// Appends an event given as JSON text; returns its sequence number.
    /// With a journal, the event becomes visible to readers once committed.
    pub fn publish_text(self: &Arc<Self>, header: EventHeader, text: impl Into<Utf8Bytes>) -> u64 {
        let text = text.into();
        let kind = POST_TYPES
            .iter()
            .position(|t| *t == header.post_type.as_str())
            .unwrap_or(POST_TYPES.len());
        self.by_type[kind].fetch_add(1, std::sync::atomic::Ordering::Relaxed);
        if let Some(journal) = self.journal.get() {
            // Reserve the number and enqueue under the ring lock, so the
            // writer receives events in sequence order whoever publishes.
            let mut ring = self.ring.lock().expect("event log poisoned");
            let seq = ring.next_reserved;
            ring.next_reserved += 1;
            journal.append(self.clone(), seq, header, text);
            return seq;
        }
        let seq = {
            let mut ring = self.ring.lock().expect("event log poisoned");
            let seq = ring.next_seq;
            ring.next_seq += 1;
            ring.bytes += text.len();
            ring.events
                .push_back(Arc::new(BusEvent::new(seq, header, text)));
            self.evict(&mut ring);
            seq
        };
        self.advance_head(seq + 1);
        seq
    }

    /// Publishers race between taking a number and announcing it: the head
    /// only ever moves forward, so a slower publisher cannot hide a newer event.
    fn advance_head(&self, head: u64) {
        self.head.send_if_modified(|h| {
            let moved = head > *h;
            if moved {
                *h = head;
            }
            moved
        });
    }

    /// Appends an event given as a JSON value (serialized here, once).
    pub fn publish_value(self: &Arc<Self>, event: &Value) -> Option<u64> {
        let header = EventHeader::from_value(event)?;
        let text = serde_json::to_string(event).ok()?;
        Some(self.publish_text(header, text))
    }

    fn evict(&self, ring: &mut Ring) {
        let now = Instant::now();
        while let Some(front) = ring.events.front() {
            let too_many = ring.events.len() > self.retention.max_events;
            let too_big = ring.bytes > self.retention.max_bytes;
            let too_old = now.duration_since(front.added) > self.retention.max_age;
            if !(too_many || too_big || too_old) {
                break;
            }
            ring.bytes -= front.len();
            ring.events.pop_front();
        }
    }

    /// The sequence number the next event will get (one past the newest).
    pub fn head(&self) -> u64 {
        *self.head.borrow()
    }

    /// The oldest sequence number still retained.
    pub fn first_retained(&self) -> u64 {
        self.ring.lock().expect("event log poisoned").first_seq()
    }

    /// Copies up to `max` events starting at `cursor` into `out`.
    ///
    /// # Errors
    /// A [`Gap`] when `cursor` is older than the oldest retained event; the
    /// reader then continues from `gap.last_lost + 1`.
    pub fn read(&self, cursor: u64, max: usize, out: &mut Vec<Arc<BusEvent>>) -> Result<(), Gap> {
        let ring = self.ring.lock().expect("event log poisoned");
        let first = ring.first_seq();
        if cursor < first {
            return Err(Gap {
                first_lost: cursor,
                last_lost: first - 1,
            });
        }
        let start = (cursor - first) as usize;
        out.extend(ring.events.iter().skip(start).take(max).cloned());
        Ok(())
    }

    /// A receiver that changes whenever an event is published.
    pub fn watch(&self) -> watch::Receiver<u64> {
        self.head.subscribe()
    }
}

/// An app's position in a bot's log.
pub struct Subscription {
    log: Arc<EventLog>,
    head: watch::Receiver<u64>,
    /// The next sequence number this reader will receive.
    pub cursor: u64,
}

impl Subscription {
    /// Starts reading at `cursor` (use `log.head()` for live-only).
    pub fn new(log: Arc<EventLog>, cursor: u64) -> Self {
        let head = log.watch();
        Self { log, head, cursor }
    }

    /// How many events are published but not yet read.
    pub fn lag(&self) -> u64 {
        self.log.head().saturating_sub(self.cursor)
    }

    /// Waits until at least one event is available, then moves up to `max`
    /// events into `out` and advances the cursor.
    ///
    /// # Errors
    /// A [`Gap`] when the reader fell out of the retained window; the cursor
    /// has already been moved past it.
    ///
    /// # Cancel safety
    /// Cancel safe: the cursor moves only after events are handed out.
    pub async fn next_batch(
        &mut self,
        max: usize,
        out: &mut Vec<Arc<BusEvent>>,
    ) -> Result<(), Gap> {
        loop {
            if *self.head.borrow_and_update() > self.cursor {
                break;
            }
            if self.head.changed().await.is_err() {
                // The log is gone (bot removed): nothing will ever arrive.
                std::future::pending::<()>().await;
            }
        }
        let before = out.len();
        match self.log.read(self.cursor, max, out) {
            Ok(()) => {
                if let Some(last) = out[before..].last() {
                    self.cursor = last.seq + 1;
                }
                Ok(())
            }
            Err(gap) => {
                self.cursor = gap.last_lost + 1;
                Err(gap)
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn notice(n: u64) -> Value {
        serde_json::json!({"time": 1, "self_id": 1, "post_type": "notice", "notice_type": "poke", "n": n})
    }

    #[tokio::test]
    async fn readers_get_every_event_in_order() {
        let log = Arc::new(EventLog::new(Retention::default(), 1));
        let mut sub = Subscription::new(log.clone(), log.head());
        for n in 0..10 {
            log.publish_value(&notice(n));
        }
        let mut out = Vec::new();
        while out.len() < 10 {
            sub.next_batch(3, &mut out).await.unwrap();
        }
        let seqs: Vec<u64> = out.iter().map(|e| e.seq).collect();
        assert_eq!(seqs, (1..=10).collect::<Vec<_>>());
        assert_eq!(sub.lag(), 0);
    }

    #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
    async fn concurrent_publishers_never_hide_an_event() {
        let log = Arc::new(EventLog::new(Retention::default(), 1));
        let mut sub = Subscription::new(log.clone(), 1);
        let publishers: Vec<_> = (0..4)
            .map(|p| {
                let log = log.clone();
                tokio::spawn(async move {
                    for n in 0..2500 {
                        log.publish_value(&notice(p * 10_000 + n));
                    }
                })
            })
            .collect();
        for p in publishers {
            p.await.unwrap();
        }
        assert_eq!(log.head(), 10_001);
        let mut out = Vec::new();
        while out.len() < 10_000 {
            tokio::time::timeout(
                std::time::Duration::from_secs(5),
                sub.next_batch(1000, &mut out),
            )
            .await
            .expect("every published event is announced")
            .unwrap();
        }
    }

    #[tokio::test]
    async fn evicted_range_is_reported_as_a_gap() {
        let retention = Retention {
            max_events: 5,
            ..Retention::default()
        };
        let log = Arc::new(EventLog::new(retention, 1));
        let mut sub = Subscription::new(log.clone(), 1);
        for n in 0..8 {
            log.publish_value(&notice(n));
        }
        let mut out = Vec::new();
        let gap = sub.next_batch(100, &mut out).await.unwrap_err();
        assert_eq!(
            gap,
            Gap {
                first_lost: 1,
                last_lost: 3
            }
        );
        assert_eq!(gap.count(), 3);
        sub.next_batch(100, &mut out).await.unwrap();
        assert_eq!(
            out.iter().map(|e| e.seq).collect::<Vec<_>>(),
            vec![4, 5, 6, 7, 8]
        );
    }

    // Virtual time: the age limit is exact, whatever the machine's load.
    #[tokio::test(start_paused = true)]
    async fn events_older_than_max_age_are_evicted_by_the_next_publish() {
        let retention = Retention {
            max_age: Duration::from_secs(60),
            ..Retention::default()
        };
        let log = Arc::new(EventLog::new(retention, 1));
        log.publish_value(&notice(0));
        tokio::time::advance(Duration::from_secs(30)).await;
        log.publish_value(&notice(1));
        tokio::time::advance(Duration::from_secs(30)).await;
        log.publish_value(&notice(2));
        assert_eq!(log.first_retained(), 1, "exactly max_age old: still kept");
        tokio::time::advance(Duration::from_millis(1)).await;
        log.publish_value(&notice(3));
        assert_eq!(
            log.first_retained(),
            2,
            "the first is now older than max_age"
        );
        tokio::time::advance(Duration::from_secs(31)).await;
        log.publish_value(&notice(4));
        assert_eq!(log.first_retained(), 3);
        assert_eq!(log.head(), 6);
    }

    #[test]
    fn message_events_convert_once_and_non_message_events_share_bytes() {
        let log = Arc::new(EventLog::new(Retention::default(), 1));
        log.publish_value(&serde_json::json!({
            "time": 1, "self_id": 1, "post_type": "message", "message_type": "private",
            "message": [{"type": "text", "data": {"text": "hi"}}], "raw_message": "hi"
        }));
        let mut out = Vec::new();
        log.read(1, 1, &mut out).unwrap();
        let a = out[0].json(PostFormat::String);
        let b = out[0].json(PostFormat::String);
        assert_eq!(a.as_ptr(), b.as_ptr(), "converted once, shared");
        let v: Value = serde_json::from_str(&a).unwrap();
        assert_eq!(v["message"], "hi");
    }
}
