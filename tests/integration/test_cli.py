"""The ``enclave`` CLI (cli/enclave_cli) driven through click's runner against the app
served over real HTTP from a thread of this process (devstack's dev server on a free port),
so every command goes through the network path a user's would.

Background jobs are queued in tests (``ENCLAVE_JOB_DISPATCH=manual``): the CLI's wait
between two polls is replaced by running the queued jobs, so following a job is exercised
from "queued" to the end without sleeping.
"""
from __future__ import annotations

import csv
import functools
import io
import json
import stat
import sys
import threading
from collections.abc import Iterator
from contextlib import contextmanager
from http.server import BaseHTTPRequestHandler, HTTPServer
from pathlib import Path
from typing import Any

import pytest
import requests
from click.testing import CliRunner, Result

from tests.environment import ROOT
from tests.fixtures import Tenant, make_tenant, run_jobs
from tests.integration.test_tags import group, put_tag, tag

sys.path.insert(0, str(ROOT / "cli"))
from enclave_cli import polling  # noqa: E402
from enclave_cli.main import cli  # noqa: E402

UNKNOWN_ID = "01ARZ3NDEKTSV4RRFFQ69G5FAV"


@pytest.fixture(scope="module")
def api_url(http) -> Iterator[str]:
    """The app on 127.0.0.1:<free port>, served by the dev stack's server (quietly)."""
    from chalice.config import Config

    from app import app
    from devstack.server import DevHTTPServer, DevRequestHandler

    class QuietHandler(DevRequestHandler):
        def log_message(self, format: str, *args: Any) -> None:  # noqa: A002 - the stdlib's name
            pass

    config = Config.create()
    server = DevHTTPServer(("127.0.0.1", 0), app, config)
    server.RequestHandlerClass = functools.partial(QuietHandler, app_object=app, config=config)
    thread = threading.Thread(target=server.serve_forever, kwargs={"poll_interval": 0.05}, daemon=True)
    thread.start()
    try:
        yield f"http://127.0.0.1:{server.server_address[1]}"
    finally:
        server.shutdown()
        server.server_close()


@pytest.fixture(scope="module")
def routes(api_url) -> set[str]:
    return set(requests.get(f"{api_url}/openapi.json", timeout=10).json()["paths"])


@pytest.fixture(scope="module")
def brand(http, admin_token) -> Tenant:
    return make_tenant(http, admin_token, name="CLI Brand")


@pytest.fixture
def config_file(tmp_path, monkeypatch) -> Path:
    path = tmp_path / "conf" / "enclave.json"
    monkeypatch.setenv("ENCLAVE_CONFIG", str(path))
    monkeypatch.delenv("ENCLAVE_URL", raising=False)
    monkeypatch.delenv("ENCLAVE_API_KEY", raising=False)
    monkeypatch.setattr(polling, "pause", lambda seconds: run_jobs())  # "later" is when the jobs ran
    return path


@pytest.fixture
def logged_in(config_file, api_url, brand) -> Path:
    assert enclave("login", "--api-key", brand.key, "--url", api_url).exit_code == 0
    return config_file


def enclave(*args: str) -> Result:
    return CliRunner().invoke(cli, list(args), prog_name="enclave")


# --- login, whoami ------------------------------------------------------------------------------
def test_login_with_an_api_key_keeps_it_0600_and_whoami_names_the_tenant(config_file, api_url, brand):
    r = enclave("login", "--api-key", brand.key, "--url", api_url + "/")
    assert r.exit_code == 0, r.output
    assert "CLI Brand" in r.stdout and brand.id in r.stdout
    assert stat.S_IMODE(config_file.stat().st_mode) == 0o600
    assert json.loads(config_file.read_text()) == {"url": api_url, "api_key": brand.key, "source": "api-key"}
    who = enclave("whoami", "--json")
    assert who.exit_code == 0, who.output
    facts = json.loads(who.stdout)
    assert facts["tenant_id"] == brand.id and facts["url"] == api_url and facts["livemode"] is True
    assert brand.key not in who.stdout  # the secret is never printed
    assert brand.id in enclave("whoami").stdout


def test_login_with_a_bad_key_exits_4_and_keeps_nothing(config_file, api_url):
    r = enclave("login", "--api-key", "ek_live_not_a_real_key_0000000000", "--url", api_url)
    assert r.exit_code == 4, r.output
    assert "Missing or invalid credentials" in r.stderr
    assert not config_file.exists()


