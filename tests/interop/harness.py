"""Process harness of the interop suite: gateways, NoneBot2 and Koishi apps.

Everything runs on 127.0.0.1 with ports picked by binding port 0. Each process
runs in its own process group and is stopped by its PID (the group), never by
name. Every process writes its output to a log file; `STARTED` lists the
processes of the running test module so a failing scenario can print their logs
(conftest.py does that).
"""

from __future__ import annotations

import json
import os
import re
import shutil
import signal
import socket
import subprocess
import sys
import time
import urllib.error
import urllib.request
from pathlib import Path
from typing import Any, Callable, Iterable, Optional

HERE = Path(__file__).resolve().parent
ROOT = HERE.parent.parent
INTEROP = ROOT / ".interop"
GATEWAY_BIN = Path(
    os.environ.get("ONEBOT_GATEWAY_BIN")
    or ROOT / os.environ.get("CARGO_TARGET_DIR", "target") / "debug" / "onebot-gateway"
)
VENV_PYTHON = INTEROP / "venv" / "bin" / "python"
KOISHI_MODULES = INTEROP / "koishi" / "node_modules"

# The sandbox's default account (see the gateway's sandbox docs).
TOKEN = "secret"
SELF_ID = 10000
GROUP = 100
USER_A = 20001
USER_B = 20002

# Every wait is bounded; these are generous for a loaded 2-core CI machine.
CONNECT_TIMEOUT = 30.0
EVENT_TIMEOUT = 15.0
RECONNECT_TIMEOUT = 60.0

# Processes started by the current test module, in start order.
STARTED: list["Proc"] = []


def free_port() -> int:
    """A port that was free on 127.0.0.1 a moment ago (bind port 0, read it, close)."""
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def port_open(port: int) -> bool:
    try:
        with socket.create_connection(("127.0.0.1", port), timeout=0.5):
            return True
    except OSError:
        return False


def wait_until(
    check: Callable[[], Any], timeout: float, what: str, interval: float = 0.1
) -> Any:
    """Polls `check` until it returns something truthy; returns that value.

    Raises AssertionError naming `what` when `timeout` seconds pass first.
    """
    deadline = time.monotonic() + timeout
    while True:
        value = check()
        if value:
            return value
        if time.monotonic() >= deadline:
            raise AssertionError(f"timed out after {timeout:.0f}s waiting for {what}")
        time.sleep(interval)


def plain_text(message: Any) -> str:
    """The text of a OneBot message given as a segment array or a CQ string."""
    if isinstance(message, str):
        text = re.sub(r"\[CQ:[^\]]*\]", "", message)
        return text.replace("&#91;", "[").replace("&#93;", "]").replace("&amp;", "&")
    return "".join(
        str(seg.get("data", {}).get("text", ""))
        for seg in message or []
        if isinstance(seg, dict) and seg.get("type") == "text"
    )


