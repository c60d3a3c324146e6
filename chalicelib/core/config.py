"""Settings read from the environment (``ENCLAVE_*``), once per process.

In AWS the values come from the Lambda environment that ``infra/`` sets; in the dev
stack and tests from the environment that ``devstack/`` prepares.
"""
from __future__ import annotations

import os
from functools import lru_cache
from typing import ClassVar, Self

from pydantic import BaseModel, ConfigDict, Field


class EnvSettings(BaseModel):
    """Fields read from ``<env_prefix><FIELD>`` (any case), validated by pydantic.

    What pydantic-settings did for these flat fields, without its import (asyncio, its
    sources, importlib.metadata: ~70 ms of every cold start). Only ``from_env()`` reads
    the environment; constructing the class directly takes the given values.
    """

    model_config = ConfigDict(extra="ignore", defer_build=True)
    env_prefix: ClassVar[str] = ""

    @classmethod
    def from_env(cls) -> Self:
        prefix = cls.env_prefix.lower()
        environ = {k.lower(): v for k, v in os.environ.items() if k.lower().startswith(prefix)}
        values = {name: environ[prefix + name] for name in cls.model_fields if prefix + name in environ}
        return cls.model_validate(values)


class Settings(EnvSettings):
    env_prefix: ClassVar[str] = "ENCLAVE_"

    stage: str = "dev"
    table_name: str = "enclave"
    region: str = "us-east-1"
    #: DynamoDB Local's URL in the dev stack and tests; unset in AWS.
    dynamodb_endpoint: str | None = None

    # SPA users (Cognito in AWS, the dev stack's own issuer locally).
    jwt_issuer: str = "https://enclave.invalid/dev-issuer"
    jwt_audience: str = "enclave-console"
    #: Where the issuer's public keys live (https:// for Cognito, file:// in the dev stack).
    jwks_url: str = ""
    #: The group claim that marks a platform operator.
    platform_admin_group: str = "platform-admin"
    #: How long a process trusts the issuer's keys: a key removed from the JWKS stops
    #: verifying within this.
    jwks_cache_seconds: int = Field(default=300, ge=0, le=3600)
    #: An unknown ``kid`` refetches the JWKS at most this often (a new key is picked up at
    #: once; a flood of made-up kids cannot hammer the issuer).
    jwks_refetch_seconds: int = Field(default=30, ge=0, le=3600)
    #: Timeout of one JWKS fetch (connect and read), in seconds.
    jwks_timeout_seconds: float = Field(default=3.0, gt=0, le=3.0)

    #: HMAC key for pagination cursors. Locally from the environment; in AWS the secret's
    #: ARN is given instead and the value is fetched through Powertools Parameters.
    cursor_secret: str = ""
    cursor_secret_arn: str = ""

    #: Origins the SPA console is served from (comma separated); '' allows none.
    cors_allowed_origins: str = ""

    #: Outbound calls to tenant URLs may reach loopback addresses (core.outbound): the dev
    #: stack and tests only, whose webhook receivers listen on 127.0.0.1. Never deployed.
    outbound_allow_loopback: bool = False

    #: An event-subscription endpoint failing without a success this many days is disabled.
    webhook_disable_after_days: float = Field(default=3, gt=0, le=30)

    #: SMS a tenant may send a day (UTC) unless its messaging settings say otherwise, and
    #: the most a tenant may set: SMS are paid by the platform (toll fraud).
    sms_daily_cap: int = Field(default=200, ge=0)
    sms_daily_cap_max: int = Field(default=10_000, ge=0)

    #: How long a process trusts an API key it verified (seconds): a key revoked through
    #: another process (another Lambda container) stops working within this; the process
    #: that revokes it forgets it at once. 0: every request reads the key's lookup item.
    api_key_cache_seconds: float = Field(default=10.0, ge=0, le=60)

    #: Requests per second a tenant may make (every tenant route) unless the platform gave
    #: it its own rate; generous, so the dev stack and acceptance scripts never meet it.
    rate_limit_per_second: float = Field(default=1000.0, gt=0)
    #: A tenant may send this many seconds' worth of requests at once (the bucket's size).
    rate_limit_burst_seconds: float = Field(default=1.0, gt=0, le=60)
    #: How many containers a tenant's traffic is spread over: each one admits
    #: rate / containers (docs/decisions/0016-tenant-throttling-and-sale-day-caches.md).
    rate_limit_containers: int = Field(default=1, ge=1, le=10_000)

    #: Largest request body accepted, in bytes.
    max_body_bytes: int = Field(default=65_536, ge=1024)

    @property
    def allowed_origins(self) -> frozenset[str]:
        return frozenset(o.strip() for o in self.cors_allowed_origins.split(",") if o.strip())


@lru_cache(maxsize=1)
def get_settings() -> Settings:
    return Settings.from_env()
