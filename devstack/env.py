"""The environment the app runs with in the dev stack and the tests."""
from __future__ import annotations

import secrets
from pathlib import Path

from .jwt_issuer import AUDIENCE, ISSUER, PLATFORM_ADMIN_GROUP, DevIssuer


def cursor_secret(directory: Path) -> str:
    """A random cursor-signing key kept beside the local data (never committed)."""
    path = directory / "cursor-secret"
    if not path.exists():
        directory.mkdir(parents=True, exist_ok=True)
        path.write_text(secrets.token_urlsafe(32))
        path.chmod(0o600)
    return path.read_text().strip()


def app_environment(*, dynamodb_port: int, table_name: str, issuer: DevIssuer, secret: str,
                    cors_origins: str = "http://localhost:5173", job_dispatch: str = "local") -> dict[str, str]:
    """``job_dispatch``: "local" runs background jobs on a thread of the serving process;
    "manual" queues them until the caller drains the queue (tests)."""
    return {
        "ENCLAVE_STAGE": "local",
        "ENCLAVE_TABLE_NAME": table_name,
        "ENCLAVE_DYNAMODB_ENDPOINT": f"http://127.0.0.1:{dynamodb_port}",
        "ENCLAVE_REGION": "us-east-1",
        "ENCLAVE_JWT_ISSUER": ISSUER,
        "ENCLAVE_JWT_AUDIENCE": AUDIENCE,
        "ENCLAVE_JWKS_URL": issuer.jwks_url,
        "ENCLAVE_PLATFORM_ADMIN_GROUP": PLATFORM_ADMIN_GROUP,
        "ENCLAVE_CURSOR_SECRET": secret,
        "ENCLAVE_CORS_ALLOWED_ORIGINS": cors_origins,
        "ENCLAVE_JOB_DISPATCH": job_dispatch,
        "ENCLAVE_OUTBOUND_ALLOW_LOOPBACK": "1",  # webhook receivers on 127.0.0.1 (infra refuses it)
        # DynamoDB Local accepts any credentials; these are obviously fake.
        "AWS_ACCESS_KEY_ID": "local",
        "AWS_SECRET_ACCESS_KEY": "local",
        "AWS_DEFAULT_REGION": "us-east-1",
        "POWERTOOLS_METRICS_NAMESPACE": "EnclaveLocal",
        "POWERTOOLS_LOG_LEVEL": "WARNING",
        "POWERTOOLS_METRICS_DISABLED": "true",
    }


def stripe_environment(api_base: str, directory: Path) -> dict[str, str]:
    """The app's Stripe settings in the dev stack: stripe-mock, an obviously fake key, and
    a webhook signing secret made on first use (devstack's stripe-event signs with it)."""
    path = directory / "stripe-webhook-secret"
    if not path.exists():
        directory.mkdir(parents=True, exist_ok=True)
        path.write_text("whsec_" + secrets.token_hex(24))
        path.chmod(0o600)
    return {
        "ENCLAVE_STRIPE_API_BASE": api_base,
        "ENCLAVE_STRIPE_SECRET_KEY": "sk_test_EnclaveDevStack000",  # stripe-mock wants letters/digits
        "ENCLAVE_STRIPE_WEBHOOK_SECRET": path.read_text().strip(),
        "ENCLAVE_STRIPE_STATELESS_MOCK": "1",
    }
