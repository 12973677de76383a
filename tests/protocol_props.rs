//! Property tests of the protocol layer: the CQ codec round-trips arbitrary
//! text and parameters, documented segments validate (and a bad field is
//! named), and no parser panics on any input.

use onebot_gateway::protocol::classify;
use onebot_gateway::protocol::message::{
    parse_cq, to_array, to_cq, to_cq_string, validate_message, Message, Segment,
};
use proptest::prelude::*;
use serde_json::{json, Map, Value};

/// Text rich in what CQ escaping must handle: `&[],=`, entities, code-like
/// fragments, CJK and emoji, glued from pieces so they appear often.
fn tricky_text() -> impl Strategy<Value = String> {
    let piece = prop_oneof![
        "[a-zA-Z0-9 ]{0,4}",
        Just("&".to_owned()),
        Just("[".to_owned()),
        Just("]".to_owned()),
        Just(",".to_owned()),
        Just("=".to_owned()),
        Just("&amp;".to_owned()),
        Just("&#91;".to_owned()),
        Just("&#93;".to_owned()),
        Just("&#44;".to_owned()),
        Just("&#".to_owned()),
        Just("[CQ:".to_owned()),
        Just("[CQ:face,id=1]".to_owned()),
        Just("[CQ:]".to_owned()),
        Just("[CQ:text,text=".to_owned()),
        "[\u{4e00}-\u{9fa5}]{1,3}",
        "[😀-🙏🎉🀄]{1,2}",
        Just("\n\t\r".to_owned()),
        any::<String>(),
    ];
    prop::collection::vec(piece, 0..8).prop_map(|p| p.concat())
}

fn segment() -> impl Strategy<Value = Segment> {
    let text = tricky_text().prop_map(Segment::text);
    let code = (
        "[a-z][a-z_]{0,7}".prop_filter("not text", |k| k != "text"),
        prop::collection::vec(("[a-z_][a-z0-9_]{0,5}", tricky_text()), 0..4),
    )
        .prop_map(|(kind, params)| {
            let mut data = Map::new();
            for (k, v) in params {
                data.insert(k, Value::String(v));
            }
            Segment::new(kind, data)
        });
    prop_oneof![text, code]
}

/// What a segment array looks like after a trip through a CQ string: the CQ
/// format cannot tell two adjacent texts from one, nor hold an empty text.
fn normalize(segs: &[Segment]) -> Vec<Segment> {
    let text = |s: &Segment| s.data["text"].as_str().unwrap_or_default().to_owned();
    let mut out: Vec<Segment> = Vec::new();
    for s in segs {
        if s.is_text() {
            let t = text(s);
            if t.is_empty() {
                continue;
            }
            if let Some(last) = out.last_mut().filter(|l| l.is_text()) {
                let joined = format!("{}{}", text(last), t);
                *last = Segment::text(joined);
                continue;
            }
            out.push(Segment::text(t));
        } else {
            out.push(s.clone());
        }
    }
    out
}

fn non_empty_text() -> impl Strategy<Value = String> {
    tricky_text().prop_filter("non-empty", |t| !t.is_empty())
}

/// How a documented field's value looks.
#[derive(Debug, Clone, Copy)]
enum F {
    Text,
    /// An integer, as a JSON number or as text.
    Int,
    /// A number, as JSON or as text.
    Num,
    /// A flag in any of its spellings.
    Flag,
    /// `at.qq`: an account or `all`.
    Qq,
    /// Exactly this text.
    Is(&'static str),
    /// Node content: a CQ string or an array of segments.
    Msg,
}

/// Whether a field is required: `Or(f)` when a missing value is reported as
/// `f`, the alternative the app could have sent instead.
#[derive(Debug, Clone, Copy, PartialEq)]
enum Need {
    Opt,
    Req,
    Or(&'static str),
}

use Need::{Opt, Or, Req};
use F::{Flag, Int, Is, Msg, Num, Qq, Text};

type Fields = &'static [(&'static str, F, Need)];

