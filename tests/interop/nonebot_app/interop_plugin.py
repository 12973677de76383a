"""Plugin of the interop NoneBot app: answers "ping", records what NoneBot saw.

Every record is one JSON line in $INTEROP_EVENTS:
  {"kind": "connected"|"disconnected", "self_id": "10000"}
  {"kind": "event", "type": "<Event class name>", "event": {...}, "reply": {...}|null}
  {"kind": "sent", "message_id": N, "text": "pong ..."}
  {"kind": "recalled", "message_id": N}
  {"kind": "approved", "user_id": N}
"quote X" is answered with a reply to it, "unsend X" with a message the bot
then recalls; a friend request saying "approve me" is approved.
The harness asserts on the class name (typed NoneBot events) and on the fields.
"""

import json
import os
import time

from nonebot import get_driver, on, on_request, on_startswith
from nonebot.adapters import Bot, Event
from nonebot.adapters.onebot.v11 import Bot as V11Bot
from nonebot.adapters.onebot.v11 import FriendRequestEvent, MessageEvent, MessageSegment
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


quote = on_startswith("quote", priority=5, block=True)


@quote.handle()
async def _quote(matcher: Matcher, event: MessageEvent) -> None:
    text = event.get_plaintext().strip()[len("quote"):].strip()
    result = await matcher.send(MessageSegment.reply(event.message_id) + f"quoted {text}")
    record(kind="sent", message_id=(result or {}).get("message_id"), text=f"quoted {text}")


unsend = on_startswith("unsend", priority=5, block=True)


@unsend.handle()
async def _unsend(bot: V11Bot, matcher: Matcher, event: MessageEvent) -> None:
    text = event.get_plaintext().strip()[len("unsend"):].strip()
    result = await matcher.send(f"soon gone {text}")
    await bot.delete_msg(message_id=result["message_id"])
    record(kind="recalled", message_id=result["message_id"])


friends = on_request(priority=5, block=False)


@friends.handle()
async def _approve(bot: V11Bot, event: FriendRequestEvent) -> None:
    if event.comment == "approve me":
        await event.approve(bot)
        record(kind="approved", user_id=event.user_id)
