"""stripe-mock, Stripe's official mock server, for the dev stack and the tests.

Installed the Go way into ``.local/bin`` (``python -m devstack.stripe_mock install``: no
shell, a pinned version), started on 127.0.0.1 only: stripe-mock's ``-http-addr`` does not
switch its HTTPS listener off (it would bind every interface on 12112), so both listeners
are given loopback addresses, with ports the system picks; the HTTP one is read from its
log. stripe-mock validates each request against Stripe's OpenAPI spec and answers with
fixtures: it keeps no state (see chalicelib/billing/gateway/stateless.py).
"""
from __future__ import annotations

import os
import re
import subprocess
import sys
import time
from pathlib import Path

from devstack.go_tools import GoTool

ROOT = Path(__file__).resolve().parent.parent
MODULE = "github.com/stripe/stripe-mock"
#: the newest version the Go module proxy lists (`go list -m -versions github.com/stripe/stripe-mock`)
VERSION = "v0.203.0"
BIN_DIR = Path(os.environ.get("ENCLAVE_STRIPE_MOCK_HOME", ROOT / ".local" / "bin"))
BINARY = BIN_DIR / "stripe-mock"
_TOOL = GoTool("stripe-mock", MODULE, VERSION, BIN_DIR)
_LISTENING = re.compile(r"Listening for HTTP at address: (\S+)")


def installed() -> bool:
    return _TOOL.installed()


def install(force: bool = False) -> Path:
    """``go install MODULE@VERSION`` with GOBIN=.local/bin (devstack.go_tools)."""
    return _TOOL.install(force)


def start(log: Path, port: int | None = None, timeout: float = 30.0) -> tuple[subprocess.Popen[bytes], str]:
    """Start it on 127.0.0.1 (``port`` or one the system picks); (process, base URL)."""
    if not BINARY.exists():
        raise RuntimeError("stripe-mock is not installed; run `python -m devstack.stripe_mock install`")
    log.parent.mkdir(parents=True, exist_ok=True)
    offset = log.stat().st_size if log.exists() else 0
    out = open(log, "ab")  # noqa: SIM115 - owned by the process; it logs every request
    proc = subprocess.Popen(
        [str(BINARY), "-http-addr", f"127.0.0.1:{port or ''}", "-https-addr", "127.0.0.1:"],
        stdout=out, stderr=subprocess.STDOUT, start_new_session=True)
    out.close()
    try:
        return proc, _wait_for_address(proc, log, offset, timeout)
    except BaseException:  # incl. a Ctrl-C while it starts: never leave it running
        stop(proc, timeout=2)
        raise


def _wait_for_address(proc: subprocess.Popen[bytes], log: Path, offset: int, timeout: float) -> str:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if proc.poll() is not None:
            raise RuntimeError(f"stripe-mock exited with {proc.returncode}; see {log}")
        with open(log, "rb") as fh:
            fh.seek(offset)
            found = _LISTENING.search(fh.read().decode("utf-8", "replace"))
        if found:
            return f"http://{found.group(1)}"
        time.sleep(0.05)
    raise RuntimeError(f"stripe-mock did not start within {timeout}s; see {log}")


def stop(proc: subprocess.Popen[bytes], timeout: float = 10.0) -> None:
    """SIGTERM, then SIGKILL after ``timeout`` seconds."""
    if proc.poll() is None:
        proc.terminate()
        try:
            proc.wait(timeout=timeout)
        except subprocess.TimeoutExpired:
            proc.kill()


def main(argv: list[str]) -> int:
    if argv[:1] == ["install"]:
        print(install(force="--force" in argv))
        return 0
    print("usage: python -m devstack.stripe_mock install [--force]", file=sys.stderr)
    return 2


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
