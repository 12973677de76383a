//! The SQLite store (WAL) holding the whole world, and [`Ctx`], the view one
//! operation of one bot has of it (inside a transaction), with the lookups
//! every action shares.

use rusqlite::{params, Connection, OptionalExtension};
use serde_json::{json, Value};

use super::params::{Fail, Out};
use super::world::World;

/// Bumped when the schema changes incompatibly.
const SCHEMA_VERSION: i64 = 1;

const SCHEMA: &str = r#"
CREATE TABLE IF NOT EXISTS bots(
  self_id INTEGER PRIMARY KEY, nickname TEXT NOT NULL, longnick TEXT NOT NULL DEFAULT '',
  sex TEXT NOT NULL DEFAULT 'unknown', age INTEGER NOT NULL DEFAULT 0,
  status INTEGER NOT NULL DEFAULT 10, ext_status INTEGER NOT NULL DEFAULT 0,
  battery_status INTEGER NOT NULL DEFAULT 100);
CREATE TABLE IF NOT EXISTS people(
  user_id INTEGER PRIMARY KEY, nickname TEXT NOT NULL, sex TEXT NOT NULL DEFAULT 'unknown',
  age INTEGER NOT NULL DEFAULT 0, area TEXT NOT NULL DEFAULT '', level INTEGER NOT NULL DEFAULT 1);
CREATE TABLE IF NOT EXISTS categories(
  self_id INTEGER NOT NULL, category_id INTEGER NOT NULL, name TEXT NOT NULL,
  PRIMARY KEY(self_id, category_id));
CREATE TABLE IF NOT EXISTS friends(
  self_id INTEGER NOT NULL, user_id INTEGER NOT NULL, remark TEXT NOT NULL DEFAULT '',
  category_id INTEGER NOT NULL DEFAULT 0, PRIMARY KEY(self_id, user_id));
CREATE TABLE IF NOT EXISTS groups(
  self_id INTEGER NOT NULL, group_id INTEGER NOT NULL, name TEXT NOT NULL,
  max_member_count INTEGER NOT NULL DEFAULT 200, whole_ban INTEGER NOT NULL DEFAULT 0,
  anonymous INTEGER NOT NULL DEFAULT 1, avatar TEXT NOT NULL DEFAULT '',
  create_time INTEGER NOT NULL DEFAULT 0, at_all_day INTEGER NOT NULL DEFAULT 0,
  at_all_used INTEGER NOT NULL DEFAULT 0, PRIMARY KEY(self_id, group_id));
CREATE TABLE IF NOT EXISTS members(
  self_id INTEGER NOT NULL, group_id INTEGER NOT NULL, user_id INTEGER NOT NULL,
  card TEXT NOT NULL DEFAULT '', role TEXT NOT NULL DEFAULT 'member', title TEXT NOT NULL DEFAULT '',
  level INTEGER NOT NULL DEFAULT 1, join_time INTEGER NOT NULL DEFAULT 0,
  last_sent_time INTEGER NOT NULL DEFAULT 0, ban_until INTEGER NOT NULL DEFAULT 0,
  PRIMARY KEY(self_id, group_id, user_id));
CREATE TABLE IF NOT EXISTS group_blocklist(
  self_id INTEGER NOT NULL, group_id INTEGER NOT NULL, user_id INTEGER NOT NULL,
  PRIMARY KEY(self_id, group_id, user_id));
CREATE TABLE IF NOT EXISTS counters(
  self_id INTEGER NOT NULL, name TEXT NOT NULL, value INTEGER NOT NULL,
  PRIMARY KEY(self_id, name));
CREATE TABLE IF NOT EXISTS messages(
  self_id INTEGER NOT NULL, message_id INTEGER NOT NULL, message_type TEXT NOT NULL,
  sub_type TEXT NOT NULL, group_id INTEGER, peer_id INTEGER NOT NULL, user_id INTEGER NOT NULL,
  time INTEGER NOT NULL, message TEXT NOT NULL, raw_message TEXT NOT NULL, sender TEXT NOT NULL,
  anonymous TEXT, font INTEGER NOT NULL DEFAULT 0, recalled INTEGER NOT NULL DEFAULT 0,
  PRIMARY KEY(self_id, message_id));
CREATE INDEX IF NOT EXISTS messages_by_chat ON messages(self_id, message_type, peer_id, message_id);
CREATE TABLE IF NOT EXISTS media(
  self_id INTEGER NOT NULL, kind TEXT NOT NULL, file TEXT NOT NULL, url TEXT NOT NULL,
  size INTEGER NOT NULL, message_id INTEGER NOT NULL, PRIMARY KEY(self_id, kind, file));
