"""The thin HTTP layer every capability's routes go through.

``Api(blueprint).route(...)`` registers a Chalice route and, in one place, does what each
route would otherwise repeat: authenticate (tenant credential, platform admin, or public),
check the permission, enforce body size and content type, validate path/query/body with
pydantic, run ``Idempotency-Key`` requests through Powertools idempotency, render
problem+json errors, add CORS headers for allowed origins, log with tenant and request
ids, flush metrics. It also records each route's models for the OpenAPI document.

A view receives the tenant context first, then keyword arguments it names::

    @api.route("/members/{member_id}", "GET", response=MemberOut, permission=READ)
    def get_member(ctx: TenantContext, member_id: str) -> MemberOut: ...

``body`` (the validated body model), ``query`` (the validated query model), ``headers``
and ``raw_body`` (the request's bytes, for signature checks) are passed when the view
names them. A view returns a model, or a :class:`Reply` to choose the status.
"""
from __future__ import annotations

import inspect
import json
import re
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

from chalice import Blueprint, Response
from pydantic import BaseModel, ValidationError

from . import audit, observability as obs
from . import lazyroutes, throttle
from .config import get_settings
from .errors import (
    PROBLEM_CONTENT_TYPE,
    BadRequest,
    Conflict,
    NotFound,
    PayloadTooLarge,
    Problem,
    Unprocessable,
    UnsupportedMediaType,
)
from .table import generations
from .table.transactions import TransactionCancelled
from .tenancy import READ, authenticate, authenticate_platform_admin

TENANT, PLATFORM_ADMIN, PUBLIC = "tenant", "platform_admin", "public"
_PATH_PARAM = re.compile(r"{(\w+)}")


@dataclass
class Reply:
    body: BaseModel | dict[str, Any] | None = None
    status: int | None = None
    headers: dict[str, str] = field(default_factory=dict)


@dataclass
class RouteSpec:
    path: str
    method: str
    auth: str
    permission: str | None
    body: type[BaseModel] | None
    query: type[BaseModel] | None
    response: type[BaseModel] | None
    status: int
    summary: str
    description: str
    tag: str
    errors: tuple[int, ...]
    #: alternative success status (e.g. 200 for an upsert that found the member)
    also: tuple[int, ...] = ()
    #: a larger body limit than the default (bulk requests)
    max_body: int | None = None
    #: the response shows a secret once: an idempotency record never stores it (see core.idempotency)
    shows_secret: bool = False
    #: the response field holding a member's id (besides ``member_id`` fields and path
    #: parameters), so erasing the member also erases its idempotency records
    member_field: str | None = None
    _empty_body_valid: bool | None = field(default=None, repr=False, compare=False)

    @property
    def path_params(self) -> list[str]:
        return _PATH_PARAM.findall(self.path)

    @property
    def body_optional(self) -> bool:
        """Whether the route takes no body as "all defaults": only a POST action whose body
        may be empty (e.g. cancel, with its default). A PUT or PATCH without a body is a
        422, never a reset of what it replaces or a no-op update."""
        if self.body is None or self.method != "POST":
            return False
        if self._empty_body_valid is None:
            try:
                self.body.model_validate({})
                self._empty_body_valid = True
            except ValidationError:
                self._empty_body_valid = False
        return self._empty_body_valid


#: Every route registered through :class:`Api`, for the OpenAPI document.
ROUTES: list[RouteSpec] = []
_OPTIONS_PATHS: set[tuple[int, str]] = set()


