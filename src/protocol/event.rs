//! Events: the typed common header every event shares. The gateway relays
//! the original JSON text, never a re-serialized model, so the header (post
//! type, detail type, `self_id`, and whether `message` is a string) is all
//! it ever parses of an event.

use serde::{Deserialize, Deserializer};
use serde_json::Value;

/// The five post types of OneBot v11 (plus anything newer, passed through).
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum PostType {
    /// `message`
    Message,
    /// `message_sent` (a message the bot itself sent, reported by go-cqhttp/NapCat)
    MessageSent,
    /// `notice`
    Notice,
    /// `request`
    Request,
    /// `meta_event`
    MetaEvent,
    /// anything else, relayed untouched
    Other(String),
}

impl PostType {
    /// Parses the `post_type` string.
    pub fn from_name(name: &str) -> Self {
        match name {
            "message" => Self::Message,
            "message_sent" => Self::MessageSent,
            "notice" => Self::Notice,
            "request" => Self::Request,
            "meta_event" => Self::MetaEvent,
            other => Self::Other(other.to_owned()),
        }
    }

    /// The wire name.
    pub fn as_str(&self) -> &str {
        match self {
            Self::Message => "message",
            Self::MessageSent => "message_sent",
            Self::Notice => "notice",
            Self::Request => "request",
            Self::MetaEvent => "meta_event",
            Self::Other(s) => s,
        }
    }

    /// True for events that carry a `message` field (the ones whose format can be converted).
    pub fn carries_message(&self) -> bool {
        matches!(self, Self::Message | Self::MessageSent)
    }
}

/// The common header of every event: enough to route, filter and convert it.
#[derive(Debug, Clone)]
pub struct EventHeader {
    /// Unix seconds.
    pub time: i64,
    /// The bot the event belongs to; `None` when the upstream left it out.
    pub self_id: Option<i64>,
    /// `post_type`.
    pub post_type: PostType,
    /// `message_type` / `notice_type` / `request_type` / `meta_event_type`.
    pub detail_type: Option<String>,
    /// `sub_type`, when present.
    pub sub_type: Option<String>,
    /// True when the event's `message` is a CQ string (otherwise an array or absent).
    pub message_is_string: bool,
}

impl EventHeader {
    /// Parses the header of an event's JSON text; all other fields are skipped.
    ///
    /// # Errors
    /// When the text is not an object or `post_type` is not a string.
    pub fn parse(text: &str) -> Result<Self, serde_json::Error> {
        #[derive(Deserialize)]
        struct Raw<'a> {
            #[serde(default, deserialize_with = "lenient_i64")]
            time: Option<i64>,
            #[serde(default, deserialize_with = "lenient_i64")]
            self_id: Option<i64>,
            #[serde(borrow)]
            post_type: std::borrow::Cow<'a, str>,
            #[serde(default, borrow)]
            message_type: Option<std::borrow::Cow<'a, str>>,
            #[serde(default, borrow)]
            notice_type: Option<std::borrow::Cow<'a, str>>,
            #[serde(default, borrow)]
            request_type: Option<std::borrow::Cow<'a, str>>,
            #[serde(default, borrow)]
            meta_event_type: Option<std::borrow::Cow<'a, str>>,
            #[serde(default, borrow)]
            sub_type: Option<std::borrow::Cow<'a, str>>,
            #[serde(default, deserialize_with = "is_string")]
            message: bool,
        }
        let raw: Raw<'_> = serde_json::from_str(text)?;
        let detail = raw
            .message_type
            .or(raw.notice_type)
            .or(raw.request_type)
            .or(raw.meta_event_type);
        Ok(Self {
            time: raw.time.unwrap_or_default(),
            self_id: raw.self_id,
            post_type: PostType::from_name(&raw.post_type),
            detail_type: detail.map(|d| d.into_owned()),
            sub_type: raw.sub_type.map(|s| s.into_owned()),
            message_is_string: raw.message,
        })
    }

    /// Builds the header of an already-parsed event value.
    pub fn from_value(event: &Value) -> Option<Self> {
        let post_type = event.get("post_type")?.as_str()?;
        let detail = [
            "message_type",
            "notice_type",
            "request_type",
            "meta_event_type",
        ]
        .iter()
        .find_map(|k| event.get(*k).and_then(Value::as_str));
        Some(Self {
            time: event
                .get("time")
                .and_then(super::de::as_i64)
                .unwrap_or_default(),
            self_id: event.get("self_id").and_then(super::de::as_i64),
            post_type: PostType::from_name(post_type),
            detail_type: detail.map(str::to_owned),
            sub_type: event
                .get("sub_type")
                .and_then(Value::as_str)
                .map(str::to_owned),
            message_is_string: event.get("message").is_some_and(Value::is_string),
        })
    }

    /// True for meta events of the given type (`heartbeat`, `lifecycle`).
    pub fn is_meta(&self, kind: &str) -> bool {
        self.post_type == PostType::MetaEvent && self.detail_type.as_deref() == Some(kind)
    }
}

