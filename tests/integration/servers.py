"""DynamoDB Local (in memory), stripe-mock and gofakes3 (S3, in memory) for the integration tests, started once per
session when this module is first imported, on the ports tests/environment.py chose and
put in the app's environment; the test table is created on DynamoDB Local."""
from __future__ import annotations

import atexit

import boto3

from devstack import dynamodb_local, s3_server, stripe_mock
from devstack.tables import ensure_table
from tests.environment import DYNAMODB_PORT, S3_PORT, STRIPE_API_BASE, STRIPE_MOCK_PORT, TABLE_NAME, WORK

stripe_mock.install()
_stripe_mock, _stripe_base = stripe_mock.start(WORK / "stripe-mock.log", port=STRIPE_MOCK_PORT)
# stop it even when the session dies before pytest_unconfigure (e.g. DynamoDB Local fails)
atexit.register(stripe_mock.stop, _stripe_mock)
if _stripe_base != STRIPE_API_BASE:
    raise RuntimeError(f"stripe-mock listens on {_stripe_base}, the app was told {STRIPE_API_BASE}")
s3_server.install()
_s3, _ = s3_server.start(S3_PORT, WORK / "gofakes3.log")
atexit.register(s3_server.stop, _s3)
_ddb = dynamodb_local.start(DYNAMODB_PORT)
atexit.register(dynamodb_local.stop, _ddb)

DDB = boto3.client("dynamodb", endpoint_url=f"http://127.0.0.1:{DYNAMODB_PORT}", region_name="us-east-1")
ensure_table(DDB, TABLE_NAME)


def stop() -> None:
    dynamodb_local.stop(_ddb)
    stripe_mock.stop(_stripe_mock)
    s3_server.stop(_s3)