CREATE TABLE IF NOT EXISTS forwards(
  self_id INTEGER NOT NULL, forward_id TEXT NOT NULL, nodes TEXT NOT NULL, time INTEGER NOT NULL,
  PRIMARY KEY(self_id, forward_id));
CREATE TABLE IF NOT EXISTS essence(
  self_id INTEGER NOT NULL, message_id INTEGER NOT NULL, group_id INTEGER NOT NULL,
  operator_id INTEGER NOT NULL, operator_time INTEGER NOT NULL, PRIMARY KEY(self_id, message_id));
CREATE TABLE IF NOT EXISTS emoji_likes(
  self_id INTEGER NOT NULL, message_id INTEGER NOT NULL, emoji_id TEXT NOT NULL,
  user_id INTEGER NOT NULL, time INTEGER NOT NULL,
  PRIMARY KEY(self_id, message_id, emoji_id, user_id));
CREATE TABLE IF NOT EXISTS folders(
  self_id INTEGER NOT NULL, group_id INTEGER NOT NULL, folder_id TEXT NOT NULL, name TEXT NOT NULL,
  parent TEXT NOT NULL DEFAULT '/', create_time INTEGER NOT NULL, creator INTEGER NOT NULL,
  PRIMARY KEY(self_id, group_id, folder_id));
CREATE TABLE IF NOT EXISTS files(
  self_id INTEGER NOT NULL, group_id INTEGER NOT NULL, file_id TEXT NOT NULL, folder_id TEXT NOT NULL,
  name TEXT NOT NULL, size INTEGER NOT NULL, busid INTEGER NOT NULL, upload_time INTEGER NOT NULL,
  modify_time INTEGER NOT NULL, uploader INTEGER NOT NULL, download_times INTEGER NOT NULL DEFAULT 0,
  PRIMARY KEY(self_id, group_id, file_id));
CREATE TABLE IF NOT EXISTS group_notices(
  self_id INTEGER NOT NULL, group_id INTEGER NOT NULL, notice_id TEXT NOT NULL,
  sender_id INTEGER NOT NULL, publish_time INTEGER NOT NULL, content TEXT NOT NULL,
  image TEXT NOT NULL DEFAULT '', PRIMARY KEY(self_id, group_id, notice_id));
CREATE TABLE IF NOT EXISTS requests(
  self_id INTEGER NOT NULL, request_id INTEGER NOT NULL, flag TEXT NOT NULL,
  request_type TEXT NOT NULL, sub_type TEXT NOT NULL, group_id INTEGER NOT NULL DEFAULT 0,
  user_id INTEGER NOT NULL, comment TEXT NOT NULL, time INTEGER NOT NULL,
  state TEXT NOT NULL DEFAULT 'pending', actor INTEGER NOT NULL DEFAULT 0,
  PRIMARY KEY(self_id, flag));
CREATE TABLE IF NOT EXISTS collections(
  self_id INTEGER NOT NULL, collection_id INTEGER NOT NULL, raw_data TEXT NOT NULL,
  brief TEXT NOT NULL, category INTEGER NOT NULL, time INTEGER NOT NULL,
  PRIMARY KEY(self_id, collection_id));
CREATE TABLE IF NOT EXISTS custom_faces(
  self_id INTEGER NOT NULL, position INTEGER NOT NULL, url TEXT NOT NULL,
  PRIMARY KEY(self_id, position));
CREATE TABLE IF NOT EXISTS likes(
  self_id INTEGER NOT NULL, direction TEXT NOT NULL, user_id INTEGER NOT NULL, day INTEGER NOT NULL,
  times INTEGER NOT NULL, last_time INTEGER NOT NULL, PRIMARY KEY(self_id, direction, user_id, day));
CREATE TABLE IF NOT EXISTS reads(
  self_id INTEGER NOT NULL, chat_type TEXT NOT NULL, peer_id INTEGER NOT NULL,
  message_id INTEGER NOT NULL, PRIMARY KEY(self_id, chat_type, peer_id));
"#;

