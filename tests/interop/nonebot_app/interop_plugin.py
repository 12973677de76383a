"""Plugin of the interop NoneBot app: answers "ping", records what NoneBot saw.

Every record is one JSON line in $INTEROP_EVENTS:
  {"kind": "connected"|"disconnected", "self_id": "10000"}
  {"kind": "event", "type": "<Event class name>", "event": {...}, "reply": {...}|null}
  {"kind": "sent", "message_id": N, "text": "pong ..."}
The harness asserts on the class name (typed NoneBot events) and on the fields.
"""

import json
import os
import time

from nonebot import get_driver, on, on_startswith
from nonebot.adapters import Bot, Event
from nonebot.adapters.onebot.v11 import MessageEvent
from nonebot.matcher import Matcher

EVENTS_FILE = os.environ["INTEROP_EVENTS"]
TAG = os.environ.get("INTEROP_TAG", "")
driver = get_driver()


def record(**fields) -> None:
    fields["at"] = time.time()
    line = json.dumps(fields, ensure_ascii=False, default=str)
    # One write per line in append mode: the harness never sees half a record.
    with open(EVENTS_FILE, "a", encoding="utf-8") as f:
        f.write(line + "\n")


@driver.on_bot_connect
async def _connected(bot: Bot) -> None:
    record(kind="connected", self_id=bot.self_id)


@driver.on_bot_disconnect
async def _disconnected(bot: Bot) -> None:
    record(kind="disconnected", self_id=bot.self_id)


# Priority 1, non-blocking, no rule: sees every event NoneBot could parse.
recorder = on(priority=1, block=False)


@recorder.handle()
async def _record(event: Event) -> None:
    reply = None
    if isinstance(event, MessageEvent) and event.reply is not None:
        reply = {
            "message_id": event.reply.message_id,
            "user_id": event.reply.sender.user_id,
            "text": event.reply.message.extract_plain_text(),
        }
    record(
        kind="event",
        type=type(event).__name__,
        event=json.loads(event.model_dump_json()),
        reply=reply,
    )


ping = on_startswith("ping", priority=5, block=True)


@ping.handle()
async def _pong(matcher: Matcher, event: MessageEvent) -> None:
    text = event.get_plaintext().strip()[len("ping"):].strip()
    answer = f"pong {text}" + (f" ({TAG})" if TAG else "")
    # matcher.send goes through bot.send -> send_msg, NoneBot's normal reply path.
    result = await matcher.send(answer)
    record(kind="sent", message_id=(result or {}).get("message_id"), text=answer)
