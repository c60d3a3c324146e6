"""``python -m devstack.chalice_local local ...``: the Chalice CLI, run by this venv's own
Python (the venv's ``chalice`` script may carry another interpreter's shebang).

Chalice's auto-reloader (``chalice local`` without ``--no-autoreload``) starts the server
by re-running ``sys.argv``; under ``python -c`` that is ``['-c', ...]`` and fails with
``FileNotFoundError: '-c'``. Here ``sys.argv`` is made a command that re-runs as is.
"""
from __future__ import annotations

import sys

from chalice.cli import cli

if __name__ == "__main__":
    args = sys.argv[1:]
    sys.argv = [sys.executable, "-m", "devstack.chalice_local", *args]
    cli.main(args=args, obj={}, prog_name="chalice")