/// Opens the store at `path` (`:memory:` for a throwaway one), creates the
/// schema and seeds every bot of `world` that the store does not have yet.
///
/// # Errors
/// A message naming the cause (not a database, read-only, schema too new).
pub fn open(path: &str, world: &World) -> Result<Connection, String> {
    if path.trim().is_empty() {
        return Err("the store path is empty (use \":memory:\" for a throwaway store)".into());
    }
    let conn = if path == ":memory:" {
        Connection::open_in_memory()
    } else {
        Connection::open(path)
    }
    .map_err(|e| {
        let mut reason = e.to_string();
        if reason.contains("unable to open") {
            reason.push_str(" (does its directory exist, and may this user write there?)");
        }
        reason
    })?;
    conn.busy_timeout(std::time::Duration::from_secs(5))
        .map_err(|e| e.to_string())?;
    if path != ":memory:" {
        // The first statement touches the file: a non-database fails here.
        let mode: String = conn
            .query_row("PRAGMA journal_mode=WAL", [], |r| r.get(0))
            .map_err(|e| e.to_string())?;
        if !mode.eq_ignore_ascii_case("wal") {
            return Err(format!("cannot switch to WAL journal (got `{mode}`)"));
        }
        // WAL + NORMAL: a crash cannot corrupt the store; only the last
        // commits before a power loss may be lost.
        conn.execute_batch("PRAGMA synchronous=NORMAL")
            .map_err(|e| e.to_string())?;
        let check: String = conn
            .query_row("PRAGMA quick_check", [], |r| r.get(0))
            .map_err(|e| e.to_string())?;
        if check != "ok" {
            return Err(format!("database is damaged: {check}"));
        }
    }
    let version: i64 = conn
        .query_row("PRAGMA user_version", [], |r| r.get(0))
        .map_err(|e| e.to_string())?;
    if version > SCHEMA_VERSION {
        return Err(format!(
            "store schema version {version} is newer than this program's ({SCHEMA_VERSION})"
        ));
    }
    conn.execute_batch(SCHEMA).map_err(|e| e.to_string())?;
    conn.execute_batch(&format!("PRAGMA user_version = {SCHEMA_VERSION}"))
        .map_err(|e| e.to_string())?;
    seed(&conn, world).map_err(|e| e.to_string())?;
    Ok(conn)
}

/// Adds the bots of `world` the store does not know yet (and their people).
fn seed(conn: &Connection, world: &World) -> rusqlite::Result<()> {
    let tx = conn.unchecked_transaction()?;
    let now = now();
    for p in &world.people {
        tx.execute(
            "INSERT OR IGNORE INTO people(user_id, nickname, sex, age, area, level) VALUES(?1,?2,?3,?4,?5,?6)",
            params![p.user_id, p.nickname, p.sex, p.age, p.area, p.level],
        )?;
    }
    for b in &world.bots {
        let known: bool = tx
            .query_row("SELECT 1 FROM bots WHERE self_id=?1", [b.self_id], |_| {
                Ok(true)
            })
            .optional()?
            .unwrap_or(false);
        if known {
            continue;
        }
        tx.execute(
            "INSERT INTO bots(self_id, nickname, longnick, sex, age) VALUES(?1,?2,?3,?4,?5)",
            params![b.self_id, b.nickname, b.longnick, b.sex, b.age],
        )?;
        tx.execute(
            "INSERT OR IGNORE INTO categories(self_id, category_id, name) VALUES(?1, 0, 'My Friends')",
            [b.self_id],
        )?;
        for c in &b.categories {
            tx.execute(
                "INSERT OR REPLACE INTO categories(self_id, category_id, name) VALUES(?1,?2,?3)",
                params![b.self_id, c.id, c.name],
            )?;
        }
        for f in &b.friends {
            ensure_person(&tx, f.user_id)?;
            tx.execute(
                "INSERT INTO friends(self_id, user_id, remark, category_id) VALUES(?1,?2,?3,?4)",
                params![b.self_id, f.user_id, f.remark, f.category],
            )?;
        }
        for g in &b.groups {
            tx.execute(
                "INSERT INTO groups(self_id, group_id, name, max_member_count, create_time) VALUES(?1,?2,?3,?4,?5)",
                params![b.self_id, g.group_id, g.name, g.max_member_count, now],
            )?;
            tx.execute(
                "INSERT INTO members(self_id, group_id, user_id, card, role, level, join_time) VALUES(?1,?2,?1,?3,?4,1,?5)",
                params![b.self_id, g.group_id, g.card, g.role, now],
            )?;
            for m in &g.members {
                ensure_person(&tx, m.user_id)?;
                tx.execute(
                    "INSERT INTO members(self_id, group_id, user_id, card, role, title, level, join_time) VALUES(?1,?2,?3,?4,?5,?6,?7,?8)",
                    params![b.self_id, g.group_id, m.user_id, m.card, m.role, m.title, m.level, now],
                )?;
            }
        }
        for (i, url) in b.custom_faces.iter().enumerate() {
            tx.execute(
                "INSERT INTO custom_faces(self_id, position, url) VALUES(?1,?2,?3)",
                params![b.self_id, i as i64, url],
            )?;
        }
    }
    tx.commit()
}

