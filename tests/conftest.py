"""Test session set-up: DynamoDB Local in memory on a free port, the dev JWT issuer, and
the app's environment, all before any ``chalicelib`` module is imported."""
from __future__ import annotations

import os
import sys
import tempfile
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

from devstack import dynamodb_local  # noqa: E402
from devstack.env import app_environment  # noqa: E402
from devstack.jwt_issuer import DevIssuer  # noqa: E402

_work = Path(tempfile.mkdtemp(prefix="enclave-tests-"))
ISSUER = DevIssuer(_work / "jwt")
DYNAMODB_PORT = dynamodb_local.free_port()
TABLE_NAME = "enclave-test"
os.environ.update(
    app_environment(dynamodb_port=DYNAMODB_PORT, table_name=TABLE_NAME, issuer=ISSUER,
                    secret="test-cursor-secret", cors_origins="https://console.example.test",
                    job_dispatch="manual")
)
_ddb = dynamodb_local.start(DYNAMODB_PORT)


def pytest_unconfigure(config: object) -> None:
    dynamodb_local.stop(_ddb)


import boto3  # noqa: E402

from devstack.tables import ensure_table  # noqa: E402

DDB = boto3.client("dynamodb", endpoint_url=f"http://127.0.0.1:{DYNAMODB_PORT}", region_name="us-east-1")
ensure_table(DDB, TABLE_NAME)

pytest_plugins = ["tests.fixtures"]
