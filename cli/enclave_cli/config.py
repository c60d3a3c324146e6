"""Where the CLI keeps its credential: ``~/.config/enclave/config.json`` (or the file
``ENCLAVE_CONFIG`` names), readable by its owner only, as it holds an API key.

``ENCLAVE_URL`` and ``ENCLAVE_API_KEY`` in the environment override the file (CI jobs).
"""
from __future__ import annotations

import json
import os
from dataclasses import asdict, dataclass
from pathlib import Path

DEV_JSON = Path(".local") / "dev.json"


@dataclass(frozen=True)
class Config:
    url: str
    api_key: str
    #: how it was made: "api-key" or "dev" (the dev stack's demo key)
    source: str = "api-key"


def config_path(override: str | None = None) -> Path:
    if override:
        return Path(override).expanduser()
    if os.environ.get("ENCLAVE_CONFIG"):
        return Path(os.environ["ENCLAVE_CONFIG"]).expanduser()
    base = Path(os.environ.get("XDG_CONFIG_HOME") or Path.home() / ".config")
    return base / "enclave" / "config.json"


def load(path: Path) -> Config | None:
    url, key = os.environ.get("ENCLAVE_URL"), os.environ.get("ENCLAVE_API_KEY")
    if url and key:
        return Config(url=url.rstrip("/"), api_key=key, source="environment")
    if not path.exists():
        return None
    data = json.loads(path.read_text(encoding="utf-8"))
    return Config(url=data["url"].rstrip("/"), api_key=data["api_key"], source=data.get("source", "api-key"))


def save(path: Path, config: Config) -> None:
    """Written 0600 from the first byte (never readable by others, even briefly)."""
    path.parent.mkdir(parents=True, exist_ok=True, mode=0o700)
    fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600)
    with os.fdopen(fd, "w", encoding="utf-8") as fh:
        json.dump(asdict(config), fh, indent=2)
        fh.write("\n")
    path.chmod(0o600)  # an existing file keeps its old mode through os.open


def find_dev_json(start: Path) -> Path | None:
    """``.local/dev.json`` of the checkout ``start`` is in (``make run`` writes it)."""
    for directory in (start, *start.parents):
        candidate = directory / DEV_JSON
        if candidate.is_file():
            return candidate
    return None


def from_dev_json(path: Path) -> Config:
    data = json.loads(path.read_text(encoding="utf-8"))
    return Config(url=data["base_url"].rstrip("/"), api_key=data["demo_api_key"], source="dev")


def masked(api_key: str) -> str:
    """Enough of a key to tell which one it is (``ek_live_abc1…``), never the secret."""
    return api_key[:12] + "…" if len(api_key) > 16 else "…"
