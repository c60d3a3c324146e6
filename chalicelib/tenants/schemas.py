"""Tenants and API keys on the wire."""
from __future__ import annotations

import re
from functools import lru_cache
from typing import Literal
from zoneinfo import available_timezones

from pydantic import Field, field_validator

from ..core.schema import Input, Output

Scope = Literal["read", "write", "admin"]
KeyMode = Literal["live", "test"]
_CURRENCY = re.compile(r"^[A-Z]{3}$")


@lru_cache(maxsize=1)
def _timezones() -> frozenset[str]:
    return frozenset(available_timezones())  # reads the tz database: only when needed


def _check_timezone(value: str | None) -> str | None:
    if value is not None and value not in _timezones():
        raise ValueError("must be an IANA time zone such as 'Asia/Shanghai'")
    return value


def _check_currency(value: str | None) -> str | None:
    if value is not None and not _CURRENCY.match(value):
        raise ValueError("must be an ISO 4217 code such as 'CNY'")
    return value


def _check_country(value: str | None) -> str | None:
    import phonenumbers  # ~60 ms of import: only for requests that set a country

    if value is not None and value not in phonenumbers.SUPPORTED_REGIONS:
        raise ValueError("must be an ISO 3166 alpha-2 country code such as 'CN'")
    return value


class TenantSettingsFields(Input):
    name: str | None = Field(default=None, min_length=1, max_length=200)
    timezone: str | None = Field(default=None, description="IANA time zone, e.g. Asia/Shanghai")
    currency: str | None = Field(default=None, description="ISO 4217, e.g. CNY")
    default_country: str | None = Field(
        default=None, description="ISO 3166 alpha-2; phone numbers without a country code are read in it"
    )

    unknown_identity: Literal["create", "reject"] | None = Field(
        default=None, description="An event naming an unknown identity creates a prospect member, or is rejected"
    )

    _tz = field_validator("timezone")(_check_timezone)
    _cur = field_validator("currency")(_check_currency)
    _country = field_validator("default_country")(_check_country)


#: the most requests per second the platform gives one tenant (its plan)
MAX_RATE_LIMIT = 100_000


class TenantCreate(TenantSettingsFields):
    name: str = Field(min_length=1, max_length=200)
    timezone: str = "UTC"
    currency: str = "USD"
    default_country: str = "US"
    unknown_identity: Literal["create", "reject"] = "create"
    rate_limit_per_second: int | None = Field(
        default=None, ge=1, le=MAX_RATE_LIMIT,
        description="Requests per second the tenant may make (its plan); unset: the platform default")


class RateLimitIn(Input):
    rate_limit_per_second: int | None = Field(
        ge=1, le=MAX_RATE_LIMIT, description="Requests per second; null: back to the platform default")


class TenantPatch(TenantSettingsFields):
    version: int | None = Field(default=None, ge=1, description="If given, a stale version is a 409")


class TenantOut(Output):
    id: str
    name: str
    timezone: str
    currency: str
    default_country: str
    unknown_identity: str
    created_at: str
    updated_at: str
    version: int
    #: false for the sandbox twin that test keys (``ek_test_``) act as
    livemode: bool = True
    #: the tenant's own request rate (set by the platform); null: the platform default
    rate_limit_per_second: int | None = None


def _default_scopes() -> list[Scope]:
    return ["read", "write"]


class ApiKeyCreate(Input):
    name: str = Field(min_length=1, max_length=100)
    scopes: list[Scope] = Field(default_factory=_default_scopes, min_length=1)
    mode: KeyMode = "live"

    @field_validator("scopes")
    @classmethod
    def _unique(cls, scopes: list[str]) -> list[str]:
        return sorted(set(scopes))


class ApiKeyOut(Output):
    id: str
    name: str
    #: the first characters of the key, to recognise it; the key itself is never shown again
    prefix: str
    mode: KeyMode
    scopes: list[Scope]
    created_at: str
    created_by: str
    last_used_at: str | None = None
    revoked_at: str | None = None


class ApiKeyCreated(ApiKeyOut):
    #: the full key, shown only in this response
    secret: str


class ApiKeyList(Output):
    data: list[ApiKeyOut]


class TenantCreated(Output):
    tenant: TenantOut
    api_key: ApiKeyCreated
