"""Two gateways chained: gateway A serves the sandbox, gateway B uses A as its
upstream over forward WS, and NoneBot2 talks to B. A user of A's sandbox must
not be able to tell that a second gateway sits in the middle.
"""

from __future__ import annotations

import uuid

import pytest

from harness import GROUP, SELF_ID, TOKEN, USER_A, USER_B, Gateway, NoneBotApp

B_TOKEN = "b-secret"


@pytest.fixture(scope="module")
def chain(tmp_path_factory):
    tmp = tmp_path_factory.mktemp("chain")
    a = Gateway(tmp, name="gateway-a").start()
    b = Gateway(tmp, name="gateway-b", token=B_TOKEN, upstreams=[(a.url, TOKEN)], sandbox=False).start()
    nonebot = NoneBotApp(tmp, "forward", b.url, token=B_TOKEN, name="nonebot-on-b").start()
    nonebot.wait_connected()
    yield a, b, nonebot
    nonebot.stop()
    b.stop()
    a.stop()


def test_nonebot_on_b_sees_the_bot_of_a(chain):
    _, _, nonebot = chain
    assert nonebot.connected_records()[0]["self_id"] == str(SELF_ID)


def test_ping_through_two_gateways(chain):
    a, _, nonebot = chain
    w = uuid.uuid4().hex[:8]
    since = nonebot.mark()
    mid = a.say(USER_A, f"ping hello {w}")
    reply = a.wait_reply(f"pong hello {w}")
    e = nonebot.wait_event("GroupMessageEvent", lambda e: e["message_id"] == mid, f"of {mid}", since)
    assert e["group_id"] == GROUP
    sent = nonebot.wait_record(lambda r: r.get("kind") == "sent" and w in r["text"], "its pong", since)
    assert sent["message_id"] == reply["message_id"], (sent, reply)


def test_get_msg_through_two_gateways(chain):
    a, _, nonebot = chain
    w = uuid.uuid4().hex[:8]
    original = a.say(USER_B, f"far away {w}")
    since = nonebot.mark()
    mid = a.say(USER_A, f"[CQ:reply,id={original}]ping again {w}")
    a.wait_reply(f"pong again {w}")
    rec = nonebot.wait_record(
        lambda r: r.get("type") == "GroupMessageEvent" and r["event"]["message_id"] == mid, f"message {mid}", since
    )
    assert rec["reply"] and rec["reply"]["message_id"] == original, rec["reply"]
    assert rec["reply"]["text"] == f"far away {w}"


def test_notice_through_two_gateways(chain):
    a, _, nonebot = chain
    since = nonebot.mark()
    a.poke(USER_B, target_id=SELF_ID)
    e = nonebot.wait_event("PokeNotifyEvent", lambda e: e["user_id"] == USER_B, "from the user", since)
    assert e["group_id"] == GROUP
