"""Following something the API does in the background, with a progress bar on stderr.

Waits go through ``pause`` so that tests can replace it (running the app's queued jobs
instead of sleeping).
"""
from __future__ import annotations

import time
from collections.abc import Callable
from typing import Any

from rich.console import Console
from rich.progress import BarColumn, Progress, SpinnerColumn, TaskProgressColumn, TextColumn, TimeElapsedColumn

from . import progress as prog

DEFAULT_INTERVAL = 1.0


def pause(seconds: float) -> None:
    time.sleep(seconds)


def follow(fetch: Callable[[], dict[str, Any]], measure: Callable[[dict[str, Any]], prog.Progress],
           label: str, console: Console, interval: float = DEFAULT_INTERVAL) -> dict[str, Any]:
    """Calls ``fetch`` until its ``status`` is terminal, drawing ``measure``'s progress; the
    last answer."""
    columns = (SpinnerColumn(), TextColumn("{task.description}"), BarColumn(), TaskProgressColumn(),
               TextColumn("{task.fields[detail]}"), TimeElapsedColumn())
    with Progress(*columns, console=console, transient=False) as bar:
        task = bar.add_task(label, total=None, detail="")
        while True:
            state = fetch()
            measured = measure(state)
            bar.update(task, completed=measured.done, total=measured.total,
                       description=f"{label} [bold]{state.get('status', '?')}[/]", detail=measured.describe())
            if state.get("status") in prog.TERMINAL:
                return state
            pause(interval)