class Proc:
    """One child process in its own process group, output to a log file."""

    def __init__(
        self,
        name: str,
        argv: list[str],
        log_path: Path,
        env: Optional[dict[str, str]] = None,
        cwd: Optional[Path] = None,
    ):
        self.name = name
        self.argv = argv
        self.log_path = log_path
        self.env = env
        self.cwd = cwd
        self.popen: Optional[subprocess.Popen] = None

    def start(self) -> "Proc":
        assert self.popen is None or self.popen.poll() is not None, f"{self.name} already running"
        full_env = dict(os.environ)
        full_env.update(self.env or {})
        with open(self.log_path, "ab") as log:
            log.write(f"==== start {' '.join(self.argv)}\n".encode())
            log.flush()
            self.popen = subprocess.Popen(
                self.argv,
                stdout=log,
                stderr=subprocess.STDOUT,
                stdin=subprocess.DEVNULL,
                env=full_env,
                cwd=self.cwd,
                start_new_session=True,  # own process group: killpg reaches its children
            )
        if self not in STARTED:
            STARTED.append(self)
        return self

    @property
    def pid(self) -> Optional[int]:
        return self.popen.pid if self.popen else None

    def alive(self) -> bool:
        return self.popen is not None and self.popen.poll() is None

    def _signal_group(self, sig: int) -> None:
        try:
            os.killpg(self.popen.pid, sig)
        except ProcessLookupError:
            pass

    def stop(self, grace: float = 5.0) -> None:
        """SIGTERM to the process group, SIGKILL after `grace` seconds."""
        if self.popen is None:
            return
        if self.popen.poll() is None:
            self._signal_group(signal.SIGTERM)
            try:
                self.popen.wait(grace)
            except subprocess.TimeoutExpired:
                self._signal_group(signal.SIGKILL)
                self.popen.wait(5)
        # Children that outlived the leader still get the group's SIGKILL.
        self._signal_group(signal.SIGKILL)

    def kill(self) -> None:
        """SIGKILL to the process group at once (a crash, as a user would see it)."""
        if self.popen is None:
            return
        self._signal_group(signal.SIGKILL)
        self.popen.wait(10)

    def log(self) -> str:
        try:
            return self.log_path.read_text(encoding="utf-8", errors="replace")
        except FileNotFoundError:
            return ""

    def log_tail(self, lines: int = 200) -> str:
        return "\n".join(self.log().splitlines()[-lines:])

    def wait_log(self, pattern: str, timeout: float = EVENT_TIMEOUT, since: int = 0) -> re.Match:
        """Waits until the log (from byte/char offset `since`) matches `pattern`."""
        rx = re.compile(pattern)
        return wait_until(
            lambda: rx.search(self.log()[since:]), timeout, f"{self.name} log to match {pattern!r}"
        )

    def ensure_running(self) -> None:
        if not self.alive():
            code = self.popen.returncode if self.popen else None
            raise AssertionError(f"{self.name} exited (code {code}); log:\n{self.log_tail(80)}")


def toml_str(value: str) -> str:
    # A JSON string of printable ASCII is a valid TOML basic string.
    return json.dumps(value)


