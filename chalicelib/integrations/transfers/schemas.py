"""Imports on the wire (the CLI and the TypeScript client code against these shapes)."""
from __future__ import annotations

from typing import Literal

from pydantic import Field

from ...core.schema import Input, Output

ImportStatus = Literal["awaiting_upload", "queued", "running", "succeeded", "failed"]


class ImportCreate(Input):
    """Start an import: answers a presigned URL to PUT the file to, then ``POST .../start``."""

    kind: Literal["members", "orders"]
    format: Literal["csv", "jsonl"]
    #: column (CSV) or key (JSONL, dotted for nested objects) -> field; a column named like a
    #: field needs no entry; map a column to ``_ignore`` to skip it. Members fields: phone,
    #: email, name, gender, birthday (YYYY-MM-DD or MM-DD), channel_ids.<kind>,
    #: attributes.<name>, source.channel, source.campaign. Orders fields: order_id, amount
    #: (integer minor units), currency, occurred_at, channel, items (JSONL), member.id,
    #: member.phone, member.email, member.channel_ids.<kind> (phone, email and member_id
    #: columns are read as member.phone, member.email and member.id).
    mapping: dict[str, str] | None = Field(default=None, max_length=100)


class Upload(Output):
    url: str
    method: Literal["PUT"] = "PUT"
    #: send these headers with the PUT (they are signed)
    headers: dict[str, str]
    expires_at: str


class ImportProgress(Output):
    #: known when the import has finished
    rows_total: int | None = None
    rows_done: int = 0
    #: rows that created a member or recorded an order (a re-run applies none)
    rows_applied: int = 0
    rows_failed: int = 0


class ErrorsFile(Output):
    #: a CSV of the rows that failed: row (1 = first data row), field, message
    url: str
    expires_at: str
    count: int


class ImportOut(Output):
    id: str
    kind: Literal["members", "orders"]
    format: Literal["csv", "jsonl"]
    status: ImportStatus
    #: where to PUT the file, while the import awaits it
    upload: Upload | None = None
    job_id: str | None = None
    progress: ImportProgress
    #: per-row errors once finished (None when every row applied, or not finished)
    errors: ErrorsFile | None = None
    #: why a failed import stopped
    failure: str | None = None
    created_at: str
