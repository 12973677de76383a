//! Unit tests of the typed params, from the documents' examples.

use super::*;
use serde_json::json;

fn ok(action: &str, params: Value) -> Action {
    match parse(action, &params) {
        Ok(Some(a)) => a,
        other => panic!("{action} {params}: {other:?}"),
    }
}

fn err(action: &str, params: Value) -> ParamError {
    match parse(action, &params) {
        Err(e) => e,
        other => panic!("{action} {params} should fail: {other:?}"),
    }
}

#[test]
fn napcat_send_group_msg_example() {
    let a = ok(
        "send_group_msg",
        json!({"group_id": 2, "message": [{"data": {"text": "occaecat sunt nisi aute"}, "type": "text"}]}),
    );
    let Action::SendGroupMsg(p) = a else {
        panic!("{a:?}")
    };
    assert_eq!(p.group_id, 2);
    assert!(!p.auto_escape);
    assert!(!p.message.is_string());
}

#[test]
fn ids_as_numbers_or_numeric_strings() {
    let Action::GetGroupMemberInfo(p) = ok(
        "get_group_member_info",
        json!({"no_cache": false, "group_id": "87", "user_id": "10"}),
    ) else {
        panic!()
    };
    assert_eq!((p.group_id, p.user_id, p.no_cache), (87, 10, false));
    // Koishi sends ids ≥ 2^32 as strings.
    let Action::SendPrivateMsg(p) = ok(
        "send_private_msg",
        json!({"user_id": "4294967296", "message": "hi"}),
    ) else {
        panic!()
    };
    assert_eq!(p.user_id, 4_294_967_296);
    let e = err(
        "send_private_msg",
        json!({"user_id": "12ab", "message": "hi"}),
    );
    assert_eq!(e.field, "user_id");
    assert!(e.to_string().contains("\"12ab\""), "{e}");
}

#[test]
fn booleans_in_every_spelling_and_defaults() {
    for (v, want) in [
        (json!(true), true),
        (json!("true"), true),
        (json!(1), true),
        (json!("1"), true),
        (json!(false), false),
        (json!("false"), false),
        (json!(0), false),
        (json!("0"), false),
        (json!("yes"), true),
        (json!("No"), false),
    ] {
        let Action::SetGroupWholeBan(p) = ok(
            "set_group_whole_ban",
            json!({"group_id": 1, "enable": v.clone()}),
        ) else {
            panic!()
        };
        assert_eq!(p.enable, want, "{v}");
    }
    let Action::SetGroupWholeBan(p) = ok("set_group_whole_ban", json!({"group_id": 1})) else {
        panic!()
    };
    assert!(p.enable, "the standard's default is true");
    let Action::SetGroupWholeBan(p) =
        ok("set_group_whole_ban", json!({"group_id": 1, "enable": " "}))
    else {
        panic!()
    };
    assert!(p.enable, "a blank flag is not given: the default holds");
    let e = err(
        "set_group_whole_ban",
        json!({"group_id": 1, "enable": "maybe"}),
    );
    assert_eq!(e.field, "enable");
    // A blank id is not given either: required ones are missing, optional ones absent.
    let e = err("get_group_info", json!({"group_id": ""}));
    assert!(e.expected.contains("missing"), "{e}");
    let Action::GetGroupMsgHistory(p) = ok(
        "get_group_msg_history",
        json!({"group_id": 1, "message_seq": ""}),
    ) else {
        panic!()
    };
    assert_eq!(p.message_seq, None);
}

#[test]
fn standard_defaults_are_filled_in() {
    let Action::SetGroupBan(p) = ok("set_group_ban", json!({"group_id": 1, "user_id": 2})) else {
        panic!()
    };
    assert_eq!(p.duration, 1800);
    let Action::SetGroupSpecialTitle(p) = ok(
        "set_group_special_title",
        json!({"group_id": 1, "user_id": 2}),
    ) else {
        panic!()
    };
    assert_eq!((p.special_title.as_str(), p.duration), ("", -1));
    let Action::SendLike(p) = ok("send_like", json!({"user_id": 2})) else {
        panic!()
    };
    assert_eq!(p.times, 1);
    let Action::SetFriendAddRequest(p) = ok("set_friend_add_request", json!({"flag": "f"})) else {
        panic!()
    };
    assert!(p.approve);
    assert_eq!(p.remark, "");
    let Action::SetRestart(p) = ok("set_restart", Value::Null) else {
        panic!()
    };
    assert_eq!(p.delay, 0);
    // null means absent, so the default applies.
    let Action::SetGroupBan(p) = ok(
        "set_group_ban",
        json!({"group_id": 1, "user_id": 2, "duration": null}),
    ) else {
        panic!()
    };
    assert_eq!(p.duration, 1800);
}

