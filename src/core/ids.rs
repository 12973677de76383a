//! Message ids the gateway mints: int32 ids (what go-cqhttp apps and
//! JavaScript clients take) mapped to what really names a message — a pool
//! member's id, or a Milky message's (scene, peer, seq) — in a SQLite table
//! that survives restarts. Rows older than the retention are forgotten at
//! start-up.

use std::sync::Mutex;
use std::time::Duration;

use dashmap::DashMap;
use rusqlite::{params, Connection, OptionalExtension};

/// What an id stands for: up to three numbers, meaning set by the owner.
pub type IdKey = (i64, i64, i64);

/// One id space (a pool's, a Milky bot's), in a table shared by spaces.
pub struct IdTable {
    /// `pool`, `milky`: which owner's rows.
    space: &'static str,
    /// The bot that owns the space.
    owner: i64,
    db: Mutex<Connection>,
    by_key: DashMap<IdKey, i32>,
    by_id: DashMap<i32, IdKey>,
    next: Mutex<i32>,
    retention: Duration,
    /// Ids minted since the last pruning of old rows.
    minted: std::sync::atomic::AtomicU32,
}

/// Ids cached in memory at most (both ways); past it the cache starts over
/// and the table on disk answers.
const CACHED: usize = 200_000;
/// Old rows are deleted every this many new ids (and at start-up).
const PRUNE_EVERY: u32 = 10_000;

impl std::fmt::Debug for IdTable {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "IdTable({} {})", self.space, self.owner)
    }
}

impl IdTable {
    /// Opens (or creates) the space of `owner` in the SQLite file `path`
    /// (`:memory:`: this run only), forgetting rows older than `retention`.
    ///
    /// # Errors
    /// The store cannot be opened or prepared: the message names the file.
    pub fn open(
        path: &str,
        space: &'static str,
        owner: i64,
        retention: Duration,
    ) -> Result<Self, String> {
        let error = |e: rusqlite::Error| format!("{space} {owner} id store {path}: {e}");
        let db = Connection::open(path).map_err(error)?;
        db.execute_batch(
            "PRAGMA journal_mode=WAL; PRAGMA synchronous=NORMAL;
             CREATE TABLE IF NOT EXISTS message_ids(space TEXT NOT NULL, owner INTEGER NOT NULL,
               id INTEGER NOT NULL, k1 INTEGER NOT NULL, k2 INTEGER NOT NULL, k3 INTEGER NOT NULL,
               at INTEGER NOT NULL, PRIMARY KEY(space, owner, id));
             CREATE INDEX IF NOT EXISTS message_ids_key ON message_ids(space, owner, k1, k2, k3);",
        )
        .map_err(error)?;
        let cutoff = super::links::unix_ms() / 1000 - retention.as_secs() as i64;
        db.execute(
            "DELETE FROM message_ids WHERE space=?1 AND owner=?2 AND at<?3",
            params![space, owner, cutoff],
        )
        .map_err(error)?;
        let last: Option<i32> = db
            .query_row(
                "SELECT id FROM message_ids WHERE space=?1 AND owner=?2 ORDER BY at DESC, rowid DESC LIMIT 1",
                params![space, owner],
                |r| r.get(0),
            )
            .optional()
            .map_err(error)?;
        Ok(Self {
            space,
            owner,
            db: Mutex::new(db),
            by_key: DashMap::new(),
            by_id: DashMap::new(),
            next: Mutex::new(last.map_or(1, next_id)),
            retention,
            minted: std::sync::atomic::AtomicU32::new(0),
        })
    }

