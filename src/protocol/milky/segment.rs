//! Message segments between OneBot v11 and Milky, all four ways: what a
//! Milky implementation sends (incoming) and takes (outgoing), and what a
//! v11 app reads (an event's `message`) and writes (an action's `message`).
//!
//! Milky names a message by (scene, peer, seq), v11 by one id: the caller
//! turns a reply's seq into an id and back.

use serde_json::{json, Map, Value};

use crate::protocol::de::{as_i64, as_text};
use crate::protocol::message::to_array;

fn data(seg: &Value) -> &Map<String, Value> {
    static EMPTY: std::sync::OnceLock<Map<String, Value>> = std::sync::OnceLock::new();
    seg.get("data")
        .and_then(Value::as_object)
        .unwrap_or_else(|| EMPTY.get_or_init(Map::new))
}

fn text_of(d: &Map<String, Value>, key: &str) -> String {
    d.get(key).and_then(as_text).unwrap_or_default()
}

fn int_of(d: &Map<String, Value>, key: &str) -> i64 {
    d.get(key).and_then(as_i64).unwrap_or(0)
}

fn seg(kind: &str, data: Value) -> Value {
    json!({"type": kind, "data": data})
}

/// A Milky implementation's segments as a v11 segment array; `reply_id`
/// turns a quoted message's seq into its v11 id. Unknown types are kept as
/// they are (v11 apps skip types they do not know).
pub fn incoming_to_v11(segments: &[Value], reply_id: &dyn Fn(i64) -> i64) -> Vec<Value> {
    segments
        .iter()
        .map(|s| {
            let d = data(s);
            let kind = s.get("type").and_then(Value::as_str).unwrap_or("");
            match kind {
                "text" => seg("text", json!({"text": text_of(d, "text")})),
                "mention" => {
                    seg("at", json!({"qq": int_of(d, "user_id").to_string(), "name": text_of(d, "name")}))
                }
                "mention_all" => seg("at", json!({"qq": "all"})),
                "face" => seg("face", json!({"id": text_of(d, "face_id")})),
                "reply" => seg("reply", json!({"id": reply_id(int_of(d, "message_seq")).to_string()})),
                "image" => seg(
                    "image",
                    json!({
                        "file": text_of(d, "resource_id"),
                        "url": text_of(d, "temp_url"),
                        "summary": text_of(d, "summary"),
                        "sub_type": i64::from(text_of(d, "sub_type") == "sticker"),
                    }),
                ),
                "record" | "video" => seg(
                    kind,
                    json!({"file": text_of(d, "resource_id"), "url": text_of(d, "temp_url")}),
                ),
                "file" => seg(
                    "file",
                    json!({"file": text_of(d, "file_name"), "file_id": text_of(d, "file_id"), "file_size": int_of(d, "file_size")}),
                ),
                "forward" => seg("forward", json!({"id": text_of(d, "forward_id")})),
                "market_face" => seg(
                    "mface",
                    json!({
                        "emoji_package_id": int_of(d, "emoji_package_id"),
                        "emoji_id": text_of(d, "emoji_id"),
                        "key": text_of(d, "key"),
                        "summary": text_of(d, "summary"),
                        "url": text_of(d, "url"),
                    }),
                ),
                "light_app" => seg("json", json!({"data": text_of(d, "json_payload")})),
                "xml" => seg("xml", json!({"data": text_of(d, "xml_payload")})),
                _ => s.clone(),
            }
        })
        .collect()
}

/// Why a v11 message cannot be sent to a Milky implementation.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Unsendable(pub String);

/// A file as Milky takes it: a URI (`file://`, `http(s)://`, `base64://`).
/// A bare absolute path becomes a `file://` URI.
pub fn uri(file: &str) -> String {
    if file.starts_with('/') {
        format!("file://{file}")
    } else {
        file.to_owned()
    }
}

