"""``python -m devstack job NAME`` (``make job NAME=nightly``): run one schedule or lambda
function now against the running ``make run`` stack.

Reads ``.local/dev.json`` for the stack's DynamoDB Local and table, sets the app's
environment as ``run`` does but with ``job_dispatch="manual"``, invokes the handler
through Chalice's test client, then runs the jobs it queued here, to the end, and prints
the result and the job's final status.
"""
from __future__ import annotations

import json
import os
import socket
import sys
import traceback
from pathlib import Path
from typing import Any
from urllib.parse import urlparse

from .env import app_environment
from .schedules import discover, invoke, lambda_client, lambda_function_names, load_app


class _PublishedKeys:
    """What ``app_environment`` needs of the issuer: where its JWKS is. (A ``DevIssuer``
    would rewrite the jwks.json the running API reads on every token.)"""

    def __init__(self, jwks_url: str) -> None:
        self.jwks_url = jwks_url


class StackNotRunning(Exception):
    pass


def stack_environment(local_dir: Path) -> dict[str, str]:
    """The app's environment for the stack whose files are in ``local_dir``; raises
    StackNotRunning with a message for the user if that stack is not up."""
    dev_json = local_dir / "dev.json"
    if not dev_json.exists():
        raise StackNotRunning(f"No local stack: {dev_json} does not exist. Start one with `make run`.")
    dev = json.loads(dev_json.read_text())
    endpoint = urlparse(dev["dynamodb_endpoint"])
    host, port = endpoint.hostname or "127.0.0.1", endpoint.port or 80
    try:
        with socket.create_connection((host, port), timeout=2):
            pass
    except OSError:
        raise StackNotRunning(
            f"The local stack is not running: nothing answers at {dev['dynamodb_endpoint']} "
            f"(its DynamoDB Local, from {dev_json}). Start it with `make run`, then try again.") from None
    secret_file = local_dir / "cursor-secret"
    if not secret_file.exists():
        raise StackNotRunning(f"{secret_file} is missing: is {local_dir} the stack's directory?")
    jwks_url = dev.get("jwks_url") or (local_dir / "jwt" / "jwks.json").resolve().as_uri()
    issuer: Any = _PublishedKeys(jwks_url)
    env = app_environment(dynamodb_port=port, table_name=dev["table_name"], issuer=issuer,
                          secret=secret_file.read_text().strip(), job_dispatch="manual")
    if dev.get("s3_endpoint"):  # imports and exports run against the stack's gofakes3
        from .s3_server import environment as s3_environment

        env.update(s3_environment(dev["s3_endpoint"]))
    return env


def _check_table(env: dict[str, str]) -> None:
    import boto3
    from botocore.config import Config
    from botocore.exceptions import BotoCoreError, ClientError

    client = boto3.client("dynamodb", endpoint_url=env["ENCLAVE_DYNAMODB_ENDPOINT"], region_name=env["ENCLAVE_REGION"],
                          config=Config(connect_timeout=2, read_timeout=5, retries={"max_attempts": 1}))
    try:
        client.describe_table(TableName=env["ENCLAVE_TABLE_NAME"])
    except (ClientError, BotoCoreError) as exc:
        raise StackNotRunning(f"The stack's table {env['ENCLAVE_TABLE_NAME']} is not reachable at "
                              f"{env['ENCLAVE_DYNAMODB_ENDPOINT']}: {exc}. Is `make run` running?") from None


def run_now(name: str, local_dir: Path, payload: dict[str, Any], root: Path) -> int:
    try:
        env = stack_environment(local_dir)
        os.environ.update(env)
        _check_table(env)
    except StackNotRunning as exc:
        print(exc, file=sys.stderr)
        return 1

    app = load_app(root)  # after the environment is set: chalicelib reads it on import
    schedules = [s.name for s in discover(app)]
    functions = lambda_function_names(app)
    if name not in schedules + functions:
        print(f"No schedule or lambda function named {name!r}. Schedules: {', '.join(schedules) or '-'}; "
              f"lambda functions: {', '.join(functions) or '-'}.", file=sys.stderr)
        return 2

    from chalicelib.core import clock, jobs
    from chalicelib.core.jobs.dispatch import dispatcher

    started = clock.iso(clock.now())
    try:
        result = invoke(lambda_client(app, root), app, name, payload)
    except Exception:  # noqa: BLE001 - shown to the user as is
        print(f"{name} failed:\n{traceback.format_exc()}", file=sys.stderr)
        return 1
    print(f"{name} -> {json.dumps(result, default=str)}", flush=True)
    queue = dispatcher()
    runs = queue.drain() if hasattr(queue, "drain") else 0
    print(f"ran {runs} queued job run(s) here", flush=True)

    found = result if isinstance(result, dict) and result.get("job_id") else payload
    job_id = found.get("job_id") if isinstance(found, dict) else None
    if not job_id:
        return 0
    job = jobs.get_job(found.get("tenant_id"), str(job_id))
    if job is None:
        print(f"job {job_id}: not found", file=sys.stderr)
        return 1
    print(f"job {job.job_id} ({job.kind}): {job.status}")
    print(f"  progress {json.dumps(job.progress, sort_keys=True)}")
    print(f"  created {job.created_at}, finished {job.finished_at or '-'}")
    if job.error:
        print(f"  error {job.error}")
    if found is result and job.created_at < started:
        print("  (an existing job: it was started before this run, e.g. today's nightly pass by `make run`)")
    if job.status in ("queued", "running"):
        print("  (still open: another runner has it, e.g. the `make run` process)")
    return 1 if job.status == "failed" else 0
