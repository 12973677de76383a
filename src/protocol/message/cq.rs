//! The CQ-code string format: escaping, parsing a CQ string into segments and
//! writing segments back as a CQ string.
//!
//! Parsing follows the OneBot v11 text: the function name is what follows
//! `[CQ:` up to the first `,` or `]`; parameters are split on `,`; a key ends at
//! the first `=`. Anything that is not a well-formed code (an unterminated
//! `[CQ:`, `[CQ:]`, a parameter without `=`) stays text: the parser is total
//! and never panics. Adjacent text is merged into one `text` segment.

use std::borrow::Cow;

use serde_json::{Map, Value};

use super::segment::Segment;

/// Escapes plain text for a CQ string: `&`, `[`, `]`.
pub fn escape_text(text: &str) -> Cow<'_, str> {
    escape(text, false)
}

/// Escapes a parameter value (or key) inside a CQ code: `&`, `[`, `]`, `,`.
pub fn escape_param(value: &str) -> Cow<'_, str> {
    escape(value, true)
}

fn escape(s: &str, comma: bool) -> Cow<'_, str> {
    let needs = |b: u8| b == b'&' || b == b'[' || b == b']' || (comma && b == b',');
    if !s.bytes().any(needs) {
        return Cow::Borrowed(s);
    }
    let mut out = String::with_capacity(s.len() + 16);
    push_escaped(&mut out, s, comma);
    Cow::Owned(out)
}

/// Appends `s` escaped to `out` (the allocation-free path of the writer).
fn push_escaped(out: &mut String, s: &str, comma: bool) {
    let mut start = 0;
    for (i, b) in s.bytes().enumerate() {
        let rep = match b {
            b'&' => "&amp;",
            b'[' => "&#91;",
            b']' => "&#93;",
            b',' if comma => "&#44;",
            _ => continue,
        };
        // Every byte matched above is ASCII, so `i` is a char boundary.
        out.push_str(&s[start..i]);
        out.push_str(rep);
        start = i + 1;
    }
    out.push_str(&s[start..]);
}

/// Reverses [`escape_text`] and [`escape_param`].
///
/// Done in one left-to-right pass, which is the same as replacing `&#91;`,
/// `&#93;`, `&#44;` first and `&amp;` last: `&amp;#91;` becomes the text
/// `&#91;`, not `[`. An `&` that starts no known entity stays as it is.
pub fn unescape(s: &str) -> Cow<'_, str> {
    if !s.contains('&') {
        return Cow::Borrowed(s);
    }
    let mut out = String::with_capacity(s.len());
    let mut rest = s;
    while let Some(pos) = rest.find('&') {
        out.push_str(&rest[..pos]);
        let tail = &rest[pos..];
        let (ch, len) = if tail.starts_with("&amp;") {
            ('&', 5)
        } else if tail.starts_with("&#91;") {
            ('[', 5)
        } else if tail.starts_with("&#93;") {
            (']', 5)
        } else if tail.starts_with("&#44;") {
            (',', 5)
        } else {
            ('&', 1)
        };
        out.push(ch);
        rest = &tail[len..];
    }
    out.push_str(rest);
    Cow::Owned(out)
}

/// Parses a CQ string into segments. Total: malformed codes stay text.
pub fn parse_cq(input: &str) -> Vec<Segment> {
    let mut segments = Vec::new();
    // Raw (still escaped) text waiting to become one text segment.
    let mut text_start = 0;
    let mut pending = String::new();
    let mut pos = 0;
    let bytes = input.as_bytes();

    let flush = |segments: &mut Vec<Segment>, pending: &mut String| {
        if !pending.is_empty() {
            segments.push(Segment::text(std::mem::take(pending)));
        }
    };

    while let Some(off) = input[pos..].find("[CQ:") {
        let open = pos + off;
        let body_start = open + 4;
        // The code ends at the first `]`; a `[` before it means this `[CQ:` is
        // not a code (brackets are always escaped inside a real one).
        let close = bytes[body_start..]
            .iter()
            .position(|&b| b == b']' || b == b'[')
            .map(|p| body_start + p);
        match close {
            Some(close) if bytes[close] == b']' => {
                if let Some(seg) = parse_code(&input[body_start..close]) {
                    pending.push_str(&unescape(&input[text_start..open]));
                    if seg.is_text() {
                        // `[CQ:text,text=..]` is text: it merges with its neighbours.
                        if let Some(text) = seg.data.get("text").and_then(Value::as_str) {
                            pending.push_str(text);
                        }
                    } else {
                        flush(&mut segments, &mut pending);
                        segments.push(seg);
                    }
                    text_start = close + 1;
                    pos = close + 1;
                } else {
                    // Malformed: keep scanning after the `[`; it stays text.
                    pos = open + 1;
                }
            }
            Some(inner_open) => pos = inner_open,
            None => break,
        }
    }
    pending.push_str(&unescape(&input[text_start..]));
    flush(&mut segments, &mut pending);
    segments
}

