//! `onebot-gateway sandbox <command>`: plays the other people in a running
//! gateway's sandbox through its injection API (plain HTTP, a tiny client on
//! `std::net` so the CLI needs no extra dependency).

use std::io::{Read, Write};
use std::net::{TcpStream, ToSocketAddrs};
use std::time::Duration;

use serde_json::{json, Value};

/// The gateway URL the CLI talks to by default.
pub const DEFAULT_URL: &str = "http://127.0.0.1:6700";

/// Which sandbox bot a command acts on.
#[derive(Debug, Clone, clap::Args)]
pub struct BotArg {
    /// The sandbox bot (self_id).
    #[arg(long, default_value_t = 10000)]
    pub bot: i64,
}

/// One thing someone in the sandbox world does.
#[derive(Debug, Clone, clap::Subcommand)]
pub enum SandboxCommand {
    /// Someone sends a message to the bot (a group message with --group).
    Say {
        /// The bot.
        #[command(flatten)]
        bot: BotArg,
        /// The group (omit for a private message).
        #[arg(long)]
        group: Option<i64>,
        /// Who speaks.
        #[arg(long)]
        user: i64,
        /// Send anonymously (groups only).
        #[arg(long)]
        anonymous: bool,
        /// The message: a CQ string, or a JSON segment array.
        message: String,
    },
    /// Someone pokes the bot (or --target) in private or in --group.
    Poke {
        /// The bot.
        #[command(flatten)]
        bot: BotArg,
        /// The group (omit for a private poke).
        #[arg(long)]
        group: Option<i64>,
        /// Who pokes.
        #[arg(long)]
        user: i64,
        /// Who is poked (default: the bot).
        #[arg(long)]
        target: Option<i64>,
    },
    /// A message is recalled (by its sender, or by --operator).
    Recall {
        /// The bot.
        #[command(flatten)]
        bot: BotArg,
        /// The message id.
        message_id: i64,
        /// Who recalls it (default: its sender).
        #[arg(long)]
        operator: Option<i64>,
    },
    /// A group message becomes (or, with --delete, stops being) an essence message.
    Essence {
        /// The bot.
        #[command(flatten)]
        bot: BotArg,
        /// The message id.
        message_id: i64,
        /// Who does it (default: the group owner).
        #[arg(long)]
        operator: Option<i64>,
        /// Remove instead of add.
        #[arg(long)]
        delete: bool,
    },
    /// A member's group card changes.
    Card {
        /// The bot.
        #[command(flatten)]
        bot: BotArg,
        /// The group.
        #[arg(long)]
        group: i64,
        /// The member.
        #[arg(long)]
        user: i64,
        /// The new card ("" to clear).
        card: String,
    },
    /// Someone sends the bot an offline file.
    OfflineFile {
        /// The bot.
        #[command(flatten)]
        bot: BotArg,
        /// The sender.
        #[arg(long)]
        user: i64,
        /// File name.
        #[arg(long)]
        name: String,
        /// Size in bytes.
        #[arg(long)]
        size: i64,
        /// Download URL (default: a sandbox URL).
        #[arg(long)]
        url: Option<String>,
    },
    /// A member uploads a group file.
    GroupUpload {
        /// The bot.
        #[command(flatten)]
        bot: BotArg,
        /// The group.
        #[arg(long)]
        group: i64,
        /// The uploader.
        #[arg(long)]
        user: i64,
        /// File name.
        #[arg(long)]
        name: String,
        /// Size in bytes.
        #[arg(long)]
        size: i64,
    },
    /// Someone joins a group.
    Join {
        /// The bot.
        #[command(flatten)]
        bot: BotArg,
        /// The group.
        #[arg(long)]
        group: i64,
        /// Who joins.
        #[arg(long)]
        user: i64,
    },
    /// Someone leaves a group (or is kicked by --operator).
    Leave {
        /// The bot.
        #[command(flatten)]
        bot: BotArg,
        /// The group.
        #[arg(long)]
        group: i64,
        /// Who leaves.
        #[arg(long)]
        user: i64,
        /// Who kicks them (default: they leave by themselves).
        #[arg(long)]
        operator: Option<i64>,
    },
    /// A member (or the bot) is muted by the group owner or --operator (--duration 0 lifts it).
    Ban {
        /// The bot.
        #[command(flatten)]
        bot: BotArg,
        /// The group.
        #[arg(long)]
        group: i64,
        /// Who is muted (may be the bot).
        #[arg(long)]
        user: i64,
        /// Seconds (0 lifts the mute).
        #[arg(long, default_value_t = 1800)]
        duration: i64,
        /// Who mutes (default: the group owner).
        #[arg(long)]
        operator: Option<i64>,
    },
    /// The group owner makes a member (or the bot) an admin, or with --unset a member again.
    Admin {
        /// The bot.
        #[command(flatten)]
        bot: BotArg,
        /// The group.
        #[arg(long)]
        group: i64,
        /// The member.
        #[arg(long)]
        user: i64,
        /// Take the admin role away.
        #[arg(long)]
        unset: bool,
    },
    /// Someone asks to be the bot's friend.
    FriendRequest {
        /// The bot.
        #[command(flatten)]
        bot: BotArg,
        /// Who asks.
        #[arg(long)]
        user: i64,
        /// The verification message.
        #[arg(long, default_value = "")]
        comment: String,
    },
    /// Someone asks to join a group (or, with --invite, invites the bot).
    GroupRequest {
        /// The bot.
        #[command(flatten)]
        bot: BotArg,
        /// The group.
        #[arg(long)]
        group: i64,
        /// Who asks.
        #[arg(long)]
        user: i64,
        /// The verification message.
        #[arg(long, default_value = "")]
        comment: String,
        /// An invitation of the bot instead of a join request.
        #[arg(long)]
        invite: bool,
    },
    /// Someone likes the bot's profile.
    Like {
        /// The bot.
        #[command(flatten)]
        bot: BotArg,
        /// Who likes.
        #[arg(long)]
        user: i64,
        /// How many times (1-10).
        #[arg(long, default_value_t = 1)]
        times: i64,
    },
    /// Publishes any event JSON as the bot's (time and self_id filled in).
    Event {
        /// The bot.
        #[command(flatten)]
        bot: BotArg,
        /// The event as JSON.
        json: String,
    },
    /// Prints the stored history, newest last.
    Messages {
        /// The bot.
        #[command(flatten)]
        bot: BotArg,
        /// Only this group.
        #[arg(long)]
        group: Option<i64>,
        /// Only this user (the private chat, or their messages in --group).
        #[arg(long)]
        user: Option<i64>,
        /// At most this many.
        #[arg(long, default_value_t = 20)]
        limit: i64,
        /// Print the JSON answer instead of one line per message.
        #[arg(long)]
        json: bool,
    },
}