class Api:
    def __init__(self, blueprint: Blueprint, tag: str, prefix: str = "") -> None:
        self.blueprint = blueprint
        self.tag = tag
        #: the url_prefix app.py registers the blueprint under (for the OpenAPI paths)
        self.prefix = prefix

    def route(
        self,
        path: str,
        method: str = "GET",
        *,
        auth: str = TENANT,
        permission: str | None = READ,
        body: type[BaseModel] | None = None,
        query: type[BaseModel] | None = None,
        response: type[BaseModel] | None = None,
        status: int = 200,
        also: tuple[int, ...] = (),
        errors: tuple[int, ...] = (),
        max_body: int | None = None,
        shows_secret: bool = False,
        member_field: str | None = None,
    ) -> Callable[[Callable[..., Any]], Callable[..., Any]]:
        def register(view: Callable[..., Any]) -> Callable[..., Any]:
            doc = inspect.getdoc(view) or view.__name__.replace("_", " ")
            summary, _, description = doc.partition("\n")
            spec = RouteSpec(
                path=self.prefix + path,
                method=method,
                auth=auth,
                permission=permission,
                body=body,
                query=query,
                response=response,
                status=status,
                summary=summary.strip(),
                description=description.strip(),
                tag=self.tag,
                errors=errors,
                also=also,
                max_body=max_body,
                shows_secret=shows_secret,
                member_field=member_field,
            )
            ROUTES.append(spec)
            wants = set(inspect.signature(view).parameters)
            blueprint = self.blueprint

            def chalice_view(**path_params: str) -> Response:
                with generations.request_scope():  # each configuration generation read once per request
                    return _dispatch(spec, view, wants, blueprint.current_request, path_params)

            chalice_view.__name__ = f"{view.__name__}_{method.lower()}"
            chalice_view.view_module = view.__module__  # type: ignore[attr-defined]  # core.lazyroutes' manifest
            blueprint.route(path, methods=[method])(chalice_view)
            if (id(blueprint), path) not in _OPTIONS_PATHS and auth != PUBLIC:
                _OPTIONS_PATHS.add((id(blueprint), path))
                blueprint.route(path, methods=["OPTIONS"])(_preflight_view(blueprint, path))
            return view

        return register


# --- CORS ------------------------------------------------------------------------------
_CORS_HEADERS = "Authorization,Content-Type,Idempotency-Key,If-Match"
_CORS_METHODS = "GET,POST,PUT,PATCH,DELETE,OPTIONS"
#: response headers the SPA may read (a download's file name, a created resource's URL)
CORS_EXPOSED = "Content-Disposition,Idempotent-Replayed,Location,Retry-After"


def cors_headers(request_headers: dict[str, str]) -> dict[str, str]:
    """CORS headers for an allowed origin (none for any other: no credentials leak)."""
    origin = request_headers.get("origin") or request_headers.get("Origin")
    if not origin or origin not in get_settings().allowed_origins:
        return {}
    return {
        "Access-Control-Allow-Origin": origin,
        "Access-Control-Allow-Credentials": "true",
        "Access-Control-Expose-Headers": CORS_EXPOSED,
        "Vary": "Origin",
    }



# --- errors Chalice renders itself -------------------------------------------------------
_CHALICE_ERRORS = {
    400: ("bad_request", "Bad request"),
    403: ("forbidden", "Not allowed for this credential"),
    404: ("not_found", "Not found"),
    405: ("method_not_allowed", "Method not allowed"),
    415: ("unsupported_media_type", "Send application/json"),
    500: ("internal_error", "Internal error"),
}


def _is_chalice_error(response: Response) -> bool:
    body = response.body
    if isinstance(body, dict) and set(body) == {"Code", "Message"}:
        return True
    content_type = next((v for k, v in response.headers.items() if k.lower() == "content-type"), "")
    return response.status_code >= 500 and not str(content_type).startswith(PROBLEM_CONTENT_TYPE)