class Gateway:
    """One onebot-gateway process with a generated TOML config."""

    def __init__(
        self,
        tmp: Path,
        name: str = "gateway",
        token: Optional[str] = TOKEN,
        reverse: Iterable[tuple[str, Optional[str]]] = (),
        upstreams: Iterable[tuple[str, Optional[str]]] = (),
        sandbox: bool = True,
        extra: str = "",
        listen_app: str = "",
    ):
        """`extra` is appended to the generated TOML (more tables, e.g. `[[apps]]`);
        `listen_app` is the listener's `app = {...}` delivery options, e.g. `post_format = "string"`."""
        self.name = name
        self.token = token
        self.port = free_port()
        self.dir = tmp / name
        self.dir.mkdir(parents=True, exist_ok=True)
        lines = ["[[listen]]", f'address = "127.0.0.1:{self.port}"']
        if token is not None:
            lines.append(f"access_token = {toml_str(token)}")
        if listen_app:
            lines.append(f"app = {{ {listen_app} }}")
        for url, tok in reverse:
            lines += ["", "[[reverse]]", f"url = {toml_str(url)}"]
            if tok is not None:
                lines.append(f"access_token = {toml_str(tok)}")
        for url, tok in upstreams:
            lines += ["", "[[upstream]]", 'type = "ws"', f"url = {toml_str(url)}"]
            if tok is not None:
                lines.append(f"access_token = {toml_str(tok)}")
        if sandbox:
            lines += ["", "[sandbox]", 'store = ":memory:"']
        self.config_text = "\n".join(lines) + "\n" + (("\n" + extra.strip() + "\n") if extra else "")
        self.config_path = self.dir / "gateway.toml"
        self.config_path.write_text(self.config_text)
        if not GATEWAY_BIN.exists():
            raise AssertionError(
                f"{GATEWAY_BIN} is missing: build it with `cargo build --bin onebot-gateway`"
            )
        self.proc = Proc(
            name,
            [str(GATEWAY_BIN), "--config", str(self.config_path)],
            self.dir / "gateway.log",
            env={
                "RUST_LOG": os.environ.get("INTEROP_RUST_LOG", "info,onebot_gateway=debug"),
                "NO_COLOR": "1",
                "RUST_BACKTRACE": "1",
            },
            cwd=self.dir,
        )

    @property
    def url(self) -> str:
        return f"ws://127.0.0.1:{self.port}/"

    def start(self) -> "Gateway":
        self.proc.start()

        def listening() -> bool:
            self.proc.ensure_running()
            return port_open(self.port)

        wait_until(listening, CONNECT_TIMEOUT, f"{self.name} to listen on {self.port}")
        return self

    def stop(self) -> None:
        self.proc.stop()

    def log(self) -> str:
        return self.proc.log()

    # --- sandbox injection API (POST/GET /sandbox/{self_id}/...) ---

    def api(self, method: str, path: str, body: Optional[dict] = None, self_id: int = SELF_ID) -> Any:
        """Calls the sandbox API; returns `data` of an ok answer, raises on anything else."""
        url = f"http://127.0.0.1:{self.port}/sandbox/{self_id}/{path}"
        data = None if body is None else json.dumps(body).encode()
        req = urllib.request.Request(url, data=data, method=method)
        req.add_header("Content-Type", "application/json")
        if self.token:
            req.add_header("Authorization", f"Bearer {self.token}")
        try:
            with urllib.request.urlopen(req, timeout=10) as resp:
                text = resp.read().decode()
        except urllib.error.HTTPError as e:
            raise AssertionError(
                f"{method} {url} {json.dumps(body)} -> HTTP {e.code}: {e.read().decode(errors='replace')}"
            ) from None
        answer = json.loads(text)
        assert answer.get("status") == "ok", f"{method} {url} {json.dumps(body)} -> {text}"
        return answer.get("data")

    def action(self, name: str, params: dict, self_id: int = SELF_ID) -> Any:
        """Calls a OneBot action over the HTTP API (`POST /{self_id}/{action}`); its whole answer."""
        req = urllib.request.Request(
            f"http://127.0.0.1:{self.port}/{self_id}/{name}", data=json.dumps(params).encode(), method="POST"
        )
        req.add_header("Content-Type", "application/json")
        if self.token:
            req.add_header("Authorization", f"Bearer {self.token}")
        with urllib.request.urlopen(req, timeout=10) as resp:
            return json.loads(resp.read().decode())

    def status(self) -> dict:
        """`GET /status`: bots, apps and their counters."""
        req = urllib.request.Request(f"http://127.0.0.1:{self.port}/status")
        if self.token:
            req.add_header("Authorization", f"Bearer {self.token}")
        with urllib.request.urlopen(req, timeout=10) as resp:
            return json.loads(resp.read().decode())["data"]

    def say(self, user_id: int, message: Any, group_id: Optional[int] = GROUP) -> int:
        """A user sends `message` (CQ string or segments) to the group, or privately when group_id is None."""
        body: dict[str, Any] = {"user_id": user_id, "message": message}
        if group_id is not None:
            body["group_id"] = group_id
        data = self.api("POST", "say", body)
        return int(data["message_id"])

    def poke(self, user_id: int, target_id: int = SELF_ID, group_id: Optional[int] = GROUP) -> Any:
        body: dict[str, Any] = {"user_id": user_id, "target_id": target_id}
        if group_id is not None:
            body["group_id"] = group_id
        return self.api("POST", "poke", body)

    def recall(self, message_id: int, operator_id: Optional[int] = None) -> Any:
        body: dict[str, Any] = {"message_id": message_id}
        if operator_id is not None:
            body["operator_id"] = operator_id
        return self.api("POST", "recall", body)

    def essence(self, message_id: int, operator_id: int, sub_type: str = "add") -> Any:
        return self.api(
            "POST", "essence", {"message_id": message_id, "operator_id": operator_id, "sub_type": sub_type}
        )

    def card(self, user_id: int, card: str, group_id: int = GROUP) -> Any:
        return self.api("POST", "card", {"group_id": group_id, "user_id": user_id, "card": card})

    def offline_file(self, user_id: int, name: str, size: int) -> Any:
        return self.api("POST", "offline_file", {"user_id": user_id, "name": name, "size": size})

    def messages(self, group_id: int = GROUP, limit: int = 100) -> list[dict]:
        return self.api("GET", f"messages?group_id={group_id}&limit={limit}") or []

    def wait_message(self, check: Callable[[dict], bool], what: str, group_id: int = GROUP,
                     timeout: float = EVENT_TIMEOUT) -> dict:
        """Waits for a message in the group's history satisfying `check`."""

        def find() -> Optional[dict]:
            for m in self.messages(group_id):
                if check(m):
                    return m
            return None

        try:
            return wait_until(find, timeout, what, interval=0.2)
        except AssertionError as e:
            history = [(m.get("user_id"), m.get("raw_message")) for m in self.messages(group_id)[-15:]]
            raise AssertionError(f"{e}; last messages in group {group_id}: {history}") from None

    def wait_reply(self, text: str, group_id: int = GROUP, timeout: float = EVENT_TIMEOUT) -> dict:
        """Waits until the bot (user 10000) has said exactly `text` in the group."""
        return self.wait_message(
            lambda m: int(m.get("user_id", 0)) == SELF_ID
            and (plain_text(m.get("message")) == text or m.get("raw_message") == text),
            f"the bot to say {text!r} in group {group_id}",
            group_id,
            timeout,
        )


