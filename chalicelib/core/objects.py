"""Object storage port: large files (imports, exports, per-row errors) live in S3 and move
through presigned URLs, never through API Gateway (10 MB answers, 29 s).

Capabilities (segments, members, integrations.transfers) write and presign through
:func:`objects`; the one adapter (boto3's S3 client, ``integrations/transfers/storage``) is
plugged in by ``app.py`` with :func:`configure`, so core and the capabilities import no S3
client and no capability depends on integrations. Object keys come from ``table.keys.object_key``
(``tenants/<tenant_id>/...``). ``purpose`` tags an object for the bucket's lifecycle rules.
"""
from __future__ import annotations

from abc import ABC, abstractmethod
from collections.abc import Callable, Iterable
from dataclasses import dataclass, field
from datetime import datetime
from typing import Literal

#: lifecycle class of an object (bucket rules expire each by its tag; infra/stack.py)
Purpose = Literal["import", "import-errors", "export"]


@dataclass(frozen=True)
class Presigned:
    url: str
    method: str
    expires_at: datetime
    #: headers the client must send with the request (they are part of the signature)
    headers: dict[str, str] = field(default_factory=dict)


class ObjectStore(ABC):
    @abstractmethod
    def presign_put(self, key: str, content_type: str) -> Presigned:
        """A URL a client PUTs one object to."""

    @abstractmethod
    def presign_get(self, key: str, filename: str | None = None) -> Presigned:
        """A URL a client GETs the object from (``filename``: the download's name)."""

    @abstractmethod
    def size(self, key: str) -> int | None:
        """The object's size in bytes, None when there is none."""

    @abstractmethod
    def read(self, key: str, start: int, length: int) -> bytes:
        """Bytes ``start`` .. ``start + length`` (fewer at the end): one ranged GET."""

    @abstractmethod
    def write(self, key: str, chunks: Iterable[bytes], content_type: str, purpose: Purpose) -> int:
        """Store the object, encrypted, streaming ``chunks`` (multipart when large); its size."""


_factory: Callable[[], ObjectStore] | None = None
_store: ObjectStore | None = None


def configure(factory: Callable[[], ObjectStore]) -> None:
    """Plug in the adapter (``app.py``); it is built on first use (no S3 client at cold start)."""
    global _factory, _store
    _factory, _store = factory, None


def objects() -> ObjectStore:
    global _store
    if _store is None:
        if _factory is None:
            raise RuntimeError("no object store configured (app.py calls core.objects.configure)")
        _store = _factory()
    return _store