/// The documented segment types (one row per form) with the fields an app sets.
#[rustfmt::skip]
const DOCUMENTED: &[(&str, Fields)] = &[
    ("text", &[("text", Text, Req)]),
    ("face", &[("id", Int, Req)]),
    ("image", &[("file", Text, Req), ("type", Text, Opt), ("url", Text, Opt), ("cache", Flag, Opt),
        ("proxy", Flag, Opt), ("timeout", Int, Opt), ("id", Int, Opt), ("c", Int, Opt)]),
    ("record", &[("file", Text, Req), ("magic", Flag, Opt), ("timeout", Int, Opt)]),
    ("video", &[("file", Text, Req), ("cover", Text, Opt), ("c", Int, Opt)]),
    ("at", &[("qq", Qq, Req), ("name", Text, Opt)]),
    ("poke", &[("qq", Int, Req)]),
    ("poke", &[("type", Text, Or("qq")), ("id", Text, Opt)]),
    ("anonymous", &[("ignore", Flag, Opt)]),
    ("share", &[("url", Text, Req), ("title", Text, Req), ("content", Text, Opt), ("image", Text, Opt)]),
    ("contact", &[("type", Is("group"), Req), ("id", Int, Req)]),
    ("location", &[("lat", Num, Req), ("lon", Num, Req), ("title", Text, Opt)]),
    ("music", &[("type", Is("163"), Req), ("id", Text, Req)]),
    ("music", &[("type", Is("custom"), Req), ("url", Text, Req), ("audio", Text, Req),
        ("title", Text, Req), ("image", Text, Opt)]),
    ("reply", &[("id", Int, Req)]),
    ("reply", &[("text", Text, Or("id")), ("qq", Int, Req), ("time", Int, Opt), ("seq", Int, Opt)]),
    ("forward", &[("id", Text, Req)]),
    ("node", &[("id", Int, Req)]),
    ("node", &[("content", Msg, Or("id")), ("name", Text, Opt), ("uin", Int, Opt)]),
    ("node", &[("content", Msg, Or("id")), ("nickname", Text, Opt), ("user_id", Int, Opt),
        ("seq", Text, Opt), ("time", Int, Opt)]),
    ("xml", &[("data", Text, Req), ("resid", Int, Opt)]),
    ("cardimage", &[("file", Text, Req), ("maxheight", Int, Opt), ("source", Text, Opt)]),
    ("tts", &[("text", Text, Req)]),
    ("redbag", &[("title", Text, Req)]),
    ("gift", &[("qq", Int, Req), ("id", Int, Req)]),
];

fn value(f: F) -> BoxedStrategy<Value> {
    let int =
        (any::<i64>(), any::<bool>())
            .prop_map(|(n, text)| if text { json!(n.to_string()) } else { json!(n) });
    match f {
        Text => non_empty_text().prop_map(Value::String).boxed(),
        Int => int.boxed(),
        Num => (-180.0f64..180.0, any::<bool>())
            .prop_map(|(n, text)| if text { json!(n.to_string()) } else { json!(n) })
            .boxed(),
        Flag => prop::sample::select(vec![
            json!(true),
            json!(false),
            json!(0),
            json!(1),
            json!("1"),
            json!("0"),
            json!("yes"),
            json!("NO"),
            json!("true"),
            json!("false"),
        ])
        .boxed(),
        Qq => prop_oneof![Just(json!("all")), int].boxed(),
        Is(s) => Just(json!(s)).boxed(),
        Msg => prop_oneof![
            tricky_text().prop_map(Value::String),
            prop::collection::vec(non_empty_text(), 1..3).prop_map(|texts| {
                Value::Array(
                    texts
                        .into_iter()
                        .map(|t| Segment::text(t).into_value())
                        .collect(),
                )
            }),
        ]
        .boxed(),
    }
}

/// A value of the wrong type for `f`.
fn spoiled(f: F) -> BoxedStrategy<Value> {
    let pick = |vs: Vec<Value>| prop::sample::select(vs).boxed();
    match f {
        Text | Is(_) => pick(vec![json!([1]), json!({"a": 1})]),
        Int => pick(vec![json!("abc"), json!(1.5), json!([]), json!(true)]),
        Num => pick(vec![json!("north"), json!("inf"), json!(true), json!({})]),
        Flag => pick(vec![json!("maybe"), json!(2), json!([])]),
        Qq => pick(vec![json!("everyone"), json!(1.5), json!([])]),
        Msg => pick(vec![json!(5), json!(true)]),
    }
}