/// A v11 app's `message` (CQ string or segments) as Milky outgoing segments;
/// `reply_seq` finds the seq of a quoted v11 id.
///
/// # Errors
/// A segment Milky cannot send (names it), or a reply to an unknown id.
pub fn v11_to_outgoing(
    message: &Value,
    reply_seq: &dyn Fn(i64) -> Option<i64>,
) -> Result<Vec<Value>, Unsendable> {
    let Value::Array(segs) = to_array(message) else {
        return Ok(Vec::new());
    };
    let mut out = Vec::with_capacity(segs.len());
    for (i, s) in segs.iter().enumerate() {
        let d = data(s);
        let kind = s.get("type").and_then(Value::as_str).unwrap_or("");
        // `file` when it can be fetched (a URI or a path); else `url`: a
        // received image's `file` is a resource id, its `url` the URL.
        let file = || {
            let f = text_of(d, "file");
            let url = text_of(d, "url");
            if f.contains("://") || f.starts_with('/') || url.is_empty() {
                f
            } else {
                url
            }
        };
        out.push(match kind {
            "text" => seg("text", json!({"text": text_of(d, "text")})),
            "at" if text_of(d, "qq") == "all" => seg("mention_all", json!({})),
            "at" => seg("mention", json!({"user_id": int_of(d, "qq")})),
            "face" => seg("face", json!({"face_id": text_of(d, "id"), "is_large": false})),
            "reply" => {
                let id = int_of(d, "id");
                let seq = reply_seq(id).ok_or_else(|| {
                    Unsendable(format!("message[{i}]: reply to message {id}, which this bot does not know"))
                })?;
                seg("reply", json!({"message_seq": seq}))
            }
            "image" => {
                let sticker = d.get("sub_type").and_then(as_i64) == Some(1);
                let mut data = json!({"uri": uri(&file()), "sub_type": if sticker {"sticker"} else {"normal"}});
                if let Some(summary) = d.get("summary").and_then(as_text) {
                    data["summary"] = json!(summary);
                }
                seg("image", data)
            }
            "record" => seg("record", json!({"uri": uri(&file())})),
            "video" => {
                let mut data = json!({"uri": uri(&file())});
                if let Some(thumb) = d.get("thumb").and_then(as_text) {
                    data["thumb_uri"] = json!(uri(&thumb));
                }
                seg("video", data)
            }
            "json" => {
                let payload = match d.get("data") {
                    Some(Value::String(s)) => s.clone(),
                    Some(other) => other.to_string(),
                    None => String::new(),
                };
                seg("light_app", json!({"json_payload": payload}))
            }
            other => {
                return Err(Unsendable(format!(
                    "message[{i}]: a `{other}` segment has no Milky counterpart"
                )))
            }
        });
    }
    Ok(out)
}

/// v11 forward nodes (`send_*_forward_msg`) as one Milky `forward` segment.
///
/// # Errors
/// A node that is not a custom node (`id` references cannot be re-sent), or
/// content Milky cannot send.
pub fn nodes_to_forward(
    nodes: &Value,
    reply_seq: &dyn Fn(i64) -> Option<i64>,
) -> Result<Value, Unsendable> {
    let mut messages = Vec::new();
    for (i, node) in nodes.as_array().into_iter().flatten().enumerate() {
        let d = data(node);
        let Some(content) = d.get("content") else {
            return Err(Unsendable(format!(
                "messages[{i}]: only custom nodes (user_id, nickname, content) can be sent to Milky"
            )));
        };
        let user_id = d
            .get("user_id")
            .or_else(|| d.get("uin"))
            .and_then(as_i64)
            .unwrap_or(0);
        let name = d
            .get("nickname")
            .or_else(|| d.get("name"))
            .and_then(as_text)
            .unwrap_or_default();
        messages.push(json!({
            "user_id": user_id,
            "sender_name": name,
            "segments": v11_to_outgoing(content, reply_seq)?,
        }));
    }
    Ok(seg("forward", json!({"messages": messages})))
}

