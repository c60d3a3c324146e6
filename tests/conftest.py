"""Test session set-up: DynamoDB Local in memory on a free port, the dev JWT issuer, and
the app's environment, all before any ``chalicelib`` module is imported."""
from __future__ import annotations

import atexit
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

# stripe-mock (Stripe's official mock server) for billing, installed first if missing; the
# app remembers what signed events said, as stripe-mock keeps no state (billing/gateway/stateless.py)
from devstack import stripe_mock  # noqa: E402

stripe_mock.install()
_stripe_mock, STRIPE_API_BASE = stripe_mock.start(_work / "stripe-mock.log")
# stop it even when the session dies before pytest_unconfigure (e.g. DynamoDB Local fails)
atexit.register(stripe_mock.stop, _stripe_mock)
STRIPE_WEBHOOK_SECRET = "whsec_test_enclave_local_signing_secret"
os.environ.update({
    "ENCLAVE_STRIPE_API_BASE": STRIPE_API_BASE,
    "ENCLAVE_STRIPE_SECRET_KEY": "sk_test_EnclaveLocalNotARealKey123",
    "ENCLAVE_STRIPE_WEBHOOK_SECRET": STRIPE_WEBHOOK_SECRET,
    "ENCLAVE_STRIPE_STATELESS_MOCK": "1",
    "ENCLAVE_STRIPE_TIMEOUT_SECONDS": "5",
})
_ddb = dynamodb_local.start(DYNAMODB_PORT)
atexit.register(dynamodb_local.stop, _ddb)


def pytest_unconfigure(config: object) -> None:
    dynamodb_local.stop(_ddb)
    stripe_mock.stop(_stripe_mock)


import boto3  # noqa: E402

from devstack.tables import ensure_table  # noqa: E402

DDB = boto3.client("dynamodb", endpoint_url=f"http://127.0.0.1:{DYNAMODB_PORT}", region_name="us-east-1")
ensure_table(DDB, TABLE_NAME)

pytest_plugins = ["tests.fixtures"]