fn opt(v: Option<i64>) -> Value {
    v.map_or(Value::Null, |v| json!(v))
}

/// Runs one command against the gateway at `url` (e.g. [`DEFAULT_URL`]),
/// printing the answer.
///
/// # Errors
/// The gateway's failure message, or why it could not be reached.
pub fn run(cmd: SandboxCommand, url: &str, token: Option<&str>) -> Result<(), String> {
    use SandboxCommand as C;
    let (bot, route, body) = match cmd {
        C::Say {
            bot,
            group,
            user,
            anonymous,
            message,
        } => {
            let message = match serde_json::from_str::<Value>(&message) {
                Ok(v @ Value::Array(_)) => v,
                _ => Value::String(message),
            };
            (
                bot,
                "say",
                json!({"group_id": opt(group), "user_id": user, "message": message, "anonymous": anonymous}),
            )
        }
        C::Poke {
            bot,
            group,
            user,
            target,
        } => (
            bot,
            "poke",
            json!({"group_id": opt(group), "user_id": user, "target_id": opt(target)}),
        ),
        C::Recall {
            bot,
            message_id,
            operator,
        } => (
            bot,
            "recall",
            json!({"message_id": message_id, "operator_id": opt(operator)}),
        ),
        C::Essence {
            bot,
            message_id,
            operator,
            delete,
        } => (
            bot,
            "essence",
            json!({"message_id": message_id, "operator_id": opt(operator),
                   "sub_type": if delete { "delete" } else { "add" }}),
        ),
        C::Card {
            bot,
            group,
            user,
            card,
        } => (
            bot,
            "card",
            json!({"group_id": group, "user_id": user, "card": card}),
        ),
        C::OfflineFile {
            bot,
            user,
            name,
            size,
            url,
        } => (
            bot,
            "offline_file",
            json!({"user_id": user, "name": name, "size": size, "url": url}),
        ),
        C::GroupUpload {
            bot,
            group,
            user,
            name,
            size,
        } => (
            bot,
            "group_upload",
            json!({"group_id": group, "user_id": user, "name": name, "size": size}),
        ),
        C::Join { bot, group, user } => (bot, "join", json!({"group_id": group, "user_id": user})),
        C::Leave {
            bot,
            group,
            user,
            operator,
        } => (
            bot,
            "leave",
            json!({"group_id": group, "user_id": user, "operator_id": opt(operator)}),
        ),
        C::Ban {
            bot,
            group,
            user,
            duration,
            operator,
        } => (
            bot,
            "ban",
            json!({"group_id": group, "user_id": user, "duration": duration, "operator_id": opt(operator)}),
        ),
        C::Admin {
            bot,
            group,
            user,
            unset,
        } => (
            bot,
            "admin",
            json!({"group_id": group, "user_id": user, "enable": !unset}),
        ),
        C::FriendRequest { bot, user, comment } => (
            bot,
            "friend_request",
            json!({"user_id": user, "comment": comment}),
        ),
        C::GroupRequest {
            bot,
            group,
            user,
            comment,
            invite,
        } => (
            bot,
            "group_request",
            json!({"group_id": group, "user_id": user, "comment": comment,
                   "sub_type": if invite { "invite" } else { "add" }}),
        ),
        C::Like { bot, user, times } => (bot, "like", json!({"user_id": user, "times": times})),
        C::Event { bot, json } => {
            let event: Value =
                serde_json::from_str(&json).map_err(|e| format!("the event is not JSON: {e}"))?;
            (bot, "event", event)
        }
        C::Messages {
            bot,
            group,
            user,
            limit,
            json,
        } => {
            let mut path = format!("/sandbox/{}/messages?limit={limit}", bot.bot);
            if let Some(g) = group {
                path.push_str(&format!("&group_id={g}"));
            }
            if let Some(u) = user {
                path.push_str(&format!("&user_id={u}"));
            }
            let data = call(url, "GET", &path, token, None)?;
            if json {
                println!("{data}");
            } else {
                for m in data.as_array().into_iter().flatten() {
                    println!("{}", message_line(m));
                }
            }
            return Ok(());
        }
    };
    let path = format!("/sandbox/{}/{route}", bot.bot);
    let data = call(url, "POST", &path, token, Some(&body.to_string()))?;
    println!("{data}");
    Ok(())
}

