//! The protocol layer against the API documents in `tests/spec/` (copies of
//! `shared/spec/`): every NapCat request example and every go-cqhttp
//! parameter table parses and validates as the action it documents; every
//! go-cqhttp event table gives a typed event; every known action refuses a bad
//! param naming the right field; `validate` never panics on any params.

use onebot_gateway::protocol::action::{parse, validate, Action, ParamError, KNOWN_ACTIONS};
use onebot_gateway::protocol::{classify, Frame};
use proptest::prelude::*;
use serde_json::{json, Map, Value};

fn spec(name: &str) -> String {
    let path = std::path::Path::new(env!("CARGO_MANIFEST_DIR"))
        .join("tests/spec")
        .join(name);
    let bytes = std::fs::read(&path).unwrap_or_else(|e| panic!("{}: {e}", path.display()));
    String::from_utf8_lossy(&bytes).into_owned()
}

/// Removes commas that directly precede `}` or `]` outside strings: the
/// NapCat document has examples like `{"a": 1,}`, which are not JSON.
fn strip_trailing_commas(text: &str) -> String {
    let chars: Vec<char> = text.chars().collect();
    let mut out = String::with_capacity(text.len());
    let (mut in_string, mut escaped) = (false, false);
    for (i, &c) in chars.iter().enumerate() {
        if in_string {
            match (escaped, c) {
                (true, _) => escaped = false,
                (false, '\\') => escaped = true,
                (false, '"') => in_string = false,
                _ => {}
            }
        } else if c == '"' {
            in_string = true;
        } else if c == ',' {
            let next = chars[i + 1..].iter().find(|c| !c.is_whitespace());
            if matches!(next, Some('}' | ']')) {
                continue;
            }
        }
        out.push(c);
    }
    out
}

/// The body of the fenced block opening at or after `from`, and the line after it.
fn fenced_block(lines: &[&str], from: usize) -> Option<(String, usize)> {
    let start = (from..lines.len()).find(|i| lines[*i].trim_start().starts_with("```"))?;
    let end = (start + 1..lines.len()).find(|i| lines[*i].trim_start().starts_with("```"))?;
    Some((lines[start + 1..end].join("\n"), end + 1))
}

fn expect_typed(name: &str, params: &Value) -> Result<(), String> {
    match parse(name, params) {
        Ok(Some(action)) if action.name() == name => {
            validate(name, params).map_err(|e| format!("{name}: parse ok but validate failed: {e}"))
        }
        Ok(Some(action)) => Err(format!("{name}: parsed as {}", action.name())),
        Ok(None) => Err(format!("{name}: not a known action")),
        Err(e) => Err(format!("{name} {params}: {e}")),
    }
}

/// NapCat examples whose id is the API tool's placeholder text (`"group_id":
/// "string"`) rather than an id: these must be refused, naming the field.
const PLACEHOLDERS: &[(&str, &str)] = &[("ArkShareGroupEx", "group_id")];

