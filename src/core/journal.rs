//! The durable event journal: per bot, events are appended to SQLite (WAL)
//! with group commit *before* they are fanned out, and app cursors are saved
//! lazily, so that after a crash (even `kill -9`) and a restart a returning
//! app receives every event it had not been sent.
//!
//! Why SQLite: the sandbox already stores its world in it, so it costs no new
//! dependency; WAL mode gives cheap appends, and a committed transaction
//! survives a process crash even with `synchronous = NORMAL` (only power loss
//! can take the last commits). One writer thread owns the connection: it
//! drains every queued event into one transaction (group commit), commits,
//! then appends them to the in-memory logs in sequence order.
//!
//! Delivery guarantee: exactly once within the retained window while the
//! gateway runs; across a crash, at least once (cursors are saved every
//! `flush_cursors_ms`, so up to that much may be sent again, never less).

use std::collections::HashMap;
use std::path::Path;
use std::sync::mpsc;
use std::sync::Arc;
use std::time::{Duration, SystemTime, UNIX_EPOCH};

use rusqlite::{params, Connection, OptionalExtension};
use tokio_tungstenite::tungstenite::Utf8Bytes;

use super::bus::{EventLog, JournalQueue, Retention};
use crate::protocol::event::EventHeader;

/// Most events committed in one transaction.
const MAX_BATCH: usize = 4096;

/// Why the journal could not be opened.
#[derive(Debug, thiserror::Error)]
#[error("event journal {path}: {reason}")]
pub struct JournalError {
    /// The configured path.
    pub path: String,
    /// What is wrong and what to do about it.
    pub reason: String,
}

enum Item {
    Event {
        log: Arc<EventLog>,
        bot: i64,
        seq: u64,
        header: EventHeader,
        text: Utf8Bytes,
        /// It holds a place of the bounded queue, given back once committed.
        reserved: bool,
    },
    /// Answered once everything queued before it is committed.
    Barrier(mpsc::Sender<()>),
}

/// The sending side of the journal writer, attached to each journaled log.
#[derive(Clone)]
pub struct JournalSender {
    bot: i64,
    tx: mpsc::Sender<Item>,
    room: Arc<tokio::sync::Semaphore>,
    queued: Arc<std::sync::atomic::AtomicUsize>,
}

/// The newest cursors to save, (bot, identity, seq), latest wins.
type CursorSlot = Arc<std::sync::Mutex<Option<Vec<(i64, String, u64)>>>>;

/// The cursors the last successful commit made durable, per (bot, identity):
/// what a restart after `kill -9` would resume from.
type Durable = Arc<std::sync::Mutex<HashMap<(i64, String), u64>>>;

/// Journal settings beyond its path.
#[derive(Debug, Clone, Copy)]
pub struct JournalOptions {
    /// Most events waiting for their commit; when full, upstream readers wait.
    pub queue: usize,
    /// Added to every commit: a slow disk, for tests.
    pub commit_delay: Duration,
}

impl Default for JournalOptions {
    fn default() -> Self {
        Self {
            queue: 4096,
            commit_delay: Duration::ZERO,
        }
    }
}

impl std::fmt::Debug for JournalSender {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("JournalSender")
            .field("bot", &self.bot)
            .finish()
    }
}

impl JournalQueue for JournalSender {
    fn room(&self) -> &tokio::sync::Semaphore {
        &self.room
    }

    fn append(&self, log: Arc<EventLog>, seq: u64, header: EventHeader, text: Utf8Bytes) {
        // Publishers that cannot wait (the sandbox) go over the bound rather
        // than lose an event; those are not counted as holding a place.
        let reserved = match self.room.try_acquire() {
            Ok(permit) => {
                permit.forget();
                true
            }
            Err(_) => false,
        };
        let item = Item::Event {
            log,
            bot: self.bot,
            seq,
            header,
            text,
            reserved,
        };
        self.queued
            .fetch_add(1, std::sync::atomic::Ordering::Relaxed);
        if self.tx.send(item).is_err() {
            tracing::error!(
                self_id = self.bot,
                seq,
                "journal writer is gone; event dropped"
            );
        }
    }
}