def test_login_dev_reads_the_local_stacks_dev_json(config_file, api_url, brand, tmp_path, monkeypatch):
    checkout = tmp_path / "checkout"
    (checkout / ".local").mkdir(parents=True)
    (checkout / "sub").mkdir()
    (checkout / ".local" / "dev.json").write_text(json.dumps({"base_url": api_url, "demo_api_key": brand.key,
                                                              "demo_tenant_id": brand.id}))
    monkeypatch.chdir(checkout / "sub")  # found from a subdirectory of the checkout too
    r = enclave("login", "--dev")
    assert r.exit_code == 0, r.output
    assert json.loads(config_file.read_text())["source"] == "dev"
    assert json.loads(enclave("whoami", "--json").stdout)["tenant_id"] == brand.id


def test_commands_without_a_login_exit_4_saying_how_to_log_in(config_file):
    r = enclave("whoami")
    assert r.exit_code == 4
    assert "enclave login" in r.stderr


# --- usage and API errors -----------------------------------------------------------------------
def test_bad_usage_exits_2(logged_in, tmp_path):
    data = tmp_path / "members.txt"
    data.write_text("phone\n13800138000\n")
    for args in [("login",), ("login", "--dev", "--api-key", "k"), ("login", "--api-key", "k"),
                 ("import", "members"), ("import", "members", str(data)), ("import", "points", str(data)),
                 ("jobs", "watch"), ("events", "tail"), ("nonsense",)]:
        r = enclave(*args)
        assert r.exit_code == 2, (args, r.output)
    assert "--format csv|jsonl" in enclave("import", "members", str(data)).stderr


def test_a_problem_json_answer_exits_1_printing_its_title_and_detail(logged_in):
    r = enclave("export", "segment", UNKNOWN_ID, "-o", "unused.csv")
    assert r.exit_code == 1, r.output
    assert "Not found (404 segment_not_found)" in r.stderr and "No such segment." in r.stderr
    missing_job = enclave("jobs", "watch", UNKNOWN_ID)
    assert missing_job.exit_code == 1 and "404" in missing_job.stderr


def test_an_unreachable_api_or_one_that_is_not_the_api_exits_1_naming_it(config_file, api_url, brand):
    config_file.parent.mkdir(parents=True)
    config_file.write_text(json.dumps({"url": "http://127.0.0.1:9", "api_key": brand.key}))
    r = enclave("whoami")
    assert r.exit_code == 1 and "Cannot reach http://127.0.0.1:9" in r.stderr
    with _serving(_HtmlPage) as other_site:  # a web server that is not the API
        wrong = enclave("login", "--api-key", brand.key, "--url", other_site)
    assert wrong.exit_code == 1 and "without JSON" in wrong.stderr, wrong.output
    assert json.loads(config_file.read_text())["url"] == "http://127.0.0.1:9"  # not replaced
    config_file.write_text("{not json")
    broken = enclave("whoami")
    assert broken.exit_code == 4 and "log in again" in broken.stderr


class _HtmlPage(BaseHTTPRequestHandler):
    def do_GET(self) -> None:  # noqa: N802 - the stdlib's name
        body = b"<html><body>Welcome</body></html>"
        self.send_response(200)
        self.send_header("Content-Type", "text/html")
        self.send_header("Content-Length", str(len(body)))
        self.end_headers()
        self.wfile.write(body)

    def log_message(self, format: str, *args: Any) -> None:  # noqa: A002 - the stdlib's name
        pass


@contextmanager
def _serving(handler: type[BaseHTTPRequestHandler]) -> Iterator[str]:
    server = HTTPServer(("127.0.0.1", 0), handler)
    threading.Thread(target=server.serve_forever, kwargs={"poll_interval": 0.05}, daemon=True).start()
    try:
        yield f"http://127.0.0.1:{server.server_address[1]}"
    finally:
        server.shutdown()
        server.server_close()


# --- jobs and exports ---------------------------------------------------------------------------
def _member(http, tenant: Tenant, phone: str) -> str:
    r = http.post("/v1/members", tenant.key, {"phone": phone})
    assert r.status in (200, 201), r
    return r.json["id"]