class App:
    """A framework process that appends JSON records to a JSONL file."""

    kind = "app"

    def __init__(self, tmp: Path, name: str):
        self.name = name
        self.dir = tmp / name
        self.dir.mkdir(parents=True, exist_ok=True)
        self.events_path = self.dir / "events.jsonl"
        self.port = free_port()  # the framework's own server (reverse WS listens here)
        self.proc: Proc

    def records(self) -> list[dict]:
        try:
            text = self.events_path.read_text(encoding="utf-8")
        except FileNotFoundError:
            return []
        out = []
        for line in text.splitlines():
            if line.strip():
                out.append(json.loads(line))
        return out

    def mark(self) -> int:
        """A position in the records: waits after it see only newer records."""
        return len(self.records())

    def wait_record(self, check: Callable[[dict], bool], what: str, since: int = 0,
                    timeout: float = EVENT_TIMEOUT) -> dict:
        def find() -> Optional[dict]:
            self.proc.ensure_running()
            for r in self.records()[since:]:
                if check(r):
                    return r
            return None

        try:
            return wait_until(find, timeout, f"{self.name}: {what}")
        except AssertionError as e:
            seen = [self.describe(r) for r in self.records()[since:] if not self.is_noise(r)][-20:]
            raise AssertionError(f"{e}; recent records: {seen}") from None

    def connected_records(self, since: int = 0) -> list[dict]:
        return [r for r in self.records()[since:] if r.get("kind") == "connected"]

    def wait_connected(self, since: int = 0, timeout: float = CONNECT_TIMEOUT, self_id: int = SELF_ID) -> dict:
        return self.wait_record(
            lambda r: r.get("kind") == "connected" and str(r.get("self_id")) == str(self_id),
            f"bot {self_id} to connect",
            since,
            timeout,
        )

    def describe(self, record: dict) -> str:
        return json.dumps(record, ensure_ascii=False)[:300]

    def is_noise(self, record: dict) -> bool:
        return False

    def start(self) -> "App":
        self.proc.start()
        return self

    def wait_listening(self) -> None:
        def listening() -> bool:
            self.proc.ensure_running()
            return port_open(self.port)

        wait_until(listening, CONNECT_TIMEOUT, f"{self.name} to listen on {self.port}")

    def stop(self) -> None:
        self.proc.stop()

    def kill(self) -> None:
        self.proc.kill()

    def log(self) -> str:
        return self.proc.log()