fn ensure_person(conn: &Connection, user_id: i64) -> rusqlite::Result<()> {
    conn.execute(
        "INSERT OR IGNORE INTO people(user_id, nickname) VALUES(?1, ?2)",
        params![user_id, format!("user{user_id}")],
    )?;
    Ok(())
}

/// The ids of the bots in the store.
pub fn bot_ids(conn: &Connection) -> rusqlite::Result<Vec<i64>> {
    let mut stmt = conn.prepare("SELECT self_id FROM bots ORDER BY self_id")?;
    let ids = stmt.query_map([], |r| r.get(0))?.collect();
    ids
}

/// Unix seconds now.
pub fn now() -> i64 {
    std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map(|d| d.as_secs() as i64)
        .unwrap_or_default()
}

/// A person's `(nickname, sex, age, area, level)`.
pub type PersonInfo = (String, String, i64, String, i64);

/// A member's role, ordered by power.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord)]
pub enum MemberRole {
    /// `member`
    Member,
    /// `admin`
    Admin,
    /// `owner`
    Owner,
}

impl MemberRole {
    /// Parses the stored role.
    pub fn parse(s: &str) -> Self {
        match s {
            "owner" => Self::Owner,
            "admin" => Self::Admin,
            _ => Self::Member,
        }
    }

    /// The wire name.
    pub fn as_str(self) -> &'static str {
        match self {
            Self::Owner => "owner",
            Self::Admin => "admin",
            Self::Member => "member",
        }
    }
}

/// A group as stored.
#[derive(Debug, Clone)]
pub struct GroupRow {
    /// Group number.
    pub group_id: i64,
    /// Name.
    pub name: String,
    /// Capacity.
    pub max_member_count: i64,
    /// Whole-group mute.
    pub whole_ban: bool,
    /// Anonymous chat allowed.
    pub anonymous: bool,
    /// Avatar file (set_group_portrait).
    pub avatar: String,
    /// Creation time.
    pub create_time: i64,
}

/// A group member as stored.
#[derive(Debug, Clone)]
pub struct MemberRow {
    /// QQ number.
    pub user_id: i64,
    /// Card.
    pub card: String,
    /// Role.
    pub role: MemberRole,
    /// Special title.
    pub title: String,
    /// Level.
    pub level: i64,
    /// Join time.
    pub join_time: i64,
    /// Last message time.
    pub last_sent_time: i64,
    /// Muted until (unix seconds, 0 = not muted).
    pub ban_until: i64,
}

/// A stored message.
#[derive(Debug, Clone)]
pub struct MsgRow {
    /// Message id (also its real id and sequence).
    pub message_id: i64,
    /// `private` or `group`.
    pub message_type: String,
    /// `friend`/`group`/`normal`/`anonymous`.
    pub sub_type: String,
    /// The group, for group messages.
    pub group_id: Option<i64>,
    /// The other party of a private chat, or the group.
    pub peer_id: i64,
    /// The sender.
    pub user_id: i64,
    /// Unix seconds.
    pub time: i64,
    /// Segment array.
    pub message: Value,
    /// CQ string.
    pub raw_message: String,
    /// Sender object as seen when it was sent.
    pub sender: Value,
    /// Anonymous object (or null).
    pub anonymous: Value,
    /// Font.
    pub font: i64,
    /// Recalled.
    pub recalled: bool,
}

impl MsgRow {
    /// The `get_msg` shape.
    pub fn to_json(&self, self_id: i64) -> Value {
        let mut v = json!({
            "self_id": self_id,
            "time": self.time,
            "message_type": self.message_type,
            "sub_type": self.sub_type,
            "message_id": self.message_id,
            "real_id": self.message_id,
            "message_seq": self.message_id,
            "user_id": self.user_id,
            "sender": self.sender,
            "message": self.message,
            "raw_message": self.raw_message,
            "font": self.font,
        });
        if let Some(g) = self.group_id {
            v["group_id"] = json!(g);
            v["anonymous"] = self.anonymous.clone();
        } else if self.user_id == self_id {
            v["target_id"] = json!(self.peer_id);
        }
        v
    }
}

const MSG_COLUMNS: &str = "message_id, message_type, sub_type, group_id, peer_id, user_id, time, message, raw_message, sender, anonymous, font, recalled";