/// An open journal.
pub struct Journal {
    path: String,
    tx: mpsc::Sender<Item>,
    room: Arc<tokio::sync::Semaphore>,
    /// Events sent to the writer and not yet committed.
    queued: Arc<std::sync::atomic::AtomicUsize>,
    /// The newest cursors to save: a slot, not a queue, so cursor saves
    /// never wait behind events (the writer takes it at every commit).
    cursors: CursorSlot,
    durable: Durable,
    /// What was in the journal at open: per bot, (events in order, next seq, cursors).
    restored: std::sync::Mutex<HashMap<i64, Restored>>,
}

impl std::fmt::Debug for Journal {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Journal").field("path", &self.path).finish()
    }
}

/// One bot's journaled state at startup.
#[derive(Debug, Default)]
pub struct Restored {
    /// Retained events, (seq, text), oldest first.
    pub events: Vec<(u64, String)>,
    /// Where new events continue.
    pub next_seq: u64,
    /// Saved app cursors.
    pub cursors: Vec<(String, u64)>,
}

fn now_secs() -> i64 {
    SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .map_or(0, |d| d.as_secs() as i64)
}

impl Journal {
    /// Opens (or creates) the journal, checks it, loads what it retains and
    /// starts the writer thread.
    ///
    /// # Errors
    /// [`JournalError`] when the file cannot be opened or fails SQLite's
    /// integrity check; the message says how to recover.
    pub fn open(
        path: &Path,
        retention: Retention,
        options: JournalOptions,
    ) -> Result<Arc<Self>, JournalError> {
        let shown = path.display().to_string();
        let err = |reason: String| JournalError {
            path: shown.clone(),
            reason,
        };
        if let Some(dir) = path.parent().filter(|d| !d.as_os_str().is_empty()) {
            std::fs::create_dir_all(dir)
                .map_err(|e| err(format!("cannot create its directory: {e}")))?;
        }
        let conn = Connection::open(path).map_err(|e| err(format!("cannot open: {e}")))?;
        let damaged = |e: rusqlite::Error| {
            err(format!(
                "damaged or not a journal ({e}); move the file away to start a new journal (its events will not be replayed)"
            ))
        };
        conn.execute_batch(
            "PRAGMA journal_mode = WAL;
             PRAGMA synchronous = NORMAL;
             CREATE TABLE IF NOT EXISTS events (
                 bot INTEGER NOT NULL, seq INTEGER NOT NULL, added INTEGER NOT NULL, text TEXT NOT NULL,
                 PRIMARY KEY (bot, seq)) WITHOUT ROWID;
             CREATE TABLE IF NOT EXISTS cursors (
                 bot INTEGER NOT NULL, identity TEXT NOT NULL, seq INTEGER NOT NULL,
                 PRIMARY KEY (bot, identity)) WITHOUT ROWID;",
        )
        .map_err(damaged)?;
        let check: String = conn
            .query_row("PRAGMA quick_check", [], |r| r.get(0))
            .map_err(damaged)?;
        if check != "ok" {
            return Err(err(format!(
                "failed SQLite's integrity check ({check}); move the file away to start a new journal"
            )));
        }
        let restored = load(&conn, retention).map_err(damaged)?;
        let (tx, rx) = mpsc::channel();
        let room = Arc::new(tokio::sync::Semaphore::new(options.queue));
        let cursors = Arc::default();
        let queued = Arc::default();
        let durable: Durable = Arc::new(std::sync::Mutex::new(
            restored
                .iter()
                .flat_map(|(bot, r)| r.cursors.iter().map(|(id, seq)| ((*bot, id.clone()), *seq)))
                .collect(),
        ));
        let writer_state = Writer {
            room: room.clone(),
            queued: Arc::clone(&queued),
            cursors: Arc::clone(&cursors),
            durable: Arc::clone(&durable),
            retention,
            commit_delay: options.commit_delay,
        };
        std::thread::Builder::new()
            .name("event-journal".into())
            .spawn(move || writer(conn, rx, writer_state))
            .map_err(|e| err(format!("cannot start the writer thread: {e}")))?;
        Ok(Arc::new(Self {
            path: shown,
            tx,
            room,
            queued,
            cursors,
            durable,
            restored: std::sync::Mutex::new(restored),
        }))
    }