#[test]
fn every_napcat_request_example_parses_as_its_action() {
    let doc = spec("napcat-extension-api.md");
    let lines: Vec<&str> = doc.lines().collect();
    let (mut checked, mut failures) = (Vec::new(), Vec::new());
    for (i, line) in lines.iter().enumerate() {
        let Some(name) = line.strip_prefix("POST /") else {
            continue;
        };
        let name = name.trim();
        // The request example is the first block after "Body 请求参数", before the next endpoint.
        let next_endpoint = (i + 1..lines.len())
            .find(|j| lines[*j].starts_with("POST /"))
            .unwrap_or(lines.len());
        let body_at = (i..next_endpoint).find(|j| lines[*j].contains("Body 请求参数"));
        let params = match body_at.and_then(|at| fenced_block(&lines, at)) {
            Some((body, _)) if !body.trim().is_empty() => {
                match serde_json::from_str::<Value>(&strip_trailing_commas(&body)) {
                    Ok(v) => v,
                    Err(e) => {
                        failures.push(format!("{name}: example is not JSON: {e}"));
                        continue;
                    }
                }
            }
            _ => json!({}),
        };
        if let Some((_, field)) = PLACEHOLDERS.iter().find(|(n, _)| *n == name) {
            // A template placeholder where an id belongs: refused, naming the
            // field; the same request with a real id passes.
            match parse(name, &params) {
                Err(e) if e.field == *field => {}
                other => failures.push(format!("{name}: placeholder accepted: {other:?}")),
            }
            let mut fixed = params.clone();
            fixed[*field] = json!("123456");
            if let Err(e) = expect_typed(name, &fixed) {
                failures.push(e);
            }
        } else if let Err(e) = expect_typed(name, &params) {
            failures.push(e);
        }
        checked.push(name.to_owned());
    }
    assert!(failures.is_empty(), "{failures:#?}");
    // 31 endpoints in the document; a parser that finds none must not pass.
    assert_eq!(checked.len(), 31, "{checked:?}");
}

#[test]
fn every_json_block_that_is_a_request_frame_parses() {
    let mut failures = Vec::new();
    for doc in ["napcat-extension-api.md", "go-cqhttp-extension-api.md"] {
        let text = spec(doc);
        let lines: Vec<&str> = text.lines().collect();
        let mut at = 0;
        while let Some((body, next)) = fenced_block(&lines, at) {
            at = next;
            let Ok(Value::Object(frame)) = serde_json::from_str(&strip_trailing_commas(&body))
            else {
                continue;
            };
            let Some(Value::String(action)) = frame.get("action") else {
                continue;
            };
            let params = frame.get("params").cloned().unwrap_or(Value::Null);
            if let Err(e) = expect_typed(action, &params) {
                failures.push(format!("{doc}: {e}"));
            }
        }
    }
    assert!(failures.is_empty(), "{failures:#?}");
}

#[test]
fn every_segment_example_is_a_valid_message() {
    let doc = spec("go-cqhttp-extension-api.md");
    let lines: Vec<&str> = doc.lines().collect();
    let (mut at, mut checked) = (0, 0);
    while let Some((body, next)) = fenced_block(&lines, at) {
        at = next;
        let Ok(v) = serde_json::from_str::<Value>(&body) else {
            continue; // XML, CQ text and json5 blocks
        };
        let segments = match v {
            Value::Object(ref o) if o.contains_key("type") && o.contains_key("data") => json!([v]),
            Value::Array(ref a) if a.iter().all(|s| s.get("type").is_some()) => v.clone(),
            _ => continue,
        };
        let all_nodes = segments
            .as_array()
            .is_some_and(|a| a.iter().all(|s| s["type"] == "node"));
        let (action, params) = if all_nodes {
            (
                "send_group_forward_msg",
                json!({"group_id": 1, "messages": segments}),
            )
        } else {
            (
                "send_group_msg",
                json!({"group_id": 1, "message": segments}),
            )
        };
        if let Err(e) = expect_typed(action, &params) {
            panic!("{e}");
        }
        checked += 1;
    }
    // music, custom music, and three forward-node examples.
    assert_eq!(checked, 5);
}

/// A sample value for a documented type; `strings` spells numbers and
/// booleans as strings (the way Koishi and some HTTP clients send them).
fn sample(ty: &str, strings: bool) -> Value {
    let ty = ty.trim();
    match ty {
        _ if ty.starts_with("int") || ty.starts_with("uint") => {
            if strings {
                json!("4294967296")
            } else {
                json!(1234567)
            }
        }
        "bool" => {
            if strings {
                json!("true")
            } else {
                json!(true)
            }
        }
        "string" => json!("sample"),
        "string or array" => json!(["User-Agent=test", "Referer=https://example.com"]),
        "forward node[]" => {
            json!([{"type": "node", "data": {"name": "A", "uin": "10086", "content": "hi"}}])
        }
        "message" => json!("hello"),
        "object" | "Device" => json!({}),
        other => panic!("no sample for documented type `{other}`"),
    }
}

