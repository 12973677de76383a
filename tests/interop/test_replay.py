"""Events are not lost while a framework restarts: what happened in the group while
the framework was down reaches it when it is back, and it answers then.

NoneBot connects forward as a named app (`[[apps]]`, recognised by its own token);
Koishi is dialled by the gateway (a `[[reverse]]` target is a named app by its URL).
"""

from __future__ import annotations

import uuid

import pytest

from harness import RECONNECT_TIMEOUT, SELF_ID, TOKEN, USER_A, USER_B, Gateway, KoishiApp, NoneBotApp, wait_until

NB_TOKEN = "nonebot-own-token"


@pytest.fixture(scope="module")
def gateway_and_apps(tmp_path_factory):
    tmp = tmp_path_factory.mktemp("replay")
    koishi = KoishiApp(tmp, "reverse", tag="ko").start()
    gateway = Gateway(
        tmp,
        name="gateway-replay",
        reverse=[(koishi.reverse_url, TOKEN)],
        extra=f'[[apps]]\nname = "nonebot"\naccess_token = "{NB_TOKEN}"\n',
    ).start()
    nonebot = NoneBotApp(tmp, "forward", gateway.url, token=NB_TOKEN, tag="nb").start()
    nonebot.wait_connected()
    koishi.wait_connected()
    yield gateway, nonebot, koishi
    nonebot.stop()
    koishi.stop()
    gateway.stop()


def disconnects_seen(gateway: Gateway) -> int:
    return gateway.log().count("app disconnected")


@pytest.mark.parametrize("which", ["nonebot", "koishi"])
def test_events_while_away_are_delivered_after_restart(gateway_and_apps, which):
    gateway, nonebot, koishi = gateway_and_apps
    app = nonebot if which == "nonebot" else koishi
    w = uuid.uuid4().hex[:8]
    since = app.mark()
    before = disconnects_seen(gateway)
    app.kill()
    # Wait until the gateway knows the app is gone: an event written to a socket
    # whose peer just died cannot be told apart from a delivered one (OneBot has no
    # acknowledgements), so the test injects only after that.
    wait_until(lambda: disconnects_seen(gateway) > before, 15, "the gateway to see the app go")
    mid = gateway.say(USER_A, f"ping while away {w}")
    gateway.poke(USER_B, target_id=SELF_ID)
    app.start()
    app.wait_connected(since=since, timeout=RECONNECT_TIMEOUT)
    # The missed message arrives and the framework answers it.
    tag = "nb" if which == "nonebot" else "ko"
    gateway.wait_reply(f"pong while away {w} ({tag})", timeout=RECONNECT_TIMEOUT)
    if isinstance(app, NoneBotApp):
        app.wait_event("GroupMessageEvent", lambda e: e["message_id"] == mid, f"of {mid} (missed)", since)
        app.wait_event("PokeNotifyEvent", lambda e: e["user_id"] == USER_B, "(missed)", since)
    else:
        app.wait_session("message", lambda s: s["message_id"] == str(mid), f"of {mid} (missed)", since)
        app.wait_session("notice", lambda s: s["subtype"] == "poke" and s["user_id"] == str(USER_B), "(missed)", since)
