"""``/openapi.json`` and a Swagger UI page at ``/docs`` whose assets the app serves itself
(no CDN: the docs work offline and in the dev stack)."""
from __future__ import annotations

from functools import lru_cache
from pathlib import Path
from typing import Any

from chalice import Blueprint, Response

from ..core.errors import NotFound
from ..core.http import PUBLIC, Api, Reply

bp = Blueprint(__name__)
api = Api(bp, tag="Docs")
_ASSETS = Path(__file__).resolve().parent.parent / "core" / "vendor" / "swagger-ui"
_CONTENT_TYPES = {"swagger-ui-bundle.js": "application/javascript", "swagger-ui.css": "text/css"}
#: the same page at /docs and /docs/ (and under a stage prefix): its URLs are built from
#: where it is served, not relative to it (from /docs/, "docs/x" would be /docs/docs/x)
_PAGE = """<!doctype html>
<html lang="en"><head><meta charset="utf-8"><title>Enclave API</title>
<script>var base = location.pathname.replace(/\\/docs\\/?$/, "");
document.write('<link rel="stylesheet" href="' + base + '/docs/swagger-ui.css">');</script></head>
<body><div id="ui"></div>
<script>document.write('<script src="' + base + '/docs/swagger-ui-bundle.js"><\\/script>');</script>
<script>window.ui = SwaggerUIBundle({url: base + "/openapi.json", dom_id: "#ui"});</script>
</body></html>"""


@lru_cache(maxsize=1)
def _document() -> dict[str, Any]:
    from ..core import openapi  # pydantic's JSON-schema machinery: kept off the cold start

    return openapi.document()


@lru_cache(maxsize=4)
def _asset(name: str) -> str:
    return (_ASSETS / name).read_text(encoding="utf-8")


@api.route("/openapi.json", "GET", auth=PUBLIC, permission=None)
def openapi_json(_: None) -> Reply:
    """The OpenAPI 3.1 document of this API"""
    return Reply(_document())


@api.route("/docs", "GET", auth=PUBLIC, permission=None)
def docs_page(_: None) -> Response:
    """Human-readable API reference"""
    return Response(body=_PAGE, status_code=200, headers={"Content-Type": "text/html; charset=utf-8"})


@api.route("/docs/{asset}", "GET", auth=PUBLIC, permission=None, errors=(404,))
def docs_asset(_: None, asset: str) -> Response:
    """Static files of the docs page"""
    if asset not in _CONTENT_TYPES:
        raise NotFound("No such docs file.")
    return Response(body=_asset(asset), status_code=200,
                    headers={"Content-Type": _CONTENT_TYPES[asset], "Cache-Control": "public, max-age=86400"})
