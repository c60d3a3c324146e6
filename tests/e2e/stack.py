"""``make run`` exactly as the README starts it, in a fresh copy of the checkout.

The README says: ``make run`` (``PORT=...`` to serve elsewhere), data in ``.local/`` of the
checkout. To leave the developer's own ``.local/`` alone, each stack runs in a temporary
copy of the checkout (the tracked and untracked-but-not-ignored files, i.e. the code as it
is now) whose ``.venv``, ``.local/dynamodb`` and ``.local/bin`` are symlinks to the shared
installs; nothing is written there. The copied files are dated in the past so that make
sees the installs as up to date and builds nothing. No test-only flag is passed.
"""
from __future__ import annotations

import json
import os
import re
import shutil
import signal
import socket
import subprocess
import time
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import requests

ROOT = Path(__file__).resolve().parents[2]
_LONG_AGO = 946684800.0  # 2000-01-01: older than any install, so make rebuilds nothing
_SHARED = (".venv", ".local/dynamodb", ".local/bin")
#: one line per start of the API server (our dev server and chalice local print the same)
SERVER_START = re.compile(r"^Serving on http://", re.MULTILINE)


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


def checkout_copy(dest: Path) -> Path:
    """A copy of the checkout's files in ``dest`` with the shared installs symlinked."""
    listed = subprocess.run(["git", "ls-files", "-z", "--cached", "--others", "--exclude-standard"],
                            cwd=ROOT, capture_output=True, check=True).stdout.decode().split("\0")
    for name in filter(None, listed):
        if name.split("/")[0] in (".venv", ".local"):
            continue
        src, dst = ROOT / name, dest / name
        if not src.exists() and not src.is_symlink():
            continue  # deleted in the work tree, not yet committed
        dst.parent.mkdir(parents=True, exist_ok=True)
        shutil.copy2(src, dst, follow_symlinks=False)
        os.utime(dst, (_LONG_AGO, _LONG_AGO), follow_symlinks=False)
    for shared in _SHARED:
        link = dest / shared
        link.parent.mkdir(parents=True, exist_ok=True)
        link.symlink_to((ROOT / shared).resolve(), target_is_directory=True)
    return dest


def _children() -> dict[int, list[int]]:
    tree: dict[int, list[int]] = {}
    for entry in Path("/proc").iterdir():
        if not entry.name.isdigit():
            continue
        try:
            stat = (entry / "stat").read_text()
        except OSError:
            continue
        ppid = int(stat.rsplit(")", 1)[1].split()[1])
        tree.setdefault(ppid, []).append(int(entry.name))
    return tree


def descendants(pid: int) -> list[int]:
    tree, found, todo = _children(), [], [pid]
    while todo:
        for child in tree.get(todo.pop(), []):
            found.append(child)
            todo.append(child)
    return found


def alive(pid: int) -> bool:
    try:
        state = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()[0]
    except OSError:
        return False
    return state != "Z"


def _clean_environment(extra: dict[str, str]) -> dict[str, str]:
    """The user's environment: none of the test session's ENCLAVE_* settings, no outer make."""
    drop = ("ENCLAVE_", "MAKEFLAGS", "MFLAGS", "MAKELEVEL", "PYTEST_", "DYNAMODB_PORT", "PORT")
    env = {k: v for k, v in os.environ.items() if not k.startswith(drop)}
    return {**env, **extra}


@dataclass
class Stack:
    """One ``make run`` in its own checkout copy; its output goes to ``log``."""

    checkout: Path
    port: int
    env: dict[str, str] = field(default_factory=dict)
    proc: subprocess.Popen[bytes] | None = None

    @property
    def log(self) -> Path:
        return self.checkout.parent / f"make-run-{self.port}.log"

    @property
    def local(self) -> Path:
        return self.checkout / ".local"

    def environment(self) -> dict[str, str]:
        return _clean_environment(self.env)

    def start(self, timeout: float = 120.0) -> Stack:
        out = open(self.log, "ab")  # noqa: SIM115 - handed to the process
        self.proc = subprocess.Popen(["make", "run", f"PORT={self.port}"], cwd=self.checkout,
                                     env=self.environment(), stdout=out, stderr=subprocess.STDOUT,
                                     start_new_session=True)
        out.close()
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            if self.proc.poll() is not None:
                raise AssertionError(f"make run exited with {self.proc.returncode}:\n{self.output()[-3000:]}")
            try:
                if requests.get(f"http://127.0.0.1:{self.port}/openapi.json", timeout=2).status_code == 200:
                    return self
            except requests.RequestException:
                pass
            time.sleep(0.3)
        self.kill()
        raise AssertionError(f"make run did not serve within {timeout:.0f} s:\n{self.output()[-3000:]}")

    def output(self) -> str:
        return self.log.read_text(errors="replace") if self.log.exists() else ""

    def dev(self) -> dict[str, Any]:
        return dict(json.loads((self.local / "dev.json").read_text()))

    @property
    def base(self) -> str:
        return str(self.dev()["base_url"])

    def auth(self) -> dict[str, str]:
        return {"Authorization": f"Bearer {self.dev()['demo_api_key']}"}

    def server_starts(self) -> int:
        return len(SERVER_START.findall(self.output()))

    def restarts(self) -> int:
        """API restarts so far (chalice local's reloader also says so before it respawns)."""
        output = self.output()
        return max(len(SERVER_START.findall(output)) - 1, output.count("Restarting local dev server"))

    def processes(self) -> list[int]:
        """make's pid and every process below it (the API, DynamoDB Local, stripe-mock...)."""
        assert self.proc is not None
        return [self.proc.pid, *descendants(self.proc.pid)]

    def stop(self, sig: int = signal.SIGTERM, group: bool = False, timeout: float = 10.0) -> tuple[float, list[int]]:
        """Send ``sig`` to make (or its whole process group); (seconds until every process
        it started is gone, the pids still alive after ``timeout``)."""
        assert self.proc is not None
        pids = self.processes()
        started = time.monotonic()
        if group:
            os.killpg(self.proc.pid, sig)
        else:
            os.kill(self.proc.pid, sig)
        left = pids
        while time.monotonic() - started < timeout:
            self.proc.poll()
            left = [p for p in pids if alive(p)]
            if not left:
                break
            time.sleep(0.05)
        took = time.monotonic() - started
        if left:
            self.kill(left)
        return took, left

    def kill(self, pids: list[int] | None = None) -> None:
        if self.proc is None:
            return
        for pid in pids if pids is not None else self.processes():
            try:
                os.kill(pid, signal.SIGKILL)
            except ProcessLookupError:
                pass
        self.proc.wait(timeout=10)


class Stacks:
    """Starts stacks for one test and stops what is left at its end."""

    def __init__(self, tmp: Path) -> None:
        self._tmp = tmp
        self._started: list[Stack] = []

    def start(self, env: dict[str, str] | None = None, port: int | None = None,
              checkout: Path | None = None) -> Stack:
        """``checkout``: reuse a copy (and its ``.local``), e.g. to restart a stopped stack."""
        if checkout is None:
            checkout = checkout_copy(self._tmp / f"checkout-{len(self._started)}")
        stack = Stack(checkout, port or free_port(), dict(env or {}))
        self._started.append(stack)
        return stack.start()

    def close(self) -> None:
        for stack in self._started:
            if stack.proc is not None and stack.proc.poll() is None:
                stack.stop()