/// A Milky app's outgoing segments as a v11 segment array (the listener
/// side: a quoted seq is the v11 id itself).
///
/// # Errors
/// A segment that is not an object with a known Milky type (named).
pub fn outgoing_to_v11(segments: &Value) -> Result<Vec<Value>, String> {
    let Some(segs) = segments.as_array() else {
        return Err(String::from("message: expected an array of segments"));
    };
    let mut out = Vec::with_capacity(segs.len());
    for (i, s) in segs.iter().enumerate() {
        let d = data(s);
        let kind = s.get("type").and_then(Value::as_str).unwrap_or("");
        out.push(match kind {
            "text" => seg("text", json!({"text": text_of(d, "text")})),
            "mention" => seg("at", json!({"qq": int_of(d, "user_id").to_string()})),
            "mention_all" => seg("at", json!({"qq": "all"})),
            "face" => seg("face", json!({"id": text_of(d, "face_id")})),
            "reply" => seg("reply", json!({"id": int_of(d, "message_seq").to_string()})),
            "image" => {
                let mut data = json!({"file": text_of(d, "uri")});
                if text_of(d, "sub_type") == "sticker" {
                    data["sub_type"] = json!(1);
                }
                if let Some(summary) = d.get("summary").and_then(as_text) {
                    data["summary"] = json!(summary);
                }
                seg("image", data)
            }
            "record" => seg("record", json!({"file": text_of(d, "uri")})),
            "video" => {
                let mut data = json!({"file": text_of(d, "uri")});
                if let Some(thumb) = d.get("thumb_uri").and_then(as_text) {
                    data["thumb"] = json!(thumb);
                }
                seg("video", data)
            }
            "light_app" => seg("json", json!({"data": text_of(d, "json_payload")})),
            "" => return Err(format!("message[{i}].type: expected a segment type")),
            other => {
                return Err(format!(
                    "message[{i}]: `{other}` cannot be sent (not an outgoing Milky segment here)"
                ))
            }
        });
    }
    Ok(out)
}

