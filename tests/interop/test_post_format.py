"""Apps that asked for CQ-string events (`post_format = "string"` on the listener):
NoneBot2 and Koishi both parse the strings the gateway writes, escapes included,
and the reply segment still makes them fetch the quoted message.
"""

from __future__ import annotations

import uuid

import pytest

from harness import GROUP, USER_A, USER_B, Gateway, KoishiApp, NoneBotApp, plain_text

TRICKY = "a&b [c], d=e &#91;x&#93; 你好"


@pytest.fixture(scope="module")
def string_gateway(tmp_path_factory):
    tmp = tmp_path_factory.mktemp("post-format")
    gateway = Gateway(tmp, name="gateway-string", listen_app='post_format = "string"').start()
    nonebot = NoneBotApp(tmp, "forward", gateway.url, tag="nb").start()
    koishi = KoishiApp(tmp, "forward", gateway.url, tag="ko").start()
    nonebot.wait_connected()
    koishi.wait_connected()
    yield gateway, nonebot, koishi
    nonebot.stop()
    koishi.stop()
    gateway.stop()


def test_string_events_parse_with_escapes(string_gateway):
    gateway, nonebot, koishi = string_gateway
    w = uuid.uuid4().hex[:8]
    nb_since, ko_since = nonebot.mark(), koishi.mark()
    mid = gateway.say(USER_A, [{"type": "text", "data": {"text": f"ping {TRICKY} {w}"}}])
    gateway.wait_reply(f"pong {TRICKY} {w} (nb)")
    gateway.wait_reply(f"pong {TRICKY} {w} (ko)")
    e = nonebot.wait_event("GroupMessageEvent", lambda e: e["message_id"] == mid, f"of {mid}", nb_since)
    assert plain_text(e["message"]) == f"ping {TRICKY} {w}", e["message"]
    s = koishi.wait_session("message", lambda s: s["message_id"] == str(mid), f"of {mid}", ko_since)
    # What the gateway wrote on the wire (Koishi keeps it raw) was a CQ string.
    assert isinstance(s["onebot"]["message"], str), s["onebot"]
    assert "&#91;c&#93;" in s["onebot"]["message"] and "&amp;#91;x&amp;#93;" in s["onebot"]["message"], s["onebot"]


def test_string_reply_segment_fetches_quoted_message(string_gateway):
    gateway, nonebot, koishi = string_gateway
    w = uuid.uuid4().hex[:8]
    original = gateway.say(USER_B, f"quoted {w}")
    nb_since, ko_since = nonebot.mark(), koishi.mark()
    mid = gateway.say(USER_A, f"[CQ:reply,id={original}]ping again {w}")
    gateway.wait_reply(f"pong again {w} (nb)")
    gateway.wait_reply(f"pong again {w} (ko)")
    rec = nonebot.wait_record(
        lambda r: r.get("type") == "GroupMessageEvent" and r["event"]["message_id"] == mid, f"message {mid}", nb_since
    )
    assert rec["reply"] and rec["reply"]["message_id"] == original and rec["reply"]["text"] == f"quoted {w}", rec
    s = koishi.wait_session("message", lambda s: s["message_id"] == str(mid), f"of {mid}", ko_since)
    assert s["quote"] and s["quote"]["id"] == str(original) and s["quote"]["content"] == f"quoted {w}", s["quote"]
    assert s["guild_id"] == str(GROUP)