/// Rows of the first table at or after `from`: the cells of each row, trimmed.
fn table_rows(lines: &[&str], from: usize) -> Vec<Vec<String>> {
    let Some(start) = (from..lines.len()).find(|i| lines[*i].trim_start().starts_with('|')) else {
        return Vec::new();
    };
    lines[start..]
        .iter()
        .take_while(|l| l.trim_start().starts_with('|'))
        .skip(2) // header and separator
        .map(|l| {
            l.trim()
                .trim_matches('|')
                .split('|')
                .map(|c| c.trim().to_owned())
                .collect()
        })
        .collect()
}

/// go-cqhttp endpoints and their params built from the parameter tables.
fn gocq_endpoints(strings: bool) -> Vec<(String, Value)> {
    let doc = spec("go-cqhttp-extension-api.md");
    let lines: Vec<&str> = doc.lines().collect();
    let mut out = Vec::new();
    for (i, line) in lines.iter().enumerate() {
        let Some(rest) = line.split("终结点").nth(1) else {
            continue;
        };
        let name = rest
            .split('`')
            .nth(1)
            .expect("endpoint in backticks")
            .trim_start_matches('/')
            .to_owned();
        let section_end = (i + 1..lines.len())
            .find(|j| lines[*j].starts_with("## ") || lines[*j].starts_with("### "))
            .unwrap_or(lines.len());
        let params_at =
            (i + 1..section_end).find(|j| lines[*j].trim().trim_matches('*').trim() == "参数");
        let mut params = Map::new();
        if let Some(at) = params_at {
            for row in table_rows(&lines, at) {
                let field = row[0].trim_matches('`').to_owned();
                params.insert(field, sample(&row[1], strings));
            }
        }
        out.push((name, Value::Object(params)));
    }
    out
}

#[test]
fn every_gocq_parameter_table_parses_as_its_action() {
    for strings in [false, true] {
        let endpoints = gocq_endpoints(strings);
        let failures: Vec<String> = endpoints
            .iter()
            .filter_map(|(name, params)| expect_typed(name, params).err())
            .collect();
        assert!(failures.is_empty(), "strings={strings}: {failures:#?}");
        // 28 endpoints in the document.
        assert_eq!(endpoints.len(), 28, "{endpoints:?}");
    }
}

#[test]
fn gocq_table_samples_keep_their_values() {
    let endpoints = gocq_endpoints(true);
    let (_, params) = endpoints
        .iter()
        .find(|(n, _)| n == "get_group_file_url")
        .expect("documented");
    let Some(Action::GetGroupFileUrl(p)) = parse("get_group_file_url", params).unwrap() else {
        panic!()
    };
    assert_eq!(p.group_id, 4_294_967_296);
    assert_eq!(p.busid, Some(4_294_967_296));
    assert_eq!(p.file_id, "sample");
}

#[test]
fn every_gocq_event_table_is_read_as_an_event_with_its_detail_type() {
    let doc = spec("go-cqhttp-extension-api.md");
    let lines: Vec<&str> = doc.lines().collect();
    let events_at = lines
        .iter()
        .position(|l| l.trim() == "## 事件")
        .expect("events section");
    let mut checked = 0;
    for (i, line) in lines.iter().enumerate().skip(events_at) {
        let marker = line.trim().trim_matches('*').trim();
        if marker != "上报数据" && marker != "事件数据" {
            continue;
        }
        let mut event = Map::new();
        event.insert("time".into(), json!(1700000000));
        event.insert("self_id".into(), json!(10001));
        for row in table_rows(&lines, i) {
            let field = row[0].trim_matches('`').to_owned();
            let value = match row[2].split('`').nth(1) {
                Some(possible) => json!(possible),
                None => sample(&row[1], false),
            };
            event.insert(field, value);
        }
        let event = Value::Object(event);
        // What the gateway reads of every event: the header, for routing,
        // filters and format conversion.
        let Ok(Frame::Event(header)) = classify(&event.to_string()) else {
            panic!("not read as an event: {event}");
        };
        let detail = [
            "notice_type",
            "request_type",
            "message_type",
            "meta_event_type",
        ]
        .iter()
        .find_map(|k| event.get(*k).and_then(Value::as_str));
        assert_eq!(header.detail_type.as_deref(), detail, "{event}");
        assert_eq!(
            header.self_id,
            onebot_gateway::protocol::de::as_i64(&event["self_id"])
        );
        checked += 1;
    }
    assert_eq!(checked, 10, "event tables found");
}

