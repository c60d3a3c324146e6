"""The app's environment for every test session, set before any ``chalicelib`` module is
imported: the dev JWT issuer, a cursor secret, Stripe settings, and the ports DynamoDB
Local and stripe-mock will listen on.

No server starts here: ``tests/integration/conftest.py`` starts both on these ports, so
``pytest tests/unit`` runs without them (an accidental DynamoDB call from a unit test is
refused by the empty port instead of reaching anything real).
"""
from __future__ import annotations

import os
import sys
import tempfile
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
if str(ROOT) not in sys.path:
    sys.path.insert(0, str(ROOT))

from devstack.dynamodb_local import free_port  # noqa: E402
from devstack.env import app_environment  # noqa: E402
from devstack.jwt_issuer import DevIssuer  # noqa: E402
from devstack.s3_server import environment as s3_environment  # noqa: E402

WORK = Path(tempfile.mkdtemp(prefix="enclave-tests-"))
ISSUER = DevIssuer(WORK / "jwt")
TABLE_NAME = "enclave-test"
DYNAMODB_PORT = free_port()
STRIPE_MOCK_PORT = free_port()
S3_PORT = free_port()
S3_ENDPOINT = f"http://127.0.0.1:{S3_PORT}"
STRIPE_API_BASE = f"http://127.0.0.1:{STRIPE_MOCK_PORT}"
STRIPE_WEBHOOK_SECRET = "whsec_test_enclave_local_signing_secret"

os.environ.update(
    app_environment(dynamodb_port=DYNAMODB_PORT, table_name=TABLE_NAME, issuer=ISSUER,
                    secret="test-cursor-secret", cors_origins="https://console.example.test",
                    job_dispatch="manual")
)
# stripe-mock (Stripe's official mock server) for billing; the app remembers what signed
# events said, as stripe-mock keeps no state (billing/gateway/stateless.py)
os.environ.update({
    "ENCLAVE_STRIPE_API_BASE": STRIPE_API_BASE,
    "ENCLAVE_STRIPE_SECRET_KEY": "sk_test_EnclaveLocalNotARealKey123",
    "ENCLAVE_STRIPE_WEBHOOK_SECRET": STRIPE_WEBHOOK_SECRET,
    "ENCLAVE_STRIPE_STATELESS_MOCK": "1",
    "ENCLAVE_STRIPE_TIMEOUT_SECONDS": "5",
})
# gofakes3 for imports and exports (devstack/s3_server.py), reached through presigned URLs
os.environ.update(s3_environment(S3_ENDPOINT))