/// `notice_type` of the gateway's own notice that a bot went offline.
pub const BOT_OFFLINE: &str = "gateway_bot_offline";
/// `notice_type` of the gateway's own notice that a bot is back online.
pub const BOT_ONLINE: &str = "gateway_bot_online";

/// True for the gateway's bot state notices (apps get them only when they ask).
pub fn is_gateway_bot_notice(notice_type: &str) -> bool {
    notice_type == BOT_OFFLINE || notice_type == BOT_ONLINE
}

fn lenient_i64<'de, D: Deserializer<'de>>(d: D) -> Result<Option<i64>, D::Error> {
    Ok(super::de::as_i64(&Value::deserialize(d)?))
}

/// True when the value is a JSON string; anything else is skipped without
/// building it (a message array can be large, and only its kind matters here).
fn is_string<'de, D: Deserializer<'de>>(d: D) -> Result<bool, D::Error> {
    struct Kind;
    impl<'de> serde::de::Visitor<'de> for Kind {
        type Value = bool;
        fn expecting(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
            f.write_str("any JSON value")
        }
        fn visit_str<E>(self, _: &str) -> Result<bool, E> {
            Ok(true)
        }
        fn visit_seq<A: serde::de::SeqAccess<'de>>(self, mut seq: A) -> Result<bool, A::Error> {
            while seq.next_element::<serde::de::IgnoredAny>()?.is_some() {}
            Ok(false)
        }
        fn visit_map<A: serde::de::MapAccess<'de>>(self, mut map: A) -> Result<bool, A::Error> {
            while map
                .next_entry::<serde::de::IgnoredAny, serde::de::IgnoredAny>()?
                .is_some()
            {}
            Ok(false)
        }
        fn visit_bool<E>(self, _: bool) -> Result<bool, E> {
            Ok(false)
        }
        fn visit_i64<E>(self, _: i64) -> Result<bool, E> {
            Ok(false)
        }
        fn visit_u64<E>(self, _: u64) -> Result<bool, E> {
            Ok(false)
        }
        fn visit_f64<E>(self, _: f64) -> Result<bool, E> {
            Ok(false)
        }
        fn visit_unit<E>(self) -> Result<bool, E> {
            Ok(false)
        }
    }
    d.deserialize_any(Kind)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn header_reads_detail_type_and_string_self_id() {
        let h = EventHeader::parse(
            r#"{"time":1700000000,"self_id":"10001","post_type":"notice","notice_type":"group_recall","group_id":1,"extra":{"x":1}}"#,
        )
        .unwrap();
        assert_eq!(h.self_id, Some(10001));
        assert_eq!(h.post_type, PostType::Notice);
        assert_eq!(h.detail_type.as_deref(), Some("group_recall"));
    }

    #[test]
    fn header_knows_whether_message_is_a_cq_string() {
        let string =
            EventHeader::parse(r#"{"post_type":"message","message":"a[CQ:face,id=1]"}"#).unwrap();
        assert!(string.message_is_string);
        let array = EventHeader::parse(
            r#"{"post_type":"message","message":[{"type":"text","data":{"text":"a"}}]}"#,
        )
        .unwrap();
        assert!(!array.message_is_string);
        let none = EventHeader::parse(r#"{"post_type":"notice"}"#).unwrap();
        assert!(!none.message_is_string);
    }

    #[test]
    fn unknown_post_type_passes() {
        let h = EventHeader::parse(r#"{"post_type":"future_thing","time":1}"#).unwrap();
        assert_eq!(h.post_type, PostType::Other("future_thing".into()));
        assert_eq!(h.post_type.as_str(), "future_thing");
    }
}
