"""Each framework (NoneBot2, Koishi) over each transport (forward, reverse WS)
against the gateway's sandbox account: what a bot author would check by hand.

One gateway and one framework process per combination, shared by the tests of
that combination (pytest groups them); the bad-token scenario starts its own
pair. Select one combination with -k, e.g. `-k "nonebot and reverse"`.
"""

from __future__ import annotations

import uuid
from dataclasses import dataclass

import pytest

from harness import (
    GROUP,
    EVENT_TIMEOUT,
    RECONNECT_TIMEOUT,
    SELF_ID,
    TOKEN,
    USER_A,
    USER_B,
    App,
    Gateway,
    NoneBotApp,
    make_app,
    plain_text,
)

COMBOS = [
    ("nonebot", "forward"),
    ("nonebot", "reverse"),
    ("koishi", "forward"),
    ("koishi", "reverse"),
]


def word() -> str:
    """A fresh word, so a scenario never matches what an earlier one left in the history."""
    return uuid.uuid4().hex[:8]


@dataclass
class Setup:
    kind: str
    mode: str
    gateway: Gateway
    app: App


def start_pair(tmp, kind: str, mode: str, gateway_token=TOKEN, app_token=TOKEN, name: str = "",
               **app_kw) -> Setup:
    """Starts a gateway and a framework wired by `mode`, in the order that mode needs."""
    prefix = f"{name}-" if name else ""
    if mode == "forward":
        gw = Gateway(tmp, name=f"{prefix}gateway-{kind}-{mode}", token=gateway_token).start()
        app = make_app(kind, tmp, mode, gw.url, token=app_token, name=f"{prefix}{kind}-{mode}", **app_kw)
        app.start()
    else:
        app = make_app(kind, tmp, mode, token=app_token, name=f"{prefix}{kind}-{mode}", **app_kw)
        app.start()
        gw = Gateway(tmp, name=f"{prefix}gateway-{kind}-{mode}", token=TOKEN,
                     reverse=[(app.reverse_url, gateway_token)]).start()
    return Setup(kind, mode, gw, app)


@pytest.fixture(scope="module", params=COMBOS, ids=[f"{k}-{m}" for k, m in COMBOS])
def env(request, tmp_path_factory):
    kind, mode = request.param
    setup = start_pair(tmp_path_factory.mktemp(f"{kind}-{mode}"), kind, mode)
    setup.app.wait_connected()
    yield setup
    setup.app.stop()
    setup.gateway.stop()


def ping_roundtrip(env: Setup, since: int = 0) -> None:
    """A user says "ping <w>" in the group; the framework's answer is in the history."""
    w = word()
    mid = env.gateway.say(USER_A, f"ping hello {w}")
    reply = env.gateway.wait_reply(f"pong hello {w}")
    app = env.app
    if isinstance(app, NoneBotApp):
        app.wait_event(
            "GroupMessageEvent",
            lambda e: e["message_id"] == mid and e["group_id"] == GROUP and e["user_id"] == USER_A,
            f"for message {mid}",
            since,
        )
        sent = app.wait_record(lambda r: r.get("kind") == "sent" and w in r["text"], "the pong it sent", since)
        # send_msg's answer carried the id the sandbox gave the reply.
        assert sent["message_id"] == reply["message_id"], (sent, reply)
    else:
        app.wait_session(
            "message",
            lambda s: s["message_id"] == str(mid) and s["guild_id"] == str(GROUP) and s["user_id"] == str(USER_A),
            f"for message {mid}",
            since,
        )
        sent = app.wait_record(lambda r: r.get("kind") == "sent" and w in r["text"], "the pong it sent", since)
        assert sent["message_ids"] == [str(reply["message_id"])], (sent, reply)


# --- 1. connects with a token and registers the bot ---------------------------