    /// Bots that have journaled events or cursors.
    pub fn restored_bots(&self) -> Vec<i64> {
        self.restored
            .lock()
            .expect("journal poisoned")
            .keys()
            .copied()
            .collect()
    }

    /// Takes what was restored for `bot` (empty for a new bot).
    pub fn take_restored(&self, bot: i64) -> Restored {
        self.restored
            .lock()
            .expect("journal poisoned")
            .remove(&bot)
            .unwrap_or(Restored {
                next_seq: 1,
                ..Restored::default()
            })
    }

    /// A sender for one bot's log.
    pub fn sender(&self, bot: i64) -> JournalSender {
        JournalSender {
            bot,
            tx: self.tx.clone(),
            room: self.room.clone(),
            queued: self.queued.clone(),
        }
    }

    /// Events waiting for their commit (bounded by the queue, plus any the
    /// sandbox added over it).
    pub fn queued(&self) -> usize {
        self.queued.load(std::sync::atomic::Ordering::Relaxed)
    }

    /// Blocks until everything queued so far is committed (or `limit` passes).
    /// Used on shutdown, so no accepted event is left uncommitted.
    pub fn sync(&self, limit: Duration) -> bool {
        let (tx, rx) = mpsc::channel();
        self.tx.send(Item::Barrier(tx)).is_ok() && rx.recv_timeout(limit).is_ok()
    }

    /// The cursors of `bot`'s apps as last committed (identity → next seq).
    pub fn durable_cursors(&self, bot: i64) -> HashMap<String, u64> {
        self.durable
            .lock()
            .expect("journal lock poisoned")
            .iter()
            .filter(|((b, _), _)| *b == bot)
            .map(|((_, id), seq)| (id.clone(), *seq))
            .collect()
    }

    /// Saves app cursors (lazily, from a periodic task).
    pub fn save_cursors(&self, cursors: Vec<(i64, String, u64)>) {
        if !cursors.is_empty() {
            *self.cursors.lock().expect("journal lock poisoned") = Some(cursors);
        }
    }
}

fn load(conn: &Connection, retention: Retention) -> rusqlite::Result<HashMap<i64, Restored>> {
    let mut out: HashMap<i64, Restored> = HashMap::new();
    let min_added = now_secs() - retention.max_age.as_secs() as i64;
    let bots: Vec<i64> = conn
        .prepare("SELECT DISTINCT bot FROM events UNION SELECT DISTINCT bot FROM cursors")?
        .query_map([], |r| r.get(0))?
        .collect::<Result<_, _>>()?;
    for bot in bots {
        let max_seq: Option<i64> = conn
            .query_row("SELECT MAX(seq) FROM events WHERE bot = ?1", [bot], |r| {
                r.get(0)
            })
            .optional()?
            .flatten();
        let next_seq = max_seq.map_or(1, |m| m as u64 + 1);
        let floor = next_seq.saturating_sub(retention.max_events as u64);
        let mut stmt = conn.prepare(
            "SELECT seq, text FROM events WHERE bot = ?1 AND seq >= ?2 AND added >= ?3 ORDER BY seq",
        )?;
        let events = stmt
            .query_map(params![bot, floor as i64, min_added], |r| {
                Ok((r.get::<_, i64>(0)? as u64, r.get::<_, String>(1)?))
            })?
            .collect::<Result<Vec<_>, _>>()?;
        let cursors = conn
            .prepare("SELECT identity, seq FROM cursors WHERE bot = ?1")?
            .query_map([bot], |r| {
                Ok((r.get::<_, String>(0)?, r.get::<_, i64>(1)? as u64))
            })?
            .collect::<Result<Vec<_>, _>>()?;
        out.insert(
            bot,
            Restored {
                events,
                next_seq,
                cursors,
            },
        );
    }
    Ok(out)
}

/// What the writer thread shares with the journal.
struct Writer {
    room: Arc<tokio::sync::Semaphore>,
    queued: Arc<std::sync::atomic::AtomicUsize>,
    cursors: CursorSlot,
    durable: Durable,
    retention: Retention,
    commit_delay: Duration,
}

