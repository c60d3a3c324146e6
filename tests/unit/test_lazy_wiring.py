"""app.py imports no capability (ADR 0020): blueprints register from chalicelib/routes.json
and import on their first request, receivers are wired by name. These tests keep that
equivalent to importing everything: the manifest is current and registers the same routes,
every name resolves, signals get their receivers in app.py's order, a cold run_job finds
its job's handler."""
from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parents[2]

_DUMP_ROUTES = (
    "import json, app\n"
    "rows = sorted([p, m, e.view_name, e.content_types, e.api_key_required, repr(e.authorizer), repr(e.cors)]\n"
    "              for p, ms in app.app.routes.items() for m, e in ms.items())\n"
    "print(json.dumps(rows))"
)


def _run(code: str, **env: str) -> Any:
    out = subprocess.run([sys.executable, "-c", code], cwd=ROOT, env={**os.environ, **env}, capture_output=True,
                         text=True, timeout=120, check=True)
    return json.loads(out.stdout.strip().splitlines()[-1])


def test_given_the_committed_manifest_then_no_blueprint_is_stale() -> None:
    """Stale: a routes module (or core/http.py) changed since `make routes`. It would still
    work (that blueprint imports at cold start), but regenerate it in the same change."""
    import app  # noqa: F401
    from chalicelib.core import lazyroutes

    assert lazyroutes.stale() == [], "run `make routes` (python -m chalicelib.core.routemap) and commit it"


def test_given_a_cold_app_then_its_route_table_is_the_one_importing_every_blueprint_gives() -> None:
    lazy = _run(_DUMP_ROUTES)
    eager = _run(_DUMP_ROUTES, ENCLAVE_EAGER_ROUTES="1")
    assert len(lazy) > 200
    assert lazy == eager


def test_given_every_capability_imported_then_the_manifest_names_each_job_kinds_module() -> None:
    from chalicelib.core import lazyroutes, routemap
    from chalicelib.core.jobs import runner

    lazyroutes.import_all()
    routemap.import_every_module()  # the same modules whatever this process imported before
    registered = {kind: handler.__module__ for kind, handler in runner.registered().items()
                  if handler.__module__.startswith("chalicelib.")}  # not a test's own kinds
    manifest = json.loads(lazyroutes.MANIFEST.read_text())["jobs"]
    assert registered and manifest == registered


def test_given_every_name_app_py_wires_then_each_resolves() -> None:
    import app  # noqa: F401
    from chalicelib.core import wiring

    names = wiring.targets()
    assert len(names) > 30
    for name in names:
        assert wiring.load(name) is not None, name


def test_given_every_connected_signal_then_it_is_named_by_the_module_that_declares_it() -> None:
    """A signal pulls its receivers when its module is imported; a re-exported name (the
    module that declares it imported, the one named not) would leave it without them."""
    import app  # noqa: F401
    from chalicelib.core import wiring

    sources = {name for name in wiring.targets() if name.rpartition(":")[2].isupper()}
    assert len(sources) >= 10
    for source in sorted(sources):
        module, _, attr = source.partition(":")
        text = (ROOT / (module.replace(".", "/") + ".py")).read_text()
        assert f"\n{attr} = Signal(" in text or f"\n{attr} = Join(" in text, source


def test_given_a_cold_process_then_a_signal_gets_app_pys_receivers_in_order_when_first_used() -> None:
    code = (
        "import json, sys, app\n"
        "from chalicelib.core.signals import receiver_name\n"
        "from chalicelib.activity import service\n"
        "before = 'chalicelib.tags.service' in sys.modules\n"
        "service.EVENT_RECORDED.connect(print)  # connected directly before first use: still after app.py's\n"
        "got = [receiver_name(r) for r in service.EVENT_RECORDED.receivers]\n"
        "print(json.dumps([before, got]))"
    )
    before, got = _run(code)
    assert before is False  # nothing imported a receiver before the signal was used
    assert got == ["chalicelib.tags.service.on_event", "chalicelib.journeys.triggers.on_event",
                   "chalicelib.loyalty.points.earning.on_event", "chalicelib.loyalty.coupons.redeeming.on_event",
                   "chalicelib.integrations.webhooks.events.on_signal",
                   "chalicelib.loyalty.referrals.lifecycle.on_event", "chalicelib.guides.board.on_event",
                   "builtins.print"]


def test_given_a_cold_run_job_process_then_a_job_kind_finds_its_handler() -> None:
    code = (
        "import json, sys, app\n"
        "from chalicelib.core.jobs import runner\n"
        "before = 'chalicelib.segments.service' in sys.modules\n"
        "handler = runner.handler_of('segment_count')\n"
        "print(json.dumps([before, handler.__module__, 'chalicelib.journeys.runner' in sys.modules]))"
    )
    assert _run(code) == [False, "chalicelib.segments.passes", False]  # its own capability, not every one


def test_given_a_blueprint_the_manifest_does_not_match_then_it_registers_at_once_with_every_route() -> None:
    """A stale entry (here: another url_prefix than the manifest's) costs cold-start time,
    never a route: that blueprint is imported and registered the ordinary way."""
    code = (
        "import json, sys\n"
        "from chalice import Chalice\n"
        "from chalicelib.core import lazyroutes\n"
        "lazy, stale = Chalice('a'), Chalice('b')\n"
        "lazyroutes.register_blueprint(lazy, 'chalicelib.tags.routes', url_prefix='/v1')\n"
        "imported = 'chalicelib.tags.routes' in sys.modules\n"
        "lazyroutes.register_blueprint(stale, 'chalicelib.tags.routes', url_prefix='/v2')\n"
        "rows = lambda app: sorted([p, m, e.view_function.__name__.startswith('lazy_')]\n"
        "                          for p, ms in app.routes.items() for m, e in ms.items())\n"
        "print(json.dumps([imported, rows(lazy), rows(stale)]))"
    )
    imported, lazy, stale = _run(code)
    assert imported is False
    assert len(lazy) > 10 and all(stub for _, _, stub in lazy)
    assert [(p.replace("/v1/", "/v2/", 1), m) for p, m, _ in lazy] == [(p, m) for p, m, _ in stale]
    assert not any(stub for _, _, stub in stale)
