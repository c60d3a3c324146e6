"""gofakes3, an S3-compatible server in Go, for the dev stack and the tests.

Installed the Go way into ``.local/bin`` (``python -m devstack.s3_server install``: a pinned
version, like stripe-mock), started on 127.0.0.1 only, path-style addressing, one bucket
created at start. The app reaches it through the same boto3 S3 adapter as in AWS
(``ENCLAVE_S3_ENDPOINT``); clients use the presigned URLs the app hands out, over plain HTTP.

What it does not do: it checks neither SigV4 signatures nor ``X-Amz-Expires`` (a tampered
or expired URL still answers 200). Presigned URLs are therefore proven by their signed
parameters in the tests, and an export's expiry by the app refusing to hand out a URL
after it (410), not by this server. Moto's S3 server checks neither either.
"""
from __future__ import annotations

import os
import socket
import subprocess
import sys
import time
from pathlib import Path

from devstack.go_tools import GoTool

ROOT = Path(__file__).resolve().parent.parent
MODULE = "github.com/johannesboyne/gofakes3/cmd/gofakes3"
#: served by the Go module proxy here; builds in ~12 s
VERSION = "v1.2.0"
BIN_DIR = Path(os.environ.get("ENCLAVE_GOFAKES3_HOME", ROOT / ".local" / "bin"))
BINARY = BIN_DIR / "gofakes3"
_TOOL = GoTool("gofakes3", MODULE, VERSION, BIN_DIR)
#: the bucket of the dev stack and the tests (ENCLAVE_S3_BUCKET)
LOCAL_BUCKET = "enclave-local"


def installed() -> bool:
    return _TOOL.installed()


def install(force: bool = False) -> Path:
    """``go install MODULE@VERSION`` with GOBIN=.local/bin (devstack.go_tools)."""
    return _TOOL.install(force)


def start(port: int, log: Path, data: Path | None = None, bucket: str = LOCAL_BUCKET,
          timeout: float = 15.0) -> tuple[subprocess.Popen[bytes], str]:
    """Serve on 127.0.0.1:``port``; in memory, or in a bolt file ``data`` (kept across runs).
    (process, endpoint URL)."""
    if not BINARY.exists():
        raise RuntimeError("gofakes3 is not installed; run `python -m devstack.s3_server install`")
    log.parent.mkdir(parents=True, exist_ok=True)
    backend = ["-backend", "memory"] if data is None else ["-backend", "bolt", "-bolt.db", str(data)]
    out = open(log, "ab")  # noqa: SIM115 - owned by the process
    # -insecure-cors: the dev console PUTs uploads from its own origin (loopback only; AWS has a CORS rule)
    proc = subprocess.Popen([str(BINARY), *backend, "-host", f"127.0.0.1:{port}", "-initialbucket", bucket,
                             "-insecure-cors", "-quiet"],
                            stdout=out, stderr=subprocess.STDOUT, start_new_session=True)
    out.close()
    try:
        _wait_until_listening(port, proc, log, timeout)
    except BaseException:  # incl. a Ctrl-C while it starts: never leave it running
        stop(proc, timeout=2)
        raise
    return proc, f"http://127.0.0.1:{port}"


def _wait_until_listening(port: int, proc: subprocess.Popen[bytes], log: Path, timeout: float) -> None:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if proc.poll() is not None:
            raise RuntimeError(f"gofakes3 exited with {proc.returncode}; see {log}")
        with socket.socket() as s:
            if s.connect_ex(("127.0.0.1", port)) == 0:
                return
        time.sleep(0.05)
    raise RuntimeError(f"gofakes3 did not listen on {port} within {timeout}s; see {log}")


def stop(proc: subprocess.Popen[bytes], timeout: float = 5.0) -> None:
    """SIGTERM, then SIGKILL after ``timeout`` seconds."""
    if proc.poll() is None:
        proc.terminate()
        try:
            proc.wait(timeout=timeout)
        except subprocess.TimeoutExpired:
            proc.kill()


def environment(endpoint: str, bucket: str = LOCAL_BUCKET) -> dict[str, str]:
    """The app's S3 settings against this server."""
    return {"ENCLAVE_S3_BUCKET": bucket, "ENCLAVE_S3_ENDPOINT": endpoint}


def main(argv: list[str]) -> int:
    if argv[:1] == ["install"]:
        print(install(force="--force" in argv))
        return 0
    print("usage: python -m devstack.s3_server install [--force]", file=sys.stderr)
    return 2


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
