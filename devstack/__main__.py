"""``python -m devstack run``: the whole local stack (what ``make run`` calls).

Starts DynamoDB Local on 127.0.0.1 with data under ``.local/``, creates the table from the
definition infra/ deploys, seeds the demo tenant, writes ``.local/dev.json`` (base URL,
tokens, demo key), prints how to call the API, and serves it on 127.0.0.1:$PORT (8000)
with its own threaded dev server (``server.py``: Chalice's local gateway, no reloader,
docs/decisions/0008-dev-server.md). It also fires the app's schedules from a thread
(``schedules.py``; ``SCHEDULE_INTERVAL=N`` runs each at least every N seconds).
Ctrl-C, SIGTERM, or the end of the ``make`` that started it stops every process it started.

``python -m devstack job NAME`` (``make job NAME=nightly``): run one schedule or lambda
function now against the running stack (see ``job.py``).
"""
from __future__ import annotations

import argparse
import json
import os
import signal
import subprocess
import sys
import threading
from pathlib import Path

from . import dynamodb_local, s3_server, stripe_mock
from .env import app_environment, cursor_secret, stripe_environment
from .jwt_issuer import DevIssuer
from .schedules import Scheduler, parse_interval
from .server import ApiServer, load

ROOT = Path(__file__).resolve().parent.parent


def _port_free(port: int) -> bool:
    import socket

    with socket.socket() as s:
        s.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)  # TIME_WAIT of our last run is fine
        try:
            s.bind(("127.0.0.1", port))
        except OSError:
            return False
    return True


def run(port: int, dynamodb_port: int, local_dir: Path, schedule_interval: float | None = None) -> int:
    """``schedule_interval``: None fires each schedule at its own rate, N > 0 at most N
    seconds apart, 0 not at all. Serves until SIGINT, SIGTERM or SIGHUP, or until the
    process that started it (``make``) is gone."""
    stopping = _StopSignals()
    local_dir.mkdir(parents=True, exist_ok=True)
    if not _port_free(port):
        print(f"Port {port} is taken; set PORT=... to serve elsewhere.", file=sys.stderr)
        return 1
    if not _port_free(dynamodb_port):
        taken, dynamodb_port = dynamodb_port, dynamodb_local.free_port()
        print(f"DynamoDB Local: port {taken} is taken (another stack?); using {dynamodb_port}.", flush=True)
    issuer = DevIssuer(local_dir / "jwt")
    env = app_environment(dynamodb_port=dynamodb_port, table_name="enclave", issuer=issuer,
                          secret=cursor_secret(local_dir))
    stripe_mock.install()
    s3_server.install()
    stripe_proc: subprocess.Popen[bytes] | None = None
    s3_proc: subprocess.Popen[bytes] | None = None
    ddb: subprocess.Popen[bytes] | None = None
    server: ApiServer | None = None
    scheduler: Scheduler | None = None
    try:
        stripe_proc, stripe_base = stripe_mock.start(local_dir / "stripe-mock.log")
        env.update(stripe_environment(stripe_base, local_dir))
        s3_port = int(os.environ.get("S3_PORT", "0")) or dynamodb_local.free_port()
        s3_proc, s3_endpoint = s3_server.start(s3_port, local_dir / "gofakes3.log", data=local_dir / "s3.db")
        env.update(s3_server.environment(s3_endpoint))
        os.environ.update(env)
        ddb = dynamodb_local.start(dynamodb_port, data_dir=local_dir / "dynamodb-data",
                                   log=local_dir / "dynamodb.log")
        import boto3

        from .tables import ensure_table

        client = boto3.client("dynamodb", endpoint_url=env["ENCLAVE_DYNAMODB_ENDPOINT"], region_name="us-east-1")
        ensure_table(client, env["ENCLAVE_TABLE_NAME"])
        from .seed import seed

        dev_json = local_dir / "dev.json"
        demo = seed(dev_json)
        base_url = f"http://127.0.0.1:{port}"
        info = {
            "base_url": base_url,
            "admin_token": issuer.admin_token(),
            **demo,
            "demo_user_jwt": issuer.token("demo-owner", tenant_id=demo["demo_tenant_id"], role="owner"),
            "dynamodb_endpoint": env["ENCLAVE_DYNAMODB_ENDPOINT"],
            "table_name": env["ENCLAVE_TABLE_NAME"],
            "jwks_url": issuer.jwks_url,
            "stripe_api_base": stripe_base,
            "s3_endpoint": s3_endpoint,
        }
        dev_json.write_text(json.dumps(info, indent=2))
        dev_json.chmod(0o600)
        app, config = load(ROOT, stage="dev")  # after the environment is set: chalicelib reads it on import
        print(_banner(info, dev_json, schedule_interval), flush=True)
        server = ApiServer(app, config, "127.0.0.1", port).start()
        if schedule_interval != 0:
            # a thread of this process: its jobs run on this process's dispatcher, like the API's
            scheduler = Scheduler(lambda: app, ROOT, cap=schedule_interval).start()
        stopping.wait()
        return 0
    except KeyboardInterrupt:
        return 0
    finally:
        stopping.ignore()  # a second Ctrl-C must not cut the clean-up short
        if server is not None:
            server.stop()
        if scheduler is not None:
            scheduler.stop(timeout=3)
        if ddb is not None:
            dynamodb_local.stop(ddb, timeout=4)
        if stripe_proc is not None:
            stripe_mock.stop(stripe_proc, timeout=2)
        if s3_proc is not None:
            s3_server.stop(s3_proc, timeout=2)
        print("Stopped the API, DynamoDB Local, stripe-mock and gofakes3.", flush=True)


