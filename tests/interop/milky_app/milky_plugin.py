"""Plugin of the interop Milky app: answers "ping", recalls on "recall",
answers a nudge; records what the adapter saw.

Records (one JSON line each in $INTEROP_EVENTS):
  {"kind": "connected", "self_id": "10000"}
  {"kind": "event", "type": "<Event class name>", "event": {...}}
  {"kind": "sent", "message_seq": N, "text": "..."}
  {"kind": "recalled", "message_seq": N}
"""

import json
import os
import time

from nonebot import get_driver, on, on_notice, on_startswith
from nonebot.adapters import Event
from nonebot.adapters.milky import Bot
from nonebot.adapters.milky.event import GroupMessageEvent, GroupNudgeEvent

EVENTS_FILE = os.environ["INTEROP_EVENTS"]
driver = get_driver()


def record(**fields) -> None:
    fields["at"] = time.time()
    with open(EVENTS_FILE, "a", encoding="utf-8") as f:
        f.write(json.dumps(fields, ensure_ascii=False, default=str) + "\n")


@driver.on_bot_connect
async def _connected(bot: Bot) -> None:
    record(kind="connected", self_id=bot.self_id)


recorder = on(priority=1, block=False)


@recorder.handle()
async def _record(event: Event) -> None:
    record(kind="event", type=type(event).__name__, event=json.loads(event.model_dump_json()))


ping = on_startswith("ping", priority=5, block=True)


@ping.handle()
async def _pong(bot: Bot, event: GroupMessageEvent) -> None:
    text = event.get_plaintext().strip()[len("ping"):].strip()
    result = await bot.send(event, f"pong {text}")
    record(kind="sent", message_seq=result.message_seq, text=f"pong {text}")


recall = on_startswith("recall", priority=5, block=True)


@recall.handle()
async def _recall(bot: Bot, event: GroupMessageEvent) -> None:
    text = event.get_plaintext().strip()[len("recall"):].strip()
    result = await bot.send(event, f"soon gone {text}")
    record(kind="sent", message_seq=result.message_seq, text=f"soon gone {text}")
    await bot.recall_group_message(group_id=event.data.peer_id, message_seq=result.message_seq)
    record(kind="recalled", message_seq=result.message_seq)


nudged = on_notice(priority=5, block=False)


@nudged.handle()
async def _nudged(bot: Bot, event: GroupNudgeEvent) -> None:
    if event.data.receiver_id == int(bot.self_id):
        await bot.send_group_nudge(group_id=event.data.group_id, user_id=event.data.sender_id)
        await bot.send(event, f"nudged back {event.data.sender_id}")