/// One line for a stored message: `#id [where] who: text`.
pub fn message_line(m: &Value) -> String {
    let place = match m.get("group_id").and_then(Value::as_i64) {
        Some(g) => format!("group {g}"),
        None => format!("private {}", m["peer_id"]),
    };
    let who = m["sender"]
        .get("card")
        .and_then(Value::as_str)
        .filter(|c| !c.is_empty())
        .or_else(|| m["sender"].get("nickname").and_then(Value::as_str))
        .unwrap_or("?");
    format!(
        "#{} [{place}] {who}({}): {}{}",
        m["message_id"],
        m["user_id"],
        m["raw_message"].as_str().unwrap_or(""),
        if m["recalled"] == json!(true) {
            "  (recalled)"
        } else {
            ""
        }
    )
}

/// Calls the injection API and returns `data`, or the failure message.
///
/// # Errors
/// Connection problems, a non-JSON answer, or the API's `failed` message.
pub fn call(
    base: &str,
    method: &str,
    path: &str,
    token: Option<&str>,
    body: Option<&str>,
) -> Result<Value, String> {
    let (status, text) = http(base, method, path, token, body)?;
    let v: Value = serde_json::from_str(&text)
        .map_err(|_| format!("HTTP {status} from {base}{path}: {}", text.trim()))?;
    if status == 200 && v["status"] == "ok" {
        Ok(v["data"].clone())
    } else {
        let hint = match status {
            401 | 403 => " (pass the listener's token with --token, or its config with --config)",
            _ => "",
        };
        Err(format!(
            "HTTP {status}: {}{hint}",
            v["message"].as_str().unwrap_or(text.trim())
        ))
    }
}

