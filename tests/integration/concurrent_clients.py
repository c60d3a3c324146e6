"""Independent API clients in separate processes, like concurrent Lambda invocations.

Each process imports the app afresh (``spawn``), so nothing is shared but DynamoDB Local:
the only place two writers can meet in production too.
"""
from __future__ import annotations

import json
import time
from typing import Any

_client: Any = None


def _http() -> Any:
    global _client
    if _client is None:
        from pathlib import Path

        from chalice.test import Client

        from app import app

        _client = Client(app, project_dir=str(Path(__file__).resolve().parents[2]))
    return _client


def warm(_: int) -> bool:
    _http()
    return True


def call_at(start_at: float, method: str, path: str, token: str, body: Any) -> tuple[int, Any]:
    """Make one request as close to ``start_at`` (epoch seconds) as possible."""
    client = _http()
    delay = start_at - time.time()
    if delay > 0:
        time.sleep(delay)
    r = client.http.request(method, path, body=json.dumps(body).encode(),
                            headers={"Authorization": f"Bearer {token}", "Content-Type": "application/json"})
    return r.status_code, json.loads(r.body) if r.body else None
