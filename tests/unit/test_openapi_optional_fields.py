"""The OpenAPI document keeps optional request fields optional: a field with a default is
never listed in ``required`` (the TypeScript client generated from the document would make
callers send it), and a field without one always is. Built without a server, like
``make clients`` builds it (clients/dump_openapi.py)."""
from __future__ import annotations

from typing import Any

import pytest

import app  # noqa: F401 - registers every route
from chalicelib.core import openapi
from chalicelib.core.http import ROUTES


@pytest.fixture(scope="module")
def document() -> dict[str, Any]:
    return openapi.document()


def _component(document: dict[str, Any], ref: str) -> dict[str, Any]:
    return document["components"]["schemas"][ref.rsplit("/", 1)[-1]]


def test_given_every_request_body_then_required_lists_exactly_the_fields_without_defaults(document) -> None:
    checked = 0
    for spec in ROUTES:
        if spec.body is None:
            continue
        body = document["paths"][spec.path][spec.method.lower()]["requestBody"]
        schema = _component(document, body["content"]["application/json"]["schema"]["$ref"])
        required = set(schema.get("required", []))
        for name, info in spec.body.model_fields.items():
            key = info.alias or name
            assert (key in required) == info.is_required(), f"{spec.method} {spec.path}: {key}"
        checked += 1
    assert checked > 20  # every capability's writes, not a handful


def test_given_every_query_model_then_parameters_are_required_only_without_defaults(document) -> None:
    checked = 0
    for spec in ROUTES:
        if spec.query is None:
            continue
        params = {p["name"]: p for p in document["paths"][spec.path][spec.method.lower()]["parameters"]
                  if p["in"] == "query"}
        for name, info in spec.query.model_fields.items():
            assert params[info.alias or name]["required"] == info.is_required(), f"{spec.path}?{name}"
        checked += 1
    assert checked >= 5


def test_given_member_create_then_its_identities_and_profile_are_optional(document) -> None:
    schema = document["components"]["schemas"]["MemberCreate"]
    assert not set(schema.get("required", [])) & {"phone", "email", "name", "birthday", "gender", "source"}
    assert set(schema["properties"]) >= {"phone", "email", "name"}
