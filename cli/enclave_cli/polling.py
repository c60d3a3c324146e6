"""Following something the API does in the background, with a progress bar on stderr.

Waits go through ``pause`` so that tests can replace it (running the app's queued jobs
instead of sleeping).
"""
from __future__ import annotations

import time
from collections.abc import Callable
from typing import Any

from rich.console import Console
from rich.markup import escape
from rich.progress import BarColumn, Progress, SpinnerColumn, TextColumn, TimeElapsedColumn

from . import progress as prog

DEFAULT_INTERVAL = 1.0


def pause(seconds: float) -> None:
    time.sleep(seconds)


def follow(fetch: Callable[[], dict[str, Any]], measure: Callable[[dict[str, Any]], prog.Progress],
           label: str, console: Console, interval: float = DEFAULT_INTERVAL) -> dict[str, Any]:
    """Calls ``fetch`` until its ``status`` is terminal, showing ``measure``'s progress (a bar
    on a terminal, a line per change in a log or a pipe); the last answer."""
    if not console.is_terminal:
        last = ""
        while True:
            state = fetch()
            line = f"{label} {state.get('status', '?')}: {measure(state).describe()}"
            if line != last:
                console.print(line, markup=False)
                last = line
            if state.get("status") in prog.TERMINAL:
                return state
            pause(interval)
    columns = (SpinnerColumn(), TextColumn("{task.description}"), BarColumn(), TextColumn("{task.fields[detail]}"),
               TimeElapsedColumn())
    with Progress(*columns, console=console, transient=False) as bar:
        task = bar.add_task(label, total=None, detail="")
        while True:
            state = fetch()
            measured = measure(state)
            bar.update(task, completed=measured.done, total=measured.total,
                       description=f"{label} [bold]{escape(str(state.get('status', '?')))}[/]",
                       detail=measured.describe())
            if state.get("status") in prog.TERMINAL:
                return state
            pause(interval)
