"""Writes ``chalicelib/routes.json``, the manifest core.lazyroutes registers blueprints from
(ADR 0020): ``make routes`` / ``python -m chalicelib.core.routemap``. It imports app.py with
every blueprint registered at once, then records each blueprint's routes, the files that
declared them (with their checksum), and the module registering each background job kind."""
from __future__ import annotations

import importlib
import json
import os
import sys
from pathlib import Path
from typing import Any

from chalice import Chalice

from . import lazyroutes
from .jobs import runner


def import_every_module() -> None:
    """Import every module of chalicelib (not its vendored code): the jobs map must name
    every registered kind, whichever import path registers it at run time."""
    import pkgutil

    import chalicelib

    for info in pkgutil.walk_packages(chalicelib.__path__, "chalicelib."):
        if ".vendor" not in info.name:
            importlib.import_module(info.name)


def build_manifest() -> dict[str, Any]:
    """The manifest of every blueprint app.py registers: imports app.py with every blueprint
    registered at once, and records each one's routes and the files that declared them."""
    os.environ[lazyroutes.EAGER_ENV] = "1"
    try:
        app_module = importlib.import_module("app")
    finally:
        os.environ.pop(lazyroutes.EAGER_ENV, None)
    app: Chalice = app_module.app
    lazyroutes.import_all()
    import_every_module()  # job kinds registered by modules only a schedule's body imports
    manifest: dict[str, Any] = {}
    for blueprint in lazyroutes.blueprints():
        files = {_relative(blueprint.module)}
        routes = []
        for path, method in blueprint.paths:
            entry = app.routes[path][method]
            files.add(_relative(getattr(entry.view_function, "view_module", entry.view_function.__module__)))
            if entry.authorizer is not None or entry.api_key_required:
                raise RuntimeError(f"{path} {method}: the manifest keeps no authorizer or API key setting")
            routes.append({"path": path, "method": method, "name": entry.view_name,
                           "content_types": entry.content_types})
        listed = sorted(files)
        manifest[blueprint.key] = {"url_prefix": blueprint.url_prefix, "files": listed,
                                   "digest": lazyroutes.digest(listed), "routes": routes}
    jobs = {kind: handler.__module__ for kind, handler in sorted(runner.registered().items())}
    return {"blueprints": manifest, "jobs": jobs}


def _relative(module: str) -> str:
    return Path(sys.modules[module].__file__ or "").resolve().relative_to(lazyroutes.ROOT).as_posix()


def write_manifest() -> None:
    """One blueprint's header and one route per line: a reviewable diff."""
    manifest = build_manifest()
    lines = ['{"blueprints": {']
    for n, (key, entry) in enumerate(manifest["blueprints"].items()):
        head = {k: v for k, v in entry.items() if k != "routes"}
        lines.append(f" {json.dumps(key)}: {json.dumps(head)[:-1]}, \"routes\": [")
        lines += [f"  {json.dumps(r)}," for r in entry["routes"]]
        lines[-1] = lines[-1].rstrip(",")
        lines.append(" ]}" + ("," if n < len(manifest["blueprints"]) - 1 else ""))
    lines.append('}, "jobs": ' + json.dumps(manifest["jobs"], indent=1) + "}")
    lazyroutes.MANIFEST.write_text("\n".join(lines) + "\n")
    print(f"wrote {lazyroutes.MANIFEST.relative_to(lazyroutes.ROOT)}")


if __name__ == "__main__":  # python -m chalicelib.core.routemap (make routes)
    sys.path.insert(0, str(lazyroutes.ROOT))
    write_manifest()