#[test]
fn send_msg_infers_message_type() {
    let Action::SendMsg(p) = ok("send_msg", json!({"group_id": 5, "message": "x"})) else {
        panic!()
    };
    assert_eq!((p.message_type, p.group_id), (MessageType::Group, Some(5)));
    let Action::SendMsg(p) = ok("send_msg", json!({"user_id": "7", "message": "x"})) else {
        panic!()
    };
    assert_eq!((p.message_type, p.user_id), (MessageType::Private, Some(7)));
    // NoneBot sends all three; the explicit type wins.
    let Action::SendMsg(p) = ok(
        "send_msg",
        json!({"message_type": "private", "user_id": 7, "group_id": 5, "message": "x"}),
    ) else {
        panic!()
    };
    assert_eq!((p.message_type, p.user_id), (MessageType::Private, Some(7)));

    let e = err("send_msg", json!({"message": "x"}));
    assert_eq!(e.field, "message_type");
    assert!(e.to_string().contains("group_id"), "{e}");
    let e = err(
        "send_msg",
        json!({"message_type": "group", "user_id": 1, "message": "x"}),
    );
    assert_eq!(e.field, "group_id");
    let e = err(
        "send_msg",
        json!({"message_type": "guild", "group_id": 1, "message": "x"}),
    );
    assert_eq!(e.field, "message_type");
    let e = err("send_msg", json!({"group_id": 1}));
    assert_eq!(e.field, "message");
}

#[test]
fn message_segment_errors_name_the_index() {
    let e = err(
        "send_group_msg",
        json!({"group_id": 1, "message": [{"type": "text", "data": {"text": "a"}}, {"type": "at", "data": 3}]}),
    );
    assert_eq!(e.field, "message[1].data");
    assert!(e.to_string().contains("message[1].data"), "{e}");
}

#[test]
fn aliases_are_read_and_the_documented_name_is_reported() {
    let Action::GetForwardMsg(p) = ok("get_forward_msg", json!({"message_id": "abc"})) else {
        panic!()
    };
    assert_eq!(p.id, "abc");
    assert_eq!(err("get_forward_msg", json!({})).field, "id");
    let Action::SetGroupAddRequest(p) = ok(
        "set_group_add_request",
        json!({"flag": "f", "type": "invite", "approve": "false"}),
    ) else {
        panic!()
    };
    assert_eq!(p.sub_type, Some(GroupRequestKind::Invite));
    assert!(!p.approve);
    let Action::SetGroupAnonymousBan(p) = ok(
        "set_group_anonymous_ban",
        json!({"group_id": 1, "flag": "anon-flag"}),
    ) else {
        panic!()
    };
    assert_eq!(p.flag.as_deref(), Some("anon-flag"));
    assert_eq!(
        err("set_group_anonymous_ban", json!({"group_id": 1})).field,
        "anonymous"
    );
    let Action::SetGroupHead(p) = ok(
        "set_group_head",
        json!({"groupCode": "25", "file": "https://x"}),
    ) else {
        panic!()
    };
    assert_eq!(p.group_id, 25);
}

#[test]
fn suffixes_are_stripped() {
    assert_eq!(split_suffix("send_msg_async"), ("send_msg", Suffix::Async));
    assert_eq!(
        split_suffix("send_group_msg_rate_limited"),
        ("send_group_msg", Suffix::RateLimited)
    );
    assert_eq!(split_suffix("get_status"), ("get_status", Suffix::None));
    assert_eq!(split_suffix("_async"), ("_async", Suffix::None));
    assert!(matches!(
        parse("get_status_async", &Value::Null),
        Ok(Some(Action::GetStatus(_)))
    ));
    assert_eq!(
        err(
            "send_group_msg_rate_limited",
            json!({"group_id": true, "message": "x"})
        )
        .field,
        "group_id"
    );
}

