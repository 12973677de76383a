"""Two gateways chained: gateway A serves the sandbox, gateway B uses A as its
upstream over forward WS, and NoneBot2 talks to B. A user of A's sandbox must
not be able to tell that a second gateway sits in the middle.
"""

from __future__ import annotations

import uuid

import pytest

from harness import GROUP, RECONNECT_TIMEOUT, SELF_ID, TOKEN, USER_A, USER_B, Gateway, NoneBotApp, wait_until

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


def test_upstream_restart_needs_no_framework_restart(chain):
    """Gateway A (the implementation, as B sees it) stops and comes back: B redials
    it, and NoneBot on B answers again without being touched."""
    a, _, nonebot = chain
    since = nonebot.mark()
    a.stop()
    a.start()
    w = uuid.uuid4().hex[:8]

    def answered() -> bool:
        # Until B is back on A, the user's message has no one to reach: say it again.
        a.say(USER_A, f"ping back {w}")
        try:
            a.wait_reply(f"pong back {w}", timeout=3)
            return True
        except AssertionError:
            return False

    wait_until(answered, RECONNECT_TIMEOUT, "NoneBot on B to answer through the restarted A")
    # NoneBot's connection to B outlived the upstream's restart.
    dropped = [r for r in nonebot.records()[since:] if r.get("kind") == "disconnected"]
    assert not dropped, f"NoneBot lost the bot while A restarted: {dropped}"