/// A minimal HTTP/1.1 exchange over one connection (plain HTTP only).
///
/// # Errors
/// A message naming what failed (URL, connect, I/O, malformed answer).
pub fn http(
    base: &str,
    method: &str,
    path: &str,
    token: Option<&str>,
    body: Option<&str>,
) -> Result<(u16, String), String> {
    let rest = base
        .strip_prefix("http://")
        .ok_or_else(|| format!("`{base}`: only http:// URLs are supported"))?;
    let (authority, prefix) = rest.split_once('/').map_or((rest, ""), |(a, p)| (a, p));
    let prefix = prefix.trim_end_matches('/');
    let addr = if authority.contains(':') && !authority.ends_with(']') {
        authority.to_owned()
    } else {
        format!("{authority}:80")
    };
    let target = if prefix.is_empty() {
        path.to_owned()
    } else {
        format!("/{prefix}{path}")
    };
    let sock = addr
        .to_socket_addrs()
        .map_err(|e| format!("{addr}: {e}"))?
        .next()
        .ok_or_else(|| format!("{addr}: no address"))?;
    let mut stream = TcpStream::connect_timeout(&sock, Duration::from_secs(10))
        .map_err(|e| format!("cannot connect to {base}: {e}"))?;
    stream
        .set_read_timeout(Some(Duration::from_secs(30)))
        .and_then(|()| stream.set_write_timeout(Some(Duration::from_secs(30))))
        .map_err(|e| e.to_string())?;
    let mut req = format!(
        "{method} {target} HTTP/1.1\r\nHost: {authority}\r\nConnection: close\r\nAccept: application/json\r\nUser-Agent: onebot-gateway-cli\r\n"
    );
    if let Some(t) = token {
        req.push_str(&format!("Authorization: Bearer {t}\r\n"));
    }
    let body = body.unwrap_or("");
    if method != "GET" {
        req.push_str(&format!(
            "Content-Type: application/json\r\nContent-Length: {}\r\n",
            body.len()
        ));
    }
    req.push_str("\r\n");
    req.push_str(body);
    stream
        .write_all(req.as_bytes())
        .map_err(|e| format!("{base}: {e}"))?;
    let mut raw = Vec::new();
    stream
        .read_to_end(&mut raw)
        .map_err(|e| format!("{base}: {e}"))?;
    parse_response(&raw)
}