#[test]
fn unknown_actions_pass_untyped() {
    assert_eq!(
        parse("get_guild_service_profile", &json!({"x": 1})),
        Ok(None)
    );
    assert_eq!(parse("some_future_action", &json!([1, 2])), Ok(None));
    assert_eq!(validate("some_future_action", &json!("x")), Ok(()));
    assert!(!is_known("some_future_action"));
    assert!(is_known("send_msg_async") && is_known(".handle_quick_operation"));
}

#[test]
fn params_must_be_an_object_or_null() {
    let e = err("get_login_info", json!([]));
    assert_eq!(e.field, "params");
    assert!(e.to_string().contains("an object"), "{e}");
    assert!(parse("get_login_info", &Value::Null).unwrap().is_some());
    assert!(parse("get_login_info", &json!({})).unwrap().is_some());
    assert_eq!(err("delete_msg", Value::Null).field, "message_id");
}

#[test]
fn display_names_field_and_expectation() {
    let e = err("set_group_kick", json!({"group_id": 1, "user_id": [1]}));
    let text = e.to_string();
    assert!(text.contains("`user_id`"), "{text}");
    assert!(text.contains("an integer or a numeric string"), "{text}");
    assert!(text.contains("got an array"), "{text}");
    let e = err("set_group_kick", json!({"group_id": 1}));
    assert!(e.to_string().contains("missing"), "{e}");
}

#[test]
fn range_checks() {
    assert_eq!(
        err(
            "set_group_ban",
            json!({"group_id": 1, "user_id": 2, "duration": -5})
        )
        .field,
        "duration"
    );
    assert_eq!(
        err("send_like", json!({"user_id": 2, "times": 0})).field,
        "times"
    );
}

#[test]
fn params_json_uses_wire_names_and_defaults() {
    let a = ok(
        "fetch_emoji_like",
        json!({"message_id": 1972285709, "emojiType": "1", "emojiId": 76}),
    );
    assert_eq!(a.name(), "fetch_emoji_like");
    assert_eq!(
        a.params_json(),
        json!({"message_id": 1972285709, "emojiType": "1", "emojiId": "76", "count": 20})
    );
    let a = ok("get_group_honor_info", json!({"group_id": "3"}));
    assert_eq!(a.params_json(), json!({"group_id": 3, "type": "all"}));
}

#[test]
fn every_known_action_name_parses_and_reports_its_own_name() {
    // Null params either parse (no required field) or name a real field.
    for name in KNOWN_ACTIONS {
        match parse(name, &Value::Null) {
            Ok(Some(a)) => assert_eq!(a.name(), *name),
            Ok(None) => panic!("{name} is not recognised"),
            Err(e) => assert_ne!(e.field, "params", "{name}: {e}"),
        }
    }
    let mut sorted = KNOWN_ACTIONS.to_vec();
    sorted.sort_unstable();
    sorted.dedup();
    assert_eq!(sorted.len(), KNOWN_ACTIONS.len(), "duplicate action names");
}

#[test]
fn quick_operation_is_typed_with_spec_defaults() {
    let Action::HandleQuickOperation(p) = ok(
        ".handle_quick_operation",
        json!({"context": {"post_type": "message", "message_type": "group", "group_id": 1, "user_id": 2},
               "operation": {"reply": "hi", "ban": "1", "x_custom": 5}}),
    ) else {
        panic!()
    };
    let op = &p.operation;
    assert_eq!(op.reply, Some(MessageParam(json!("hi"))));
    assert!(op.ban && op.at_sender && !op.kick && !op.delete);
    assert_eq!(op.ban_duration, 1800);
    assert_eq!(op.approve, None);
    assert_eq!(op.extra["x_custom"], 5);
    let e = err(
        ".handle_quick_operation",
        json!({"context": {}, "operation": {"reply": [{"type": 1}]}}),
    );
    assert_eq!(e.field, "operation.reply[0].type");
    let e = err(
        ".handle_quick_operation",
        json!({"context": {}, "operation": {"ban_duration": "long"}}),
    );
    assert_eq!(e.field, "operation.ban_duration");
}