/// One row per known action: valid params (from the documents; for the
/// standard, from `api/public.md`'s tables), a field to break, a bad value.
/// Field `params` replaces the whole params.
fn cases() -> Vec<(&'static str, Value, &'static str, Value)> {
    let seg = json!([{"type": "text", "data": {"text": "hi"}}]);
    let node = json!([{"type": "node", "data": {"id": "123"}}]);
    vec![
        // OneBot v11 standard.
        (
            "send_private_msg",
            json!({"user_id": 10001, "message": "hi", "auto_escape": false}),
            "user_id",
            json!("abc"),
        ),
        (
            "send_group_msg",
            json!({"group_id": 1, "message": seg}),
            "message",
            json!(5),
        ),
        (
            "send_msg",
            json!({"message_type": "group", "group_id": 1, "message": "hi"}),
            "message_type",
            json!("channel"),
        ),
        (
            "delete_msg",
            json!({"message_id": 1}),
            "message_id",
            json!(true),
        ),
        (
            "get_msg",
            json!({"message_id": 1}),
            "message_id",
            json!("x"),
        ),
        ("get_forward_msg", json!({"id": "abc"}), "id", json!([1])),
        (
            "send_like",
            json!({"user_id": 1, "times": 10}),
            "times",
            json!("many"),
        ),
        (
            "set_group_kick",
            json!({"group_id": 1, "user_id": 2, "reject_add_request": false}),
            "reject_add_request",
            json!("maybe"),
        ),
        (
            "set_group_ban",
            json!({"group_id": 1, "user_id": 2, "duration": 60}),
            "duration",
            json!("1h"),
        ),
        (
            "set_group_anonymous_ban",
            json!({"group_id": 1, "anonymous_flag": "f", "duration": 60}),
            "anonymous",
            json!("x"),
        ),
        (
            "set_group_whole_ban",
            json!({"group_id": 1, "enable": true}),
            "enable",
            json!(2),
        ),
        (
            "set_group_admin",
            json!({"group_id": 1, "user_id": 2, "enable": false}),
            "user_id",
            json!({}),
        ),
        (
            "set_group_anonymous",
            json!({"group_id": 1, "enable": true}),
            "group_id",
            json!(1.5),
        ),
        (
            "set_group_card",
            json!({"group_id": 1, "user_id": 2, "card": "c"}),
            "card",
            json!({}),
        ),
        (
            "set_group_name",
            json!({"group_id": 1, "group_name": "n"}),
            "group_name",
            Value::Null,
        ),
        (
            "set_group_leave",
            json!({"group_id": 1, "is_dismiss": false}),
            "is_dismiss",
            json!("nope"),
        ),
        (
            "set_group_special_title",
            json!({"group_id": 1, "user_id": 2, "special_title": "t", "duration": -1}),
            "special_title",
            json!([]),
        ),
        (
            "set_friend_add_request",
            json!({"flag": "f", "approve": true, "remark": "r"}),
            "approve",
            json!("sure"),
        ),
        (
            "set_group_add_request",
            json!({"flag": "f", "sub_type": "add", "approve": true, "reason": ""}),
            "sub_type",
            json!("join"),
        ),
        ("get_login_info", json!({}), "params", json!([])),
        (
            "get_stranger_info",
            json!({"user_id": 1, "no_cache": false}),
            "no_cache",
            json!("sometimes"),
        ),
        ("get_friend_list", json!({}), "no_cache", json!([])),
        (
            "get_group_info",
            json!({"group_id": 1, "no_cache": false}),
            "group_id",
            json!("g"),
        ),
        ("get_group_list", json!({}), "params", json!("x")),
        (
            "get_group_member_info",
            json!({"group_id": 1, "user_id": 2, "no_cache": false}),
            "user_id",
            Value::Null,
        ),
        (
            "get_group_member_list",
            json!({"group_id": 1}),
            "group_id",
            json!(false),
        ),
        (
            "get_group_honor_info",
            json!({"group_id": 1, "type": "talkative"}),
            "type",
            json!("best"),
        ),
        (
            "get_cookies",
            json!({"domain": "qun.qq.com"}),
            "domain",
            json!({}),
        ),
        ("get_csrf_token", json!({}), "params", json!(1)),
        (
            "get_credentials",
            json!({"domain": ""}),
            "domain",
            json!([]),
        ),
        (
            "get_record",
            json!({"file": "a.silk", "out_format": "mp3"}),
            "out_format",
            Value::Null,
        ),
        ("get_image", json!({"file": "a.jpg"}), "file", json!({})),
        ("can_send_image", json!({}), "params", json!([])),
        ("can_send_record", json!({}), "params", json!(true)),
        ("get_status", json!({}), "params", json!("s")),
        ("get_version_info", json!({}), "params", json!([])),
        (
            "set_restart",
            json!({"delay": 2000}),
            "delay",
            json!("soon"),
        ),
        ("clean_cache", json!({}), "params", json!([1])),
        (
            ".handle_quick_operation",
            json!({"context": {"post_type": "message", "message_type": "group", "group_id": 1, "user_id": 2}, "operation": {"reply": "hi", "at_sender": false}}),
            "operation",
            json!("reply"),
        ),
        // go-cqhttp.
        (
            "set_group_portrait",
            json!({"group_id": 1, "file": "base64://AAAA", "cache": 1}),
            "cache",
            json!("yes"),
        ),
        (
            "send_group_forward_msg",
            json!({"group_id": 1, "messages": node}),
            "messages",
            json!("text"),
        ),
        (
            "send_private_forward_msg",
            json!({"user_id": 1, "messages": node}),
            "messages",
            json!([]),
        ),
        (
            ".get_word_slices",
            json!({"content": "今天天气不错"}),
            "content",
            Value::Null,
        ),
        (
            "ocr_image",
            json!({"image": "abc.image"}),
            "image",
            json!({}),
        ),
        ("get_group_system_msg", json!({}), "params", json!([])),
        (
            "get_group_file_system_info",
            json!({"group_id": 1}),
            "group_id",
            json!("x"),
        ),
        (
            "get_group_root_files",
            json!({"group_id": 1}),
            "group_id",
            json!([]),
        ),
        (
            "get_group_files_by_folder",
            json!({"group_id": 1, "folder_id": "/a"}),
            "folder_id",
            json!({}),
        ),
        (
            "get_group_file_url",
            json!({"group_id": 1, "file_id": "/f", "busid": 102}),
            "busid",
            json!("bus"),
        ),
        (
            "upload_group_file",
            json!({"group_id": 1, "file": "/tmp/a", "name": "a", "folder": "/"}),
            "name",
            Value::Null,
        ),
        (
            "get_group_at_all_remain",
            json!({"group_id": 1}),
            "group_id",
            json!(true),
        ),
        (
            "download_file",
            json!({"url": "http://x", "thread_count": 2, "headers": "User-Agent=x[\r\n]Referer=y"}),
            "headers",
            json!({"a": 1}),
        ),
        (
            "get_group_msg_history",
            json!({"group_id": 1, "message_seq": 5}),
            "message_seq",
            json!("latest"),
        ),
        (
            "get_online_clients",
            json!({"no_cache": true}),
            "no_cache",
            json!("x"),
        ),
        (
            "check_url_safely",
            json!({"url": "http://x"}),
            "url",
            json!([]),
        ),
        (
            "_get_vip_info",
            json!({"user_id": 1}),
            "user_id",
            json!("me"),
        ),
        (
            "_send_group_notice",
            json!({"group_id": 1, "content": "c"}),
            "content",
            Value::Null,
        ),
        (
            "_get_group_notice",
            json!({"group_id": 1}),
            "group_id",
            json!("g"),
        ),
        (
            "_del_group_notice",
            json!({"group_id": 1, "notice_id": "abc"}),
            "notice_id",
            Value::Null,
        ),
        (
            ".ocr_image",
            json!({"image": "abc.image"}),
            "image",
            json!([]),
        ),
        (
            "set_qq_profile",
            json!({"nickname": "n", "personal_note": "p"}),
            "nickname",
            json!({}),
        ),
        (
            "create_group_file_folder",
            json!({"group_id": 1, "name": "docs"}),
            "name",
            Value::Null,
        ),
        (
            "delete_group_folder",
            json!({"group_id": 1, "folder_id": "/x"}),
            "folder_id",
            json!([]),
        ),
        (
            "delete_group_file",
            json!({"group_id": 1, "file_id": "/f", "busid": 102}),
            "busid",
            json!("bus"),
        ),
        (
            "mark_msg_as_read",
            json!({"message_id": 1}),
            "message_id",
            json!("m"),
        ),
        (
            "set_msg_emoji_like",
            json!({"message_id": 1, "emoji_id": "76", "set": false}),
            "emoji_id",
            json!([]),
        ),
        ("_mark_all_as_read", json!({}), "params", json!([])),
        (
            "friend_poke",
            json!({"user_id": 2, "target_id": 3}),
            "target_id",
            json!("t"),
        ),
        (
            "send_poke",
            json!({"group_id": 1, "user_id": 2}),
            "group_id",
            json!("g"),
        ),
        (
            "send_forward_msg",
            json!({"group_id": 1, "messages": node}),
            "messages",
            json!("text"),
        ),
        (
            "get_friend_msg_history",
            json!({"user_id": 1, "count": 5, "reverseOrder": true}),
            "count",
            json!("all"),
        ),
        ("delete_friend", json!({"id": 1}), "id", json!("friend")),
        ("qidian_get_account_info", json!({}), "params", json!([])),
        ("reload_event_filter", json!({}), "file", json!({})),
        (
            "set_essence_msg",
            json!({"message_id": 1}),
            "message_id",
            json!("m"),
        ),
        (
            "delete_essence_msg",
            json!({"message_id": 1}),
            "message_id",
            json!([]),
        ),
        (
            "get_essence_msg_list",
            json!({"group_id": 1}),
            "group_id",
            Value::Null,
        ),
        // NapCat.
        ("get_robot_uin_range", json!({}), "params", json!([])),
        (
            "get_friends_with_category",
            json!({"no_cache": true}),
            "no_cache",
            json!("y"),
        ),
        (
            "fetch_emoji_like",
            json!({"message_id": 1, "emojiType": "1", "emojiId": "76"}),
            "emojiId",
            Value::Null,
        ),
        (
            "get_recent_contact",
            json!({"count": 10}),
            "count",
            json!("ten"),
        ),
        (
            "fetch_custom_face",
            json!({"count": 10}),
            "count",
            json!([]),
        ),
        (
            "create_collection",
            json!({"rawData": "r", "brief": "b"}),
            "rawData",
            Value::Null,
        ),
        (
            "get_collection_list",
            json!({"category": 0, "count": 0}),
            "category",
            json!("all"),
        ),
        ("get_profile_like", json!({}), "params", json!("x")),
        (
            "set_group_head",
            json!({"groupCode": "25", "file": "http://x"}),
            "groupCode",
            json!("g25"),
        ),
        (
            "set_self_longnick",
            json!({"longNick": "x"}),
            "longNick",
            json!({}),
        ),
        (
            "set_online_status",
            json!({"status": 10, "extStatus": 0, "batteryStatus": 0}),
            "extStatus",
            json!("busy"),
        ),
        (
            "set_self_profile",
            json!({"nick": "n", "longNick": "l", "sex": "1"}),
            "nick",
            Value::Null,
        ),
        (
            "ArkSharePeer",
            json!({"user_id": "43"}),
            "user_id",
            json!("u43"),
        ),
        (
            "ArkShareGroupEx",
            json!({"group_id": "1"}),
            "group_id",
            json!("g"),
        ),
        (
            "mark_group_msg_as_read",
            json!({"group_id": "100"}),
            "group_id",
            Value::Null,
        ),
        (
            "mark_private_msg_as_read",
            json!({"user_id": 1}),
            "user_id",
            json!("x"),
        ),
        (
            "translate_en2zh",
            json!({"words": ["a"]}),
            "words",
            json!("a"),
        ),
        (
            "get_group_file_count",
            json!({"group_id": "84"}),
            "group_id",
            json!([]),
        ),
        (
            "get_group_file_list",
            json!({"group_id": "84", "start_index": 0, "file_count": 100}),
            "file_count",
            Value::Null,
        ),
        (
            "set_group_file_folder",
            json!({"group_id": "84", "folder_name": "f"}),
            "folder_name",
            Value::Null,
        ),
        (
            "del_group_file",
            json!({"group_id": "84", "file_id": "x"}),
            "file_id",
            json!({}),
        ),
        (
            "del_group_file_folder",
            json!({"group_id": "84", "folder_id": "/x"}),
            "folder_id",
            json!([]),
        ),
        (
            "group_poke",
            json!({"group_id": 1, "user_id": 2}),
            "user_id",
            json!("u"),
        ),
    ]
}