class NoneBotApp(App):
    """tests/interop/nonebot_app/bot.py under the venv's Python.

    mode "forward": NoneBot dials `gateway_url`; mode "reverse": NoneBot serves
    /onebot/v11/ws on its port and the gateway dials it.
    """

    kind = "nonebot"

    def __init__(self, tmp: Path, mode: str, gateway_url: Optional[str] = None,
                 token: Optional[str] = TOKEN, tag: str = "", name: Optional[str] = None):
        super().__init__(tmp, name or f"nonebot-{mode}")
        assert mode in ("forward", "reverse")
        self.mode = mode
        env = {
            "DRIVER": "~fastapi+~websockets",
            "HOST": "127.0.0.1",
            "PORT": str(self.port),
            "ONEBOT_WS_URLS": json.dumps([gateway_url] if mode == "forward" else []),
            "LOG_LEVEL": "DEBUG",
            "INTEROP_EVENTS": str(self.events_path),
            "INTEROP_TAG": tag,
            "PYTHONUNBUFFERED": "1",
        }
        if mode == "forward":
            assert gateway_url, "forward mode needs the gateway's URL"
        if token:
            env["ONEBOT_ACCESS_TOKEN"] = token
        python = str(VENV_PYTHON if VENV_PYTHON.exists() else Path(sys.executable))
        # cwd is the app's scratch folder: NoneBot reads .env files from there.
        self.proc = Proc(self.name, [python, str(HERE / "nonebot_app" / "bot.py")],
                         self.dir / "nonebot.log", env=env, cwd=self.dir)

    @property
    def reverse_url(self) -> str:
        return f"ws://127.0.0.1:{self.port}/onebot/v11/ws"

    def start(self) -> "NoneBotApp":
        super().start()
        # Both modes run NoneBot's server; once it listens, the app is up.
        self.wait_listening()
        return self

    def is_noise(self, record: dict) -> bool:
        return record.get("type") == "HeartbeatMetaEvent"

    def events(self, type_name: str, since: int = 0) -> list[dict]:
        return [r for r in self.records()[since:] if r.get("kind") == "event" and r.get("type") == type_name]

    def wait_event(self, type_name: str, check: Callable[[dict], bool] = lambda e: True,
                   what: str = "", since: int = 0, timeout: float = EVENT_TIMEOUT) -> dict:
        """Waits for a NoneBot event of class `type_name` whose fields satisfy `check`; returns its fields."""
        record = self.wait_record(
            lambda r: r.get("kind") == "event" and r.get("type") == type_name and check(r["event"]),
            f"a {type_name} {what}".strip(),
            since,
            timeout,
        )
        return record["event"]

    def sent(self, since: int = 0) -> list[dict]:
        return [r for r in self.records()[since:] if r.get("kind") == "sent"]


