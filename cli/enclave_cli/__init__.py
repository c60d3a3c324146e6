"""``enclave``: the command line client of the Enclave API (HTTP only; see main.py)."""
from __future__ import annotations

__version__ = "0.1.0"