def unhandled(exc: Exception, request_id: str | None = None) -> Problem:
    """What a client gets for an exception no service turned into a Problem: a write that
    lost only to a concurrent transaction (DynamoDB's TransactionConflict, e.g. two kinds of
    configuration change bumping the tenant's generations items at once) is a 409 the client
    may resend; anything else is our bug, a 500."""
    if isinstance(exc, TransactionCancelled) and exc.conflict and not exc.failed:
        obs.logger.warning("transaction lost to a concurrent one", extra={"request_id": request_id})
        return Conflict("A concurrent change to the same data won; send the request again.",
                        code="concurrent_update")
    obs.logger.exception("unhandled error")
    return Problem("Something went wrong on our side.", status=500, code="internal_error",
                   title="Internal error", request_id=request_id)


def problem_middleware(event: Any, get_response: Callable[[Any], Response]) -> Response:
    """Chalice's own answers (405 with ``Allow``, 415, a 500 it caught, ...) as
    problem+json with CORS headers for allowed origins, like every answer of ours: else
    the SPA sees only "Failed to fetch". Registered once in app.py."""
    response = get_response(event)
    if response.status_code < 400 or not _is_chalice_error(response):
        return response
    code, title = _CHALICE_ERRORS.get(response.status_code, ("error", "Error"))
    body = response.body if isinstance(response.body, dict) else {}
    detail = str(body.get("Message") or title)
    if response.status_code >= 500:
        detail = "Something went wrong on our side."
    context = getattr(event, "context", None) or {}
    path = str(context.get("path") or getattr(event, "path", "") or "")
    problem = Problem(detail, status=response.status_code, code=code, title=title)
    kept = {k: str(v) for k, v in response.headers.items() if k.lower() == "allow"}
    headers = dict(getattr(event, "headers", None) or {})
    return _problem_response(problem, path, {**cors_headers(headers), **kept})


def _preflight_view(blueprint: Blueprint, path: str) -> Callable[..., Response]:
    def preflight(**_: str) -> Response:
        headers: dict[str, str | list[str]] = {**cors_headers(dict(blueprint.current_request.headers))}
        if headers:
            headers.update(
                {
                    "Access-Control-Allow-Methods": _CORS_METHODS,
                    "Access-Control-Allow-Headers": _CORS_HEADERS,
                    "Access-Control-Max-Age": "600",
                }
            )
        return Response(body="", status_code=204, headers={**headers})

    preflight.__name__ = "preflight_" + re.sub(r"\W", "_", path)
    return preflight


# --- dispatch --------------------------------------------------------------------------
def _problem_response(problem: Problem, instance: str, headers: dict[str, str]) -> Response:
    return Response(
        body=json.dumps(problem.to_dict(instance)),
        status_code=problem.status,
        headers={"Content-Type": PROBLEM_CONTENT_TYPE, **headers},
    )


def _input_path(loc: tuple[Any, ...], data: Any, missing: bool) -> str:
    """The part of a pydantic error location that names the client's input.

    Pydantic adds union-member tags (``str``, ``function-after[...]``) and ``[key]`` to
    locations; the client only knows its own JSON, so keep the path while it exists there
    (plus the missing field itself for a "missing" error).
    """
    path: list[str] = []
    node = data
    parts = list(loc)
    i = 0
    while i < len(parts):
        part = parts[i]
        if isinstance(node, dict) and part in node:
            node = node[part]
        elif isinstance(node, list) and isinstance(part, int) and part < len(node):
            node = node[part]
        elif isinstance(node, dict) and i + 1 < len(parts) and parts[i + 1] in node:
            i += 1  # a union member's tag (e.g. the benefit's type): not part of the input
            continue
        elif missing and i == len(parts) - 1:
            pass
        else:
            break
        path.append(str(part))
        i += 1
    return ".".join(path)


def _validation_problem(exc: ValidationError, where: str, data: Any) -> Unprocessable:
    errors: list[dict[str, Any]] = []
    seen: set[str] = set()
    for err in exc.errors(include_url=False, include_input=False):
        path = _input_path(tuple(err["loc"]), data, err["type"] == "missing")
        field = (path if where == "body" else f"{where}.{path}" if path else where) or where
        if field not in seen:
            seen.add(field)
            errors.append({"field": field, "message": err["msg"], "code": err["type"]})
    first = errors[0]
    return Unprocessable(f"{first['field']}: {first['message']}", field=first["field"], errors=errors)


