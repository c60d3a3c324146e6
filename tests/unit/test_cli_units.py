"""The CLI's pure parts (cli/enclave_cli): problem+json as messages and exit codes, progress
of jobs and imports, which deliveries ``events tail`` prints, the config file's mode."""
from __future__ import annotations

import stat
import sys

import click
import pytest

from tests.environment import ROOT

sys.path.insert(0, str(ROOT / "cli"))
from enclave_cli import config  # noqa: E402
from enclave_cli import progress as prog  # noqa: E402
from enclave_cli.errors import ApiError, AuthError, error_for, format_problem, problem_of  # noqa: E402
from enclave_cli.transfers import format_of  # noqa: E402
from enclave_cli.watch import changed_deliveries, delivery_line  # noqa: E402


# --- problem+json ---------------------------------------------------------------------------------
def test_a_validation_problem_shows_title_code_detail_field_and_each_field_error():
    problem = {"type": "https://errors.enclave.dev/validation_failed", "title": "Validation failed", "status": 422,
               "code": "validation_failed", "detail": "phone: not a phone number", "field": "phone",
               "errors": [{"field": "phone", "message": "not a phone number"},
                          {"field": "birthday.month", "message": "must be 1-12"}]}
    assert format_problem(problem) == (
        "Validation failed (422 validation_failed)\n"
        "  phone: not a phone number\n"
        "  field: phone\n"
        "  - phone: not a phone number\n"
        "  - birthday.month: must be 1-12")


def test_a_single_field_error_already_named_by_field_is_not_repeated():
    problem = {"title": "Validation failed", "status": 422, "code": "validation_failed", "detail": "email: bad",
               "field": "email", "errors": [{"field": "email", "message": "bad"}]}
    assert format_problem(problem).count("email") == 2  # the detail and the field line


def test_many_field_errors_are_cut_with_a_count():
    errors = [{"field": f"rows[{n}]", "message": "bad"} for n in range(14)]
    text = format_problem({"title": "Validation failed", "status": 422, "errors": errors})
    assert "rows[9]" in text and "rows[10]" not in text and "... and 4 more" in text


def test_a_non_json_answer_becomes_a_problem_with_its_status_and_first_bytes():
    problem = problem_of(502, "text/html", "<html>Bad gateway</html>" + "x" * 1000, "Bad Gateway")
    assert problem["status"] == 502 and problem["title"] == "Bad Gateway" and len(problem["detail"]) == 300
    assert format_problem(problem).startswith("Bad Gateway (502)")
    assert problem_of(500, "application/json", "not json", "Internal")["title"] == "Internal"


def test_credential_problems_exit_4_and_the_rest_exit_1():
    unauthorized = error_for({"title": "Missing or invalid credentials", "status": 401, "code": "unauthorized"})
    assert isinstance(unauthorized, AuthError) and unauthorized.exit_code == 4
    assert "enclave login" in unauthorized.message
    assert error_for({"title": "Not allowed", "status": 403}).exit_code == 4
    conflict = error_for({"title": "Conflict", "status": 409, "code": "conflict", "detail": "busy"})
    assert isinstance(conflict, ApiError) and conflict.exit_code == 1 and "busy" in conflict.message


# --- progress ---------------------------------------------------------------------------------------
def test_job_progress_reads_processed_total_and_error_count():
    measured = prog.of_job({"status": "running", "progress": {"processed": 40, "changed": 3, "total": 160,
                                                              "error_count": 2}})
    assert (measured.done, measured.total, measured.failed) == (40, 160, 2)
    assert measured.fraction == 0.25 and measured.describe() == "40/160 (25%), 2 failed"


def test_progress_without_a_total_is_indeterminate_and_never_over_100_percent():
    assert prog.of_job({"progress": {"processed": 7}}).fraction is None
    assert prog.of_job({"progress": {"processed": 7}}).describe() == "7 done"
    assert prog.of_job({"progress": {"processed": 7, "total": 0}}).fraction is None
    assert prog.of_job({"progress": {"processed": 12, "total": 10}}).fraction == 1.0
    assert prog.of_job({}).describe() == "0 done"


def test_import_progress_reads_rows_and_decides_the_exit_code():
    answer = {"status": "succeeded", "progress": {"rows_total": 100_000, "rows_done": 100_000,
                                                  "rows_applied": 99_000, "rows_failed": 1_000}}
    measured = prog.of_import(answer)
    assert (measured.done, measured.total, measured.applied, measured.failed) == (100_000, 100_000, 99_000, 1_000)
    assert prog.exit_code("succeeded", measured) == 3
    assert prog.exit_code("succeeded", prog.of_import({"progress": {"rows_done": 5, "rows_total": 5}})) == 0
    assert prog.exit_code("failed", measured) == 1
    assert prog.of_import({"status": "queued", "progress": {"rows_total": None}}).total is None


