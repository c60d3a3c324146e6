"""Pydantic building blocks shared by every capability's schemas."""
from __future__ import annotations

from typing import Annotated

from pydantic import BaseModel, ConfigDict, Field


class Input(BaseModel):
    """Request bodies and query strings: unknown fields are an error, strings are trimmed."""

    model_config = ConfigDict(extra="forbid", str_strip_whitespace=True, defer_build=True)


class Output(BaseModel):
    model_config = ConfigDict(extra="ignore", defer_build=True)


Limit = Annotated[int, Field(ge=1, le=200, description="Page size (1-200).")]


class Page(Output):
    #: opaque; pass it back as ``cursor`` for the next page, absent on the last page
    next_cursor: str | None = None


class Download(Output):
    """A presigned URL of a file in S3 (exports, errors): GET it, no credentials, before ``expires_at``."""

    url: str
    expires_at: str
