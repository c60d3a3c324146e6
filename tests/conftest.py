"""Every test session: the app's environment (tests/environment.py), before any
``chalicelib`` import. Servers are started only for integration tests
(tests/integration/conftest.py), so unit tests run without them."""
from __future__ import annotations

from tests.environment import ISSUER, ROOT, STRIPE_API_BASE, TABLE_NAME  # noqa: F401 - re-exported for older imports