def _parse_body(spec: RouteSpec, request: Any) -> BaseModel | None:
    if spec.body is None:
        return None
    raw: bytes = request.raw_body or b""
    limit = spec.max_body or get_settings().max_body_bytes
    if len(raw) > limit:
        raise PayloadTooLarge(f"The body is larger than {limit} bytes.")
    content_type = (request.headers.get("content-type") or "").split(";")[0].strip().lower()
    if raw and content_type and content_type != "application/json":
        raise UnsupportedMediaType("Send the body as application/json.")
    if not raw.strip():
        if not spec.body_optional:
            raise Unprocessable("This request needs a JSON body.", field="body", code="body_required")
        raw = b"{}"
    try:
        data = json.loads(raw)
    except ValueError as exc:
        raise BadRequest("The body is not valid JSON.", code="malformed_json") from exc
    if not isinstance(data, dict):
        raise Unprocessable("The body must be a JSON object.", field="body")
    try:
        return spec.body.model_validate(data)
    except ValidationError as exc:
        raise _validation_problem(exc, "body", data) from exc


def _parse_query(spec: RouteSpec, request: Any) -> BaseModel | None:
    params = dict(request.query_params or {})
    if spec.query is None:
        return None
    try:
        return spec.query.model_validate(params)
    except ValidationError as exc:
        raise _validation_problem(exc, "query", params) from exc


def _render(result: Any, spec: RouteSpec) -> tuple[int, dict[str, Any] | None, dict[str, str]]:
    reply = result if isinstance(result, Reply) else Reply(body=result)
    body = reply.body
    if isinstance(body, BaseModel):
        body = body.model_dump(mode="json")
    return reply.status or spec.status, body, reply.headers


def _run_view(spec: RouteSpec, view: Callable[..., Any], wants: set[str], ctx: Any,
              request: Any, path_params: dict[str, str]) -> dict[str, Any]:
    kwargs: dict[str, Any] = {k: v for k, v in path_params.items() if k in wants}
    if "body" in wants:
        kwargs["body"] = _parse_body(spec, request)
    elif spec.body is not None:
        _parse_body(spec, request)
    if "query" in wants:
        kwargs["query"] = _parse_query(spec, request)
    if "headers" in wants:
        kwargs["headers"] = dict(request.headers)
    if "raw_body" in wants:  # the exact bytes, for signature checks (Stripe webhooks)
        kwargs["raw_body"] = request.raw_body or b""
    result = view(ctx, **kwargs)
    if isinstance(result, Response):  # non-JSON content (docs page, assets)
        return {"response": result}
    status, body, headers = _render(result, spec)
    return {"status": status, "body": body, "headers": headers}


_READ_ROUTES: dict[str, str | None] = {}


def item_param(spec: RouteSpec) -> str | None:
    """The path parameter of the item routes under ``spec``'s path (``/v1/members`` ->
    ``member_id``), if there are any: where a created resource lives."""
    if spec.path not in _READ_ROUTES:
        item = re.compile(re.escape(spec.path) + r"/\{(\w+)\}$")
        paths = sorted({r.path for r in ROUTES} | lazyroutes.known_paths())  # routes not imported yet too
        _READ_ROUTES[spec.path] = next((m.group(1) for p in paths for m in [item.match(p)] if m), None)
    return _READ_ROUTES[spec.path]


def _location(spec: RouteSpec, body: dict[str, Any], instance: str | None, path_params: dict[str, str]) -> str | None:
    """The created resource's URL: the route's path plus the new id, when routes for one
    item exist there (``POST /v1/members`` -> ``/v1/members/<id>``)."""
    param = item_param(spec)
    if param is None:
        return None
    new_id = body.get("id") or body.get(param)
    if not isinstance(new_id, str) or not new_id:
        return None
    base = instance or _PATH_PARAM.sub(lambda m: path_params.get(m.group(1), ""), spec.path)
    return f"{base.rstrip('/')}/{new_id}"


