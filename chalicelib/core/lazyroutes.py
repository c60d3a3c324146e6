"""Blueprints registered from a manifest, imported on their first request (cold start).

Chalice must see every route when app.py is imported, and every Lambda function (the API
handler, each schedule, each background function) imports app.py. Importing the route
modules would import every capability's schemas and services, pydantic and PynamoDB into
each of them (ADR 0020). Instead app.py calls :func:`register_blueprint`; it registers
each route of the blueprint from ``chalicelib/routes.json`` with a stub view. The first
request to any route of that blueprint imports the module, registers the blueprint on a
throw-away Chalice app to get its real views, swaps them into the app's route table and
answers; later requests go straight to the real views.

The manifest is generated (``python -m chalicelib.core.routemap``, ``make routes``) and
carries a checksum of the files that declared the blueprint's routes (and core/http.py).
When a file changed since, that blueprint is imported and registered at once, as
before: a stale manifest costs cold-start time, never a route. A test fails on a stale
manifest, so it is regenerated in the change that made it stale.

Standard library and Chalice only: app.py imports this module.
"""
from __future__ import annotations

import importlib
import json
import os
import threading
import zlib
from collections.abc import Callable
from pathlib import Path
from typing import Any

from chalice import Chalice
from chalice.app import RouteEntry

from . import wiring

ROOT = Path(__file__).resolve().parents[2]  # the directory holding app.py and chalicelib/
MANIFEST = ROOT / "chalicelib" / "routes.json"
#: set to "1" to import and register every blueprint at once (the manifest generator)
EAGER_ENV = "ENCLAVE_EAGER_ROUTES"
_ALWAYS_HASHED = ("chalicelib/core/http.py",)  # how Api.route registers (preflights, names)

_lock = threading.RLock()
_manifest: dict[str, Any] | None = None
#: every blueprint registered through here, lazily or not, in registration order
_BLUEPRINTS: list[_Blueprint] = []


def _load_manifest() -> dict[str, Any]:
    global _manifest
    if _manifest is None:
        try:
            _manifest = json.loads(MANIFEST.read_text())
        except FileNotFoundError:
            _manifest = {}
    return _manifest


def digest(files: list[str]) -> str:
    """Checksum of the files' bytes (not a security check: it tells a stale manifest)."""
    crc = 0
    for name in sorted(set(files) | set(_ALWAYS_HASHED)):
        try:
            crc = zlib.crc32((ROOT / name).read_bytes(), zlib.crc32(name.encode(), crc))
        except FileNotFoundError:
            return "missing"
    return f"{crc:08x}"


class _Blueprint:
    def __init__(self, app: Chalice, module: str, attr: str, url_prefix: str | None) -> None:
        self.app, self.module, self.attr, self.url_prefix = app, module, attr, url_prefix
        self.key = f"{module}:{attr}"
        self.paths: list[tuple[str, str]] = []  # (path, method) it serves
        self.loaded = False

    def register_now(self) -> None:
        """Import and register the blueprint the ordinary way."""
        before = {(p, m) for p, methods in self.app.routes.items() for m in methods}
        blueprint = getattr(importlib.import_module(self.module), self.attr)
        self.app.register_blueprint(blueprint, url_prefix=self.url_prefix)
        self.paths = [(p, m) for p, methods in self.app.routes.items() for m in methods if (p, m) not in before]
        self.loaded = True

    def register_stubs(self, routes: list[dict[str, Any]]) -> None:
        for route in routes:
            path, method = route["path"], route["method"]
            entry = RouteEntry(self._stub(path, method), route["name"], path, method,
                               content_types=route["content_types"], cors=self.app.api.cors)
            if method in self.app.routes[path]:
                raise ValueError(f"Duplicate method: {method!r} detected for route: {path!r}")
            self.app.routes[path][method] = entry
            self.paths.append((path, method))

    def _stub(self, path: str, method: str) -> Callable[..., Any]:
        def stub(**params: Any) -> Any:
            return self.load()[(path, method)](**params)

        stub.__name__ = f"lazy_{method.lower()}"
        return stub

    def load(self) -> dict[tuple[str, str], Callable[..., Any]]:
        """Import the module, swap the real views into the app's route table; the views by
        (path, method)."""
        with _lock:
            if not self.loaded:
                blueprint = getattr(importlib.import_module(self.module), self.attr)
                shadow = Chalice(self.app.app_name, configure_logs=False)
                shadow.api.cors = self.app.api.cors
                shadow.register_blueprint(blueprint, url_prefix=self.url_prefix)
                if shadow.pure_lambda_functions or shadow.event_sources or shadow.middleware_handlers:
                    raise RuntimeError(f"{self.key}: a lazy blueprint may only declare routes")
                blueprint._current_app = self.app  # current_request: the real app's
                for path, methods in shadow.routes.items():
                    for method, entry in methods.items():
                        self.app.routes[path][method] = entry
                self.loaded = True
            return {(p, m): self.app.routes[p][m].view_function for p, m in self.paths}


def register_blueprint(app: Chalice, module: str, attr: str = "bp", url_prefix: str | None = None) -> None:
    """What ``app.register_blueprint(module.attr, url_prefix=...)`` does, without importing
    ``module`` until one of its routes is requested (when the manifest is current)."""
    blueprint = _Blueprint(app, module, attr, url_prefix)
    with _lock:
        _BLUEPRINTS.append(blueprint)
    entry = _load_manifest().get("blueprints", {}).get(blueprint.key)
    if (os.environ.get(EAGER_ENV) == "1" or entry is None or entry.get("url_prefix") != url_prefix
            or entry.get("digest") != digest(entry["files"])):
        blueprint.register_now()
    else:
        blueprint.register_stubs(entry["routes"])


def load_all() -> None:
    """Import every blueprint (the OpenAPI document lists every route's models)."""
    for blueprint in list(_BLUEPRINTS):
        if not blueprint.loaded:
            blueprint.load()


def import_all() -> None:
    """Import whatever app.py names: every blueprint and every wired module (what a cold
    start imported before ADR 0020; the fallback for a registration nothing else finds)."""
    load_all()
    wiring.import_all()


def job_module(kind: str) -> str | None:
    """The module that registers background job ``kind`` (core.jobs imports it to run one)."""
    module = _load_manifest().get("jobs", {}).get(kind)
    return module if isinstance(module, str) else None


def blueprints() -> list[_Blueprint]:
    """Every blueprint registered through here, in registration order (core.routemap)."""
    with _lock:
        return list(_BLUEPRINTS)


def known_paths() -> set[str]:
    """Every route path registered through here, loaded or not."""
    return {path for blueprint in _BLUEPRINTS for path, _ in blueprint.paths}


def stale() -> list[str]:
    """Blueprints whose manifest entry is missing or out of date (registered at once)."""
    manifest = _load_manifest().get("blueprints", {})
    out = []
    for blueprint in _BLUEPRINTS:
        entry = manifest.get(blueprint.key)
        if (entry is None or entry.get("url_prefix") != blueprint.url_prefix
                or entry.get("digest") != digest(entry["files"])):
            out.append(blueprint.key)
    return out
