"""NoneBot2 with nonebot-adapter-milky, driven by the interop suite: a Milky
app (its own protocol, not OneBot v11) on the gateway's Milky listener.

Configured only through the environment (the harness sets it):
  DRIVER           ~httpx+~websockets (HTTP client for the API, WebSocket client for /event)
  MILKY_CLIENTS    '[{"host": "127.0.0.1", "port": PORT, "access_token": "..."}]'
  INTEROP_EVENTS   JSONL file the plugin appends every event to
"""

import sys
from pathlib import Path

import nonebot
from nonebot.adapters.milky import Adapter

nonebot.init()
nonebot.get_driver().register_adapter(Adapter)
sys.path.insert(0, str(Path(__file__).resolve().parent))
nonebot.load_plugin("milky_plugin")

if __name__ == "__main__":
    nonebot.run()