fn parse_response(raw: &[u8]) -> Result<(u16, String), String> {
    let split = raw
        .windows(4)
        .position(|w| w == b"\r\n\r\n")
        .ok_or("malformed HTTP answer (no header end)")?;
    let head = String::from_utf8_lossy(&raw[..split]);
    let mut body = raw[split + 4..].to_vec();
    let status = head
        .lines()
        .next()
        .and_then(|l| l.split_whitespace().nth(1))
        .and_then(|s| s.parse().ok())
        .ok_or("malformed HTTP status line")?;
    let chunked = head.lines().any(|l| {
        let l = l.to_ascii_lowercase();
        l.starts_with("transfer-encoding:") && l.contains("chunked")
    });
    if chunked {
        body = dechunk(&body)?;
    }
    Ok((status, String::from_utf8_lossy(&body).into_owned()))
}

fn dechunk(mut data: &[u8]) -> Result<Vec<u8>, String> {
    let mut out = Vec::new();
    loop {
        let line_end = data
            .windows(2)
            .position(|w| w == b"\r\n")
            .ok_or("malformed chunked body")?;
        let size_text = String::from_utf8_lossy(&data[..line_end]);
        let size = usize::from_str_radix(size_text.split(';').next().unwrap_or("").trim(), 16)
            .map_err(|_| "malformed chunk size")?;
        data = &data[line_end + 2..];
        if size == 0 {
            return Ok(out);
        }
        if data.len() < size {
            return Err("truncated chunked body".into());
        }
        out.extend_from_slice(&data[..size]);
        data = data.get(size + 2..).unwrap_or(&[]);
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn parses_plain_and_chunked_answers() {
        let (s, b) = parse_response(b"HTTP/1.1 200 OK\r\ncontent-length: 2\r\n\r\n{}").unwrap();
        assert_eq!((s, b.as_str()), (200, "{}"));
        let (s, b) = parse_response(
            b"HTTP/1.1 404 Not Found\r\nTransfer-Encoding: chunked\r\n\r\n3\r\n{\"a\r\n4\r\n\":1}\r\n0\r\n\r\n",
        )
        .unwrap();
        assert_eq!((s, b.as_str()), (404, "{\"a\":1}"));
        assert!(parse_response(b"garbage").is_err());
    }

    #[test]
    fn message_lines_name_the_place_and_the_speaker() {
        let m = json!({"message_id": 7, "group_id": 100, "user_id": 20001, "raw_message": "hi",
                       "sender": {"nickname": "Alice", "card": ""}, "recalled": true});
        assert_eq!(
            message_line(&m),
            "#7 [group 100] Alice(20001): hi  (recalled)"
        );
        let m = json!({"message_id": 8, "peer_id": 20002, "user_id": 10000, "raw_message": "yo",
                       "sender": {"nickname": "sandbox", "card": "bot"}, "recalled": false});
        assert_eq!(message_line(&m), "#8 [private 20002] bot(10000): yo");
    }

    #[derive(clap::Parser)]
    struct Wrapper {
        #[arg(long)]
        url: Option<String>,
        #[arg(long)]
        token: Option<String>,
        #[command(subcommand)]
        cmd: SandboxCommand,
    }

    #[test]
    fn commands_are_well_formed_and_parse() {
        use clap::{CommandFactory, Parser};
        Wrapper::command().debug_assert();
        let w =
            Wrapper::try_parse_from(["x", "--token", "t", "poke", "--user", "5", "--group", "100"])
                .unwrap();
        assert!(matches!(
            w.cmd,
            SandboxCommand::Poke {
                user: 5,
                group: Some(100),
                target: None,
                ..
            }
        ));
        let w = Wrapper::try_parse_from(["x", "messages", "--bot", "12345", "--json"]).unwrap();
        assert!(matches!(
            w.cmd,
            SandboxCommand::Messages {
                bot: BotArg { bot: 12345 },
                json: true,
                limit: 20,
                ..
            }
        ));
        assert!(
            Wrapper::try_parse_from(["x", "say", "hello"]).is_err(),
            "--user is required"
        );
    }

    #[test]
    fn only_http_urls() {
        assert!(http("https://x", "GET", "/", None, None)
            .unwrap_err()
            .contains("http://"));
    }
}