def test_jobs_watch_follows_a_job_to_its_end_and_exits_3_when_items_failed(http, logged_in, brand):
    vip = tag(http, brand, group(http, brand, name="Watch")["id"], "Watched")
    ids = [_member(http, brand, f"1370013700{n}") for n in range(3)]
    job = http.post(f"/v1/tags/{vip['id']}/bulk", brand.key, {"action": "add", "member_ids": [*ids, UNKNOWN_ID]})
    assert job.status == 202, job
    r = enclave("jobs", "watch", job.json["job_id"], "--interval", "0.1")
    assert r.exit_code == 3, r.output
    assert f"Job {job.json['job_id']} (bulk_tag) succeeded: 4 done, 1 failed" in r.stdout
    assert "member_not_found" in r.stderr and "1 items failed" in r.stderr
    # the progress, one line per change when stderr is not a terminal (a bar when it is)
    assert "job queued: 0 done\njob succeeded: 4 done, 1 failed\n" in r.stderr
    clean = http.post(f"/v1/tags/{vip['id']}/bulk", brand.key, {"action": "remove", "member_ids": ids})
    ok = enclave("jobs", "watch", clean.json["job_id"])
    assert ok.exit_code == 0, ok.output
    assert "succeeded: 3 done" in ok.stdout


def test_export_segment_waits_for_the_job_and_saves_the_csv(http, logged_in, brand, tmp_path):
    t = tag(http, brand, group(http, brand, name="Export")["id"], "Exported")
    ids = {_member(http, brand, f"1360013600{n}") for n in range(3)}
    for member_id in ids:
        assert put_tag(http, brand, member_id, t["id"]).status == 200
    seg = http.post("/v1/segments", brand.key, {"name": "exported", "filter": {"tag": t["id"]}}).json
    target = tmp_path / "out.csv"
    r = enclave("export", "segment", seg["id"], "-o", str(target))
    assert r.exit_code == 0, r.output
    rows = list(csv.DictReader(io.StringIO(target.read_text())))
    assert {row["member_id"] for row in rows} == ids
    assert f"Saved {target.stat().st_size:,} bytes to {target}" in r.stdout
    assert "export queued" in r.stderr and "export succeeded" in r.stderr
    again = enclave("export", "segment", seg["id"], "-o", str(target))
    assert again.exit_code == 2 and "--force" in again.stderr  # an existing file is not overwritten silently
    assert enclave("export", "segment", seg["id"], "-o", str(target), "--force").exit_code == 0
    assert not list(tmp_path.glob("*.part"))


# --- after the S3 and webhook branches are merged -------------------------------------------------
@pytest.mark.needs_transfers
def test_import_members_shows_progress_and_exits_3_naming_the_error_report(http, logged_in, brand, routes, tmp_path):
    if "/v1/imports" not in routes:
        pytest.skip("POST /v1/imports is not in this build (imports on S3 not merged)")
    data = tmp_path / "members.csv"
    data.write_text("phone,name\n13500135001,Ann\n13500135002,Bo\nnot-a-phone,Bad\n13500135003,Cy\n")
    r = enclave("import", "members", str(data), "--errors-out", str(tmp_path / "errors.csv"))
    assert r.exit_code == 3, r.output
    assert "succeeded: 3 applied, 1 failed, 4 of 4 rows read" in r.stdout
    assert "import members succeeded: 4/4 (100%), 1 failed" in r.stderr  # the progress, from the import
    assert "Error report (1 rows): http" in r.stdout
    assert "not-a-phone" in (tmp_path / "errors.csv").read_text()
    found = http.get("/v1/members/lookup?phone=%2B8613500135002", brand.key)
    assert found.status == 200 and found.json["name"] == "Bo"
    rerun = enclave("import", "members", str(data))  # members upsert by identity: nothing new
    assert rerun.exit_code == 3 and "1 failed" in rerun.stdout


@pytest.mark.needs_webhooks
def test_events_tail_prints_each_delivery_once_then_its_new_attempts(http, logged_in, brand, routes):
    if "/v1/webhook-endpoints/{endpoint_id}/deliveries" not in routes:
        pytest.skip("webhook endpoints are not in this build (event subscriptions not merged)")
    class Receiver(BaseHTTPRequestHandler):
        def do_POST(self) -> None:  # noqa: N802 - the stdlib's name
            self.rfile.read(int(self.headers.get("Content-Length", 0)))
            self.send_response(200)
            self.end_headers()

        def log_message(self, format: str, *args: Any) -> None:  # noqa: A002
            pass

    with _serving(Receiver) as receiver:
        endpoint = http.post("/v1/webhook-endpoints", brand.key,
                             {"url": f"{receiver}/hook", "event_types": ["member.*"]})
        assert endpoint.status == 201, endpoint
        _member(http, brand, "13400134001")
        run_jobs()
        first = enclave("events", "tail", "--endpoint", endpoint.json["id"], "--once")
        assert first.exit_code == 0, first.output
        assert "member.created" in first.stdout and "http=200" in first.stdout
    missing = enclave("events", "tail", "--endpoint", UNKNOWN_ID, "--once")
    assert missing.exit_code == 1 and "404" in missing.stderr
