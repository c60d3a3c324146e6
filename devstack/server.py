"""The API server of ``make run``: Chalice's own local API Gateway behind a threaded HTTP
server that holds many clients, with no reloader (docs/decisions/0008-dev-server.md).

``chalice local`` restarted on every DynamoDB write (its reloader polls every file under
the checkout, ``.local/dynamodb-data/`` included) and listened with a backlog of 5. Here
each request still goes through ``chalice.local.LocalGateway`` (the Lambda proxy event
API Gateway would build, the stage's Chalice config), but the socket is ours: a thread per
connection, HTTP/1.1 keep-alive, a backlog of 1024, bound to 127.0.0.1.

Answers API Gateway gives before the app runs are given here the way the deployed API
is configured to give them: an unknown path is a 404 and a known path with another method
(TRACE included) a 405 with ``Allow``, both problem+json with the app's CORS headers.
"""
from __future__ import annotations

import functools
import json
import sys
import threading
from http.server import ThreadingHTTPServer
from pathlib import Path
from typing import Any

from chalice.local import (
    ChaliceRequestHandler,
    CustomLocalChalice,
    LocalChalice,
    RouteMatcher,
)

#: printed once per start: a restart would print it again (the e2e tests count it)
SERVING = "Serving on http://{host}:{port}"


class DevHTTPServer(ThreadingHTTPServer):
    """A thread per connection; daemon threads so that stopping never waits for an idle
    keep-alive connection of a browser."""

    daemon_threads = True
    allow_reuse_address = True  # a restart right after a stop finds the port in TIME_WAIT
    request_queue_size = 1024  # chalice local's 5 reset 20 concurrent clients

    def __init__(self, address: tuple[str, int], app: Any, config: Any) -> None:
        self.routes: dict[str, dict[str, Any]] = app.routes
        self.matcher = RouteMatcher(list(app.routes))
        super().__init__(address, functools.partial(DevRequestHandler, app_object=app, config=config))


def gateway_answer(server: DevHTTPServer, method: str, path: str,
                   headers: dict[str, str]) -> tuple[int, dict[str, str], bytes] | None:
    """The gateway's own answer to a request no route takes (404, 405), else None."""
    from chalicelib.core.errors import PROBLEM_CONTENT_TYPE, NotFound, Problem
    from chalicelib.core.http import cors_headers

    try:
        route = server.matcher.match_route(path).route
    except ValueError:
        problem: Problem = NotFound(f"No resource at {path.split('?')[0]}")
        allow = None
    else:
        methods = server.routes[route]
        if method in methods or method == "OPTIONS":  # chalice answers preflights it has no view for
            return None
        allow = ", ".join(sorted(methods))
        problem = Problem(f"{method} is not allowed here; allowed: {allow}", status=405,
                          code="method_not_allowed", title="Method not allowed")
    answer = {"Content-Type": PROBLEM_CONTENT_TYPE, **cors_headers({k.lower(): v for k, v in headers.items()})}
    if allow:
        answer["Allow"] = allow
    return problem.status, answer, json.dumps(problem.to_dict(path.split("?")[0])).encode()


class DevRequestHandler(ChaliceRequestHandler):
    """chalice's handler (one LocalGateway per connection), answering every method."""

    server: DevHTTPServer
    server_version = "EnclaveDev"
    timeout = 300  # an idle keep-alive connection is closed after 5 minutes

    def __getattr__(self, name: str) -> Any:
        # BaseHTTPRequestHandler answers an HTML 501 to a method without a do_<METHOD> (TRACE...)
        if name.startswith("do_"):
            return self._generic_handle
        raise AttributeError(name)

    def _generic_handle(self) -> None:
        answer = gateway_answer(self.server, self.command, self.path, dict(self.headers))
        if answer is None:
            try:
                super()._generic_handle()
            except Exception as exc:  # noqa: BLE001 - a gateway fault is a 502, logged, not a dropped connection
                from chalicelib.core.errors import PROBLEM_CONTENT_TYPE, Problem

                self.log_error("gateway error on %s %s: %r", self.command, self.path, exc)
                problem = Problem(status=502, code="bad_gateway", title="Bad gateway")
                self._send_http_response(502, {"Content-Type": PROBLEM_CONTENT_TYPE}, json.dumps(problem.to_dict()))
            return
        self._parse_payload()  # read the body so the next request on this connection parses
        status, headers, body = answer
        self._send_http_response(status, headers, body)

    # chalice binds its do_GET... to its own _generic_handle: rebind them to this one
    do_GET = do_PUT = do_POST = do_HEAD = do_DELETE = do_PATCH = do_OPTIONS = _generic_handle

    def _send_http_response_with_body(self, code: int, headers: dict[str, Any], body: str | bytes) -> None:
        if self.command != "HEAD":
            super()._send_http_response_with_body(code, headers, body)
            return
        # a HEAD answer has the headers of the GET and no body (a body would break keep-alive)
        data = body if isinstance(body, bytes) else body.encode("utf-8")
        self.send_response(code)
        self.send_header("Content-Length", str(len(data)))
        self.send_header("Content-Type", headers.pop("Content-Type", "application/json"))
        self._send_headers(headers)


def load(root: Path, stage: str = "dev") -> tuple[Any, Any]:
    """The app and its Chalice config for ``stage``, as ``chalice local --stage`` loads them
    (the stage's environment variables are set)."""
    from chalice.cli.factory import CLIFactory

    config = CLIFactory(project_dir=str(root)).create_config_obj(chalice_stage_name=stage)
    app = config.chalice_app
    # chalice local's own step: current_request per thread instead of per app
    CustomLocalChalice.__bases__ = (LocalChalice, app.__class__)
    app.__class__ = CustomLocalChalice
    return app, config


class ApiServer:
    """The API served from a thread of this process until ``stop()``."""

    def __init__(self, app: Any, config: Any, host: str, port: int) -> None:
        self.host, self.port = host, port
        self._server = DevHTTPServer((host, port), app, config)
        self._thread = threading.Thread(target=self._server.serve_forever, kwargs={"poll_interval": 0.2},
                                        name="devstack-api", daemon=True)

    def start(self) -> ApiServer:
        self._thread.start()
        print(SERVING.format(host=self.host, port=self.port), file=sys.stdout, flush=True)
        return self

    def stop(self) -> None:
        """Stops accepting; requests in progress end with the process (daemon threads)."""
        if self._thread.is_alive():
            self._server.shutdown()
        self._server.server_close()
