"""Identifiers: 26-character ULIDs, so no id is a prefix of another and ids sort by time."""
from __future__ import annotations

import re

from ulid import ULID

ULID_RE = re.compile(r"^[0-9A-HJKMNP-TV-Z]{26}$")


def new_id() -> str:
    return str(ULID())


def is_id(value: str) -> bool:
    return bool(ULID_RE.match(value))
