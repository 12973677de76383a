"""NoneBot2 app driven by the interop suite.

Configured only through the environment (the harness sets it):
  DRIVER                 ~fastapi+~websockets (server for reverse WS, client for forward WS)
  HOST, PORT             where NoneBot's own server listens (reverse WS: /onebot/v11/ws)
  ONEBOT_WS_URLS         '["ws://127.0.0.1:PORT/"]' for forward WS, '[]' for reverse only
  ONEBOT_ACCESS_TOKEN    token sent (forward) or required (reverse)
  INTEROP_EVENTS         JSONL file the plugin appends every event to
  INTEROP_TAG            optional suffix of replies, to tell two frameworks apart
"""

import sys
from pathlib import Path

import nonebot
from nonebot.adapters.onebot.v11 import Adapter

nonebot.init()
nonebot.get_driver().register_adapter(Adapter)
# By module name: load_plugin(Path) wants the file under the working directory.
sys.path.insert(0, str(Path(__file__).resolve().parent))
nonebot.load_plugin("interop_plugin")

if __name__ == "__main__":
    nonebot.run()