fn msg_from_row(r: &rusqlite::Row<'_>) -> rusqlite::Result<MsgRow> {
    let parse = |s: Option<String>| {
        s.and_then(|s| serde_json::from_str(&s).ok())
            .unwrap_or(Value::Null)
    };
    Ok(MsgRow {
        message_id: r.get(0)?,
        message_type: r.get(1)?,
        sub_type: r.get(2)?,
        group_id: r.get(3)?,
        peer_id: r.get(4)?,
        user_id: r.get(5)?,
        time: r.get(6)?,
        message: parse(r.get(7)?),
        raw_message: r.get(8)?,
        sender: parse(r.get(9)?),
        anonymous: parse(r.get(10)?),
        font: r.get(11)?,
        recalled: r.get::<_, i64>(12)? != 0,
    })
}

/// One operation of one bot on the store, inside a transaction; events are
/// collected and published by the caller after the commit.
pub struct Ctx<'a> {
    /// The connection (a transaction is open on it).
    pub db: &'a Connection,
    /// The bot.
    pub self_id: i64,
    /// Unix seconds at the start of the operation.
    pub now: i64,
    /// Events to publish once the operation committed.
    pub events: Vec<Value>,
    /// Where local files may be read.
    pub files: &'a FilesDir,
}

impl<'a> Ctx<'a> {
    /// A context for `self_id` at the current time.
    pub fn new(db: &'a Connection, self_id: i64, files: &'a FilesDir) -> Self {
        Self {
            db,
            self_id,
            now: now(),
            events: Vec::new(),
            files,
        }
    }

    /// Queues an event, filling `time` and `self_id`.
    pub fn push(&mut self, mut event: Value) {
        if let Some(obj) = event.as_object_mut() {
            obj.entry("time").or_insert(json!(self.now));
            obj.entry("self_id").or_insert(json!(self.self_id));
        }
        self.events.push(event);
    }

    /// Queues a notice of `notice_type` with the given fields.
    pub fn notice(&mut self, notice_type: &str, fields: Value) {
        let mut ev = json!({"post_type": "notice", "notice_type": notice_type});
        if let (Some(o), Value::Object(f)) = (ev.as_object_mut(), fields) {
            o.extend(f);
        }
        self.push(ev);
    }

    /// Increments the named counter and returns its new value.
    pub fn next(&self, name: &str) -> Out<i64> {
        self.add(name, 1)
    }

    /// Adds `n` to the named counter and returns its new value.
    pub fn add(&self, name: &str, n: i64) -> Out<i64> {
        Ok(self.db.query_row(
            "INSERT INTO counters(self_id, name, value) VALUES(?1, ?2, ?3)
             ON CONFLICT(self_id, name) DO UPDATE SET value = value + ?3 RETURNING value",
            params![self.self_id, name, n],
            |r| r.get(0),
        )?)
    }

    /// The named counter (0 when never set).
    pub fn counter(&self, name: &str) -> Out<i64> {
        Ok(self
            .db
            .query_row(
                "SELECT value FROM counters WHERE self_id=?1 AND name=?2",
                params![self.self_id, name],
                |r| r.get(0),
            )
            .optional()?
            .unwrap_or(0))
    }

    /// The bot's nickname.
    pub fn bot_nickname(&self) -> Out<String> {
        Ok(self.db.query_row(
            "SELECT nickname FROM bots WHERE self_id=?1",
            [self.self_id],
            |r| r.get(0),
        )?)
    }

    /// A person's `(nickname, sex, age, area, level)`; the bot answers for itself.
    pub fn person(&self, user_id: i64) -> Out<Option<PersonInfo>> {
        if user_id == self.self_id {
            return Ok(self
                .db
                .query_row(
                    "SELECT nickname, sex, age FROM bots WHERE self_id=?1",
                    [user_id],
                    |r| Ok((r.get(0)?, r.get(1)?, r.get(2)?, String::new(), 64)),
                )
                .optional()?);
        }
        Ok(self
            .db
            .query_row(
                "SELECT nickname, sex, age, area, level FROM people WHERE user_id=?1",
                [user_id],
                |r| Ok((r.get(0)?, r.get(1)?, r.get(2)?, r.get(3)?, r.get(4)?)),
            )
            .optional()?)
    }

    /// A person's nickname (`user<id>` for someone the world does not know).
    pub fn nickname(&self, user_id: i64) -> Out<String> {
        Ok(self
            .person(user_id)?
            .map(|p| p.0)
            .unwrap_or_else(|| format!("user{user_id}")))
    }

    /// A known person, or `unknown user N`.
    pub fn known_person(&self, user_id: i64) -> Out<PersonInfo> {
        self.person(user_id)?
            .ok_or_else(|| Fail::unknown("user", user_id))
    }

    /// Makes sure someone exists (the injection API may name anyone).
    pub fn ensure_person(&self, user_id: i64) -> Out<()> {
        if user_id != self.self_id {
            ensure_person(self.db, user_id)?;
        }
        Ok(())
    }