class KoishiApp(App):
    """tests/interop/koishi_app/bot.js under node, modules from .interop/koishi.

    mode "forward": Koishi dials `gateway_url` (protocol 'ws'); mode "reverse":
    Koishi serves /onebot on its port (protocol 'ws-reverse').
    """

    kind = "koishi"

    def __init__(self, tmp: Path, mode: str, gateway_url: Optional[str] = None,
                 token: Optional[str] = TOKEN, tag: str = "", self_id: int = SELF_ID,
                 name: Optional[str] = None):
        super().__init__(tmp, name or f"koishi-{mode}")
        assert mode in ("forward", "reverse")
        self.mode = mode
        node = shutil.which("node")
        if node is None:
            raise AssertionError("node is not on PATH")
        if not KOISHI_MODULES.exists():
            raise AssertionError(f"{KOISHI_MODULES} is missing: run tests/interop/setup")
        env = {
            "NODE_PATH": str(KOISHI_MODULES),
            "KOISHI_PORT": str(self.port),
            "ONEBOT_PROTOCOL": "ws" if mode == "forward" else "ws-reverse",
            "ONEBOT_SELF_ID": str(self_id),
            "INTEROP_EVENTS": str(self.events_path),
            "INTEROP_TAG": tag,
            "FORCE_COLOR": "0",
        }
        if mode == "forward":
            assert gateway_url, "forward mode needs the gateway's URL"
            env["ONEBOT_ENDPOINT"] = gateway_url
        if token:
            env["ONEBOT_TOKEN"] = token
        self.proc = Proc(self.name, [node, str(HERE / "koishi_app" / "bot.js")],
                         self.dir / "koishi.log", env=env, cwd=self.dir)

    @property
    def reverse_url(self) -> str:
        return f"ws://127.0.0.1:{self.port}/onebot"

    def start(self) -> "KoishiApp":
        super().start()
        self.wait_listening()
        return self

    def sessions(self, type_name: str, since: int = 0) -> list[dict]:
        return [r for r in self.records()[since:] if r.get("kind") == "session" and r.get("type") == type_name]

    def wait_session(self, type_name: str, check: Callable[[dict], bool] = lambda s: True,
                     what: str = "", since: int = 0, timeout: float = EVENT_TIMEOUT) -> dict:
        """Waits for a Koishi session of `type_name` (message, message-deleted, notice, ...)."""
        # Koishi 4.18 names a received message's session "message-created".
        names = {type_name, "message-created"} if type_name == "message" else {type_name}
        return self.wait_record(
            lambda r: r.get("kind") == "session" and r.get("type") in names and check(r),
            f"a {type_name} session {what}".strip(),
            since,
            timeout,
        )

    def sent(self, since: int = 0) -> list[dict]:
        return [r for r in self.records()[since:] if r.get("kind") == "sent"]


def make_app(kind: str, tmp: Path, mode: str, gateway_url: Optional[str] = None, **kw) -> App:
    if kind == "nonebot":
        return NoneBotApp(tmp, mode, gateway_url, **kw)
    if kind == "koishi":
        return KoishiApp(tmp, mode, gateway_url, **kw)
    raise ValueError(kind)


def stop_all() -> None:
    """Stops every process of the module, newest first; clears the list."""
    for proc in reversed(STARTED):
        try:
            proc.stop()
        except Exception as e:  # keep stopping the others
            print(f"interop: could not stop {proc.name} (pid {proc.pid}): {e}", file=sys.stderr)
    STARTED.clear()


class MilkyNoneBotApp(App):
    """tests/interop/milky_app/bot.py: NoneBot2 with nonebot-adapter-milky,
    a client of `host:port` (the gateway's Milky listener)."""

    kind = "nonebot-milky"

    def __init__(self, tmp: Path, port: int, token: Optional[str] = TOKEN, name: str = "nonebot-milky"):
        super().__init__(tmp, name)
        client: dict[str, Any] = {"host": "127.0.0.1", "port": port}
        if token:
            client["access_token"] = token
        env = {
            # Client drivers only: the adapter dials the API and /event itself.
            "DRIVER": "~httpx+~websockets",
            "MILKY_CLIENTS": json.dumps([client]),
            "LOG_LEVEL": "DEBUG",
            "INTEROP_EVENTS": str(self.events_path),
            "PYTHONUNBUFFERED": "1",
            "NO_PROXY": "127.0.0.1,localhost",
        }
        python = str(VENV_PYTHON if VENV_PYTHON.exists() else Path(sys.executable))
        self.proc = Proc(self.name, [python, str(HERE / "milky_app" / "bot.py")],
                         self.dir / "nonebot-milky.log", env=env, cwd=self.dir)

    def events(self, type_name: str, since: int = 0) -> list[dict]:
        return [r for r in self.records()[since:] if r.get("kind") == "event" and r.get("type") == type_name]