def test_connects_and_registers_bot(env: Setup):
    connected = env.app.connected_records()
    assert connected, "no connected record"
    assert connected[0]["self_id"] == str(SELF_ID)
    if env.kind == "koishi":
        # Koishi marks the bot online only after get_login_info answered user_id.
        assert connected[0]["user_id"] == str(SELF_ID), connected[0]
    if env.kind == "nonebot" and env.mode == "forward":
        # NoneBot binds a forward socket on the lifecycle/connect meta event.
        lifecycle = env.app.events("LifecycleMetaEvent")
        assert lifecycle and lifecycle[0]["event"]["sub_type"] == "connect", lifecycle


def test_heartbeat_is_a_typed_meta_event(env: Setup):
    """The gateway's own heartbeat parses as NoneBot's HeartbeatMetaEvent (it needs
    `status` and `interval`); Koishi does not surface meta events."""
    if env.kind == "koishi":
        pytest.skip("Koishi does not surface meta events")
    e = env.app.wait_event("HeartbeatMetaEvent", timeout=EVENT_TIMEOUT)
    assert e["self_id"] == SELF_ID, e
    assert e["status"].get("online") is True and e["status"].get("good") is True, e
    assert isinstance(e["interval"], int) and e["interval"] > 0, e


# --- 2. ping -> pong through the framework's normal reply path ----------------


def test_ping_gets_pong(env: Setup):
    ping_roundtrip(env)


# --- 3. a reply segment makes the framework call get_msg ----------------------


def test_reply_segment_fetches_quoted_message(env: Setup):
    w = word()
    original = env.gateway.say(USER_B, f"original text {w}")
    since = env.app.mark()
    mid = env.gateway.say(USER_A, f"[CQ:reply,id={original}]ping again {w}")
    env.gateway.wait_reply(f"pong again {w}")
    if isinstance(env.app, NoneBotApp):
        record = env.app.wait_record(
            lambda r: r.get("type") == "GroupMessageEvent" and r["event"]["message_id"] == mid,
            f"the GroupMessageEvent of message {mid}",
            since,
        )
        reply = record["reply"]
        assert reply is not None, "event.reply is not set: NoneBot's get_msg failed (see its log)"
        assert reply["message_id"] == original, reply
        assert reply["user_id"] == USER_B, reply
        assert reply["text"] == f"original text {w}", reply
    else:
        session = env.app.wait_session("message", lambda s: s["message_id"] == str(mid), f"of message {mid}", since)
        quote = session["quote"]
        assert quote is not None, "session.quote is not set: Koishi's get_msg failed (see its log)"
        assert quote["id"] == str(original), quote
        assert quote["content"] == f"original text {w}", quote
        assert quote["user_id"] == str(USER_B), quote


# --- 4. notices ---------------------------------------------------------------


def test_group_recall_notice(env: Setup):
    mid = env.gateway.say(USER_A, f"to be recalled {word()}")
    since = env.app.mark()
    env.gateway.recall(mid, operator_id=USER_A)
    if isinstance(env.app, NoneBotApp):
        e = env.app.wait_event("GroupRecallNoticeEvent", lambda e: e["message_id"] == mid, f"of {mid}", since)
        assert (e["group_id"], e["user_id"], e["operator_id"]) == (GROUP, USER_A, USER_A), e
    else:
        s = env.app.wait_session("message-deleted", lambda s: s["message_id"] == str(mid), f"of {mid}", since)
        assert (s["subtype"], s["guild_id"], s["user_id"]) == ("group", str(GROUP), str(USER_A)), s


def test_friend_recall_notice(env: Setup):
    mid = env.gateway.say(USER_A, f"private words {word()}", group_id=None)
    since = env.app.mark()
    env.gateway.recall(mid)
    if isinstance(env.app, NoneBotApp):
        e = env.app.wait_event("FriendRecallNoticeEvent", lambda e: e["message_id"] == mid, f"of {mid}", since)
        assert e["user_id"] == USER_A, e
    else:
        s = env.app.wait_session("message-deleted", lambda s: s["message_id"] == str(mid), f"of {mid}", since)
        assert (s["subtype"], s["user_id"]) == ("private", str(USER_A)), s