/// Parses the inside of `[CQ:...]`; `None` when it is not a well-formed code.
fn parse_code(body: &str) -> Option<Segment> {
    let mut parts = body.split(',');
    let kind = parts.next().unwrap_or_default();
    if kind.is_empty() {
        return None;
    }
    let mut data = Map::new();
    for part in parts {
        let (key, value) = part.split_once('=')?;
        if key.is_empty() {
            return None;
        }
        data.insert(
            unescape(key).into_owned(),
            Value::String(unescape(value).into_owned()),
        );
    }
    Some(Segment::new(unescape(kind).into_owned(), data))
}

/// Writes segments as a CQ string: text escaped, every other segment as a code.
pub fn to_cq(segments: &[Segment]) -> String {
    let mut out = String::new();
    for seg in segments {
        write_segment(&mut out, &seg.kind, Some(&seg.data));
    }
    out
}

/// Appends one segment given as JSON (`{type, data}`) to a CQ string.
///
/// A value that is not an object, or has no string `type`, is skipped: there is
/// nothing meaningful to write for it.
pub(crate) fn write_segment_value(out: &mut String, seg: &Value) {
    let Some(obj) = seg.as_object() else { return };
    let Some(kind) = obj.get("type").and_then(Value::as_str) else {
        return;
    };
    write_segment(out, kind, obj.get("data").and_then(Value::as_object));
}

/// Appends a segment of the given type and data to a CQ string.
pub(crate) fn write_segment(out: &mut String, kind: &str, data: Option<&Map<String, Value>>) {
    if kind == "text" {
        if let Some(text) = data.and_then(|d| d.get("text")) {
            write_value(out, text, false);
        }
        return;
    }
    out.push_str("[CQ:");
    push_escaped(out, kind, true);
    for (key, value) in data.into_iter().flatten() {
        // Null means "not given": omitted, like an absent key.
        if value.is_null() {
            continue;
        }
        out.push(',');
        push_escaped(out, key, true);
        out.push('=');
        write_value(out, value, true);
    }
    out.push(']');
}

/// Writes a data value as CQ text: strings as they are, numbers and booleans
/// as their JSON text, a nested message (node `content`) as its CQ string, any
/// other array or object as JSON text. Escaped for a parameter or for text.
fn write_value(out: &mut String, value: &Value, param: bool) {
    match value {
        Value::Null => {}
        Value::String(s) => push_escaped(out, s, param),
        Value::Bool(b) => out.push_str(if *b { "true" } else { "false" }),
        Value::Number(n) => out.push_str(&n.to_string()),
        Value::Array(items) if items.iter().all(is_segment_like) => {
            let mut inner = String::new();
            for item in items {
                write_segment_value(&mut inner, item);
            }
            push_escaped(out, &inner, param);
        }
        other => push_escaped(out, &other.to_string(), param),
    }
}

