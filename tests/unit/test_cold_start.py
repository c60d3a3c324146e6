"""What a cold start imports: every Lambda function (API and each background function)
imports app.py, so what app.py pulls in is paid on every cold start; the heavy pieces a
request does not need are imported when used (issue 14, "Cold start")."""
from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

import pytest
from pydantic import BaseModel, ValidationError

from chalicelib.core.config import EnvSettings, Settings
from chalicelib.core.schema import Input, Output

ROOT = Path(__file__).resolve().parents[2]
#: imported only where used: Stripe by the gateway's adapter, the X-Ray SDK with tracing
#: on, phone metadata when a phone is parsed, pydantic-settings not at all
DEFERRED = ("stripe", "aws_xray_sdk", "phonenumbers", "pydantic_settings")


def test_given_a_fresh_process_then_import_app_does_not_import_the_deferred_packages() -> None:
    code = f"import sys, json, app; print(json.dumps([m for m in {DEFERRED!r} if m in sys.modules]))"
    out = subprocess.run([sys.executable, "-c", code], cwd=ROOT, capture_output=True, text=True,
                         timeout=120, check=True)
    assert json.loads(out.stdout.strip().splitlines()[-1]) == []


#: what app.py itself may import: Chalice and core's wiring by name (ADR 0020)
LIGHT = {"chalicelib", "chalicelib.core", "chalicelib.core.lazyroutes", "chalicelib.core.objects",
         "chalicelib.core.wiring"}
#: packages no function's cold start needs before its first call
HEAVY = ("pydantic", "pynamodb", "boto3", "botocore", "aws_lambda_powertools", "ulid", *DEFERRED)


def _modules_after(code: str) -> dict[str, list[str]]:
    code += ("\nimport sys, json\nprint(json.dumps({'chalicelib': sorted(m for m in sys.modules if m.startswith("
             "'chalicelib')), 'heavy': sorted(m for m in " + repr(HEAVY) + " if m in sys.modules)}))")
    out = subprocess.run([sys.executable, "-c", code], cwd=ROOT, capture_output=True, text=True, timeout=120,
                         check=True)
    found: dict[str, list[str]] = json.loads(out.stdout.strip().splitlines()[-1])
    return found


def test_given_a_fresh_process_then_every_functions_entry_imports_no_capability_and_no_heavy_package() -> None:
    """Every Lambda function's cold start is ``from app import <handler>``: one import of app.py."""
    found = _modules_after("from app import app, nightly, run_job, outbox_sweeper")
    assert set(found["chalicelib"]) <= LIGHT, sorted(set(found["chalicelib"]) - LIGHT)
    assert found["heavy"] == []


def test_given_a_first_request_then_only_its_capability_is_imported() -> None:
    """A members request imports members (and what it uses), not billing's Stripe, journeys
    or the Swagger UI page."""
    from bench.imports import FIRST_REQUEST  # the proxy event the Lambda runtime hands the API handler

    found = _modules_after(FIRST_REQUEST)
    loaded = set(found["chalicelib"])
    assert "chalicelib.members.routes" in loaded
    assert not loaded & {"chalicelib.billing.routes", "chalicelib.journeys.routes", "chalicelib.apidocs.routes",
                         "chalicelib.loyalty.coupons.routes", "chalicelib.segments.routes"}
    assert "stripe" not in found["heavy"]


def _subclasses(cls: type[BaseModel]) -> list[type[BaseModel]]:
    found: list[type[BaseModel]] = []
    for sub in cls.__subclasses__():
        found += [sub, *_subclasses(sub)]
    return found


def test_given_schemas_built_on_first_use_then_every_model_of_the_app_still_builds() -> None:
    """defer_build moves a model's schema error from import to its first request: build them
    all here so a broken model still fails the build, not a user's call."""
    import app  # noqa: F401  (registers every capability's models)
    from chalicelib.core import lazyroutes

    lazyroutes.import_all()  # capabilities import on first use: import them all

    models = {m for base in (Input, Output) for m in _subclasses(base)}
    assert len(models) > 50
    for model in sorted(models, key=lambda m: f"{m.__module__}.{m.__qualname__}"):
        model.model_rebuild(force=True)
        assert model.__pydantic_complete__, model


def test_given_prefixed_variables_in_any_case_then_settings_read_and_validate_them(
        monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("ENCLAVE_TABLE_NAME", "t-1")
    monkeypatch.setenv("enclave_jwks_cache_seconds", "60")
    monkeypatch.setenv("ENCLAVE_OUTBOUND_ALLOW_LOOPBACK", "true")
    monkeypatch.setenv("ENCLAVE_UNKNOWN_THING", "ignored")
    s = Settings.from_env()
    assert (s.table_name, s.jwks_cache_seconds, s.outbound_allow_loopback) == ("t-1", 60, True)


def test_given_an_out_of_range_variable_then_settings_refuse_it(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("ENCLAVE_JWKS_CACHE_SECONDS", "99999")
    with pytest.raises(ValidationError):
        Settings.from_env()


def test_given_another_prefix_then_only_its_variables_are_read(monkeypatch: pytest.MonkeyPatch) -> None:
    class Other(EnvSettings):
        env_prefix = "OTHER_"
        table_name: str = "default"

    monkeypatch.setenv("ENCLAVE_TABLE_NAME", "not-mine")
    assert Other.from_env().table_name == "default"
    monkeypatch.setenv("OTHER_TABLE_NAME", "mine")
    assert Other.from_env().table_name == "mine"
