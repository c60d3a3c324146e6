"""``python -m enclave_cli`` is the same as ``enclave``."""
from __future__ import annotations

from .main import main

main()