def _dispatch(spec: RouteSpec, view: Callable[..., Any], wants: set[str], request: Any,
              path_params: dict[str, str]) -> Response:
    headers = dict(request.headers)
    request_id = (request.context or {}).get("requestId") or headers.get("x-request-id") or ""
    obs.logger.append_keys(request_id=request_id, tenant_id=None)
    instance = request.context.get("path") if request.context else None
    cors = cors_headers(headers)
    bound = None
    try:
        ctx: Any = None
        if spec.auth == TENANT:
            ctx = authenticate(headers)
            obs.logger.append_keys(tenant_id=ctx.tenant_id)
            obs.tracer.put_annotation("tenant_id", ctx.tenant_id)
            throttle.admit(ctx.tenant_id)  # 429 + Retry-After past the tenant's rate
            if spec.permission:
                ctx.require(spec.permission)
            bound = audit.bind(audit.Actor(ctx.actor, ctx.role, request_id))  # who the audit log names
        elif spec.auth == PLATFORM_ADMIN:
            ctx = authenticate_platform_admin(headers)
            bound = audit.bind(audit.Actor(f"platform_admin:{ctx.subject}", None, request_id))
        idempotency_key = headers.get("idempotency-key")
        if idempotency_key is not None and spec.method == "POST" and ctx is not None:
            from .idempotency import members_in, owner_of, run_once

            # Validate before claiming the key, so a bad request is never remembered.
            _parse_body(spec, request)
            outcome, replayed = run_once(
                owner=owner_of(ctx),
                key=idempotency_key,
                fingerprint={"method": spec.method, "path": instance or spec.path,
                             "body": (request.raw_body or b"").decode("utf-8", "replace")},
                run=lambda: _run_view(spec, view, wants, ctx, request, path_params),
                lambda_context=request.lambda_context,
                shows_secret=spec.shows_secret,
                members_of=lambda outcome: members_in(outcome.get("body"), path_params.get("member_id"),
                                                      spec.member_field),
            )
            if replayed:
                outcome["headers"] = {**outcome["headers"], "Idempotent-Replayed": "true"}
        else:
            outcome = _run_view(spec, view, wants, ctx, request, path_params)
        if "response" in outcome:  # a file (a CSV download, the docs): CORS too
            response: Response = outcome["response"]
            response.headers = {**cors, **response.headers}
            return response
        body = outcome["body"]
        status = outcome["status"]
        response_headers = {**cors, **outcome["headers"]}
        if status == 201 and isinstance(body, dict):
            location = _location(spec, body, instance, path_params)
            if location and "Location" not in response_headers:
                response_headers["Location"] = location
        if body is None or status == 204:  # nothing, and no content type for nothing
            response_headers = {k: v for k, v in response_headers.items() if k.lower() != "content-type"}
            return Response(body="", status_code=status, headers=response_headers)
        return Response(
            body=json.dumps(body),
            status_code=status,
            headers={"Content-Type": "application/json", **response_headers},
        )
    except Problem as problem:
        if problem.status >= 500:
            obs.logger.error("request failed", extra={"code": problem.code})
        return _problem_response(problem, instance or "", {**cors, **problem.headers})
    except Exception as exc:  # noqa: BLE001 - the one place that turns a bug into a 500
        return _problem_response(unhandled(exc, request_id), instance or "", cors)
    finally:
        if bound is not None:
            audit.unbind(bound)
        obs.flush()


__all__ = ["Api", "Reply", "ROUTES", "TENANT", "PLATFORM_ADMIN", "PUBLIC", "Conflict", "NotFound",
           "problem_middleware", "cors_headers"]
