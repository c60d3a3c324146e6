"""``python -m devstack run``: the whole local stack (what ``make run`` calls).

Starts DynamoDB Local on 127.0.0.1 with data under ``.local/``, creates the table from the
definition infra/ deploys, seeds the demo tenant, writes ``.local/dev.json`` (base URL,
tokens, demo key), prints how to call the API, and serves it with ``chalice local`` on
127.0.0.1:$PORT (8000). Ctrl-C stops every process it started.
"""
from __future__ import annotations

import argparse
import json
import os
import signal
import subprocess
import sys
from pathlib import Path

from . import dynamodb_local
from .env import app_environment, cursor_secret
from .jwt_issuer import DevIssuer

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


def run(port: int, dynamodb_port: int, local_dir: Path, autoreload: bool) -> int:
    local_dir.mkdir(parents=True, exist_ok=True)
    if not _port_free(port):
        print(f"Port {port} is taken; set PORT=... to serve elsewhere.", file=sys.stderr)
        return 1
    if not _port_free(dynamodb_port):
        dynamodb_port = dynamodb_local.free_port()
    issuer = DevIssuer(local_dir / "jwt")
    env = app_environment(dynamodb_port=dynamodb_port, table_name="enclave", issuer=issuer,
                          secret=cursor_secret(local_dir))
    os.environ.update(env)
    ddb = dynamodb_local.start(dynamodb_port, data_dir=local_dir / "dynamodb-data", log=local_dir / "dynamodb.log")
    server: subprocess.Popen[bytes] | None = None
    try:
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
        }
        dev_json.write_text(json.dumps(info, indent=2))
        dev_json.chmod(0o600)
        print(_banner(info, dev_json), flush=True)
        chalice = [sys.executable, "-c", "from chalice.cli import main; main()"]
        args = [*chalice, "local", "--host", "127.0.0.1", "--port", str(port), "--stage", "dev"]
        if not autoreload:
            args.append("--no-autoreload")
        server = subprocess.Popen(args, cwd=ROOT, env={**os.environ, **env}, start_new_session=True)
        signal.signal(signal.SIGTERM, lambda *_: (_ for _ in ()).throw(KeyboardInterrupt()))
        return server.wait()
    except KeyboardInterrupt:
        return 0
    finally:
        if server is not None and server.poll() is None:
            os.killpg(server.pid, signal.SIGTERM)
            try:
                server.wait(timeout=10)
            except subprocess.TimeoutExpired:
                os.killpg(server.pid, signal.SIGKILL)
        dynamodb_local.stop(ddb)
        print("Stopped the API and DynamoDB Local.", flush=True)


def _banner(info: dict[str, str], dev_json: Path) -> str:
    return f"""
Enclave local stack
  API             {info['base_url']}   (docs: {info['base_url']}/docs)
  DynamoDB Local  {info['dynamodb_endpoint']}   (data kept in .local/dynamodb-data)
  demo tenant     {info['demo_tenant_id']}
  credentials     {dev_json}  (demo_api_key, demo_user_jwt, admin_token)

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
    run_cmd.add_argument("--no-autoreload", action="store_true")
    args = parser.parse_args()
    return run(args.port, args.dynamodb_port, args.local_dir, autoreload=not args.no_autoreload)


if __name__ == "__main__":
    sys.exit(main())
