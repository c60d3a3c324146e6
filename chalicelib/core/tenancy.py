"""Who is calling, and for which tenant: taken only from a verified credential.

Two credentials reach the tenant API:

* ``Authorization: Bearer ek_live_...`` / ``ek_test_...``: a tenant API key (server to
  server). Keys are verified by the tenants capability, registered here at start-up.
* ``Authorization: Bearer <JWT>``: an SPA user's RS256 ID token (Cognito in AWS, the dev
  stack's own issuer locally), verified here by signature, issuer, audience, expiry and
  ``token_use``. The tenant and role come from claims users cannot write
  (``custom:tenant_id``, ``custom:role``). A token in the platform-admin group is a
  platform operator: it reaches only the admin routes.

No header, path or body value chosen by the client ever selects the tenant.
"""
from __future__ import annotations

import threading
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any, Final

from . import clock, wiring
from .config import get_settings
from .errors import Forbidden, Unauthorized
from .ids import is_id

READ: Final = "read"
WRITE: Final = "write"
ADMIN: Final = "admin"
SCOPES = (READ, WRITE, ADMIN)
#: a console user with role ``guide`` (in-store staff): only the guide routes, and there only
#: their own members and tasks (the guides capability maps the user's subject to its guide)
GUIDE: Final = "guide"

ROLE_PERMISSIONS: dict[str, frozenset[str]] = {
    "owner": frozenset({READ, WRITE, ADMIN}),
    "admin": frozenset({READ, WRITE, ADMIN}),
    "marketer": frozenset({READ, WRITE}),
    "analyst": frozenset({READ}),
    "guide": frozenset({GUIDE}),
}
API_KEY_PREFIX = "ek_"


@dataclass(frozen=True)
class TenantContext:
    tenant_id: str
    #: "api_key" or "user"
    principal_type: str
    #: the key id or the user's subject
    principal_id: str
    permissions: frozenset[str]
    role: str | None = None
    livemode: bool = True

    def require(self, permission: str) -> None:
        if permission not in self.permissions:
            raise Forbidden(f"This credential lacks the '{permission}' permission.", code="insufficient_scope")

    @property
    def actor(self) -> str:
        """How audit fields name whoever made a change."""
        return f"{self.principal_type}:{self.principal_id}"


@dataclass(frozen=True)
class PlatformAdmin:
    subject: str
    claims: dict[str, Any] = field(default_factory=dict)


ApiKeyVerifier = Callable[[str], TenantContext]
_api_key_verifier: ApiKeyVerifier | None = None


def register_api_key_verifier(verifier: ApiKeyVerifier) -> None:
    """The tenants capability plugs in its key check (core never imports a capability)."""
    global _api_key_verifier
    _api_key_verifier = verifier


def _bearer(headers: dict[str, str]) -> str:
    value = headers.get("authorization") or ""
    scheme, _, token = value.partition(" ")
    if scheme.lower() != "bearer" or not token.strip():
        raise Unauthorized("Send 'Authorization: Bearer <api key or token>'.", code="missing_credentials")
    return token.strip()


#: the most a JWKS document may weigh (Cognito's is ~1 KB)
_JWKS_MAX_BYTES = 256 * 1024


@dataclass
class _Jwks:
    """One issuer's keys as last fetched, and when."""

    keys: dict[str, Any]
    fetched_at: float
    refetched_at: float = float("-inf")


_jwks: dict[str, _Jwks] = {}
_jwks_lock = threading.Lock()


def _fetch_jwks(url: str) -> dict[str, Any]:
    """The issuer's signing keys by kid: from the JWKS URL (Cognito), or a ``file://``
    JWKS (the dev stack's issuer, which has no HTTPS endpoint). One short timeout."""
    import urllib.request
    from urllib.parse import unquote, urlparse

    import jwt

    if url.startswith("file://"):
        with open(unquote(urlparse(url).path), encoding="utf-8") as fh:
            text = fh.read(_JWKS_MAX_BYTES)
    else:
        timeout = get_settings().jwks_timeout_seconds
        try:
            with urllib.request.urlopen(url, timeout=timeout) as answer:
                text = answer.read(_JWKS_MAX_BYTES).decode("utf-8")
        except (OSError, ValueError) as exc:
            raise jwt.PyJWKClientError(f"the JWKS could not be fetched: {exc}") from exc
    try:
        keys = jwt.PyJWKSet.from_json(text).keys
    except jwt.PyJWTError as exc:
        raise jwt.PyJWKClientError("the JWKS is not valid") from exc
    return {key.key_id: key for key in keys if key.key_id}