    /// True when `user_id` is a friend of the bot.
    pub fn is_friend(&self, user_id: i64) -> Out<bool> {
        Ok(self
            .db
            .query_row(
                "SELECT 1 FROM friends WHERE self_id=?1 AND user_id=?2",
                params![self.self_id, user_id],
                |_| Ok(()),
            )
            .optional()?
            .is_some())
    }

    /// A group of the bot, or `unknown group N`.
    pub fn group(&self, group_id: i64) -> Out<GroupRow> {
        self.db
            .query_row(
                "SELECT group_id, name, max_member_count, whole_ban, anonymous, avatar, create_time
                 FROM groups WHERE self_id=?1 AND group_id=?2",
                params![self.self_id, group_id],
                |r| {
                    Ok(GroupRow {
                        group_id: r.get(0)?,
                        name: r.get(1)?,
                        max_member_count: r.get(2)?,
                        whole_ban: r.get::<_, i64>(3)? != 0,
                        anonymous: r.get::<_, i64>(4)? != 0,
                        avatar: r.get(5)?,
                        create_time: r.get(6)?,
                    })
                },
            )
            .optional()?
            .ok_or_else(|| Fail::unknown("group", group_id))
    }

    /// A member of a group, if they are one.
    pub fn member(&self, group_id: i64, user_id: i64) -> Out<Option<MemberRow>> {
        Ok(self
            .db
            .query_row(
                "SELECT user_id, card, role, title, level, join_time, last_sent_time, ban_until
                 FROM members WHERE self_id=?1 AND group_id=?2 AND user_id=?3",
                params![self.self_id, group_id, user_id],
                member_from_row,
            )
            .optional()?)
    }

    /// A member, or `unknown member N of group G`.
    pub fn member_req(&self, group_id: i64, user_id: i64) -> Out<MemberRow> {
        self.member(group_id, user_id)?.ok_or_else(|| Fail {
            retcode: crate::protocol::retcode::NOT_FOUND,
            message: format!("unknown member {user_id} of group {group_id}"),
        })
    }

    /// All members of a group, by join order then id.
    pub fn members(&self, group_id: i64) -> Out<Vec<MemberRow>> {
        let mut stmt = self.db.prepare(
            "SELECT user_id, card, role, title, level, join_time, last_sent_time, ban_until
             FROM members WHERE self_id=?1 AND group_id=?2 ORDER BY join_time, user_id",
        )?;
        let rows = stmt
            .query_map(params![self.self_id, group_id], member_from_row)?
            .collect::<Result<Vec<_>, _>>()?;
        Ok(rows)
    }

    /// The bot's role in a (known) group.
    pub fn bot_role(&self, group_id: i64) -> Out<MemberRole> {
        self.group(group_id)?;
        Ok(self
            .member(group_id, self.self_id)?
            .map(|m| m.role)
            .unwrap_or(MemberRole::Member))
    }

    /// Fails with 1403 unless the bot is at least `min` in the group.
    pub fn require_role(&self, group_id: i64, min: MemberRole, what: &str) -> Out<MemberRole> {
        let role = self.bot_role(group_id)?;
        if role < min {
            return Err(Fail::forbidden(format!(
                "{what} needs the bot to be {} of group {group_id} (it is {})",
                if min == MemberRole::Owner {
                    "the owner"
                } else {
                    "an admin or the owner"
                },
                role.as_str()
            )));
        }
        Ok(role)
    }

    /// Fails with 1403 unless the bot outranks `user_id` in the group.
    pub fn require_outrank(&self, group_id: i64, user_id: i64, what: &str) -> Out<MemberRow> {
        let target = self.member_req(group_id, user_id)?;
        if user_id == self.self_id {
            return Err(Fail::forbidden(format!(
                "{what}: the bot cannot do this to itself"
            )));
        }
        let role = self.require_role(group_id, MemberRole::Admin, what)?;
        if target.role >= role {
            return Err(Fail::forbidden(format!(
                "{what}: {user_id} is {} of group {group_id}, the bot is only {}",
                target.role.as_str(),
                role.as_str()
            )));
        }
        Ok(target)
    }

    /// The `sender` object of `user_id` in a group (or a private chat).
    pub fn sender(&self, group_id: Option<i64>, user_id: i64) -> Out<Value> {
        let (nickname, sex, age, area, level) = self.person(user_id)?.unwrap_or_else(|| {
            (
                format!("user{user_id}"),
                "unknown".into(),
                0,
                String::new(),
                1,
            )
        });
        let mut s = json!({"user_id": user_id, "nickname": nickname, "sex": sex, "age": age});
        if let Some(g) = group_id {
            let m = self.member(g, user_id)?;
            s["card"] = json!(m.as_ref().map(|m| m.card.clone()).unwrap_or_default());
            s["area"] = json!(area);
            s["level"] = json!(m.as_ref().map(|m| m.level).unwrap_or(level).to_string());
            s["role"] = json!(m
                .as_ref()
                .map(|m| m.role)
                .unwrap_or(MemberRole::Member)
                .as_str());
            s["title"] = json!(m.map(|m| m.title).unwrap_or_default());
        } else {
            s["card"] = json!("");
        }
        Ok(s)
    }

