//! Message segments: the lossless wire form `{type, data}` ([`Segment`]) and
//! the rules the `data` of every known segment type must follow
//! ([`Segment::validate`]).
//!
//! The wire form is what the gateway stores and relays: `data` keeps every key
//! in the order and with the JSON type the sender used, so nothing an app sent
//! is lost or reordered. Validation reads values leniently (`"qq":"123"` and
//! `"qq":123` are the same; `null` is "not given", and so is a blank string
//! where a number or a flag is expected) and names the first bad field.

use serde_json::{Map, Value};

use crate::protocol::de::{as_bool, as_i64, is_blank};

/// A segment's `data`.
type Data = Map<String, Value>;

/// One message segment as sent on the wire: `{"type": .., "data": {..}}`.
///
/// `data` may be absent or `null` on input; it is written as `{}` then, since
/// clients read `seg.data.x` without checking for null.
#[derive(Debug, Clone, PartialEq, Default)]
pub struct Segment {
    /// The segment type (`text`, `image`, `markdown`, ...).
    pub kind: String,
    /// The parameters, in the order they arrived.
    pub data: Map<String, Value>,
}

impl Segment {
    /// A segment of any type.
    pub fn new(kind: impl Into<String>, data: Map<String, Value>) -> Self {
        Self {
            kind: kind.into(),
            data,
        }
    }

    /// A `text` segment.
    pub fn text(text: impl Into<String>) -> Self {
        let mut data = Map::new();
        data.insert("text".into(), Value::String(text.into()));
        Self::new("text", data)
    }

    /// True for a `text` segment.
    pub fn is_text(&self) -> bool {
        self.kind == "text"
    }

    /// Reads one segment from JSON, naming the field that is wrong.
    ///
    /// # Errors
    /// A [`SegmentError`] for a non-object, a missing or non-string (or empty)
    /// `type`, or a `data` that is neither an object nor `null`.
    pub fn from_value(value: &Value) -> Result<Self, SegmentError> {
        let (kind, data) = check_shape(value)?;
        Ok(Self::new(kind, data.cloned().unwrap_or_default()))
    }

    /// Checks the fields of a known segment type (nested node content
    /// included); other types pass as they are.
    ///
    /// # Errors
    /// A [`SegmentError`] naming the first field that is missing or has a
    /// value of the wrong type.
    pub fn validate(&self) -> Result<(), SegmentError> {
        validate(&self.kind, &self.data)
    }

    /// Consumes the segment into a JSON value `{type, data}`.
    pub fn into_value(self) -> Value {
        let mut obj = Map::with_capacity(2);
        obj.insert("type".into(), Value::String(self.kind));
        obj.insert("data".into(), Value::Object(self.data));
        Value::Object(obj)
    }
}

/// A segment field that is missing or has the wrong type.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("`{field}`: expected {expected}")]
pub struct SegmentError {
    /// The field, relative to the segment: `type`, `data.qq`, `data.content[1].data.id`.
    pub field: String,
    /// What was expected there.
    pub expected: String,
}

impl SegmentError {
    fn new(field: impl Into<String>, expected: impl Into<String>) -> Self {
        Self {
            field: field.into(),
            expected: expected.into(),
        }
    }

    fn data(key: &str, expected: impl Into<String>) -> Self {
        Self::new(format!("data.{key}"), expected)
    }

    /// This error inside another segment's field: `prefix` + the field.
    fn under(self, prefix: &str) -> Self {
        Self::new(format!("{prefix}{}", self.field), self.expected)
    }
}

/// The shape of a segment: an object, a non-empty string `type`, an object
/// (or null, or no) `data`. Returns the type and the data.
fn check_shape(value: &Value) -> Result<(&str, Option<&Data>), SegmentError> {
    let obj = value
        .as_object()
        .ok_or_else(|| SegmentError::new("", "a segment object `{type, data}`"))?;
    let kind = match obj.get("type") {
        Some(Value::String(s)) if !s.is_empty() => s,
        _ => {
            return Err(SegmentError::new(
                "type",
                "a non-empty string (the segment type)",
            ))
        }
    };
    match obj.get("data") {
        None | Some(Value::Null) => Ok((kind, None)),
        Some(Value::Object(data)) => Ok((kind, Some(data))),
        Some(_) => Err(SegmentError::new("data", "an object")),
    }
}

