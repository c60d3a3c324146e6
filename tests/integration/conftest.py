"""Integration session set-up: DynamoDB Local (in memory) and stripe-mock on the ports
tests/environment.py chose, the table, and the HTTP fixtures (tests/fixtures.py)."""
from __future__ import annotations

from tests.integration.servers import DDB, STRIPE_API_BASE, stop  # noqa: F401 - starts both servers
from tests.fixtures import admin_token, clock, http, other_tenant, tenant  # noqa: F401 - fixtures


def pytest_unconfigure(config: object) -> None:
    stop()
