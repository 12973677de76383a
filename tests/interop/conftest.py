"""pytest glue of the interop suite: process cleanup and logs of failed scenarios."""

from __future__ import annotations

import sys
from pathlib import Path

import pytest

sys.path.insert(0, str(Path(__file__).resolve().parent))

import harness  # noqa: E402

LOG_LINES = 250
_offsets = pytest.StashKey[dict]()


@pytest.fixture(scope="module", autouse=True)
def _stop_module_processes():
    """Whatever a module started is stopped (by PID, process group) when it ends."""
    yield
    harness.stop_all()


@pytest.fixture(autouse=True)
def _log_offsets(request):
    """Remembers how long each log was when the test began, to print only its part."""
    request.node.stash[_offsets] = {id(p): len(p.log()) for p in harness.STARTED}
    yield


@pytest.hookimpl(wrapper=True)
def pytest_runtest_makereport(item, call):
    report = yield
    if report.failed and report.when in ("setup", "call"):
        offsets = item.stash.get(_offsets, {}) if report.when == "call" else {}
        for proc in harness.STARTED:
            text = proc.log()[offsets.get(id(proc), 0):]
            if not text.strip():
                continue  # nothing new from this process during the failed test
            lines = text.splitlines()
            shown = "\n".join(lines[-LOG_LINES:])
            cut = f" (last {LOG_LINES} of {len(lines)} lines)" if len(lines) > LOG_LINES else ""
            state = "running" if proc.alive() else f"exited {proc.popen.returncode if proc.popen else None}"
            report.sections.append(
                (f"log of {proc.name} (pid {proc.pid}, {state}){cut}: {proc.log_path}", shown)
            )
    return report


def pytest_report_header(config):
    return [
        f"interop: gateway binary {harness.GATEWAY_BIN}",
        f"interop: clients from {harness.INTEROP}",
    ]