    /// A stored message, or `unknown message N`.
    pub fn message(&self, message_id: i64) -> Out<MsgRow> {
        self.db
            .query_row(
                &format!("SELECT {MSG_COLUMNS} FROM messages WHERE self_id=?1 AND message_id=?2"),
                params![self.self_id, message_id],
                msg_from_row,
            )
            .optional()?
            .ok_or_else(|| Fail::unknown("message", message_id))
    }

    /// A stored message that has not been recalled.
    pub fn live_message(&self, message_id: i64) -> Out<MsgRow> {
        let m = self.message(message_id)?;
        if m.recalled {
            return Err(Fail {
                retcode: crate::protocol::retcode::NOT_FOUND,
                message: format!("message {message_id} was recalled"),
            });
        }
        Ok(m)
    }

    /// The newest `limit` messages matching `cond`, oldest first.
    pub fn messages_page(
        &self,
        cond: &str,
        args: &[&dyn rusqlite::ToSql],
        limit: i64,
    ) -> Out<Vec<MsgRow>> {
        let sql = format!(
            "SELECT * FROM (SELECT {MSG_COLUMNS} FROM messages WHERE self_id=? AND {cond}
             ORDER BY message_id DESC LIMIT ?) ORDER BY message_id"
        );
        let mut stmt = self.db.prepare(&sql)?;
        let mut all: Vec<&dyn rusqlite::ToSql> = vec![&self.self_id];
        all.extend_from_slice(args);
        all.push(&limit);
        let rows = stmt
            .query_map(all.as_slice(), msg_from_row)?
            .collect::<Result<Vec<_>, _>>()?;
        Ok(rows)
    }

    /// Stores a message, returning it with its new id.
    pub fn insert_message(&self, mut m: MsgRow) -> Out<MsgRow> {
        m.message_id = self.next("message_id")?;
        self.db.execute(
            "INSERT INTO messages(self_id, message_id, message_type, sub_type, group_id, peer_id, user_id,
              time, message, raw_message, sender, anonymous, font)
             VALUES(?1,?2,?3,?4,?5,?6,?7,?8,?9,?10,?11,?12,?13)",
            params![
                self.self_id,
                m.message_id,
                m.message_type,
                m.sub_type,
                m.group_id,
                m.peer_id,
                m.user_id,
                m.time,
                m.message.to_string(),
                m.raw_message,
                m.sender.to_string(),
                if m.anonymous.is_null() { None } else { Some(m.anonymous.to_string()) },
                m.font,
            ],
        )?;
        // Remember media so get_image / get_record can find them.
        if let Some(segs) = m.message.as_array() {
            for seg in segs {
                let kind = seg.get("type").and_then(Value::as_str).unwrap_or("");
                if !matches!(kind, "image" | "record" | "video") {
                    continue;
                }
                let data = seg.get("data").cloned().unwrap_or(Value::Null);
                let file = data.get("file").and_then(seg_str).unwrap_or_default();
                if file.is_empty() {
                    continue;
                }
                let url = data
                    .get("url")
                    .and_then(seg_str)
                    .unwrap_or_else(|| media_url(kind, &file));
                self.db.execute(
                    "INSERT OR REPLACE INTO media(self_id, kind, file, url, size, message_id) VALUES(?1,?2,?3,?4,?5,?6)",
                    params![self.self_id, kind, file, url, self.files.media_size(&file)?, m.message_id],
                )?;
            }
        }
        if let Some(g) = m.group_id {
            self.db.execute(
                "UPDATE members SET last_sent_time=?4 WHERE self_id=?1 AND group_id=?2 AND user_id=?3",
                params![self.self_id, g, m.user_id, m.time],
            )?;
        }
        Ok(m)
    }
}

fn member_from_row(r: &rusqlite::Row<'_>) -> rusqlite::Result<MemberRow> {
    Ok(MemberRow {
        user_id: r.get(0)?,
        card: r.get(1)?,
        role: MemberRole::parse(&r.get::<_, String>(2)?),
        title: r.get(3)?,
        level: r.get(4)?,
        join_time: r.get(5)?,
        last_sent_time: r.get(6)?,
        ban_until: r.get(7)?,
    })
}