class _StopSignals:
    """SIGINT, SIGTERM and SIGHUP stop the stack, and so does the death of the parent.

    Handlers are installed explicitly: a process started in the background by a
    non-interactive shell inherits SIGINT ignored. GNU make need not pass SIGTERM on to
    its recipe, so the parent (make) is watched too: when it is gone, we stop.
    """

    def __init__(self) -> None:
        self._stop = threading.Event()
        self._serving = False
        self._parent = os.getppid()
        for sig in (signal.SIGINT, signal.SIGTERM, signal.SIGHUP):
            signal.signal(sig, self._handle)

    def _handle(self, signum: int, frame: object) -> None:
        self._stop.set()
        if not self._serving:
            raise KeyboardInterrupt  # still starting: unwind through run()'s clean-up

    def wait(self) -> None:
        self._serving = True
        while not self._stop.wait(0.25):
            if os.getppid() != self._parent:
                print("The process that started the stack is gone; stopping.", flush=True)
                return

    def ignore(self) -> None:
        self._serving = True
        for sig in (signal.SIGINT, signal.SIGTERM, signal.SIGHUP):
            signal.signal(sig, signal.SIG_IGN)


def _banner(info: dict[str, str], dev_json: Path, schedule_interval: float | None = None) -> str:
    if schedule_interval == 0:
        when = "off (SCHEDULE_INTERVAL=0)"
    elif schedule_interval:
        when = f"fired here at least every {schedule_interval:g} s (SCHEDULE_INTERVAL)"
    else:
        when = "fired here at their own rates (SCHEDULE_INTERVAL=N: every N s)"
    return f"""
Enclave local stack
  API             {info['base_url']}   (docs: {info['base_url']}/docs)
  DynamoDB Local  {info['dynamodb_endpoint']}   (data kept in .local/dynamodb-data)
  stripe-mock     {info['stripe_api_base']}   (`make stripe-event TYPE=... MEMBER=...` delivers signed events)
  S3 (gofakes3)   {info['s3_endpoint']}   (imports/exports; data kept in .local/s3.db)
  demo tenant     {info['demo_tenant_id']}
  credentials     {dev_json}  (demo_api_key, demo_user_jwt, admin_token)
  schedules       {when}
                  `make job NAME=nightly` runs one now, from another terminal

Try it:
  export KEY=$(python3 -c 'import json;print(json.load(open("{dev_json}"))["demo_api_key"])')
  curl -s -X POST {info['base_url']}/v1/members -H "Authorization: Bearer $KEY" \\
       -H 'Content-Type: application/json' -d '{{"phone": "138 0013 8000", "name": "Lin"}}'
  curl -s "{info['base_url']}/v1/members/lookup?phone=%2B86-138-0013-8000" -H "Authorization: Bearer $KEY"

Ctrl-C stops everything.
"""


def main() -> int:
    parser = argparse.ArgumentParser(prog="python -m devstack")
    sub = parser.add_subparsers(dest="command", required=True)
    run_cmd = sub.add_parser("run", help="start the local stack and serve the API")
    run_cmd.add_argument("--port", type=int, default=int(os.environ.get("PORT", "8000")))
    run_cmd.add_argument("--dynamodb-port", type=int, default=int(os.environ.get("DYNAMODB_PORT", "8123")))
    run_cmd.add_argument("--local-dir", type=Path, default=Path(os.environ.get("ENCLAVE_LOCAL_DIR", ROOT / ".local")))
    run_cmd.add_argument("--schedule-interval", type=_interval, default=os.environ.get("SCHEDULE_INTERVAL"),
                         metavar="SECONDS", help="fire each schedule at least this often (default: $SCHEDULE_INTERVAL, "
                         "else each at its own rate; 0 = never)")
    job_cmd = sub.add_parser("job", help="run one schedule or lambda function now against the running stack")
    job_cmd.add_argument("name", help="a schedule (nightly, job_sweeper) or lambda function (run_job) of app.py")
    job_cmd.add_argument("--local-dir", type=Path, default=Path(os.environ.get("ENCLAVE_LOCAL_DIR", ROOT / ".local")))
    job_cmd.add_argument("--payload", type=_json_object, default={}, metavar="JSON",
                         help="the event (a lambda function's; merged over a schedule's)")
    args = parser.parse_args()
    if args.command == "job":
        from .job import run_now

        return run_now(args.name, args.local_dir, args.payload, ROOT)
    return run(args.port, args.dynamodb_port, args.local_dir, schedule_interval=args.schedule_interval)


def _interval(text: str | None) -> float | None:
    try:
        return parse_interval(text)
    except ValueError:
        raise argparse.ArgumentTypeError(f"SCHEDULE_INTERVAL must be a number of seconds >= 0, not {text!r}") from None


def _json_object(text: str) -> dict[str, object]:
    try:
        value = json.loads(text) if text.strip() else {}
    except ValueError as exc:
        raise argparse.ArgumentTypeError(f"not JSON: {exc}") from None
    if not isinstance(value, dict):
        raise argparse.ArgumentTypeError("must be a JSON object")
    return value


if __name__ == "__main__":
    sys.exit(main())