fn writer(mut conn: Connection, rx: mpsc::Receiver<Item>, w: Writer) {
    let retention = w.retention;
    let mut since_trim = 0usize;
    // Newest sequence number per bot, for the count trim (a primary-key range delete).
    let mut newest: HashMap<i64, u64> = HashMap::new();
    let mut last_age_trim = now_secs();
    loop {
        // Cursor saves are taken at every commit, and at least every 50 ms
        // when no event comes.
        let first = match rx.recv_timeout(Duration::from_millis(50)) {
            Ok(item) => Some(item),
            Err(mpsc::RecvTimeoutError::Timeout) => None,
            Err(mpsc::RecvTimeoutError::Disconnected) => break,
        };
        let cursors = w.cursors.lock().expect("journal lock poisoned").take();
        if first.is_none() && cursors.is_none() {
            continue;
        }
        let mut batch: Vec<Item> = first.into_iter().collect();
        while batch.len() < MAX_BATCH {
            match rx.try_recv() {
                Ok(item) => batch.push(item),
                Err(_) => break,
            }
        }
        let added = now_secs();
        let result = (|| -> rusqlite::Result<()> {
            let tx = conn.transaction()?;
            {
                let mut insert = tx.prepare_cached(
                    "INSERT OR REPLACE INTO events (bot, seq, added, text) VALUES (?1, ?2, ?3, ?4)",
                )?;
                let mut cursor = tx.prepare_cached(
                    "INSERT INTO cursors (bot, identity, seq) VALUES (?1, ?2, ?3)
                     ON CONFLICT (bot, identity) DO UPDATE SET seq = excluded.seq",
                )?;
                for item in &batch {
                    match item {
                        Item::Event { bot, seq, text, .. } => {
                            insert.execute(params![bot, *seq as i64, added, text.as_str()])?;
                        }
                        Item::Barrier(_) => {}
                    }
                }
                for (bot, identity, seq) in cursors.iter().flatten() {
                    cursor.execute(params![bot, identity, *seq as i64])?;
                }
            }
            if !w.commit_delay.is_zero() {
                std::thread::sleep(w.commit_delay);
            }
            tx.commit()
        })();
        match result {
            Ok(()) => {
                let mut durable = w.durable.lock().expect("journal lock poisoned");
                for (bot, identity, seq) in cursors.into_iter().flatten() {
                    durable.insert((bot, identity), seq);
                }
            }
            // Fan-out still happens: refusing live events because the disk
            // failed would lose them for everyone. The failure is loud.
            Err(e) => {
                tracing::error!(error = %e, "journal commit failed; these events are not durable");
            }
        }
        let mut events = 0;
        let mut places = 0;
        for item in batch {
            match item {
                Item::Event {
                    log,
                    bot,
                    seq,
                    header,
                    text,
                    reserved,
                } => {
                    newest.insert(bot, seq);
                    log.append_committed(seq, header, text);
                    events += 1;
                    places += usize::from(reserved);
                }
                Item::Barrier(done) => {
                    let _ = done.send(());
                }
            }
        }
        w.room.add_permits(places);
        w.queued
            .fetch_sub(events, std::sync::atomic::Ordering::Relaxed);
        since_trim += events;
        if since_trim >= 1024 {
            since_trim = 0;
            for (bot, seq) in &newest {
                let floor = seq.saturating_sub(retention.max_events as u64) as i64;
                if let Err(e) = conn.execute(
                    "DELETE FROM events WHERE bot = ?1 AND seq <= ?2",
                    params![bot, floor],
                ) {
                    tracing::warn!(error = %e, "journal retention trim failed");
                }
            }
        }
        // The age trim scans the table, so it runs at most once a minute.
        if added - last_age_trim >= 60 {
            last_age_trim = added;
            let floor_age = added - retention.max_age.as_secs() as i64;
            if let Err(e) = conn.execute("DELETE FROM events WHERE added < ?1", params![floor_age])
            {
                tracing::warn!(error = %e, "journal age trim failed");
            }
        }
    }
}
