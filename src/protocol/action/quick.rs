//! The quick operations of the HTTP POST spec as the actions that carry them
//! out. Pure: the dispatcher runs the plan for `.handle_quick_operation`
//! whatever sent it (an app over any transport, or an HTTP POST receiver's
//! answer), against any upstream.

use serde_json::{json, Value};

use super::fields::{GroupRequestKind, MessageParam, MessageType, Params};
use super::{
    Action, DeleteMsg, HandleQuickOperation, ParamError, SendMsg, SetFriendAddRequest,
    SetGroupAddRequest, SetGroupBan, SetGroupKick,
};
use crate::protocol::message;

/// The actions that carry out `q.operation` on the event `q.context`, in order.
///
/// # Errors
/// A [`ParamError`] naming the `context` field an operation needs and lacks.
pub fn plan(q: &HandleQuickOperation) -> Result<Vec<Action>, ParamError> {
    let context = Params::of(&q.context);
    let field = |e: ParamError| ParamError {
        field: format!("context.{}", e.field),
        expected: e.expected,
    };
    let id = |name: &'static str, needed_for: &str| -> Result<i64, ParamError> {
        context
            .get::<Option<i64>>(&[name])
            .map_err(field)?
            .ok_or_else(|| ParamError::missing(&format!("context.{name}"), needed_for))
    };
    let op = &q.operation;
    let post_type: String = context
        .get_or(&["post_type"], String::new())
        .map_err(field)?;
    let mut calls = Vec::new();
    match post_type.as_str() {
        "message" | "message_sent" => {
            let group = context
                .get_or(&["message_type"], MessageType::Private)
                .map_err(field)?
                == MessageType::Group;
            if let Some(reply) = &op.reply {
                let mut segments = match &reply.0 {
                    Value::String(s) if op.auto_escape => {
                        json!([{"type": "text", "data": {"text": s}}])
                    }
                    other => message::to_array(other),
                };
                let user_id: Option<i64> = context.get(&["user_id"]).map_err(field)?;
                if group && op.at_sender {
                    if let (Some(user), Value::Array(list)) = (user_id, &mut segments) {
                        list.insert(0, json!({"type": "at", "data": {"qq": user.to_string()}}));
                        list.insert(1, json!({"type": "text", "data": {"text": " "}}));
                    }
                }
                let (message_type, user_id, group_id) = if group {
                    (
                        MessageType::Group,
                        None,
                        Some(id("group_id", "an integer (the reply's group)")?),
                    )
                } else {
                    (
                        MessageType::Private,
                        Some(id("user_id", "an integer (the reply's recipient)")?),
                        None,
                    )
                };
                calls.push(Action::SendMsg(SendMsg {
                    message_type,
                    user_id,
                    group_id,
                    message: MessageParam(segments),
                    auto_escape: false,
                }));
            }
            if group && (op.delete || op.kick || op.ban) {
                let group_id = id("group_id", "an integer (required for group operations)")?;
                if op.delete {
                    let message_id = id("message_id", "an integer (required for delete)")?;
                    calls.push(Action::DeleteMsg(DeleteMsg { message_id }));
                }
                if op.kick || op.ban {
                    let user_id = id("user_id", "an integer (required for kick and ban)")?;
                    calls.push(if op.kick {
                        Action::SetGroupKick(SetGroupKick {
                            group_id,
                            user_id,
                            reject_add_request: false,
                        })
                    } else {
                        Action::SetGroupBan(SetGroupBan {
                            group_id,
                            user_id,
                            duration: op.ban_duration,
                        })
                    });
                }
            }
        }
        "request" => {
            let flag: String = context.get(&["flag"]).map_err(field)?;
            if let Some(approve) = op.approve {
                let kind: String = context
                    .get_or(&["request_type"], String::new())
                    .map_err(field)?;
                calls.push(match kind.as_str() {
                    "friend" => Action::SetFriendAddRequest(SetFriendAddRequest {
                        flag,
                        approve,
                        remark: op.remark.clone().unwrap_or_default(),
                    }),
                    "group" => Action::SetGroupAddRequest(SetGroupAddRequest {
                        flag,
                        sub_type: Some(
                            context
                                .get_or(&["sub_type"], GroupRequestKind::Add)
                                .map_err(field)?,
                        ),
                        approve,
                        reason: op.reason.clone().unwrap_or_default(),
                    }),
                    _ => {
                        return Err(ParamError::new(
                            "context.request_type",
                            "`friend` or `group`",
                        ))
                    }
                });
            }
        }
        other => {
            return Err(ParamError::new(
                "context.post_type",
                format!(
                    "a message or request event (quick operations apply to those), got `{other}`"
                ),
            ))
        }
    }
    Ok(calls)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn quick(context: Value, operation: Value) -> Result<Vec<Action>, ParamError> {
        let action = super::super::parse(
            ".handle_quick_operation",
            &json!({"context": context, "operation": operation}),
        )?;
        match action {
            Some(Action::HandleQuickOperation(q)) => plan(&q),
            other => panic!("not a quick operation: {other:?}"),
        }
    }

    #[test]
    fn a_group_reply_ats_the_sender_then_the_ban_follows() {
        let calls = quick(
            json!({"post_type": "message", "message_type": "group", "group_id": 100, "user_id": "200", "message_id": 7}),
            json!({"reply": "hi", "ban": true, "ban_duration": 60}),
        )
        .unwrap();
        let names: Vec<_> = calls.iter().map(Action::name).collect();
        assert_eq!(names, ["send_msg", "set_group_ban"]);
        let reply = calls[0].params_json();
        assert_eq!(reply["group_id"], 100);
        assert!(
            reply.get("user_id").is_none(),
            "absent fields stay absent: {reply}"
        );
        assert_eq!(
            reply["message"][0],
            json!({"type": "at", "data": {"qq": "200"}})
        );
        assert_eq!(
            reply["message"][2],
            json!({"type": "text", "data": {"text": "hi"}})
        );
        assert_eq!(
            calls[1].params_json(),
            json!({"group_id": 100, "user_id": 200, "duration": 60})
        );
    }

    #[test]
    fn a_private_reply_goes_to_the_sender_without_a_mention() {
        let calls = quick(
            json!({"post_type": "message", "message_type": "private", "user_id": 200}),
            json!({"reply": "[CQ:face,id=1]", "at_sender": true}),
        )
        .unwrap();
        assert_eq!(
            calls[0].params_json(),
            json!({"message_type": "private", "user_id": 200, "auto_escape": false,
                   "message": [{"type": "face", "data": {"id": "1"}}]})
        );
    }

    #[test]
    fn requests_are_answered_by_their_kind() {
        let friend = quick(
            json!({"post_type": "request", "request_type": "friend", "flag": "f1"}),
            json!({"approve": true, "remark": "pal"}),
        )
        .unwrap();
        assert_eq!(
            friend[0].params_json(),
            json!({"flag": "f1", "approve": true, "remark": "pal"})
        );
        let group = quick(
            json!({"post_type": "request", "request_type": "group", "sub_type": "invite", "flag": "g1"}),
            json!({"approve": false, "reason": "no"}),
        )
        .unwrap();
        assert_eq!(
            group[0].params_json(),
            json!({"flag": "g1", "sub_type": "invite", "approve": false, "reason": "no"})
        );
        let untouched = quick(
            json!({"post_type": "request", "request_type": "friend", "flag": "f1"}),
            json!({}),
        );
        assert_eq!(untouched, Ok(vec![]));
    }

    #[test]
    fn a_missing_context_field_is_named() {
        let err = quick(
            json!({"post_type": "message", "message_type": "group", "user_id": 1, "message_id": 2}),
            json!({"delete": true}),
        )
        .unwrap_err();
        assert_eq!(err.field, "context.group_id");
        let err = quick(json!({"post_type": "notice"}), json!({"reply": "x"})).unwrap_err();
        assert_eq!(err.field, "context.post_type");
        let err = quick(
            json!({"post_type": "request", "request_type": "friend"}),
            json!({"approve": true}),
        )
        .unwrap_err();
        assert_eq!(err.field, "context.flag");
    }
}
