"""Cold import of the app vs a bare ``import boto3``, each in a fresh interpreter.

Two measures, median of N runs each (after one untimed run of each to settle bytecode
caches):

* wall: wall time of ``python -c "import X"`` minus that of ``python -c "pass"``
  (interpreter start), runs interleaved so drift hits all three alike;
* importtime: the cumulative microseconds ``python -X importtime`` reports for the
  top-level module ``X``, and how many modules that import loaded.
"""
from __future__ import annotations

import os
import subprocess
import sys
import time
from dataclasses import dataclass, field
from pathlib import Path

from .report import median

TARGETS = ("app", "boto3")


@dataclass
class ImportFigures:
    runs: int
    baseline_ms: float = 0.0
    wall_ms: dict[str, float] = field(default_factory=dict)        # minus interpreter start
    importtime_ms: dict[str, float] = field(default_factory=dict)  # -X importtime cumulative
    modules: dict[str, int] = field(default_factory=dict)          # modules loaded by the import
    #: for each target, the distributions it loaded, heaviest first: (package, self ms summed)
    heaviest: dict[str, list[tuple[str, float]]] = field(default_factory=dict)


def _run(code: str, root: Path, env: dict[str, str], importtime: bool = False) -> tuple[float, str]:
    args = [sys.executable] + (["-X", "importtime"] if importtime else []) + ["-c", code]
    start = time.perf_counter()
    out = subprocess.run(args, cwd=root, env=env, capture_output=True, text=True, timeout=120, check=False)
    elapsed = time.perf_counter() - start
    if out.returncode != 0:
        raise RuntimeError(f"{' '.join(args)} failed:\n{out.stderr[-2000:]}")
    return elapsed * 1000, out.stderr


def _parse_importtime(stderr: str, module: str) -> tuple[float, int, list[tuple[str, float]]]:
    """(cumulative ms of the top-level import of ``module``, modules it loaded, self time
    summed per top-level package, heaviest first).

    Lines read ``import time: <self us> | <cumulative us> | <indent><name>``, children
    before their parent; a top-level name has no indent beyond the one separating space.
    """
    rows: list[tuple[int, int, str]] = []
    for ln in stderr.splitlines():
        parts = ln.removeprefix("import time:").split("|", 2)
        if not ln.startswith("import time:") or len(parts) != 3:
            continue
        try:
            self_us, cumulative = int(parts[0]), int(parts[1])
        except ValueError:
            continue  # the header line
        rows.append((self_us, cumulative, parts[2]))
    for i in range(len(rows) - 1, -1, -1):
        if rows[i][2] == f" {module}":
            first = i
            while first > 0 and rows[first - 1][2].startswith("   "):
                first -= 1
            per_package: dict[str, float] = {}
            for self_us, _, name in rows[first:i + 1]:
                package = name.strip().split(".")[0]
                per_package[package] = per_package.get(package, 0.0) + self_us / 1000
            heaviest = sorted(per_package.items(), key=lambda kv: kv[1], reverse=True)
            return rows[i][1] / 1000, i - first + 1, heaviest
    raise RuntimeError(f"-X importtime did not report a top-level import of {module!r}")


def measure(root: Path, env: dict[str, str], runs: int = 5) -> ImportFigures:
    env = {**os.environ, **env}
    codes = {"pass": "pass", **{t: f"import {t}" for t in TARGETS}}
    for code in codes.values():  # untimed: compile .pyc files, warm the OS file cache
        _run(code, root, env)
    wall: dict[str, list[float]] = {k: [] for k in codes}
    itime: dict[str, list[float]] = {t: [] for t in TARGETS}
    mods: dict[str, int] = {}
    heaviest: dict[str, list[tuple[str, float]]] = {}
    for _ in range(runs):
        for key, code in codes.items():
            wall[key].append(_run(code, root, env)[0])
        for t in TARGETS:
            cum_ms, mods[t], heaviest[t] = _parse_importtime(_run(codes[t], root, env, importtime=True)[1], t)
            itime[t].append(cum_ms)
    base = median(wall["pass"])
    return ImportFigures(
        runs=runs, baseline_ms=base,
        wall_ms={t: median(wall[t]) - base for t in TARGETS},
        importtime_ms={t: median(itime[t]) for t in TARGETS},
        modules=mods, heaviest=heaviest,
    )