#[test]
fn every_known_action_has_a_valid_example_and_a_bad_param_named() {
    let cases = cases();
    let mut failures = Vec::new();
    for (name, good, field, bad) in &cases {
        if let Err(e) = expect_typed(name, good) {
            failures.push(format!("valid example: {e}"));
        }
        let broken = if *field == "params" {
            bad.clone()
        } else {
            let mut p = good.clone();
            p[*field] = bad.clone();
            p
        };
        match parse(name, &broken) {
            Err(ParamError { field: got, .. }) if got == *field => {
                let message = validate(name, &broken).unwrap_err().to_string();
                if !message.contains(&format!("`{field}`")) {
                    failures.push(format!(
                        "{name}: message does not name `{field}`: {message}"
                    ));
                }
            }
            other => failures.push(format!(
                "{name} {broken}: want error on `{field}`, got {other:?}"
            )),
        }
    }
    assert!(failures.is_empty(), "{failures:#?}");
    // Normalised params (wire names, defaults filled in) read back to the same action.
    for (name, good, _, _) in &cases {
        let action = parse(name, good).unwrap().unwrap();
        assert_eq!(
            parse(name, &action.params_json()),
            Ok(Some(action)),
            "{name}"
        );
    }
    let covered: Vec<&str> = cases.iter().map(|c| c.0).collect();
    let missing: Vec<&&str> = KNOWN_ACTIONS
        .iter()
        .filter(|a| !covered.contains(a))
        .collect();
    assert!(missing.is_empty(), "no case for {missing:?}");
}

