//! Property tests of the protocol layer: the CQ codec round-trips arbitrary
//! text and parameters, and no parser panics on any input.

use onebot_gateway::protocol::classify;
use onebot_gateway::protocol::message::{
    parse_cq, to_array, to_cq, to_cq_string, validate_message, AtTarget, CustomNode, Image,
    ImageType, Location, Message, MessageSegment, Node, Reply, Segment, Share,
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
    let mut out: Vec<Segment> = Vec::new();
    for s in segs {
        if s.is_text() {
            let t = s.as_text().unwrap_or_default().into_owned();
            if t.is_empty() {
                continue;
            }
            if let Some(last) = out.last_mut().filter(|l| l.is_text()) {
                let joined = format!("{}{}", last.as_text().unwrap_or_default(), t);
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

fn opt_text() -> impl Strategy<Value = Option<String>> {
    prop::option::of(tricky_text())
}

fn non_empty_text() -> impl Strategy<Value = String> {
    tricky_text().prop_filter("non-empty", |t| !t.is_empty())
}

/// Typed segments with arbitrary values in every field the type has.
fn typed_segment() -> impl Strategy<Value = MessageSegment> {
    prop_oneof![
        non_empty_text().prop_map(MessageSegment::Text),
        any::<i64>().prop_map(MessageSegment::Face),
        (any::<i64>(), opt_text()).prop_map(|(qq, name)| MessageSegment::At {
            qq: AtTarget::User(qq),
            name
        }),
        Just(MessageSegment::At {
            qq: AtTarget::All,
            name: None
        }),
        (
            tricky_text(),
            prop::option::of(prop_oneof![
                Just(ImageType::Flash),
                Just(ImageType::Show),
                "[a-z]{1,5}"
                    .prop_filter("other", |s| s != "flash" && s != "show")
                    .prop_map(ImageType::Other),
            ]),
            opt_text(),
            prop::option::of(any::<bool>()),
            prop::option::of(any::<i64>()),
            prop::option::of(any::<i64>()),
        )
            .prop_map(|(file, image_type, url, cache, effect_id, threads)| {
                MessageSegment::Image(Image {
                    file,
                    image_type,
                    url,
                    cache,
                    effect_id,
                    threads,
                    ..Image::default()
                })
            }),
        any::<i64>().prop_map(|id| MessageSegment::Reply(Reply::Id(id))),
        (
            tricky_text(),
            any::<i64>(),
            prop::option::of(any::<i64>()),
            prop::option::of(any::<i64>())
        )
            .prop_map(
                |(text, qq, time, seq)| MessageSegment::Reply(Reply::Custom {
                    text,
                    qq,
                    time,
                    seq
                })
            ),
        (tricky_text(), tricky_text(), opt_text(), opt_text()).prop_map(
            |(url, title, content, image)| MessageSegment::Share(Share {
                url,
                title,
                content,
                image
            })
        ),
        (-90.0f64..90.0, -180.0f64..180.0, opt_text()).prop_map(|(lat, lon, title)| {
            MessageSegment::Location(Location {
                lat,
                lon,
                title,
                content: None,
            })
        }),
        (any::<i64>(), any::<i64>()).prop_map(|(qq, id)| MessageSegment::Gift { qq, id }),
        non_empty_text().prop_map(MessageSegment::Tts),
        (opt_text(), prop::option::of(any::<i64>()), non_empty_text()).prop_map(
            |(nickname, user_id, text)| MessageSegment::Node(Node::Custom(CustomNode {
                nickname,
                user_id,
                content: vec![Segment::text(text)],
                ..CustomNode::default()
            }))
        ),
    ]
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
        let arr = Value::Array(segs.iter().map(Segment::to_value).collect());
        let back = to_array(&Value::String(to_cq_string(&arr)));
        let want = Value::Array(normalize(&segs).iter().map(Segment::to_value).collect());
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
    fn typed_segments_survive_array_and_cq(seg in typed_segment()) {
        let wire = seg.to_segment();
        prop_assert_eq!(wire.typed(), Ok(seg.clone()));
        let json = serde_json::to_value(&wire).unwrap();
        let back: Segment = serde_json::from_value(json).unwrap();
        prop_assert_eq!(back.typed(), Ok(seg.clone()));
        let cq = seg.to_cq();
        let parsed = parse_cq(&cq);
        prop_assert_eq!(parsed.len(), 1, "cq: {}", cq);
        prop_assert_eq!(parsed[0].typed(), Ok(seg), "cq: {}", cq);
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
        let _ = Message::from_value(&v).map(|m| m.typed());
    }
}

#[test]
fn deeply_nested_frame_is_an_error_not_a_crash() {
    let deep = format!("{}{}", "{\"a\":".repeat(10_000), "1");
    assert!(classify(&deep).is_err());
    let deep_array = format!("{{\"post_type\":\"message\",\"x\":{}", "[".repeat(100_000));
    assert!(classify(&deep_array).is_err());
}
