"""Starts DynamoDB Local (fetched by ``make`` into ``.local/dynamodb``) on 127.0.0.1.

DynamoDB Local's own command line binds every interface; ``LoopbackDynamoDBLocal`` (a
20-line launcher beside this file) starts the same server on the loopback address only.
"""
from __future__ import annotations

import os
import socket
import subprocess
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
HOME = Path(os.environ.get("ENCLAVE_DYNAMODB_HOME", ROOT / ".local" / "dynamodb"))


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


def _wait_until_listening(port: int, proc: subprocess.Popen[bytes], timeout: float) -> None:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if proc.poll() is not None:
            raise RuntimeError(f"DynamoDB Local exited with {proc.returncode}")
        try:
            with socket.create_connection(("127.0.0.1", port), timeout=0.5):
                return
        except OSError:
            time.sleep(0.1)
    proc.kill()
    raise RuntimeError(f"DynamoDB Local did not listen on {port} within {timeout}s")


def start(port: int, data_dir: Path | None = None, log: Path | None = None) -> subprocess.Popen[bytes]:
    """In memory when ``data_dir`` is None, else data kept on disk there."""
    lib, classes = HOME / "lib", HOME / "classes"
    if not (classes / "LoopbackDynamoDBLocal.class").exists():
        raise RuntimeError("DynamoDB Local is not installed; run `make dynamodb-local` (make run/test do it)")
    args = [
        "java", "-Xms64m", "-Xmx512m", f"-Dsqlite4java.library.path={lib}",
        "-cp", f"{classes}{os.pathsep}{lib}/*", "LoopbackDynamoDBLocal", str(port),
    ]
    if data_dir is not None:
        data_dir.mkdir(parents=True, exist_ok=True)
        args.append(str(data_dir))
    out = open(log, "ab") if log else subprocess.DEVNULL  # noqa: SIM115 - owned by the process
    proc = subprocess.Popen(args, stdout=out, stderr=subprocess.STDOUT, start_new_session=True)
    try:
        _wait_until_listening(port, proc, timeout=60)
    except BaseException:  # incl. a Ctrl-C while it starts: never leave it running
        stop(proc, timeout=2)
        raise
    return proc


def stop(proc: subprocess.Popen[bytes], timeout: float = 10.0) -> None:
    """SIGTERM, then SIGKILL after ``timeout`` seconds."""
    if proc.poll() is None:
        proc.terminate()
        try:
            proc.wait(timeout=timeout)
        except subprocess.TimeoutExpired:
            proc.kill()
