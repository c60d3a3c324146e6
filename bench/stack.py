"""The bench's own local stack: the app's environment, the dev JWT issuer, and DynamoDB Local
in memory on a free port (started by the bench, stopped at the end even on error).

Everything here must run before any ``chalicelib`` module is imported: the app reads its
settings from the environment once per process.
"""
from __future__ import annotations

import os
import platform
import secrets
import shutil
import signal
import subprocess
import sys
import tempfile
from pathlib import Path
from types import FrameType, TracebackType
from typing import Any

ROOT = Path(__file__).resolve().parent.parent
if str(ROOT) not in sys.path:
    sys.path.insert(0, str(ROOT))

from devstack import dynamodb_local  # noqa: E402
from devstack.env import app_environment  # noqa: E402
from devstack.jwt_issuer import DevIssuer  # noqa: E402

TABLE_NAME = "enclave-bench"


class LocalStack:
    """``with LocalStack() as stack:`` sets the environment; ``stack.start_dynamodb()``.

    Background jobs wait in a process-local queue until the bench drains it
    (``ENCLAVE_JOB_DISPATCH=manual``), so a job's cost is measured on the bench's thread."""

    def __init__(self) -> None:
        self.work = Path(tempfile.mkdtemp(prefix="enclave-bench-"))
        self.issuer = DevIssuer(self.work / "jwt")
        self.port = dynamodb_local.free_port()
        self.table_name = TABLE_NAME
        self.env = app_environment(dynamodb_port=self.port, table_name=TABLE_NAME, issuer=self.issuer,
                                   secret=secrets.token_urlsafe(32), job_dispatch="manual")
        self._proc: subprocess.Popen[bytes] | None = None
        self._old_sigterm: Any = None

    @property
    def endpoint(self) -> str:
        return f"http://127.0.0.1:{self.port}"

    def __enter__(self) -> LocalStack:
        os.environ.update(self.env)
        # a SIGTERM (e.g. from a CI timeout) unwinds through __exit__ and stops DynamoDB Local
        self._old_sigterm = signal.signal(signal.SIGTERM, _raise_exit)
        return self

    def start_dynamodb(self) -> None:
        # Hold SIGINT/SIGTERM while the process starts: one arriving before ``start`` returns
        # would leave a JVM nobody knows to stop. Held signals are delivered right after.
        held = {signal.SIGINT, signal.SIGTERM}
        signal.pthread_sigmask(signal.SIG_BLOCK, held)
        try:
            self._proc = dynamodb_local.start(self.port)
        finally:
            signal.pthread_sigmask(signal.SIG_UNBLOCK, held)
        from devstack.tables import ensure_table

        ensure_table(self.client(), self.table_name)

    def client(self, config: Any = None) -> Any:
        """A plain boto3 DynamoDB client (not the one PynamoDB uses); ``config``: a botocore
        ``Config``."""
        import boto3

        return boto3.client("dynamodb", endpoint_url=self.endpoint, region_name=self.env["ENCLAVE_REGION"],
                            config=config)

    def seeding_client(self) -> Any:
        """A boto3 client for bulk seeding: botocore's client-side parameter validation off
        (~15-20% more items/s here, where the client and DynamoDB Local share 2 CPUs)."""
        from botocore.config import Config

        return self.client(Config(parameter_validation=False))

    def __exit__(self, exc_type: type[BaseException] | None, exc: BaseException | None,
                 tb: TracebackType | None) -> None:
        try:
            if self._proc is not None:
                dynamodb_local.stop(self._proc)
        finally:
            signal.signal(signal.SIGTERM, self._old_sigterm or signal.SIG_DFL)
            shutil.rmtree(self.work, ignore_errors=True)


def _raise_exit(signum: int, frame: FrameType | None) -> None:
    raise SystemExit(128 + signum)


def dynamodb_local_version() -> str:
    jars = sorted((dynamodb_local.HOME / "lib").glob("DynamoDBLocal-*.jar"))
    return jars[-1].stem.removeprefix("DynamoDBLocal-") if jars else "unknown"


def java_version() -> str:
    try:
        out = subprocess.run(["java", "-version"], capture_output=True, text=True, timeout=20, check=False)
    except (OSError, subprocess.SubprocessError):
        return "unknown"
    first = (out.stderr or out.stdout).strip().splitlines()
    return first[0] if first else "unknown"


def _cpu_model() -> str:
    try:
        for line in Path("/proc/cpuinfo").read_text().splitlines():
            if line.lower().startswith("model name"):
                return line.split(":", 1)[1].strip()
    except OSError:
        pass
    return platform.processor() or "unknown CPU"


def machine_context() -> list[tuple[str, str]]:
    try:
        usable = len(os.sched_getaffinity(0))
    except AttributeError:
        usable = os.cpu_count() or 0
    try:
        load = ", ".join(f"{x:.2f}" for x in os.getloadavg())
    except OSError:
        load = "n/a"
    return [
        ("machine", f"{platform.system()} {platform.machine()}, {_cpu_model()}"),
        ("CPUs", f"{os.cpu_count()} (usable by this process: {usable})"),
        ("load average", f"{load} (1, 5, 15 min, before the run)"),
        ("python", f"{platform.python_implementation()} {platform.python_version()}"),
        ("DynamoDB Local", f"{dynamodb_local_version()} in memory, 1 instance on 127.0.0.1 "
                           f"(JVM: {java_version()}), same machine"),
    ]