def test_poke_notice(env: Setup):
    since = env.app.mark()
    env.gateway.poke(USER_A, target_id=SELF_ID)
    if isinstance(env.app, NoneBotApp):
        e = env.app.wait_event("PokeNotifyEvent", lambda e: e["user_id"] == USER_A, "from the user", since)
        assert (e["group_id"], e["target_id"]) == (GROUP, SELF_ID), e
    else:
        s = env.app.wait_session("notice", lambda s: s["subtype"] == "poke", "of subtype poke", since)
        assert (s["user_id"], s["target_id"], s["guild_id"]) == (str(USER_A), str(SELF_ID), str(GROUP)), s


def koishi_drops(notice: str):
    # koishi-plugin-adapter-onebot 6.9.4 maps only known notice types to sessions
    # (adaptSession's switch returns nothing for the rest), so Koishi code never
    # sees this notice, whatever the gateway sends.
    pytest.skip(f"Koishi's OneBot adapter drops {notice} notices by design")


def test_essence_notice(env: Setup):
    if env.kind == "koishi":
        koishi_drops("essence")
    mid = env.gateway.say(USER_B, f"golden words {word()}")
    since = env.app.mark()
    env.gateway.essence(mid, operator_id=USER_A)
    e = env.app.wait_event("NoticeEvent", lambda e: e["notice_type"] == "essence", "of type essence", since)
    assert e.get("message_id") == mid and e.get("operator_id") == USER_A, e
    assert e.get("sub_type") == "add", e


def test_group_card_notice(env: Setup):
    card = f"card {word()}"
    since = env.app.mark()
    env.gateway.card(USER_B, card)
    if isinstance(env.app, NoneBotApp):
        e = env.app.wait_event("NoticeEvent", lambda e: e["notice_type"] == "group_card", "of type group_card", since)
        assert (e.get("group_id"), e.get("user_id"), e.get("card_new")) == (GROUP, USER_B, card), e
    else:
        s = env.app.wait_session("guild-member", lambda s: s["subtype"] == "nickname", "of subtype nickname", since)
        assert (s["guild_id"], s["user_id"]) == (str(GROUP), str(USER_B)), s
        assert s["onebot"]["card_new"] == card, s


def test_offline_file_notice(env: Setup):
    if env.kind == "koishi":
        koishi_drops("offline_file")
    name = f"notes-{word()}.txt"
    since = env.app.mark()
    env.gateway.offline_file(USER_A, name, 1234)
    e = env.app.wait_event("NoticeEvent", lambda e: e["notice_type"] == "offline_file", "of type offline_file", since)
    assert e.get("user_id") == USER_A, e
    assert e.get("file", {}).get("name") == name and e["file"].get("size") == 1234, e


# --- text that needs escaping survives the whole round trip -------------------

# CQ-code specials, a comma, Chinese and an emoji.
TRICKY = "a&b [c], d=e &amp; 你好 😀"


def test_special_characters_survive(env: Setup):
    w = word()
    since = env.app.mark()
    mid = env.gateway.say(USER_A, [{"type": "text", "data": {"text": f"ping {TRICKY} {w}"}}])
    reply = env.gateway.wait_reply(f"pong {TRICKY} {w}")
    assert plain_text(reply["message"]) == f"pong {TRICKY} {w}", reply
    if isinstance(env.app, NoneBotApp):
        e = env.app.wait_event("GroupMessageEvent", lambda e: e["message_id"] == mid, f"of {mid}", since)
        assert plain_text(e["message"]) == f"ping {TRICKY} {w}", e["message"]


# --- 5. a wrong token is refused, and the gateway says why --------------------

# A warning (or error) line of the gateway's log naming the reason.
GATEWAY_SAYS = r"(?im)^.*\b(WARN|ERROR)\b.*{}"