#[test]
fn suffixed_names_validate_like_the_base_action() {
    for (name, good, field, bad) in cases() {
        for suffix in ["_async", "_rate_limited"] {
            let suffixed = format!("{name}{suffix}");
            assert!(
                matches!(parse(&suffixed, &good), Ok(Some(a)) if a.name() == name),
                "{suffixed}"
            );
            let broken = if field == "params" {
                bad.clone()
            } else {
                let mut p = good.clone();
                p[field] = bad.clone();
                p
            };
            assert_eq!(
                validate(&suffixed, &broken).map_err(|e| e.field),
                Err(field.to_owned()),
                "{suffixed}"
            );
        }
    }
}

/// Arbitrary JSON, biased toward the keys and value spellings actions read.
fn arb_json() -> impl Strategy<Value = Value> {
    let leaf = prop_oneof![
        Just(Value::Null),
        any::<bool>().prop_map(Value::Bool),
        any::<i64>().prop_map(|n| json!(n)),
        any::<u64>().prop_map(|n| json!(n)),
        any::<f64>()
            .prop_map(|f| serde_json::Number::from_f64(f).map_or(Value::Null, Value::Number)),
        prop_oneof![
            Just("1".to_owned()),
            Just("true".to_owned()),
            Just("group".to_owned()),
            Just("private".to_owned()),
            Just("add".to_owned()),
            Just("all".to_owned()),
            "-?[0-9]{1,20}",
            ".{0,12}",
        ]
        .prop_map(Value::String),
    ];
    leaf.prop_recursive(4, 48, 8, |inner| {
        prop_oneof![
            prop::collection::vec(inner.clone(), 0..6).prop_map(Value::Array),
            prop::collection::vec((arb_key(), inner), 0..8)
                .prop_map(|kv| Value::Object(kv.into_iter().collect())),
        ]
    })
}