def _signing_key(url: str, token: str) -> Any:
    """The issuer's key for ``token``'s kid. Keys are trusted for ``jwks_cache_seconds``
    (a key the issuer removed stops verifying within that); an unknown kid refetches at
    once, at most every ``jwks_refetch_seconds`` (a rotated-in key works immediately)."""
    import jwt

    kid = jwt.get_unverified_header(token).get("kid")
    settings = get_settings()
    now = clock.now().timestamp()
    with _jwks_lock:
        cached = _jwks.get(url)
        if cached is None or now - cached.fetched_at >= settings.jwks_cache_seconds:
            _jwks.pop(url, None)  # never fall back to expired keys
            cached = _jwks[url] = _Jwks(keys=_fetch_jwks(url), fetched_at=now)
        elif kid not in cached.keys and now - cached.refetched_at >= settings.jwks_refetch_seconds:
            cached.refetched_at = now
            cached.keys, cached.fetched_at = _fetch_jwks(url), now
        key = cached.keys.get(kid) if isinstance(kid, str) else None
    if key is None:
        raise jwt.PyJWKClientError("no key with this kid")
    return key


def verify_jwt(token: str) -> dict[str, Any]:
    """Claims of a valid ID token from our issuer, else 401. Same code in AWS and locally."""
    import jwt

    settings = get_settings()
    if not settings.jwks_url:
        raise Unauthorized("User sign-in is not configured on this stage.", code="invalid_token")
    try:
        signing_key = _signing_key(settings.jwks_url, token)
        claims: dict[str, Any] = jwt.decode(
            token,
            signing_key.key,
            algorithms=["RS256"],
            audience=settings.jwt_audience,
            issuer=settings.jwt_issuer,
            options={"require": ["exp", "iat", "iss", "aud", "sub"]},
        )
    except jwt.PyJWTError as exc:
        raise Unauthorized("The token is not valid.", code="invalid_token") from exc
    if claims.get("token_use") != "id":
        raise Unauthorized("Send an ID token.", code="invalid_token")
    return claims


def _is_platform_admin(claims: dict[str, Any]) -> bool:
    return get_settings().platform_admin_group in (claims.get("cognito:groups") or [])


def authenticate(headers: dict[str, str]) -> TenantContext:
    """The tenant context of a request's credential, or 401."""
    token = _bearer(headers)
    if token.startswith(API_KEY_PREFIX):
        verifier = _api_key_verifier or wiring.provided("tenancy.api_key_verifier")
        if verifier is None:
            raise RuntimeError("no API key verifier registered")
        return verifier(token)
    claims = verify_jwt(token)
    if _is_platform_admin(claims):
        raise Forbidden("Platform operators use the admin routes only.", code="platform_admin_token")
    tenant_id = claims.get("custom:tenant_id")
    role = claims.get("custom:role")
    if not tenant_id or role not in ROLE_PERMISSIONS:
        raise Unauthorized("The token carries no tenant or role.", code="invalid_token")
    if not isinstance(tenant_id, str) or not is_id(tenant_id):
        # Keys are built from it (T#<tenant>#...): only a well-formed id may reach them.
        raise Unauthorized("The token's tenant is not a valid tenant id.", code="invalid_token")
    return TenantContext(
        tenant_id=tenant_id,
        principal_type="user",
        principal_id=str(claims["sub"]),
        permissions=ROLE_PERMISSIONS[role],
        role=role,
    )


def authenticate_platform_admin(headers: dict[str, str]) -> PlatformAdmin:
    token = _bearer(headers)
    if token.startswith(API_KEY_PREFIX):
        raise Forbidden("Tenant API keys cannot reach the admin routes.", code="not_platform_admin")
    claims = verify_jwt(token)
    if not _is_platform_admin(claims):
        raise Forbidden("Only platform operators can do this.", code="not_platform_admin")
    return PlatformAdmin(subject=str(claims["sub"]), claims=claims)
