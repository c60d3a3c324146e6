"""``enclave import members|orders FILE`` and ``enclave export segment ID``.

An import is created (``POST /v1/imports``), the file goes to the presigned upload URL it
answers, ``POST /v1/imports/{id}/start`` queues it, and the import is followed to its end.
An export is a background job (``POST /v1/segments/{id}/export``); when it has succeeded,
``GET /v1/segments/{id}/exports/{job_id}`` answers either the CSV itself or, once exports
live on S3, ``{"status", "download": {"url", "expires_at"}}``: both are handled.
"""
from __future__ import annotations

import json
from pathlib import Path
from typing import Any
from urllib.parse import quote

import click
from rich.markup import escape

from . import api as http
from . import polling
from . import progress as prog
from .context import err, out, state
from .errors import API_ERROR, PARTIAL, ApiError, PartialFailure

FORMATS = {".csv": "csv", ".jsonl": "jsonl", ".ndjson": "jsonl"}
#: polls of an export's file after its job succeeded, before giving up
EXPORT_READY_POLLS = 60


def format_of(path: Path, given: str | None) -> str:
    if given:
        return given
    fmt = FORMATS.get(path.suffix.lower())
    if fmt is None:
        raise click.UsageError(f"cannot tell the format of {path.name} from its extension "
                               f"({', '.join(FORMATS)}): pass --format csv|jsonl")
    return fmt


@click.group("import")
def import_group() -> None:
    """Load members or orders from a CSV or JSONL file (through S3)."""


def _import(kind: str, path: Path, fmt: str | None, mapping_file: Path | None, errors_out: Path | None,
            interval: float) -> None:
    body: dict[str, Any] = {"kind": kind, "format": format_of(path, fmt)}
    if mapping_file is not None:
        try:
            body["mapping"] = json.loads(mapping_file.read_text(encoding="utf-8"))
        except ValueError as exc:
            raise click.BadParameter(f"not JSON: {exc}", param_hint="--mapping") from None
    api = state().api()
    created = api.post("/v1/imports", body)
    upload = created["upload"]
    err().print(f"Uploading {escape(str(path))} ({path.stat().st_size:,} bytes) for import {created['id']}")
    http.upload(upload["url"], path, upload.get("method", "PUT"), upload.get("headers") or {})
    api.post(f"/v1/imports/{quote(created['id'])}/start")
    final = polling.follow(lambda: api.get(f"/v1/imports/{quote(created['id'])}"), prog.of_import,
                           f"import {kind}", err(), interval)
    measured = prog.of_import(final)
    out().print(f"Import {final['id']} {final['status']}: {measured.applied or 0} applied, {measured.failed} failed, "
                f"{measured.done} of {measured.total if measured.total is not None else '?'} rows read")
    report = final.get("errors")
    if report and report.get("url"):
        out().print(f"Error report ({report.get('count', measured.failed)} rows): {report['url']} "
                    f"(expires {report.get('expires_at', '?')})")
        if errors_out is not None:
            http.download(report["url"], errors_out)
            out().print(f"Error report saved to {errors_out}")
    code = prog.exit_code(final["status"], measured)
    if code == API_ERROR:
        why = final.get("failure") or final.get("error")
        raise ApiError(f"Import {final['id']} failed" + (f": {why}" if why else ""))
    if code == PARTIAL:
        raise PartialFailure(f"{measured.failed} rows failed; see the error report")


def _import_command(kind: str) -> click.Command:
    @click.command(kind, help=f"Import {kind} from FILE (.csv, .jsonl); exit 3 when rows failed.")
    @click.argument("file", type=click.Path(exists=True, dir_okay=False, path_type=Path))
    @click.option("--format", "fmt", type=click.Choice(["csv", "jsonl"]), help="Default: from the extension.")
    @click.option("--mapping", "mapping_file", type=click.Path(exists=True, dir_okay=False, path_type=Path),
                  help="A JSON file: the column mapping (see the API docs of POST /v1/imports).")
    @click.option("--errors-out", type=click.Path(dir_okay=False, path_type=Path),
                  help="Also save the error report here.")
    @click.option("--interval", type=click.FloatRange(min=0.1), default=polling.DEFAULT_INTERVAL, show_default=True,
                  help="Seconds between polls.")
    def command(file: Path, fmt: str | None, mapping_file: Path | None, errors_out: Path | None,
                interval: float) -> None:
        _import(kind, file, fmt, mapping_file, errors_out, interval)

    return command


import_group.add_command(_import_command("members"))
import_group.add_command(_import_command("orders"))


@click.group("export")
def export_group() -> None:
    """Download what the API exports."""


@export_group.command("segment")
@click.argument("segment_id")
@click.option("-o", "--output", type=click.Path(dir_okay=False, path_type=Path),
              help="Where to save the CSV (default: segment-ID.csv here).")
@click.option("--force", is_flag=True, help="Overwrite the output file.")
@click.option("--interval", type=click.FloatRange(min=0.1), default=polling.DEFAULT_INTERVAL, show_default=True,
              help="Seconds between polls.")
def export_segment(segment_id: str, output: Path | None, force: bool, interval: float) -> None:
    """Export a segment's members as CSV: wait for the job, then download the file."""
    target = output or Path(f"segment-{segment_id}.csv")
    if target.exists() and not force:
        raise click.UsageError(f"{target} exists: pass --force to overwrite, or -o another file")
    api = state().api()
    seg = quote(segment_id)
    job_id = api.post(f"/v1/segments/{seg}/export")["job_id"]
    job = polling.follow(lambda: api.get(f"/v1/jobs/{quote(job_id)}"), prog.of_job, "export", err(), interval)
    if job["status"] == "failed":
        raise ApiError(f"Export job {job_id} failed" + (f": {job['error']}" if job.get("error") else ""))
    size = _save_export(api, f"/v1/segments/{seg}/exports/{quote(job_id)}", target, interval)
    out().print(f"Saved {size:,} bytes to {target} (job {job_id})")


def _save_export(api: http.Api, path: str, target: Path, interval: float) -> int:
    for _ in range(EXPORT_READY_POLLS):
        resp = api.call("GET", path, accept=(409,))
        if resp.status_code == 409:  # the job's status and the file's can lag one another
            polling.pause(interval)
            continue
        if "json" not in resp.headers.get("Content-Type", ""):
            target.write_bytes(resp.content)
            return len(resp.content)
        answer = resp.json()
        if answer.get("download"):
            return http.download(answer["download"]["url"], target)
        if answer.get("status") == "failed":
            raise ApiError(f"Export failed: {answer.get('error') or answer}")
        polling.pause(interval)
    raise ApiError(f"The export's file was not ready after {EXPORT_READY_POLLS} polls; try again later")