// ---- the known segment types ----

const STRING: &str = "a string";
const INTEGER: &str = "an integer or a numeric string";
const NUMBER: &str = "a number or a numeric string";
const FLAG: &str = "a flag (0/1, true/false, yes/no)";
const ACCOUNT: &str = "an account number or \"all\"";

/// How a field's value is read. Absent and `null` are "not given"; so is a
/// blank string where a number or a flag is expected.
#[derive(Debug, Clone, Copy)]
enum Kind {
    /// Text; a number or a boolean counts as its text.
    Str,
    /// An integer or a numeric string.
    Int,
    /// A (finite) number or a numeric string.
    Num,
    /// 0/1, true/false, yes/no.
    Flag,
    /// `at.qq`: an account number or `all`.
    Account,
    /// `json.data`: the card as text, or as a JSON object or array.
    Card,
}

use Kind::{Account, Card, Flag, Int, Num, Str};

impl Kind {
    fn expected(self) -> &'static str {
        match self {
            Str | Card => STRING,
            Int => INTEGER,
            Num => NUMBER,
            Flag => FLAG,
            Account => ACCOUNT,
        }
    }

    /// Whether a present, non-null value gives the field; what was expected
    /// when it has the wrong type.
    fn read(self, v: &Value) -> Result<bool, &'static str> {
        let text = matches!(v, Value::String(_) | Value::Number(_) | Value::Bool(_));
        let ok = match self {
            Card => true,
            Str => text,
            Account if !text => return Err(STRING),
            Account => v.as_str().is_some_and(|s| s.trim() == "all") || as_i64(v).is_some(),
            _ if is_blank(v) => return Ok(false),
            Int => as_i64(v).is_some(),
            Flag => as_bool(v).is_some(),
            Num => match v {
                Value::Number(_) => true,
                Value::String(s) => s.trim().parse::<f64>().is_ok_and(f64::is_finite),
                _ => false,
            },
        };
        if ok {
            Ok(true)
        } else {
            Err(self.expected())
        }
    }
}

