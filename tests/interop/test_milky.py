"""A real nonebot-adapter-milky (NoneBot2's Milky adapter, pinned) on the
gateway's Milky listener in front of the sandbox: it learns the bot from
get_login_info, receives a group message and replies, recalls its own
message, and answers a nudge with one of its own; then a real NoneBot2 on
OneBot v11 reaches the same sandbox through a second gateway's Milky
upstream (sandbox → Milky listener → type = "milky" → v11 app).
"""

from __future__ import annotations

import uuid

import pytest

from harness import GROUP, SELF_ID, TOKEN, USER_A, Gateway, MilkyNoneBotApp, NoneBotApp, free_port, plain_text


@pytest.fixture(scope="module")
def front(tmp_path_factory):
    tmp = tmp_path_factory.mktemp("milky")
    milky_port = free_port()
    extra = f'[[listen]]\naddress = "127.0.0.1:{milky_port}"\nprotocol = "milky"\naccess_token = "{TOKEN}"\n'
    gateway = Gateway(tmp, name="gateway-milky-front", extra=extra).start()
    gateway.milky_port = milky_port
    app = MilkyNoneBotApp(tmp, milky_port).start()
    app.wait_connected(self_id=SELF_ID)
    yield tmp, gateway, app
    app.stop()
    gateway.stop()


def test_the_milky_adapter_learns_the_bot_from_get_login_info(front):
    _, _, app = front
    assert [str(r["self_id"]) for r in app.connected_records()] == [str(SELF_ID)]


def test_a_group_message_in_a_reply_out(front):
    _, gateway, app = front
    w = uuid.uuid4().hex[:8]
    since = app.mark()
    gateway.say(USER_A, f"ping {w}")
    event = app.wait_record(
        lambda r: r.get("type") == "GroupMessageEvent" and f"ping {w}" in str(r["event"]), "the ping", since
    )["event"]
    assert event["data"]["peer_id"] == GROUP and event["data"]["sender_id"] == USER_A
    reply = gateway.wait_reply(f"pong {w}")
    sent = app.wait_record(lambda r: r.get("kind") == "sent" and r["text"] == f"pong {w}", "the sent record", since)
    assert sent["message_seq"] == reply["message_id"], "the seq the adapter got is the message's id"


def test_the_adapter_recalls_its_own_message(front):
    _, gateway, app = front
    w = uuid.uuid4().hex[:8]
    since = app.mark()
    gateway.say(USER_A, f"recall {w}")
    sent = app.wait_record(lambda r: r.get("kind") == "sent" and r["text"] == f"soon gone {w}", "the message", since)
    recalled = app.wait_record(
        lambda r: r.get("kind") == "recalled" and r["message_seq"] == sent["message_seq"], "the recall call", since
    )
    message = gateway.wait_message(lambda m: m["message_id"] == recalled["message_seq"], "the recalled message")
    assert message["recalled"] is True and plain_text(message["message"]) == f"soon gone {w}"
    # The recall reaches the adapter as its own event type.
    app.wait_record(
        lambda r: r.get("type") == "MessageRecallEvent" and r["event"]["data"]["message_seq"] == recalled["message_seq"],
        "the recall event",
        since,
    )


def test_a_nudge_is_answered_with_a_nudge(front):
    _, gateway, app = front
    since = app.mark()
    gateway.poke(USER_A, target_id=SELF_ID)
    app.wait_record(
        lambda r: r.get("type") == "GroupNudgeEvent" and r["event"]["data"]["sender_id"] == USER_A, "the nudge", since
    )
    gateway.wait_reply(f"nudged back {USER_A}")
    # The bot's own nudge comes back as an event: the sandbox saw it.
    app.wait_record(
        lambda r: r.get("type") == "GroupNudgeEvent"
        and r["event"]["data"]["sender_id"] == SELF_ID
        and r["event"]["data"]["receiver_id"] == USER_A,
        "the bot's nudge",
        since,
    )


@pytest.fixture(scope="module")
def hop(front):
    """Gateway 2 with gateway 1's Milky listener as its `type = "milky"`
    upstream, and a real NoneBot2 (OneBot v11) on gateway 2."""
    tmp, gateway, _ = front
    extra = (
        f'[[upstream]]\ntype = "milky"\nurl = "http://127.0.0.1:{gateway.milky_port}"\n'
        f'access_token = "{TOKEN}"\nstore = "{tmp / "milky-ids.db"}"\n'
    )
    back = Gateway(tmp, name="gateway-milky-back", sandbox=False, extra=extra).start()
    nonebot = NoneBotApp(tmp, "forward", back.url, token=TOKEN, tag="via milky", name="nonebot-v11-via-milky").start()
    nonebot.wait_connected(self_id=SELF_ID)
    yield gateway, back, nonebot
    nonebot.stop()
    back.stop()


def test_v11_ping_pong_through_a_milky_hop(hop):
    gateway, _, nonebot = hop
    w = uuid.uuid4().hex[:8]
    since = nonebot.mark()
    gateway.say(USER_A, f"ping {w}")
    nonebot.wait_event("GroupMessageEvent", lambda e: f"ping {w}" in e.get("raw_message", ""), "the ping", since)
    gateway.wait_reply(f"pong {w} (via milky)")
    sent = nonebot.wait_record(lambda r: r.get("kind") == "sent" and w in r["text"], "the sent record", since)
    assert 0 < sent["message_id"] < 2**31, f"an int32 message id for the reply: {sent}"


def test_v11_reply_segment_and_recall_through_a_milky_hop(hop):
    gateway, _, nonebot = hop
    w = uuid.uuid4().hex[:8]
    quoted = gateway.say(USER_A, f"quote {w}")
    answer = gateway.wait_reply(f"quoted {w}")
    replies = [s for s in answer["message"] if s["type"] == "reply"]
    assert replies and int(replies[0]["data"]["id"]) == quoted, f"the reply quotes the sandbox's message: {answer}"
    since = nonebot.mark()
    gateway.say(USER_A, f"unsend {w}")
    recalled = nonebot.wait_record(lambda r: r.get("kind") == "recalled", "the recall", since)
    gone = gateway.wait_message(lambda m: plain_text(m["message"]) == f"soon gone {w}", "the recalled message")
    assert gone["recalled"] is True
    nonebot.wait_event(
        "GroupRecallNoticeEvent", lambda e: e["message_id"] == recalled["message_id"], "its own recall", since
    )


def test_v11_friend_request_approved_through_a_milky_hop(hop):
    gateway, _, nonebot = hop
    stranger = 20005
    since = nonebot.mark()
    gateway.api("POST", "friend_request", {"user_id": stranger, "comment": "approve me"})
    nonebot.wait_record(lambda r: r.get("kind") == "approved" and r["user_id"] == stranger, "the approval", since)
    friends = gateway.action("get_friend_list", {})["data"]
    assert stranger in [f["user_id"] for f in friends], friends


def test_v11_ids_survive_a_restart_of_the_milky_gateway(hop):
    gateway, back, nonebot = hop
    w = uuid.uuid4().hex[:8]
    since = nonebot.mark()
    gateway.say(USER_A, f"ping keep {w}")
    event = nonebot.wait_event("GroupMessageEvent", lambda e: f"ping keep {w}" in e.get("raw_message", ""), "the ping", since)
    back.stop()
    back.start()
    nonebot.wait_connected(since=since)
    got = back.action("get_msg", {"message_id": event["message_id"]})
    assert got["status"] == "ok" and got["data"]["raw_message"] == f"ping keep {w}", got
