"""Writes the app's OpenAPI document to a file without serving it: ``/openapi.json`` is
built from the routes registered through ``core.http.Api`` (``core/openapi.py``), so
importing ``app`` registers them all and ``document()`` is exactly what the route answers.

    .venv/bin/python clients/dump_openapi.py clients/typescript/openapi.json
"""
from __future__ import annotations

import json
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent


def dump(target: Path) -> bool:
    """Writes the document to ``target``; True when its content changed."""
    if str(ROOT) not in sys.path:
        sys.path.insert(0, str(ROOT))
    import app  # noqa: F401 - registers every blueprint's routes
    from chalicelib.core import openapi

    text = json.dumps(openapi.document(), indent=2, ensure_ascii=False) + "\n"
    if target.exists() and target.read_text(encoding="utf-8") == text:
        return False
    target.write_text(text, encoding="utf-8")
    return True


if __name__ == "__main__":
    if len(sys.argv) != 2:
        print("usage: dump_openapi.py TARGET.json", file=sys.stderr)
        sys.exit(2)
    changed = dump(Path(sys.argv[1]))
    print(f"{sys.argv[1]}: {'updated' if changed else 'unchanged'}")