/// A field of a segment type: its name (`a|b`: `a`, or `b` when `a` is not
/// given), how it is read, and whether it is required.
#[derive(Debug, Clone, Copy)]
struct Field(&'static str, Kind, bool);

const fn req(name: &'static str, kind: Kind) -> Field {
    Field(name, kind, true)
}

const fn opt(name: &'static str, kind: Kind) -> Field {
    Field(name, kind, false)
}

impl Field {
    /// Whether the field is given in `data`.
    fn check(self, data: &Data) -> Result<bool, SegmentError> {
        let Self(names, kind, required) = self;
        for name in names.split('|') {
            if let Some(v) = data.get(name).filter(|v| !v.is_null()) {
                if kind.read(v).map_err(|e| SegmentError::data(name, e))? {
                    return Ok(true);
                }
            }
        }
        if required {
            let expected = format!("{} (required)", kind.expected());
            return Err(SegmentError::data(names, expected));
        }
        Ok(false)
    }
}

fn check_all(data: &Data, fields: &[Field]) -> Result<(), SegmentError> {
    fields.iter().try_for_each(|f| f.check(data).map(drop))
}

/// A type's own rule, checked after its fields.
type Rule = fn(&Data) -> Result<(), SegmentError>;

/// Every type of the OneBot v11 standard and of the go-cqhttp / NapCat
/// documents that has fields: the fields in the order they are checked, then
/// the type's own rule. Types without fields (`rps`, `dice`, `shake`) and
/// types not listed (`markdown`, `mface`, `file`, ...) pass as they are.
#[rustfmt::skip]
const TYPES: &[(&str, &[Field], Option<Rule>)] = &[
    ("text", &[req("text", Str)], None),
    ("face", &[req("id", Int)], None),
    // `type`: flash or show (with the effect `id`); `c`: download threads (go-cqhttp).
    ("image", &[req("file", Str), opt("type", Str), opt("url", Str), opt("cache", Flag),
        opt("proxy", Flag), opt("timeout", Int), opt("id", Int), opt("c", Int)], None),
    ("record", &[req("file", Str), opt("magic", Flag), opt("url", Str), opt("cache", Flag),
        opt("proxy", Flag), opt("timeout", Int)], None),
    ("video", &[req("file", Str), opt("cover", Str), opt("url", Str), opt("cache", Flag),
        opt("proxy", Flag), opt("timeout", Int), opt("c", Int)], None),
    ("at", &[req("qq", Account), opt("name", Str)], None),
    ("poke", &[opt("qq", Int), opt("type", Str), opt("id", Str), opt("name", Str)], Some(poke)),
    ("anonymous", &[opt("ignore", Flag)], None),
    ("share", &[req("url", Str), req("title", Str), opt("content", Str), opt("image", Str)], None),
    ("contact", &[req("type", Str), req("id", Int)], None),
    ("location", &[req("lat", Num), req("lon", Num), opt("title", Str), opt("content", Str)], None),
    ("music", &[req("type", Str)], Some(music)),
    ("reply", &[], Some(reply)),
    ("forward", &[req("id", Str)], None),
    ("node", &[], Some(node)),
    ("xml", &[req("data", Str), opt("resid", Int)], None),
    ("json", &[req("data", Card), opt("resid", Int)], None),
    ("cardimage", &[req("file", Str), opt("minwidth", Int), opt("minheight", Int),
        opt("maxwidth", Int), opt("maxheight", Int), opt("source", Str), opt("icon", Str)], None),
    ("tts", &[req("text", Str)], None),
    ("redbag", &[req("title", Str)], None),
    ("gift", &[req("qq", Int), req("id", Int)], None),
];

fn validate(kind: &str, data: &Data) -> Result<(), SegmentError> {
    let Some((_, fields, rule)) = TYPES.iter().find(|t| t.0 == kind) else {
        return Ok(());
    };
    check_all(data, fields)?;
    rule.map_or(Ok(()), |rule| rule(data))
}

/// go-cqhttp pokes a member (`qq`); the standard sends a poke kind (`type`, `id`).
fn poke(d: &Data) -> Result<(), SegmentError> {
    if opt("qq", Int).check(d)? || opt("type", Str).check(d)? {
        return Ok(());
    }
    let expected = "a member to poke (`qq`) or a poke kind (`type` and `id`)";
    Err(SegmentError::data("qq", expected))
}

/// A song of a platform (`qq`, `163`, `xm`, ...) by `id`, or `type=custom`.
fn music(d: &Data) -> Result<(), SegmentError> {
    if d.get("type").and_then(Value::as_str) != Some("custom") {
        return check_all(d, &[req("id", Str)]);
    }
    #[rustfmt::skip]
    let custom = [opt("subtype", Str), req("url", Str), req("audio", Str), req("title", Str),
        opt("content", Str), opt("image", Str)];
    check_all(d, &custom)
}

/// A message `id`, or (go-cqhttp) a custom quote; an id wins when both are given.
fn reply(d: &Data) -> Result<(), SegmentError> {
    if opt("id", Int).check(d)? {
        return Ok(());
    }
    if d.get("text").is_none_or(Value::is_null) {
        let expected = "a message id, or a custom quote (`text` and `qq`)";
        return Err(SegmentError::data("id", expected));
    }
    #[rustfmt::skip]
    let quote = [req("text", Str), req("qq", Int), opt("time", Int), opt("seq", Int)];
    check_all(d, &quote)
}

/// A forward node: a message `id` (it wins), or custom `content`. Content
/// given as segments is checked like a message, each error named by its path
/// (`data.content[1].data.qq`); a CQ string is not judged. The standard names
/// the sender `user_id`/`nickname`, go-cqhttp `uin`/`name`.
fn node(d: &Data) -> Result<(), SegmentError> {
    if opt("id", Int).check(d)? {
        return Ok(());
    }
    match d.get("content") {
        Some(Value::String(_)) => {}
        Some(Value::Array(items)) => {
            for (i, item) in items.iter().enumerate() {
                let at = |e: SegmentError| e.under(&format!("data.content[{i}]."));
                let (kind, data) = check_shape(item).map_err(at)?;
                validate(kind, data.unwrap_or(&Map::new())).map_err(at)?;
            }
        }
        Some(one @ Value::Object(_)) => {
            check_shape(one).map_err(|e| e.under("data.content."))?;
        }
        None | Some(Value::Null) => {
            let expected = "a message id, or custom content (`content`)";
            return Err(SegmentError::data("id", expected));
        }
        Some(_) => {
            let expected = "a message (a CQ string or an array of segments)";
            return Err(SegmentError::data("content", expected));
        }
    }
    #[rustfmt::skip]
    let sender = [opt("nickname|name", Str), opt("user_id|uin", Int), opt("seq", Str),
        opt("time", Int)];
    check_all(d, &sender)
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    const REQ_STR: &str = "a string (required)";
    const REQ_INT: &str = "an integer or a numeric string (required)";

    fn check(v: &Value) -> Result<(), SegmentError> {
        Segment::from_value(v)?.validate()
    }

    #[test]
    fn reading_keeps_data_as_sent() {
        let v = json!({"type":"markdown","data":{"content":"hi","z":1,"a":[1,{"b":null}]}});
        let s = Segment::from_value(&v).unwrap();
        // Key order and JSON types are the app's.
        assert_eq!(s.clone().into_value().to_string(), v.to_string());
        for empty in [json!({"type":"shake","data":null}), json!({"type":"shake"})] {
            let s = Segment::from_value(&empty).unwrap();
            assert_eq!(s.into_value(), json!({"type":"shake","data":{}}));
        }
    }

    #[test]
    #[rustfmt::skip]
    fn accepted() {
        for v in [
            // Unknown types and types without fields pass as they are.
            json!({"type":"markdown","data":{"content":[1],"x":{}}}),
            json!({"type":"rps"}),
            json!({"type":"dice","data":{"x":[]}}),
            json!({"type":"shake","data":null}),
            // Strings, numbers and booleans are text; numbers may be strings.
            json!({"type":"text","data":{"text":""}}),
            json!({"type":"text","data":{"text":12}}),
            json!({"type":"face","data":{"id":"123"}}),
            json!({"type":"face","data":{"id":12.0}}),
            json!({"type":"at","data":{"qq":"all"}}),
            json!({"type":"at","data":{"qq":" all "}}),
            json!({"type":"at","data":{"qq":10086,"name":null}}),
            json!({"type":"at","data":{"qq":"10086","name":"x"}}),
            // Blank and null are "not given" for numbers and flags.
            json!({"type":"image","data":{"file":"a.jpg","type":"show","id":"40004","cache":"",
                "proxy":null,"timeout":" ","c":2}}),
            json!({"type":"image","data":{"file":"a.jpg","type":"flash","cache":"NO","proxy":true}}),
            json!({"type":"record","data":{"file":"a.amr","magic":1,"timeout":"5"}}),
            json!({"type":"video","data":{"file":"file:///C:\\1.mp4","cover":"c.jpg","c":"2"}}),
            json!({"type":"poke","data":{"qq":"123456"}}),
            json!({"type":"poke","data":{"type":"126","id":"2003"}}),
            json!({"type":"poke","data":{"qq":"","type":""}}),
            json!({"type":"anonymous","data":{"ignore":"1"}}),
            json!({"type":"anonymous"}),
            json!({"type":"share","data":{"url":"http://x","title":"t","image":null}}),
            json!({"type":"contact","data":{"type":"group","id":"100100"}}),
            json!({"type":"contact","data":{"type":"anything","id":1}}),
            json!({"type":"location","data":{"lat":"39.8969426","lon":116.3109099}}),
            json!({"type":"music","data":{"type":"163","id":"28949129"}}),
            json!({"type":"music","data":{"type":163,"id":28949129}}),
            json!({"type":"music","data":{"type":"custom","url":"http://baidu.com",
                "audio":"http://baidu.com/1.mp3","title":"音乐标题","subtype":"qq"}}),
            json!({"type":"reply","data":{"id":"123456","text":[],"qq":"x"}}),
            json!({"type":"reply","data":{"text":"Hello","qq":"10086","time":"3376656000","seq":5123}}),
            json!({"type":"reply","data":{"id":"","text":"","qq":1}}),
            json!({"type":"forward","data":{"id":"xxxx"}}),
            json!({"type":"forward","data":{"id":123}}),
            json!({"type":"xml","data":{"data":"<?xml ...","resid":"1"}}),
            json!({"type":"json","data":{"data":{"app":"x"}}}),
            json!({"type":"json","data":{"data":[1],"resid":""}}),
            json!({"type":"cardimage","data":{"file":"https://i.pixiv.cat/x.jpg","maxheight":"1000"}}),
            json!({"type":"tts","data":{"text":"这是一条测试消息"}}),
            json!({"type":"redbag","data":{"title":"恭喜发财"}}),
            json!({"type":"gift","data":{"qq":123456,"id":"8"}}),
            // Nodes: an id wins; custom content as segments, a CQ string
            // (not judged) or one segment object (its shape only).
            json!({"type":"node","data":{"id":"123","content":5,"name":[]}}),
            json!({"type":"node","data":{"name":"A","uin":"10086",
                "content":[{"type":"text","data":{"text":"测试消息1"}}]}}),
            json!({"type":"node","data":{"name":"B","uin":"10087","seq":"5123","time":"3376656000",
                "content":"[CQ:image,file=xxxxx][CQ:at,qq=nobody]测试消息2"}}),
            json!({"type":"node","data":{"user_id":"10001000","nickname":"某人","content":"哈喽～"}}),
            json!({"type":"node","data":{"content":{"type":"at","data":{}}}}),
            json!({"type":"node","data":{"content":[{"type":"node","data":{"content":[
                {"type":"face","data":{"id":1}}]}}]}}),
            // The standard name wins over the alias, which is not read then.
            json!({"type":"node","data":{"content":"x","nickname":"n","name":[],"user_id":1,"uin":{}}}),
            json!({"type":"node","data":{"content":"x","user_id":"","uin":"5"}}),
        ] {
            assert_eq!(check(&v), Ok(()), "{v}");
        }
    }

    #[test]
    #[rustfmt::skip]
    fn refused_naming_the_field() {
        for (v, field, expected) in [
            (json!(["text"]), "", "a segment object `{type, data}`"),
            (json!({"data":{}}), "type", "a non-empty string (the segment type)"),
            (json!({"type":""}), "type", "a non-empty string (the segment type)"),
            (json!({"type":"text","data":"x"}), "data", "an object"),
            (json!({"type":"text","data":null}), "data.text", REQ_STR),
            (json!({"type":"text","data":{"text":{"a":1}}}), "data.text", STRING),
            (json!({"type":"face","data":{"id":[1]}}), "data.id", INTEGER),
            (json!({"type":"face","data":{"id":1.5}}), "data.id", INTEGER),
            (json!({"type":"face","data":{"id":""}}), "data.id", REQ_INT),
            (json!({"type":"at","data":{}}), "data.qq", "an account number or \"all\" (required)"),
            (json!({"type":"at","data":{"qq":"abc"}}), "data.qq", ACCOUNT),
            (json!({"type":"at","data":{"qq":""}}), "data.qq", ACCOUNT),
            (json!({"type":"at","data":{"qq":true}}), "data.qq", ACCOUNT),
            (json!({"type":"at","data":{"qq":[]}}), "data.qq", STRING),
            (json!({"type":"at","data":{"qq":1,"name":{}}}), "data.name", STRING),
            // Fields are checked in order: the first bad one is named.
            (json!({"type":"image","data":{"url":"x","cache":"maybe"}}), "data.file", REQ_STR),
            (json!({"type":"image","data":{"file":"x","cache":"maybe"}}), "data.cache", FLAG),
            (json!({"type":"image","data":{"file":"x","cache":2}}), "data.cache", FLAG),
            (json!({"type":"image","data":{"file":"x","c":"two"}}), "data.c", INTEGER),
            (json!({"type":"record","data":{"file":"x","magic":"y"}}), "data.magic", FLAG),
            (json!({"type":"video","data":{"file":"x","timeout":"1s"}}), "data.timeout", INTEGER),
            (json!({"type":"poke","data":{}}), "data.qq",
                "a member to poke (`qq`) or a poke kind (`type` and `id`)"),
            (json!({"type":"poke","data":{"qq":" ","id":"1"}}), "data.qq",
                "a member to poke (`qq`) or a poke kind (`type` and `id`)"),
            (json!({"type":"poke","data":{"qq":"x"}}), "data.qq", INTEGER),
            (json!({"type":"poke","data":{"qq":1,"name":[]}}), "data.name", STRING),
            (json!({"type":"anonymous","data":{"ignore":"maybe"}}), "data.ignore", FLAG),
            (json!({"type":"share","data":{"url":"u"}}), "data.title", REQ_STR),
            (json!({"type":"contact","data":{"id":"1"}}), "data.type", REQ_STR),
            (json!({"type":"contact","data":{"type":"qq"}}), "data.id", REQ_INT),
            (json!({"type":"location","data":{"lat":"north","lon":"1"}}), "data.lat", NUMBER),
            (json!({"type":"location","data":{"lat":"inf","lon":"1"}}), "data.lat", NUMBER),
            (json!({"type":"location","data":{"lat":true,"lon":"1"}}), "data.lat", NUMBER),
            (json!({"type":"location","data":{"lat":1}}), "data.lon",
                "a number or a numeric string (required)"),
            (json!({"type":"music","data":{"id":"1"}}), "data.type", REQ_STR),
            (json!({"type":"music","data":{"type":"qq","url":"u"}}), "data.id", REQ_STR),
            (json!({"type":"music","data":{"type":"custom","id":"1","url":"u","audio":"a"}}),
                "data.title", REQ_STR),
            (json!({"type":"music","data":{"type":"custom","subtype":[]}}), "data.subtype", STRING),
            (json!({"type":"reply","data":{}}), "data.id",
                "a message id, or a custom quote (`text` and `qq`)"),
            (json!({"type":"reply","data":{"id":"x","text":"t","qq":1}}), "data.id", INTEGER),
            (json!({"type":"reply","data":{"text":"t"}}), "data.qq", REQ_INT),
            (json!({"type":"reply","data":{"text":[],"qq":1}}), "data.text", STRING),
            (json!({"type":"reply","data":{"text":"t","qq":1,"seq":"s"}}), "data.seq", INTEGER),
            (json!({"type":"forward","data":{}}), "data.id", REQ_STR),
            (json!({"type":"xml","data":{"data":"x","resid":"r"}}), "data.resid", INTEGER),
            (json!({"type":"json","data":{}}), "data.data", REQ_STR),
            (json!({"type":"cardimage","data":{"file":"f","minwidth":"w"}}), "data.minwidth", INTEGER),
            (json!({"type":"tts","data":{}}), "data.text", REQ_STR),
            (json!({"type":"redbag","data":{"title":[]}}), "data.title", STRING),
            (json!({"type":"gift","data":{"qq":"1"}}), "data.id", REQ_INT),
            // Nodes: an id, or content; nested segments are named by their path.
            (json!({"type":"node","data":{}}), "data.id",
                "a message id, or custom content (`content`)"),
            (json!({"type":"node","data":{"content":null,"name":"n"}}), "data.id",
                "a message id, or custom content (`content`)"),
            (json!({"type":"node","data":{"id":"x","content":"hi"}}), "data.id", INTEGER),
            (json!({"type":"node","data":{"content":5}}), "data.content",
                "a message (a CQ string or an array of segments)"),
            (json!({"type":"node","data":{"content":[{"type":"at","data":{"qq":"x"}}]}}),
                "data.content[0].data.qq", ACCOUNT),
            (json!({"type":"node","data":{"content":[{"type":"text","data":{"text":"a"}},{"data":{}}]}}),
                "data.content[1].type", "a non-empty string (the segment type)"),
            (json!({"type":"node","data":{"content":[{"type":"node","data":{"content":[
                {"type":"face","data":{}}]}}]}}), "data.content[0].data.content[0].data.id", REQ_INT),
            (json!({"type":"node","data":{"content":{"type":"at","data":[]}}}), "data.content.data",
                "an object"),
            (json!({"type":"node","data":{"content":"x","nickname":[]}}), "data.nickname", STRING),
            (json!({"type":"node","data":{"content":"x","name":{}}}), "data.name", STRING),
            (json!({"type":"node","data":{"content":"x","user_id":"u"}}), "data.user_id", INTEGER),
            (json!({"type":"node","data":{"content":"x","uin":"u"}}), "data.uin", INTEGER),
            (json!({"type":"node","data":{"content":"x","time":"t"}}), "data.time", INTEGER),
        ] {
            let err = check(&v).unwrap_err();
            assert_eq!(err, SegmentError::new(field, expected), "{v}");
        }
    }
}
