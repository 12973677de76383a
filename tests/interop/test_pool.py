"""A real NoneBot2 on a pool: two sandbox accounts (10001, 10002) sit in the
same group and both see every message; NoneBot, connected to the pool 90000,
sees each message once and answers once, through the account that received
it first.
"""

from __future__ import annotations

import uuid

import pytest

from harness import GROUP, TOKEN, USER_A, Gateway, NoneBotApp, plain_text, wait_until

POOL = 90000
MEMBERS = (10001, 10002)
OWNER = 20000


def world_text() -> str:
    text = f'[[people]]\nuser_id = {OWNER}\nnickname = "owner"\n[[people]]\nuser_id = {USER_A}\nnickname = "a"\n'
    for bot in MEMBERS:
        text += (
            f'[[bots]]\nself_id = {bot}\nnickname = "member {bot}"\n'
            f'[[bots.groups]]\ngroup_id = {GROUP}\nname = "shared"\n'
            f'[[bots.groups.members]]\nuser_id = {OWNER}\nrole = "owner"\n'
            f"[[bots.groups.members]]\nuser_id = {USER_A}\n"
        )
    return text


@pytest.fixture(scope="module")
def pool(tmp_path_factory):
    tmp = tmp_path_factory.mktemp("pool")
    world = tmp / "world.toml"
    world.write_text(world_text())
    extra = (
        f'[sandbox]\nstore = ":memory:"\nworld = "{world}"\n'
        f'[[pool]]\nself_id = {POOL}\nname = "main"\nbots = [{MEMBERS[0]}, {MEMBERS[1]}]\n'
    )
    gateway = Gateway(tmp, name="gateway-pool", sandbox=False, extra=extra).start()
    nonebot = NoneBotApp(tmp, "forward", f"{gateway.url}{POOL}/", token=TOKEN, name="nonebot-on-pool").start()
    nonebot.wait_connected(self_id=POOL)
    yield gateway, nonebot
    nonebot.stop()
    gateway.stop()


def say_to_both(gateway: Gateway, text: str) -> None:
    for bot in MEMBERS:
        gateway.api("POST", "say", {"group_id": GROUP, "user_id": USER_A, "message": text}, self_id=bot)


def pongs(gateway: Gateway, text: str) -> list[int]:
    """The members that said `text` in the group."""
    found = []
    for bot in MEMBERS:
        history = gateway.api("GET", f"messages?group_id={GROUP}&limit=100", self_id=bot) or []
        found += [bot for m in history if int(m["user_id"]) == bot and plain_text(m["message"]) == text]
    return found


def test_nonebot_connects_to_the_pool_as_one_bot(pool):
    _, nonebot = pool
    assert [r["self_id"] for r in nonebot.connected_records()] == [str(POOL)]


def test_a_message_both_accounts_see_is_answered_once_by_its_receiver(pool):
    gateway, nonebot = pool
    w = uuid.uuid4().hex[:8]
    since = nonebot.mark()
    say_to_both(gateway, f"ping first {w}")
    wait_until(lambda: pongs(gateway, f"pong first {w}"), 15, "the pong of the first ping")
    # A second ping, answered too: by then a duplicate of the first would
    # have been answered already (NoneBot handles a connection's events in order).
    say_to_both(gateway, f"ping second {w}")
    wait_until(lambda: pongs(gateway, f"pong second {w}"), 15, "the pong of the second ping")
    assert pongs(gateway, f"pong first {w}") == [MEMBERS[0]], "answered once, by the first receiver"
    assert pongs(gateway, f"pong second {w}") == [MEMBERS[0]]
    seen = [
        r for r in nonebot.records()[since:]
        if r.get("type") == "GroupMessageEvent" and w in str(r["event"].get("raw_message"))
    ]
    assert len(seen) == 2, seen
    assert {r["event"]["self_id"] for r in seen} == {POOL}
