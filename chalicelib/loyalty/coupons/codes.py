"""Coupon codes: unguessable, human-typable, case-insensitive. No I/O.

A code is ``secrets``-random over 32 characters with no look-alikes (no 0/O, no 1/I):
10 characters are 50 bits, so guessing one live code among millions takes billions of
tries. Uniqueness is not left to chance either: the store claims each code with a
conditional put and draws again on the (rare) collision. What a member types is
normalized (upper case, spaces and dashes dropped) before it is looked up.
"""
from __future__ import annotations

import re
import secrets

ALPHABET = "23456789ABCDEFGHJKLMNPQRSTUVWXYZ"
LENGTH = 10
_TYPED = re.compile(r"^[A-Z0-9]{4,48}$")


def new_code(prefix: str = "", length: int = LENGTH) -> str:
    """``prefix`` + ``length`` random characters of :data:`ALPHABET`."""
    return prefix + "".join(secrets.choice(ALPHABET) for _ in range(length))


def normalize(typed: str) -> str | None:
    """The code as stored, from what was typed (``"back-ab3d ef"`` -> ``"BACKAB3DEF"``);
    None when it cannot be a code."""
    code = re.sub(r"[\s-]+", "", typed).upper()
    return code if _TYPED.match(code) else None


def grouped(code: str, size: int = 4) -> str:
    """For print: ``ABCD-EFGH-JK`` (dashes are ignored when typed back)."""
    return "-".join(code[i:i + size] for i in range(0, len(code), size))