# --- events tail, formats, config -----------------------------------------------------------------
def _delivery(id_: str, status: str, attempts: int, at: str) -> dict:
    return {"id": id_, "event_id": "ev", "event_type": "order.paid", "status": status, "attempts": attempts,
            "created_at": at, "last_attempt": {"status_code": 500, "latency_ms": 12, "at": at, "error": None}}


def test_tail_prints_new_deliveries_oldest_first_then_only_their_new_attempts():
    seen: dict = {}
    page = {"data": [_delivery("d2", "retrying", 1, "2026-12-03T10:00:02Z"),
                     _delivery("d1", "delivered", 1, "2026-12-03T10:00:01Z")], "next_cursor": None}
    assert [d["id"] for d in changed_deliveries(page, seen)] == ["d1", "d2"]
    assert changed_deliveries(page, seen) == []
    page["data"][0] = _delivery("d2", "delivered", 2, "2026-12-03T10:00:02Z")
    assert [d["id"] for d in changed_deliveries(page, seen)] == ["d2"]
    assert changed_deliveries({"items": [_delivery("d3", "failed", 1, "x")]}, seen)[0]["id"] == "d3"
    line = delivery_line(page["data"][0])
    assert "d2" in line and "order.paid" in line and "attempts=2" in line and "http=500" in line and "12ms" in line


def test_the_import_format_comes_from_the_extension_unless_given():
    assert format_of(ROOT / "m.CSV", None) == "csv" and format_of(ROOT / "o.ndjson", None) == "jsonl"
    assert format_of(ROOT / "m.txt", "csv") == "csv"
    with pytest.raises(click.UsageError):
        format_of(ROOT / "m.txt", None)


def test_the_config_is_written_owner_only_and_the_key_shown_masked(tmp_path, monkeypatch):
    monkeypatch.delenv("ENCLAVE_URL", raising=False)
    path = tmp_path / "new" / "config.json"
    path.parent.mkdir()
    path.write_text("{}")
    path.chmod(0o644)  # an older file readable by others is tightened
    config.save(path, config.Config(url="http://127.0.0.1:8000", api_key="ek_live_abcdefghijklmnopqrstuvwxyz"))
    assert stat.S_IMODE(path.stat().st_mode) == 0o600
    assert config.load(path) == config.Config(url="http://127.0.0.1:8000",
                                              api_key="ek_live_abcdefghijklmnopqrstuvwxyz")
    assert config.masked("ek_live_abcdefghijklmnopqrstuvwxyz") == "ek_live_abcd…"
    monkeypatch.setenv("ENCLAVE_URL", "https://api.example.com/")
    monkeypatch.setenv("ENCLAVE_API_KEY", "ek_live_from_env")
    assert config.load(tmp_path / "absent.json") == config.Config("https://api.example.com", "ek_live_from_env",
                                                                  "environment")


def test_the_cli_talks_http_only_and_never_imports_the_app():
    import ast

    imported: set[str] = set()
    for source in (ROOT / "cli" / "enclave_cli").glob("*.py"):
        for node in ast.walk(ast.parse(source.read_text())):
            if isinstance(node, ast.Import):
                imported |= {alias.name.split(".")[0] for alias in node.names}
            elif isinstance(node, ast.ImportFrom) and node.level == 0 and node.module:
                imported.add(node.module.split(".")[0])
    assert imported & {"chalicelib", "app", "devstack", "tests"} == set()
    assert {"click", "rich", "requests"} <= imported


def test_following_without_a_terminal_prints_a_line_per_change_and_stops_at_the_end(monkeypatch):
    import io

    from rich.console import Console

    from enclave_cli import polling

    answers = iter([{"status": "queued", "progress": {}}, {"status": "queued", "progress": {}},
                    {"status": "running", "progress": {"processed": 5, "total": 10}},
                    {"status": "failed", "progress": {"processed": 6, "total": 10}}])
    pauses: list[float] = []
    monkeypatch.setattr(polling, "pause", pauses.append)
    sink = io.StringIO()
    last = polling.follow(lambda: next(answers), prog.of_job, "job", Console(file=sink), interval=0.5)
    assert last["status"] == "failed" and pauses == [0.5, 0.5, 0.5]
    assert sink.getvalue() == "job queued: 0 done\njob running: 5/10 (50%)\njob failed: 6/10 (60%)\n"