/// A documented segment with generated values, and the fields it sets.
#[derive(Debug, Clone)]
struct Documented {
    seg: Segment,
    fields: Vec<(&'static str, F, Need)>,
}

fn documented() -> impl Strategy<Value = Documented> {
    prop::sample::select(DOCUMENTED).prop_flat_map(|(kind, fields)| {
        let values: Vec<_> = fields
            .iter()
            .map(|&(name, f, need)| {
                let keep = if need == Opt {
                    any::<bool>().boxed()
                } else {
                    Just(true).boxed()
                };
                (keep, value(f)).prop_map(move |(keep, v)| keep.then_some((name, f, need, v)))
            })
            .collect();
        values.prop_map(move |values| {
            let set: Vec<_> = values.into_iter().flatten().collect();
            let data = set.iter().map(|(n, _, _, v)| ((*n).to_owned(), v.clone()));
            Documented {
                seg: Segment::new(kind, data.collect()),
                fields: set
                    .into_iter()
                    .map(|(n, f, need, _)| (n, f, need))
                    .collect(),
            }
        })
    })
}

/// A documented segment with one of its fields spoiled: (segment, field name).
fn spoiled_segment() -> impl Strategy<Value = (Segment, &'static str)> {
    let doc = documented().prop_filter("sets a field", |d| !d.fields.is_empty());
    (doc, any::<prop::sample::Index>()).prop_flat_map(|(doc, pick)| {
        let (name, f, _) = doc.fields[pick.index(doc.fields.len())];
        spoiled(f).prop_map(move |bad| {
            let mut seg = doc.seg.clone();
            seg.data.insert(name.to_owned(), bad);
            (seg, name)
        })
    })
}

/// The segment as a CQ code writes it: every value as its text.
fn as_cq_text(seg: &Segment) -> Segment {
    let text = |v: &Value| match v {
        Value::String(s) => json!(s),
        other => json!(other.to_string()),
    };
    Segment::new(
        seg.kind.clone(),
        seg.data.iter().map(|(k, v)| (k.clone(), text(v))).collect(),
    )
}

fn json_value() -> impl Strategy<Value = Value> {
    let leaf = prop_oneof![
        Just(Value::Null),
        any::<bool>().prop_map(Value::from),
        any::<i64>().prop_map(Value::from),
        any::<f64>()
            .prop_filter("finite", |f| f.is_finite())
            .prop_map(Value::from),
        tricky_text().prop_map(Value::from),
    ];
    leaf.prop_recursive(4, 48, 6, |inner| {
        let key = prop_oneof![
            Just("type".to_owned()),
            Just("data".to_owned()),
            Just("text".to_owned()),
            Just("qq".to_owned()),
            Just("id".to_owned()),
            Just("content".to_owned()),
            Just("post_type".to_owned()),
            Just("action".to_owned()),
            Just("params".to_owned()),
            Just("echo".to_owned()),
            Just("status".to_owned()),
            Just("retcode".to_owned()),
            Just("message".to_owned()),
            Just("self_id".to_owned()),
            Just("time".to_owned()),
            Just("stream".to_owned()),
            "[a-z]{1,4}",
        ];
        prop_oneof![
            prop::collection::vec(inner.clone(), 0..6).prop_map(Value::Array),
            prop::collection::vec((key, inner), 0..6)
                .prop_map(|kv| Value::Object(kv.into_iter().collect())),
        ]
    })
}

proptest! {
    #![proptest_config(ProptestConfig::with_cases(512))]

    #[test]
    fn text_round_trips_through_cq(text in tricky_text()) {
        let arr = json!([{"type": "text", "data": {"text": text}}]);
        let back = to_array(&Value::String(to_cq_string(&arr)));
        if text.is_empty() {
            prop_assert_eq!(back, json!([]));
        } else {
            prop_assert_eq!(back, arr);
        }
    }

    #[test]
    fn segments_round_trip_through_cq(segs in prop::collection::vec(segment(), 0..6)) {
        let cq = to_cq(&segs);
        prop_assert_eq!(parse_cq(&cq), normalize(&segs), "cq: {}", cq);
        // The same through the JSON functions the event bus uses.
        let json = |segs: Vec<Segment>| Value::Array(segs.into_iter().map(Segment::into_value).collect());
        let arr = json(segs.clone());
        let back = to_array(&Value::String(to_cq_string(&arr)));
        let want = json(normalize(&segs));
        prop_assert_eq!(back, want);
    }

    #[test]
    fn number_and_bool_params_come_back_as_their_text(n in any::<i64>(), f in -1.0e9f64..1.0e9, b in any::<bool>()) {
        let arr = json!([{"type": "x", "data": {"n": n, "f": f, "b": b, "z": null}}]);
        let back = to_array(&Value::String(to_cq_string(&arr)));
        prop_assert_eq!(&back[0]["data"]["n"], &json!(n.to_string()));
        prop_assert_eq!(back[0]["data"]["f"].as_str().and_then(|s| s.parse::<f64>().ok()), Some(f));
        prop_assert_eq!(&back[0]["data"]["b"], &json!(b.to_string()));
        prop_assert!(back[0]["data"].get("z").is_none());
    }

    #[test]
    fn documented_segments_validate_and_survive_json_and_cq(doc in documented()) {
        let seg = doc.seg;
        prop_assert_eq!(seg.validate(), Ok(()));
        let json = seg.clone().into_value();
        prop_assert_eq!(Segment::from_value(&json), Ok(seg.clone()));
        prop_assert_eq!(validate_message(&json!([json])), Ok(()));
        let cq = to_cq(std::slice::from_ref(&seg));
        prop_assert_eq!(validate_message(&json!(cq)), Ok(()), "cq: {}", cq);
        let parsed = parse_cq(&cq);
        prop_assert_eq!(parsed.len(), 1, "cq: {}", cq);
        prop_assert_eq!(parsed[0].validate(), Ok(()), "cq: {}", cq);
        // Node content given as segments comes back as its CQ string.
        if !seg.data.get("content").is_some_and(Value::is_array) {
            prop_assert_eq!(&parsed[0], &as_cq_text(&seg), "cq: {}", cq);
        }
    }

    #[test]
    fn a_spoiled_field_is_named((seg, name) in spoiled_segment()) {
        let err = seg.validate().unwrap_err();
        prop_assert_eq!(&err.field, &format!("data.{name}"), "{:?}", seg);
        prop_assert!(!err.expected.is_empty());
        // Inside a message, and inside a forward node's content.
        let text = Segment::text("x").into_value();
        let msg = json!([text, seg.clone().into_value()]);
        let err = validate_message(&msg).unwrap_err();
        prop_assert_eq!(err.path(), format!("message[1].data.{name}"));
        let node = json!({"type": "node", "data": {"content": msg}});
        let err = validate_message(&node).unwrap_err();
        prop_assert_eq!(err.path(), format!("message[0].data.content[1].data.{name}"));
    }

    #[test]
    fn a_missing_required_field_is_named(doc in documented(), pick in any::<prop::sample::Index>()) {
        let required: Vec<_> = doc.fields.iter().filter(|f| f.2 != Opt).collect();
        prop_assume!(!required.is_empty());
        let (name, _, need) = *required[pick.index(required.len())];
        let mut seg = doc.seg;
        seg.data.remove(name);
        let named = if let Or(other) = need { other } else { name };
        prop_assert_eq!(seg.validate().unwrap_err().field, format!("data.{named}"), "{:?}", seg);
    }

    #[test]
    fn cq_parser_is_total_and_stable(s in prop_oneof![any::<String>(), tricky_text()]) {
        let segs = parse_cq(&s);
        // No empty or adjacent text segments come out of the parser.
        prop_assert_eq!(&normalize(&segs), &segs);
        // Writing what was parsed and parsing again changes nothing.
        prop_assert_eq!(parse_cq(&to_cq(&segs)), segs);
    }

    #[test]
    fn cq_parser_handles_arbitrary_bytes(bytes in prop::collection::vec(any::<u8>(), 0..64)) {
        let s = String::from_utf8_lossy(&bytes);
        let _ = parse_cq(&s);
    }

    #[test]
    fn classify_never_panics_on_text(s in prop_oneof![any::<String>(), tricky_text()]) {
        let _ = classify(&s);
        let _ = classify(&format!("{{{s}"));
        let _ = classify(&format!("{{\"action\":{s}}}"));
    }

    #[test]
    fn classify_never_panics_on_json(v in json_value()) {
        let text = v.to_string();
        let _ = classify(&text);
        // Prefixes of valid JSON are the common truncated-frame case.
        for cut in [1usize, 2, 7, text.len() / 2] {
            if let Some(prefix) = text.get(..cut.min(text.len())) {
                let _ = classify(prefix);
            }
        }
    }

    #[test]
    fn message_functions_never_panic_on_json(v in json_value()) {
        let _ = to_array(&v);
        let cq = to_cq_string(&v);
        let _ = parse_cq(&cq);
        let _ = validate_message(&v);
        if let Ok(m) = Message::from_value(&v) {
            for seg in &m.0 {
                let _ = seg.validate();
            }
        }
    }
}

#[test]
fn deeply_nested_frame_is_an_error_not_a_crash() {
    let deep = format!("{}{}", "{\"a\":".repeat(10_000), "1");
    assert!(classify(&deep).is_err());
    let deep_array = format!("{{\"post_type\":\"message\",\"x\":{}", "[".repeat(100_000));
    assert!(classify(&deep_array).is_err());
}
