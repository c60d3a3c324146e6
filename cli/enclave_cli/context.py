"""What every command needs: the config file, an API client, and consoles (stdout for
results, stderr for progress and errors, so ``enclave ... > file`` keeps only results)."""
from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

import click
from rich.console import Console

from . import config
from .api import Api
from .errors import AuthError


@dataclass
class State:
    config_path: Path

    def config(self) -> config.Config:
        try:
            found = config.load(self.config_path)
        except (ValueError, KeyError, OSError) as exc:
            raise AuthError(f"Cannot read {self.config_path} ({exc.__class__.__name__}: {exc}): log in again") from None
        if found is None:
            raise AuthError(f"Not logged in (no {self.config_path}): run `enclave login --api-key KEY --url URL`"
                            " or `enclave login --dev`")
        return found

    def api(self) -> Api:
        found = self.config()
        return Api(found.url, found.api_key)


def state() -> State:
    found = click.get_current_context().find_object(State)
    if found is None:  # a command run without the ``enclave`` group (only in tests)
        raise RuntimeError("enclave commands run under the enclave group")
    return found


def out() -> Console:
    return Console(soft_wrap=True, highlight=False)


def err() -> Console:
    return Console(stderr=True, soft_wrap=True, highlight=False)