/// A segment data value as a string (strings as is, numbers in decimal).
pub fn seg_str(v: &Value) -> Option<String> {
    match v {
        Value::String(s) => Some(s.clone()),
        Value::Number(n) => Some(n.to_string()),
        _ => None,
    }
}

/// The sandbox URL of a media file.
pub fn media_url(kind: &str, file: &str) -> String {
    if file.starts_with("http://") || file.starts_with("https://") {
        return file.to_owned();
    }
    format!("http://sandbox.invalid/{kind}/{}", file_name(file))
}

/// The last path component of a file reference (or a short name for base64 data).
pub fn file_name(file: &str) -> String {
    if let Some(data) = file.strip_prefix("base64://") {
        return format!("{:016x}", fnv(data.as_bytes()));
    }
    let name = file.rsplit(['/', '\\']).next().unwrap_or(file);
    let name = name.split(['?', '#']).next().unwrap_or(name);
    if name.is_empty() {
        format!("{:016x}", fnv(file.as_bytes()))
    } else {
        name.to_owned()
    }
}

/// The one folder the sandbox reads local files from (`[sandbox] files_dir`):
/// a `file://` URI or a path naming anything outside it is refused, so an
/// action cannot learn about the host's files.
#[derive(Debug, Clone)]
pub struct FilesDir(std::path::PathBuf);

impl FilesDir {
    /// The folder, created if missing and made absolute.
    ///
    /// # Errors
    /// Why it cannot be created or resolved.
    pub fn open(dir: &std::path::Path) -> Result<Self, String> {
        std::fs::create_dir_all(dir)
            .and_then(|()| dir.canonicalize())
            .map(Self)
            .map_err(|e| format!("files_dir {}: {e}", dir.display()))
    }

    /// The folder.
    pub fn path(&self) -> &std::path::Path {
        &self.0
    }

    /// The local file `file` names: `None` for `base64://`, `http(s)://` and
    /// bare names that are no file in the folder (a cached image's name, say).
    ///
    /// # Errors
    /// 1403 for a `file://` URI or path outside the folder.
    pub fn local(&self, file: &str) -> Out<Option<std::path::PathBuf>> {
        use std::path::{Component, Path};
        if ["base64://", "http://", "https://"]
            .iter()
            .any(|p| file.starts_with(p))
        {
            return Ok(None);
        }
        let uri = file.strip_prefix("file://");
        let named = uri.unwrap_or(file);
        let path = Path::new(named);
        let is_path = uri.is_some() || path.is_absolute() || path.components().count() > 1;
        let candidate = self.0.join(path);
        let refused = || {
            Fail {
            retcode: crate::protocol::retcode::FORBIDDEN,
            message: format!(
                "the sandbox reads local files only under {} ([sandbox] files_dir); put the file there, or send base64:// or http(s)://",
                self.0.display()
            ),
        }
        };
        if path.components().any(|c| c == Component::ParentDir) {
            return Err(refused());
        }
        match candidate.canonicalize() {
            Ok(real) if real.starts_with(&self.0) => Ok(Some(real)),
            Ok(_) => Err(refused()),
            // Not there: a path outside the folder is refused all the same.
            Err(_) if is_path && !candidate.starts_with(&self.0) => Err(refused()),
            Err(_) if is_path => Ok(Some(candidate)),
            Err(_) => Ok(None),
        }
    }

    /// The size of a media file: decoded length for base64 data, the real
    /// size of a file in the folder, otherwise a pseudo size from a hash of
    /// the name.
    ///
    /// # Errors
    /// As [`FilesDir::local`].
    pub fn media_size(&self, file: &str) -> Out<i64> {
        use base64::Engine as _;
        if let Some(data) = file.strip_prefix("base64://") {
            return Ok(base64::engine::general_purpose::STANDARD
                .decode(data.trim())
                .map(|d| d.len() as i64)
                .unwrap_or(data.len() as i64 * 3 / 4));
        }
        if let Some(meta) = self.local(file)?.and_then(|p| std::fs::metadata(p).ok()) {
            if meta.is_file() {
                return Ok(meta.len() as i64);
            }
        }
        Ok(1024 + (fnv(file.as_bytes()) % (1 << 20)) as i64)
    }
}

/// FNV-1a, for deterministic pseudo values.
pub fn fnv(bytes: &[u8]) -> u64 {
    let mut h: u64 = 0xcbf2_9ce4_8422_2325;
    for b in bytes {
        h ^= u64::from(*b);
        h = h.wrapping_mul(0x0100_0000_01b3);
    }
    h
}