def assert_refused(kind: str, mode: str, tmp_path, gateway_token, app_token) -> None:
    if mode == "forward":
        bad = start_pair(tmp_path, kind, mode, name="bad", gateway_token=gateway_token, app_token=app_token)
        # The gateway refuses before the upgrade and logs why; the framework sees the status.
        status = "401" if app_token is None else "403"
        bad.gateway.proc.wait_log(GATEWAY_SAYS.format(f"token.*{status}"), timeout=30)
        bad.app.proc.wait_log(status, timeout=30)
    else:
        bad = start_pair(tmp_path, kind, mode, name="bad", gateway_token=gateway_token, app_token=app_token)
        # NoneBot refuses the gateway's handshake with 403 and says why in its log.
        why = "Missing Authorization Header" if gateway_token is None else "Authorization Header is invalid"
        bad.app.proc.wait_log(why, timeout=30)
        bad.gateway.proc.wait_log(GATEWAY_SAYS.format("403"), timeout=30)
    assert bad.app.connected_records() == [], "the framework registered the bot despite the refusal"
    bad.app.stop()
    bad.gateway.stop()


def test_bad_token_is_refused(env: Setup, tmp_path):
    kind, mode = env.kind, env.mode
    if kind == "koishi" and mode == "reverse":
        # Koishi's ws-reverse server checks no token at all (adapter 6.9.4); what it
        # does refuse is a gateway speaking for a bot it does not know (close 1008).
        # Koishi closes silently; the gateway must say what it was told.
        bad = start_pair(tmp_path, kind, mode, name="bad", self_id=99999)
        bad.gateway.proc.wait_log(GATEWAY_SAYS.format("invalid x-self-id"), timeout=30)
        assert bad.app.connected_records() == []
        bad.app.stop()
        bad.gateway.stop()
        return
    if mode == "forward":
        assert_refused(kind, mode, tmp_path, gateway_token=TOKEN, app_token="not-the-token")
    else:
        assert_refused(kind, mode, tmp_path, gateway_token="not-the-token", app_token=TOKEN)


def test_missing_token_is_refused(env: Setup, tmp_path):
    kind, mode = env.kind, env.mode
    if kind == "koishi" and mode == "reverse":
        pytest.skip("Koishi's ws-reverse server checks no token (adapter 6.9.4)")
    if mode == "forward":
        assert_refused(kind, mode, tmp_path, gateway_token=TOKEN, app_token=None)
    else:
        assert_refused(kind, mode, tmp_path, gateway_token=None, app_token=TOKEN)


# --- 6. the framework crashes and comes back ----------------------------------


def test_framework_restart_reconnects(env: Setup):
    since = env.app.mark()
    gateway_log_at = len(env.gateway.log())
    env.app.kill()
    env.app.start()
    env.app.wait_connected(since=since, timeout=RECONNECT_TIMEOUT)
    ping_roundtrip(env, since)
    if env.mode == "reverse":
        after = env.gateway.log()[gateway_log_at:]
        assert "Duplicate X-Self-ID" not in after, "the gateway's redial was refused as a duplicate"
        if isinstance(env.app, NoneBotApp):
            assert "There's already a bot" not in env.app.log()


# --- 7. the gateway restarts under the framework ------------------------------


def test_gateway_restart_reconnects(env: Setup):
    """The gateway stops (SIGTERM) and starts again on the same port: the framework
    comes back by itself (forward: it redials; reverse: the gateway dials it)."""
    if env.kind == "koishi" and env.mode == "forward":
        # Koishi's 'ws' client never redials once the server closed the socket:
        # adapter-onebot 6.9.4's close handler calls bot.offline(), which makes
        # satori's retry timer (WsClientBase.reconnect) give up. Use ws-reverse
        # for Koishi, where the gateway redials.
        pytest.skip("Koishi's forward WS client does not reconnect after the server closes")
    since = env.app.mark()
    env.gateway.stop()
    env.app.wait_record(lambda r: r.get("kind") == "disconnected", "the bot to go offline", since)
    env.gateway.start()
    env.app.wait_connected(since=since, timeout=RECONNECT_TIMEOUT)
    ping_roundtrip(env, since)


