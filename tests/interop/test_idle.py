"""Idle connections stay up: every framework, on both transports, is connected to
one gateway and nothing happens until NoneBot's keepalive has gone a full round
(websockets and uvicorn ping every 20 s and drop a peer that has not answered
20 s later, so a second Ping proves the first was answered in time). The gateway
pings every second here, so its own liveness check (three silent intervals =
dead) runs against the frameworks' automatic pongs too. Afterwards nobody was
dropped and everybody still answers.
"""

from __future__ import annotations

import uuid

import pytest

from harness import TOKEN, USER_A, Gateway, KoishiApp, NoneBotApp, wait_until

# Two keepalive Pings from each NoneBot connection: at 20 s and 40 s, plus slack.
KEEPALIVE_ROUNDS = 2
KEEPALIVE_WAIT = 70


@pytest.fixture(scope="module")
def crowd(tmp_path_factory):
    tmp = tmp_path_factory.mktemp("idle")
    nb_rev = NoneBotApp(tmp, "reverse", tag="nbr", name="nonebot-reverse").start()
    ko_rev = KoishiApp(tmp, "reverse", tag="kor", name="koishi-reverse").start()
    gateway = Gateway(
        tmp,
        name="gateway-idle",
        reverse=[(nb_rev.reverse_url, TOKEN), (ko_rev.reverse_url, TOKEN)],
        extra="[gateway]\nping_interval_ms = 1000\n",
    ).start()
    nb_fwd = NoneBotApp(tmp, "forward", gateway.url, tag="nbf", name="nonebot-forward").start()
    ko_fwd = KoishiApp(tmp, "forward", gateway.url, tag="kof", name="koishi-forward").start()
    apps = {"nbf": nb_fwd, "nbr": nb_rev, "kof": ko_fwd, "kor": ko_rev}
    for app in apps.values():
        app.wait_connected()
    yield gateway, apps
    for app in apps.values():
        app.stop()
    gateway.stop()


def test_idle_connections_survive_keepalive(crowd):
    gateway, apps = crowd
    marks = {tag: app.mark() for tag, app in apps.items()}

    def nonebot_pinged_twice() -> bool:
        # NoneBot's forward client (websockets) and its reverse server (uvicorn)
        # both ping the gateway; Koishi's sockets send no keepalive of their own.
        sessions = gateway.status()["apps"]
        nonebot = [a for a in sessions if a["pings_received"] > 0]
        return len(nonebot) >= 2 and all(a["pings_received"] >= KEEPALIVE_ROUNDS for a in nonebot)

    wait_until(nonebot_pinged_twice, KEEPALIVE_WAIT, "two keepalive rounds of both NoneBot connections", interval=1.0)
    for tag, app in apps.items():
        app.proc.ensure_running()
        dropped = [r for r in app.records()[marks[tag]:] if r.get("kind") == "disconnected"]
        assert not dropped, f"{app.name} lost the bot while idle: {dropped}"
    w = uuid.uuid4().hex[:8]
    gateway.say(USER_A, f"ping still there {w}")
    for tag in apps:
        gateway.wait_reply(f"pong still there {w} ({tag})")
