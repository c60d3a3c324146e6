"""OpenAPI 3.1 document built from the routes registered through ``core.http.Api``.

Schemas come from the pydantic models themselves (``models_json_schema``), so the
document cannot drift from what the API validates and returns.
"""
from __future__ import annotations

import re
from typing import Any

from pydantic import BaseModel
from pydantic.json_schema import JsonSchemaMode, models_json_schema

from . import lazyroutes
from .http import PLATFORM_ADMIN, PUBLIC, ROUTES, RouteSpec, item_param

_REF = "#/components/schemas/{model}"
_ERROR_TEXT = {
    400: "Malformed request (bad JSON, bad cursor)",
    401: "Missing or invalid credentials",
    403: "The credential lacks the permission",
    404: "Not found (another tenant's ids are not found either)",
    409: "Conflict with the current state",
    410: "Gone (erased)",
    413: "Body too large",
    415: "Not application/json",
    422: "Validation failed; `field` names the input at fault",
}
_STATUS_TEXT = {200: "OK", 201: "Created", 202: "Accepted", 204: "No Content"}


def plain(text: str) -> str:
    """A docstring line as an OpenAPI summary (plain text): no reStructuredText backticks."""
    return re.sub(r"`+", "", text)


def markdown(text: str) -> str:
    """A docstring as an OpenAPI description (CommonMark): ``code`` becomes `code`."""
    return re.sub(r"``(.+?)``", r"`\1`", text)


PROBLEM_SCHEMA: dict[str, Any] = {
    "type": "object",
    "description": "RFC 9457 problem details",
    "required": ["type", "title", "status", "code"],
    "properties": {
        "type": {"type": "string", "format": "uri"},
        "title": {"type": "string"},
        "status": {"type": "integer"},
        "code": {"type": "string", "description": "stable machine-readable code"},
        "detail": {"type": "string"},
        "field": {"type": "string", "description": "the input at fault"},
        "instance": {"type": "string"},
        "errors": {"type": "array", "items": {"type": "object"}},
    },
}


def _query_parameters(model: type[BaseModel], schemas: dict[str, Any]) -> list[dict[str, Any]]:
    schema = model.model_json_schema(ref_template=_REF)
    required = set(schema.get("required", []))
    return [
        {"name": name, "in": "query", "required": name in required, "schema": prop,
         **({"description": prop["description"]} if "description" in prop else {})}
        for name, prop in schema.get("properties", {}).items()
    ]


def _operation(spec: RouteSpec, refs: dict[tuple[Any, JsonSchemaMode], Any],
               schemas: dict[str, Any]) -> dict[str, Any]:
    path_id = spec.path.strip("/").replace("/", "_").replace("{", "").replace("}", "")
    op: dict[str, Any] = {
        "operationId": f"{spec.method.lower()}_{path_id}",
        "summary": plain(spec.summary),
        "tags": [spec.tag],
    }
    if spec.description:
        op["description"] = markdown(spec.description)
    params: list[dict[str, Any]] = [
        {"name": name, "in": "path", "required": True, "schema": {"type": "string"}} for name in spec.path_params
    ]
    if spec.query is not None:
        params += _query_parameters(spec.query, schemas)
    if spec.method == "POST" and spec.auth != PUBLIC:
        params.append({
            "name": "Idempotency-Key", "in": "header", "required": False,
            "schema": {"type": "string", "maxLength": 255},
            "description": "Replays the first response for 24 h; the same key with another request is a 422",
        })
    if params:
        op["parameters"] = params
    if spec.body is not None:
        op["requestBody"] = {"required": not spec.body_optional,
                             "content": {"application/json": {"schema": refs[(spec.body, "validation")]}}}
    responses: dict[str, Any] = {}
    for status in (spec.status, *spec.also):
        text = _STATUS_TEXT.get(status, "OK")
        if status == 204 or spec.response is None:
            responses[str(status)] = {"description": text}
        else:
            schema = refs[(spec.response, "serialization")]
            responses[str(status)] = {"description": text, "content": {"application/json": {"schema": schema}}}
    if "201" in responses and item_param(spec) is not None:
        responses["201"]["headers"] = {"Location": {
            "description": "The created resource's URL", "schema": {"type": "string"}}}
    errors = set(spec.errors)
    if spec.body is not None:
        errors |= {400, 413, 415, 422}
    for status in sorted(errors):
        responses[str(status)] = {
            "description": _ERROR_TEXT.get(status, "Error"),
            "content": {"application/problem+json": {"schema": {"$ref": _REF.format(model="Problem")}}},
        }
    op["responses"] = responses
    if spec.auth == PUBLIC:
        op["security"] = []
    elif spec.auth == PLATFORM_ADMIN:
        op["security"] = [{"userJwt": []}]
        op["description"] = (op.get("description", "") + "\n\nRequires a platform operator's token.").strip()
    else:
        op["security"] = [{"apiKey": []}, {"userJwt": []}]
        if spec.permission:
            op["description"] = (op.get("description", "") + f"\n\nPermission: `{spec.permission}`.").strip()
    return op


def document(title: str = "Enclave API", version: str = "1.0.0") -> dict[str, Any]:
    lazyroutes.load_all()  # every route's models, including blueprints no request imported yet
    pairs: list[tuple[type[BaseModel], JsonSchemaMode]] = []
    for spec in ROUTES:
        if spec.body is not None:
            pairs.append((spec.body, "validation"))
        if spec.response is not None:
            pairs.append((spec.response, "serialization"))
    unique = list(dict.fromkeys(pairs))
    refs, defs = models_json_schema(unique, ref_template=_REF) if unique else ({}, {})
    schemas: dict[str, Any] = dict(defs.get("$defs", {}))
    schemas["Problem"] = PROBLEM_SCHEMA
    paths: dict[str, dict[str, Any]] = {}
    for spec in ROUTES:
        paths.setdefault(spec.path, {})[spec.method.lower()] = _operation(spec, refs, schemas)
    return {
        "openapi": "3.1.0",
        "info": {
            "title": title,
            "version": version,
            "description": "Membership backend for brands: members, tags, tiers, paid memberships, journeys.",
        },
        "servers": [{"url": "/"}],
        "paths": paths,
        "components": {
            "schemas": schemas,
            "securitySchemes": {
                "apiKey": {"type": "http", "scheme": "bearer",
                           "description": "Tenant API key (ek_live_... / ek_test_...)"},
                "userJwt": {"type": "http", "scheme": "bearer", "bearerFormat": "JWT",
                            "description": "Console user's ID token (Cognito)"},
            },
        },
    }