fn is_segment_like(v: &Value) -> bool {
    v.get("type").is_some_and(Value::is_string)
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    fn seg(v: Value) -> Segment {
        Segment::from_value(&v).unwrap()
    }

    #[test]
    fn escapes_text_and_params_as_the_standard_says() {
        assert_eq!(
            escape_text("- [x] 使用 `&data` 获取地址"),
            "- &#91;x&#93; 使用 `&amp;data` 获取地址"
        );
        assert_eq!(escape_text("a,b"), "a,b");
        assert_eq!(escape_param("震惊,小伙"), "震惊&#44;小伙");
        assert_eq!(
            escape_param("http://baidu.com/?a=1&b=2"),
            "http://baidu.com/?a=1&amp;b=2"
        );
    }

    #[test]
    fn unescapes_amp_last() {
        assert_eq!(unescape("&amp;#91;"), "&#91;");
        assert_eq!(unescape("&#91;x&#93;&#44;&amp;"), "[x],&");
        assert_eq!(unescape("&lt; & &#9"), "&lt; & &#9");
        assert_eq!(unescape("末尾&"), "末尾&");
    }

    #[test]
    fn parses_the_standard_string_example() {
        let segs = parse_cq("[CQ:face,id=178]看看我刚拍的照片[CQ:image,file=123.jpg]");
        assert_eq!(
            segs,
            vec![
                seg(json!({"type":"face","data":{"id":"178"}})),
                seg(json!({"type":"text","data":{"text":"看看我刚拍的照片"}})),
                seg(json!({"type":"image","data":{"file":"123.jpg"}})),
            ]
        );
    }

    #[test]
    fn parses_the_standard_array_example() {
        let segs = parse_cq(
            "&#91;第一部分&#93;[CQ:image,file=123.jpg]图片之后的部分，表情：[CQ:face,id=123]",
        );
        assert_eq!(segs.len(), 4);
        assert_eq!(segs[0], Segment::text("[第一部分]"));
        assert_eq!(segs[2], Segment::text("图片之后的部分，表情："));
        assert_eq!(segs[3], seg(json!({"type":"face","data":{"id":"123"}})));
    }

    #[test]
    fn a_key_ends_at_the_first_equals_sign() {
        let segs = parse_cq("[CQ:share,title=标题中有=等号,url=http://baidu.com]");
        assert_eq!(
            segs,
            vec![seg(
                json!({"type":"share","data":{"title":"标题中有=等号","url":"http://baidu.com"}})
            )]
        );
    }

    #[test]
    fn share_example_unescapes_comma_and_amp() {
        let segs = parse_cq(
            "[CQ:share,title=震惊&#44;小伙睡觉前居然...,url=http://baidu.com/?a=1&amp;b=2]",
        );
        assert_eq!(segs[0].data["title"], "震惊,小伙睡觉前居然...");
        assert_eq!(segs[0].data["url"], "http://baidu.com/?a=1&b=2");
    }

    #[test]
    fn codes_without_params() {
        for kind in ["shake", "rps", "dice", "anonymous"] {
            let segs = parse_cq(&format!("[CQ:{kind}]"));
            assert_eq!(segs, vec![Segment::new(kind, Map::new())]);
            assert_eq!(to_cq(&segs), format!("[CQ:{kind}]"));
        }
    }

    #[test]
    fn malformed_codes_stay_text_and_merge() {
        for raw in [
            "[CQ:",
            "a[CQ:face,id=1",
            "[CQ:]",
            "x[CQ:face,id]y",
            "[CQ:face,=1]",
            "[CQ:face,]",
            "[CQ:face,id=1[CQ:",
            "[[CQ:",
            "]]][[[",
        ] {
            let segs = parse_cq(raw);
            assert_eq!(segs, vec![Segment::text(raw)], "{raw}");
        }
        // A malformed code followed by a real one: the text before is one segment.
        let segs = parse_cq("a[CQ:face,id=1[CQ:at,qq=2]b");
        assert_eq!(
            segs,
            vec![
                Segment::text("a[CQ:face,id=1"),
                seg(json!({"type":"at","data":{"qq":"2"}})),
                Segment::text("b"),
            ]
        );
    }

    #[test]
    fn a_text_code_is_text() {
        assert_eq!(
            parse_cq("a[CQ:text,text=b&#44;c]d[CQ:text]"),
            vec![Segment::text("ab,cd")]
        );
    }

    #[test]
    fn empty_input_is_no_segment() {
        assert!(parse_cq("").is_empty());
        assert_eq!(to_cq(&[]), "");
    }

    #[test]
    fn writes_numbers_bools_and_skips_null() {
        let s = seg(json!({"type":"at","data":{"qq":123,"name":null,"flag":true,"x":1.5}}));
        assert_eq!(to_cq(&[s]), "[CQ:at,qq=123,flag=true,x=1.5]");
    }

    #[test]
    fn writes_the_standard_node_example_with_nested_content() {
        let s = seg(json!({"type":"node","data":{
            "user_id":"10001000","nickname":"某人","content":"[CQ:face,id=123]哈喽～"}}));
        assert_eq!(
            to_cq(&[s]),
            "[CQ:node,user_id=10001000,nickname=某人,content=&#91;CQ:face&#44;id=123&#93;哈喽～]"
        );
        let arr = seg(json!({"type":"node","data":{
            "user_id":"10001000","nickname":"某人","content":[
                {"type":"face","data":{"id":"123"}},{"type":"text","data":{"text":"哈喽～"}}]}}));
        assert_eq!(
            to_cq(&[arr]),
            "[CQ:node,user_id=10001000,nickname=某人,content=&#91;CQ:face&#44;id=123&#93;哈喽～]"
        );
    }

    #[test]
    fn json_example_from_go_cqhttp_round_trips() {
        let raw = r#"[CQ:json,data={"app":"com.tencent.miniapp"&#44;"prompt":"&#91;应用&#93;"&#44;"x":&#91;1&#44;2&#93;}]"#;
        let segs = parse_cq(raw);
        assert_eq!(
            segs[0].data["data"],
            r#"{"app":"com.tencent.miniapp","prompt":"[应用]","x":[1,2]}"#
        );
        assert_eq!(to_cq(&segs), raw);
    }

    #[test]
    fn go_cqhttp_examples_parse() {
        let segs = parse_cq("[CQ:image,file=http://baidu.com/1.jpg,type=show,id=40004]");
        assert_eq!(
            segs[0],
            seg(
                json!({"type":"image","data":{"file":"http://baidu.com/1.jpg","type":"show","id":"40004"}})
            )
        );
        let segs = parse_cq("[CQ:reply,text=Hello World,qq=10086,time=3376656000,seq=5123]");
        assert_eq!(segs[0].data["text"], "Hello World");
        assert_eq!(segs[0].data["seq"], "5123");
        let segs = parse_cq("[CQ:music,type=custom,url=http://baidu.com,audio=http://baidu.com/1.mp3,title=音乐标题]");
        assert_eq!(segs[0].data.len(), 4);
        assert_eq!(segs[0].data["title"], "音乐标题");
    }
}
