"""The API over HTTP (requests): JSON in and out, problem+json turned into CliErrors.

Presigned S3 URLs (uploads, downloads) are called without the API key: the signature in
the URL is the credential, and an Authorization header would make S3 refuse the request.
"""
from __future__ import annotations

import os
import uuid
from pathlib import Path
from typing import Any

import requests

from . import __version__
from .errors import ApiError, error_for, problem_of

TIMEOUT = 30.0
CHUNK = 1 << 20


class Api:
    def __init__(self, url: str, api_key: str, session: requests.Session | None = None) -> None:
        self.url = url.rstrip("/")
        self._session = session or requests.Session()
        self._session.headers.update({"Authorization": f"Bearer {api_key}", "Accept": "application/json",
                                      "User-Agent": f"enclave-cli/{__version__}"})

    def call(self, method: str, path: str, *, body: Any = None, params: dict[str, Any] | None = None,
             accept: tuple[int, ...] = ()) -> requests.Response:
        """The raw answer; non-2xx answers raise unless their status is in ``accept``.
        POSTs carry an Idempotency-Key, so a retried call never does the work twice."""
        headers = {"Idempotency-Key": str(uuid.uuid4())} if method == "POST" else {}
        clean = {k: v for k, v in (params or {}).items() if v is not None}
        try:
            resp = self._session.request(method, self.url + path, json=body, params=clean, headers=headers,
                                         timeout=TIMEOUT)
        except requests.RequestException as exc:
            raise ApiError(f"Cannot reach {self.url}: {exc.__class__.__name__}: {exc}") from None
        if resp.ok or resp.status_code in accept:
            return resp
        raise error_for(problem_of(resp.status_code, resp.headers.get("Content-Type", ""), resp.text, resp.reason))

    def get(self, path: str, **params: Any) -> Any:
        return self._json(self.call("GET", path, params=params))

    def post(self, path: str, body: Any = None) -> Any:
        resp = self.call("POST", path, body=body)
        return self._json(resp) if resp.content else None

    def _json(self, resp: requests.Response) -> Any:
        try:
            return resp.json()
        except ValueError:  # a web server that is not the API (a wrong --url) answers HTML
            raise ApiError(f"{resp.url} answered {resp.status_code} without JSON "
                           f"({resp.headers.get('Content-Type', 'no content type')}): is {self.url} the API's base URL?"
                           ) from None


def upload(url: str, path: Path, method: str = "PUT", headers: dict[str, str] | None = None) -> None:
    """Sends the file to a presigned URL, streamed (an import file may be gigabytes)."""
    with path.open("rb") as fh:
        try:
            resp = requests.request(method, url, data=fh, headers=headers or {}, timeout=(TIMEOUT, 600))
        except requests.RequestException as exc:
            raise ApiError(f"Upload of {path} failed: {exc}") from None
    if not resp.ok:
        raise ApiError(f"Upload of {path} refused ({resp.status_code} {resp.reason}): {resp.text.strip()[:300]}")


def download(url: str, target: Path) -> int:
    """Saves a presigned URL's object to ``target``; bytes written. A partial download never
    stands at ``target``: it is written beside it and renamed when complete."""
    partial = target.with_name(target.name + ".part")
    try:
        with requests.get(url, stream=True, timeout=(TIMEOUT, 600)) as resp:
            if not resp.ok:
                raise ApiError(f"Download refused ({resp.status_code} {resp.reason}): {resp.text.strip()[:300]}")
            written = 0
            with partial.open("wb") as fh:
                for chunk in resp.iter_content(CHUNK):
                    written += fh.write(chunk)
    except requests.RequestException as exc:
        partial.unlink(missing_ok=True)
        raise ApiError(f"Download failed: {exc}") from None
    os.replace(partial, target)
    return written