fn arb_key() -> impl Strategy<Value = String> {
    prop_oneof![
        prop::sample::select(vec![
            "user_id",
            "group_id",
            "message",
            "message_type",
            "message_id",
            "id",
            "flag",
            "anonymous",
            "anonymous_flag",
            "duration",
            "enable",
            "approve",
            "type",
            "sub_type",
            "messages",
            "no_cache",
            "headers",
            "words",
            "count",
            "context",
            "operation",
            "data",
            "groupCode",
            "emojiId",
            "file",
            "times",
            "auto_escape",
        ])
        .prop_map(str::to_owned),
        "[a-z_]{1,8}",
    ]
}

fn arb_params() -> impl Strategy<Value = Value> {
    prop_oneof![
        arb_json(),
        prop::collection::vec((arb_key(), arb_json()), 0..10)
            .prop_map(|kv| Value::Object(kv.into_iter().collect())),
    ]
}

proptest! {
    #![proptest_config(ProptestConfig { cases: 2000, ..ProptestConfig::default() })]

    #[test]
    fn validate_never_panics_and_agrees_with_parse(
        name in prop::sample::select(KNOWN_ACTIONS.to_vec()),
        suffix in prop::sample::select(vec!["", "_async", "_rate_limited"]),
        params in arb_params(),
    ) {
        let action = format!("{name}{suffix}");
        let checked = validate(&action, &params);
        let parsed = parse(&action, &params);
        prop_assert_eq!(checked.clone().err(), parsed.clone().err());
        if let Ok(parsed) = parsed {
            // Normalised params (wire names, defaults filled in) parse to the same action.
            let action_value = parsed.expect("known action");
            let again = parse(name, &action_value.params_json());
            prop_assert_eq!(again, Ok(Some(action_value)));
        } else {
            let message = checked.unwrap_err().to_string();
            prop_assert!(message.starts_with("invalid param `"), "{}", message);
        }
    }

    #[test]
    fn unknown_actions_always_pass(name in "[a-z_]{1,20}", params in arb_params()) {
        prop_assume!(!KNOWN_ACTIONS.contains(&onebot_gateway::protocol::action::split_suffix(&name).0));
        prop_assert_eq!(parse(&name, &params), Ok(None));
    }

    #[test]
    fn classifying_any_json_never_panics(v in arb_json()) {
        let _ = classify(&v.to_string());
    }
}