/// A v11 event's `message` (CQ string or segments) as Milky incoming
/// segments, every one of a type Milky apps know (others become text
/// `[type]`, as the spec asks of apps).
pub fn v11_to_incoming(message: &Value) -> Vec<Value> {
    let Value::Array(segs) = to_array(message) else {
        return Vec::new();
    };
    segs.iter()
        .map(|s| {
            let d = data(s);
            let kind = s.get("type").and_then(Value::as_str).unwrap_or("");
            let file = text_of(d, "file");
            let url = d.get("url").and_then(as_text).unwrap_or_else(|| file.clone());
            match kind {
                "text" => seg("text", json!({"text": text_of(d, "text")})),
                "at" if text_of(d, "qq") == "all" => seg("mention_all", json!({})),
                "at" => seg("mention", json!({"user_id": int_of(d, "qq"), "name": text_of(d, "name")})),
                "face" => seg("face", json!({"face_id": text_of(d, "id"), "is_large": false})),
                "reply" => seg("reply", json!({"message_seq": int_of(d, "id")})),
                "image" => seg(
                    "image",
                    json!({
                        "resource_id": file, "temp_url": url, "width": 0, "height": 0,
                        "summary": d.get("summary").and_then(as_text).unwrap_or_else(|| String::from("[图片]")),
                        "sub_type": if d.get("sub_type").and_then(as_i64) == Some(1) {"sticker"} else {"normal"},
                    }),
                ),
                "record" => seg("record", json!({"resource_id": file, "temp_url": url, "duration": 0})),
                "video" => seg(
                    "video",
                    json!({"resource_id": file, "temp_url": url, "width": 0, "height": 0, "duration": 0}),
                ),
                "file" => seg(
                    "file",
                    json!({"file_id": text_of(d, "file_id"), "file_name": file, "file_size": int_of(d, "file_size")}),
                ),
                "forward" => seg(
                    "forward",
                    json!({"forward_id": text_of(d, "id"), "title": "", "preview": [], "summary": ""}),
                ),
                "mface" => seg(
                    "market_face",
                    json!({
                        "emoji_package_id": int_of(d, "emoji_package_id"), "emoji_id": text_of(d, "emoji_id"),
                        "key": text_of(d, "key"), "summary": text_of(d, "summary"), "url": text_of(d, "url"),
                    }),
                ),
                "json" => {
                    let payload = match d.get("data") {
                        Some(Value::String(s)) => s.clone(),
                        Some(other) => other.to_string(),
                        None => String::new(),
                    };
                    let app = serde_json::from_str::<Value>(&payload)
                        .ok()
                        .and_then(|v| v.get("app").and_then(as_text))
                        .unwrap_or_default();
                    seg("light_app", json!({"app_name": app, "json_payload": payload}))
                }
                "xml" => seg("xml", json!({"service_id": 0, "xml_payload": text_of(d, "data")})),
                other => seg("text", json!({"text": format!("[{other}]")})),
            }
        })
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn incoming_segments_become_v11_and_back() {
        let milky = json!([
            {"type": "text", "data": {"text": "hi "}},
            {"type": "mention", "data": {"user_id": 42, "name": "Ann"}},
            {"type": "mention_all", "data": {}},
            {"type": "reply", "data": {"message_seq": 7, "sender_id": 1, "time": 0, "segments": []}},
            {"type": "image", "data": {"resource_id": "r1", "temp_url": "http://x/i.png", "width": 1, "height": 1, "summary": "[图片]", "sub_type": "sticker"}},
            {"type": "light_app", "data": {"app_name": "a", "json_payload": "{\"app\":\"a\"}"}},
            {"type": "market_face", "data": {"emoji_package_id": 1, "emoji_id": "e", "key": "k", "summary": "s", "url": "u"}},
        ]);
        let v11 = incoming_to_v11(milky.as_array().unwrap(), &|seq| seq + 1000);
        assert_eq!(
            v11[1],
            json!({"type": "at", "data": {"qq": "42", "name": "Ann"}})
        );
        assert_eq!(v11[2], json!({"type": "at", "data": {"qq": "all"}}));
        assert_eq!(v11[3], json!({"type": "reply", "data": {"id": "1007"}}));
        assert_eq!(v11[4]["data"]["file"], "r1");
        assert_eq!(v11[4]["data"]["url"], "http://x/i.png");
        assert_eq!(v11[4]["data"]["sub_type"], 1);
        assert_eq!(
            v11[5],
            json!({"type": "json", "data": {"data": "{\"app\":\"a\"}"}})
        );
        assert_eq!(v11[6]["type"], "mface");
        // Back towards a Milky app (the listener side): the same types.
        let back = v11_to_incoming(&Value::Array(v11));
        let kinds: Vec<_> = back.iter().map(|s| s["type"].as_str().unwrap()).collect();
        assert_eq!(
            kinds,
            [
                "text",
                "mention",
                "mention_all",
                "reply",
                "image",
                "light_app",
                "market_face"
            ]
        );
        assert_eq!(back[3]["data"]["message_seq"], 1007);
        assert_eq!(back[5]["data"]["app_name"], "a");
    }

    #[test]
    fn v11_messages_become_outgoing_milky_segments() {
        let out = v11_to_outgoing(
            &json!("[CQ:reply,id=5]hello [CQ:at,qq=42][CQ:at,qq=all][CQ:image,file=/tmp/a.png][CQ:face,id=14]"),
            &|id| (id == 5).then_some(77),
        )
        .unwrap();
        assert_eq!(
            out[0],
            json!({"type": "reply", "data": {"message_seq": 77}})
        );
        assert_eq!(out[1], json!({"type": "text", "data": {"text": "hello "}}));
        assert_eq!(out[2], json!({"type": "mention", "data": {"user_id": 42}}));
        assert_eq!(out[3], json!({"type": "mention_all", "data": {}}));
        assert_eq!(out[4]["data"]["uri"], "file:///tmp/a.png");
        assert_eq!(out[5]["data"]["face_id"], "14");
        let err = v11_to_outgoing(&json!("[CQ:reply,id=9]x"), &|_| None).unwrap_err();
        assert!(err.0.contains("message 9"), "{err:?}");
        let err =
            v11_to_outgoing(&json!([{"type": "poke", "data": {"qq": 1}}]), &|_| None).unwrap_err();
        assert!(err.0.contains("`poke`"), "{err:?}");
    }

    #[test]
    fn a_milky_apps_segments_become_v11_and_unknown_ones_are_refused() {
        let v11 = outgoing_to_v11(&json!([
            {"type": "text", "data": {"text": "a"}},
            {"type": "reply", "data": {"message_seq": 3}},
            {"type": "image", "data": {"uri": "base64://AAAA", "sub_type": "normal", "summary": null}},
        ]))
        .unwrap();
        assert_eq!(v11[1], json!({"type": "reply", "data": {"id": "3"}}));
        assert_eq!(
            v11[2],
            json!({"type": "image", "data": {"file": "base64://AAAA"}})
        );
        let err = outgoing_to_v11(&json!([{"type": "xml", "data": {}}])).unwrap_err();
        assert!(err.contains("message[0]"), "{err}");
        // An unknown v11 type reaches a Milky app as text, never as a type it cannot parse.
        assert_eq!(
            v11_to_incoming(&json!([{"type": "poke", "data": {}}])),
            vec![json!({"type": "text", "data": {"text": "[poke]"}})]
        );
    }
}
