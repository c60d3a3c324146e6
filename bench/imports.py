"""Cold start of each Lambda function vs a bare ``import boto3``, as whole processes.

Every function Chalice deploys (the API handler ``app.app``, each ``@app.lambda_function``
and ``@app.schedule``) is a handler string ``module.name``; the Lambda runtime's cold start
runs ``from module import name``. Each is measured as what it costs a cold start: the wall
time of the whole process ``python -c "from app import nightly"`` against
``python -c "import boto3"``, runs interleaved (drift hits all alike), median of N after one
untimed run of each (bytecode cached, OS file cache warm). The interpreter's own start
(``python -c pass``) is printed too, and is inside both sides of the ratio.

``-X importtime`` of ``import app`` gives the modules loaded and the heaviest modules and
packages under it (self time, one run).
"""
from __future__ import annotations

import json
import os
import subprocess
import sys
import time
from dataclasses import dataclass, field
from pathlib import Path

from .report import median

#: the target of issue 14: each function's whole-process cold start vs ``import boto3``
TARGET = 1.5
#: a cold API process answering its first request as the Lambda runtime hands it over (an
#: API Gateway proxy event for GET /v1/members without a credential: 401 before any table
#: read); app.py's route stub imports the members blueprint then (ADR 0020)
FIRST_REQUEST = (
    "from app import app\n"
    "event = {'resource': '/v1/members', 'path': '/v1/members', 'httpMethod': 'GET', 'headers': {},\n"
    "         'multiValueHeaders': {}, 'queryStringParameters': None, 'multiValueQueryStringParameters': None,\n"
    "         'pathParameters': None, 'stageVariables': None, 'body': None, 'isBase64Encoded': False,\n"
    "         'requestContext': {'resourcePath': '/v1/members', 'httpMethod': 'GET', 'path': '/v1/members',\n"
    "                            'requestId': 'bench', 'stage': 'api'}}\n"
    "assert app(event, None)['statusCode'] == 401"
)
#: what every cold start imported before ADR 0020: every blueprint and every wired module
EVERYTHING = "import app\nfrom chalicelib.core import lazyroutes\nlazyroutes.import_all()"

#: lists the deployed functions: (function name, handler string), the API handler first
_LIST_FUNCTIONS = (
    "import json, app\n"
    "fns = [('api', 'app.app')]\n"
    "fns += [(f.name, f.handler_string) for f in app.app.pure_lambda_functions]\n"
    "fns += [(e.name, e.handler_string) for e in app.app.event_sources]\n"
    "print(json.dumps(fns))"
)


@dataclass
class ImportFigures:
    runs: int
    baseline_ms: float = 0.0                                   # python -c pass, whole process
    boto3_ms: float = 0.0                                      # python -c "import boto3", whole process
    #: function name -> (handler string, whole-process ms of its entry point's import)
    functions: dict[str, tuple[str, float]] = field(default_factory=dict)
    first_request_ms: float = 0.0                                 # FIRST_REQUEST, whole process
    everything_ms: float = 0.0                                    # EVERYTHING, whole process
    importtime_ms: dict[str, float] = field(default_factory=dict)  # -X importtime cumulative
    modules: dict[str, int] = field(default_factory=dict)          # modules loaded by the import
    #: under ``import app``: (package, self ms summed) and (module, self ms), heaviest first
    heaviest: dict[str, list[tuple[str, float]]] = field(default_factory=dict)
    heaviest_modules: list[tuple[str, float]] = field(default_factory=list)

    def ratio(self, name: str) -> float:
        return self.functions[name][1] / self.boto3_ms


def entry_code(handler: str) -> str:
    """What the Lambda runtime runs for a handler string ``module.attr`` on a cold start."""
    module, _, attr = handler.rpartition(".")
    return f"from {module} import {attr}"


def _run(code: str, root: Path, env: dict[str, str], importtime: bool = False) -> tuple[float, str]:
    args = [sys.executable] + (["-X", "importtime"] if importtime else []) + ["-c", code]
    start = time.perf_counter()
    out = subprocess.run(args, cwd=root, env=env, capture_output=True, text=True, timeout=120, check=False)
    elapsed = time.perf_counter() - start
    if out.returncode != 0:
        raise RuntimeError(f"{' '.join(args)} failed:\n{out.stderr[-2000:]}")
    return elapsed * 1000, out.stderr


def _parse_importtime(stderr: str, module: str) -> tuple[float, int, list[tuple[str, float]], list[tuple[str, float]]]:
    """(cumulative ms of the top-level import of ``module``, modules it loaded, self time
    summed per top-level package, heaviest first, and self time per module, heaviest first).

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
            per_module = sorted(((name.strip(), self_us / 1000) for self_us, _, name in rows[first:i + 1]),
                                key=lambda kv: kv[1], reverse=True)
            return rows[i][1] / 1000, i - first + 1, heaviest, per_module
    raise RuntimeError(f"-X importtime did not report a top-level import of {module!r}")


def measure(root: Path, env: dict[str, str], runs: int = 5) -> ImportFigures:
    env = {**os.environ, **env}
    handlers = dict(json.loads(_run_out(_LIST_FUNCTIONS, root, env).strip().splitlines()[-1]))
    codes = {"pass": "pass", "boto3": "import boto3", **{name: entry_code(h) for name, h in handlers.items()},
             "first request": FIRST_REQUEST, "everything": EVERYTHING}
    for code in codes.values():  # untimed: compile .pyc files, warm the OS file cache
        _run(code, root, env)
    wall: dict[str, list[float]] = {k: [] for k in codes}
    for _ in range(runs):
        for key, code in codes.items():
            wall[key].append(_run(code, root, env)[0])
    fig = ImportFigures(runs=runs, baseline_ms=median(wall["pass"]), boto3_ms=median(wall["boto3"]),
                        functions={name: (h, median(wall[name])) for name, h in handlers.items()},
                        first_request_ms=median(wall["first request"]), everything_ms=median(wall["everything"]))
    for target in ("app", "boto3"):
        cum_ms, fig.modules[target], fig.heaviest[target], per_module = _parse_importtime(
            _run(f"import {target}", root, env, importtime=True)[1], target)
        fig.importtime_ms[target] = cum_ms
        if target == "app":
            fig.heaviest_modules = per_module
    return fig


def _run_out(code: str, root: Path, env: dict[str, str]) -> str:
    out = subprocess.run([sys.executable, "-c", code], cwd=root, env=env, capture_output=True, text=True,
                         timeout=120, check=False)
    if out.returncode != 0:
        raise RuntimeError(f"python -c {code!r} failed:\n{out.stderr[-2000:]}")
    return out.stdout
