"""NoneBot2 and Koishi on the same sandbox bot at the same time: NoneBot over
forward WS, Koishi over reverse WS. Both must see every event, and each must get
the answers to its own actions only (the gateway routes answers by echo).
"""

from __future__ import annotations

import uuid

import pytest

from harness import GROUP, SELF_ID, TOKEN, USER_A, USER_B, Gateway, KoishiApp, NoneBotApp


@pytest.fixture(scope="module")
def both(tmp_path_factory):
    tmp = tmp_path_factory.mktemp("together")
    koishi = KoishiApp(tmp, "reverse", tag="ko").start()
    gateway = Gateway(tmp, name="gateway-together", reverse=[(koishi.reverse_url, TOKEN)]).start()
    nonebot = NoneBotApp(tmp, "forward", gateway.url, tag="nb").start()
    nonebot.wait_connected()
    koishi.wait_connected()
    yield gateway, nonebot, koishi
    nonebot.stop()
    koishi.stop()
    gateway.stop()


def test_both_answer_and_each_gets_its_own_answers(both):
    gateway, nonebot, koishi = both
    w = uuid.uuid4().hex[:8]
    nb_since, ko_since = nonebot.mark(), koishi.mark()
    mid = gateway.say(USER_A, f"ping hello {w}")
    nb_reply = gateway.wait_reply(f"pong hello {w} (nb)")
    ko_reply = gateway.wait_reply(f"pong hello {w} (ko)")
    assert nb_reply["message_id"] != ko_reply["message_id"]
    # Both saw the user's message.
    nonebot.wait_event("GroupMessageEvent", lambda e: e["message_id"] == mid, f"of {mid}", nb_since)
    koishi.wait_session("message", lambda s: s["message_id"] == str(mid), f"of {mid}", ko_since)
    # Each send_msg answer went back to the framework that sent it: the message
    # id each one got is the id of its own text, not the other's.
    nb_sent = nonebot.wait_record(lambda r: r.get("kind") == "sent" and w in r["text"], "its pong", nb_since)
    ko_sent = koishi.wait_record(lambda r: r.get("kind") == "sent" and w in r["text"], "its pong", ko_since)
    assert nb_sent["message_id"] == nb_reply["message_id"], (nb_sent, nb_reply)
    assert ko_sent["message_ids"] == [str(ko_reply["message_id"])], (ko_sent, ko_reply)


def test_both_fetch_quoted_message(both):
    gateway, nonebot, koishi = both
    w = uuid.uuid4().hex[:8]
    original = gateway.say(USER_B, f"quoted {w}")
    nb_since, ko_since = nonebot.mark(), koishi.mark()
    mid = gateway.say(USER_A, f"[CQ:reply,id={original}]ping twice {w}")
    gateway.wait_reply(f"pong twice {w} (nb)")
    gateway.wait_reply(f"pong twice {w} (ko)")
    rec = nonebot.wait_record(
        lambda r: r.get("type") == "GroupMessageEvent" and r["event"]["message_id"] == mid, f"message {mid}", nb_since
    )
    assert rec["reply"] and rec["reply"]["message_id"] == original, rec["reply"]
    session = koishi.wait_session("message", lambda s: s["message_id"] == str(mid), f"of {mid}", ko_since)
    assert session["quote"] and session["quote"]["id"] == str(original), session["quote"]


def test_both_receive_notices(both):
    gateway, nonebot, koishi = both
    nb_since, ko_since = nonebot.mark(), koishi.mark()
    gateway.poke(USER_B, target_id=SELF_ID)
    mid = gateway.say(USER_A, f"oops {uuid.uuid4().hex[:8]}")
    gateway.recall(mid, operator_id=USER_A)
    nonebot.wait_event("PokeNotifyEvent", lambda e: e["user_id"] == USER_B, "from the user", nb_since)
    koishi.wait_session("notice", lambda s: s["subtype"] == "poke" and s["user_id"] == str(USER_B), "poke", ko_since)
    nonebot.wait_event("GroupRecallNoticeEvent", lambda e: e["message_id"] == mid, f"of {mid}", nb_since)
    koishi.wait_session("message-deleted", lambda s: s["message_id"] == str(mid), f"of {mid}", ko_since)
    assert nonebot.events("GroupRecallNoticeEvent", nb_since)[0]["event"]["group_id"] == GROUP