    /// The id of `key`, minted on first sight.
    pub fn id(&self, key: IdKey) -> i32 {
        if let Some(id) = self.by_key.get(&key) {
            return *id;
        }
        let db = self.db.lock().expect("id table poisoned");
        let stored: Option<i32> = db
            .query_row(
                "SELECT id FROM message_ids WHERE space=?1 AND owner=?2 AND k1=?3 AND k2=?4 AND k3=?5",
                params![self.space, self.owner, key.0, key.1, key.2],
                |r| r.get(0),
            )
            .optional()
            .unwrap_or(None);
        let id = match stored {
            Some(id) => id,
            None => {
                let mut next = self.next.lock().expect("id table poisoned");
                let id = *next;
                *next = next_id(id);
                let at = super::links::unix_ms() / 1000;
                // A reused id (after 2^31 messages) replaces the oldest mapping.
                if let Err(e) = db.execute(
                    "INSERT OR REPLACE INTO message_ids(space, owner, id, k1, k2, k3, at) VALUES(?1,?2,?3,?4,?5,?6,?7)",
                    params![self.space, self.owner, id, key.0, key.1, key.2, at],
                ) {
                    tracing::warn!(space = self.space, owner = self.owner, error = %e, "message id not saved; it lasts until restart");
                }
                if let Some((_, old)) = self.by_id.remove(&id) {
                    self.by_key.remove(&old);
                }
                let minted = self
                    .minted
                    .fetch_add(1, std::sync::atomic::Ordering::Relaxed)
                    + 1;
                if minted % PRUNE_EVERY == 0 {
                    let cutoff = at - self.retention.as_secs() as i64;
                    if let Err(e) = db.execute(
                        "DELETE FROM message_ids WHERE space=?1 AND owner=?2 AND at<?3",
                        params![self.space, self.owner, cutoff],
                    ) {
                        tracing::warn!(space = self.space, owner = self.owner, error = %e, "old message ids not pruned");
                    }
                }
                id
            }
        };
        self.remember(key, id);
        id
    }

    fn remember(&self, key: IdKey, id: i32) {
        if self.by_id.len() >= CACHED {
            self.by_id.clear();
            self.by_key.clear();
        }
        self.by_key.insert(key, id);
        self.by_id.insert(id, key);
    }

    /// What id `id` stands for, if it was minted here (and not forgotten).
    pub fn key(&self, id: i64) -> Option<IdKey> {
        let id = i32::try_from(id).ok()?;
        if let Some(hit) = self.by_id.get(&id) {
            return Some(*hit);
        }
        let db = self.db.lock().expect("id table poisoned");
        let key: IdKey = db
            .query_row(
                "SELECT k1, k2, k3 FROM message_ids WHERE space=?1 AND owner=?2 AND id=?3",
                params![self.space, self.owner, id],
                |r| Ok((r.get(0)?, r.get(1)?, r.get(2)?)),
            )
            .optional()
            .ok()
            .flatten()?;
        self.remember(key, id);
        Some(key)
    }
}

/// The id after `id`: int32 ids wrap to 1.
fn next_id(id: i32) -> i32 {
    id.checked_add(1).unwrap_or(1)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn ids_survive_a_reopen_and_spaces_do_not_mix() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("ids.db");
        let path = path.to_str().unwrap();
        let day = Duration::from_secs(86_400);
        let a = IdTable::open(path, "milky", 7, day).unwrap();
        let first = a.id((2, 100, 5));
        assert_eq!(a.id((2, 100, 5)), first, "one id per key");
        let second = a.id((2, 100, 6));
        assert_ne!(first, second);
        drop(a);
        let a = IdTable::open(path, "milky", 7, day).unwrap();
        assert_eq!(a.key(i64::from(first)), Some((2, 100, 5)));
        assert_eq!(a.id((2, 100, 6)), second);
        assert!(
            a.id((2, 100, 7)) > second,
            "new ids continue after the stored ones"
        );
        let b = IdTable::open(path, "pool", 7, day).unwrap();
        assert_eq!(
            b.key(i64::from(first)),
            None,
            "another space does not see them"
        );
        assert_eq!(a.key(i64::from(i32::MAX) + 1), None);
    }
}
