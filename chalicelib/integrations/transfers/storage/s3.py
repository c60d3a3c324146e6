"""The S3 adapter of ``core.objects``: AWS S3 in the cloud, gofakes3 in the dev stack and
tests (``ENCLAVE_S3_ENDPOINT``, path-style addressing). Objects are written with SSE
(KMS when ``ENCLAVE_S3_KMS_KEY_ID`` is set, else S3-managed) and tagged with their purpose
for the lifecycle rules; uploads rely on the bucket's default encryption.
"""
from __future__ import annotations

import io
from collections.abc import Iterable, Iterator
from datetime import timedelta
from typing import Any, ClassVar

from pydantic import Field

from ....core import clock
from ....core.config import EnvSettings
from ....core.objects import ObjectStore, Presigned, Purpose


class S3Settings(EnvSettings):
    env_prefix: ClassVar[str] = "ENCLAVE_S3_"

    bucket: str = "enclave-transfers"
    #: gofakes3's URL in the dev stack and tests; unset in AWS (infra refuses to set it)
    endpoint: str | None = None
    region: str = "us-east-1"
    #: how long a presigned upload or download URL works
    presign_seconds: int = Field(default=900, ge=60, le=7 * 24 * 3600)
    kms_key_id: str | None = None


class _ChunkReader(io.RawIOBase):
    """A read-only file over an iterator of byte chunks (boto3 uploads it part by part)."""

    def __init__(self, chunks: Iterable[bytes]) -> None:
        self._chunks: Iterator[bytes] = iter(chunks)
        self._buffer = b""
        self.size = 0

    def readable(self) -> bool:
        return True

    def readinto(self, out: Any) -> int:
        while not self._buffer:
            try:
                self._buffer = next(self._chunks)
            except StopIteration:
                return 0
        n = min(len(out), len(self._buffer))
        out[:n], self._buffer = self._buffer[:n], self._buffer[n:]
        self.size += n
        return n


class S3Objects(ObjectStore):
    def __init__(self, settings: S3Settings | None = None) -> None:
        self.settings = settings or S3Settings.from_env()
        import boto3
        from botocore.config import Config

        style = "path" if self.settings.endpoint else "virtual"
        self._client: Any = boto3.client(
            "s3", region_name=self.settings.region, endpoint_url=self.settings.endpoint,
            config=Config(signature_version="s3v4", s3={"addressing_style": style},
                          connect_timeout=3, read_timeout=20, retries={"max_attempts": 3}))

    def _expires(self) -> tuple[int, Any]:
        seconds = self.settings.presign_seconds
        return seconds, clock.now() + timedelta(seconds=seconds)

    def presign_put(self, key: str, content_type: str) -> Presigned:
        seconds, expires_at = self._expires()
        url = self._client.generate_presigned_url(
            "put_object", Params={"Bucket": self.settings.bucket, "Key": key, "ContentType": content_type},
            ExpiresIn=seconds, HttpMethod="PUT")
        return Presigned(url=url, method="PUT", expires_at=expires_at, headers={"Content-Type": content_type})

    def presign_get(self, key: str, filename: str | None = None) -> Presigned:
        seconds, expires_at = self._expires()
        params = {"Bucket": self.settings.bucket, "Key": key}
        if filename:
            params["ResponseContentDisposition"] = f'attachment; filename="{filename}"'
        url = self._client.generate_presigned_url("get_object", Params=params, ExpiresIn=seconds)
        return Presigned(url=url, method="GET", expires_at=expires_at)

    def size(self, key: str) -> int | None:
        from botocore.exceptions import ClientError

        try:
            return int(self._client.head_object(Bucket=self.settings.bucket, Key=key)["ContentLength"])
        except ClientError as exc:
            if exc.response.get("Error", {}).get("Code") in ("404", "NoSuchKey", "NotFound"):
                return None
            raise

    def read(self, key: str, start: int, length: int) -> bytes:
        if length <= 0:
            return b""
        answer = self._client.get_object(Bucket=self.settings.bucket, Key=key,
                                         Range=f"bytes={start}-{start + length - 1}")
        return bytes(answer["Body"].read())

    def write(self, key: str, chunks: Iterable[bytes], content_type: str, purpose: Purpose) -> int:
        extra: dict[str, str] = {"ContentType": content_type, "Tagging": f"purpose={purpose}"}
        if self.settings.kms_key_id:
            extra.update(ServerSideEncryption="aws:kms", SSEKMSKeyId=self.settings.kms_key_id)
        else:
            extra["ServerSideEncryption"] = "AES256"
        reader = _ChunkReader(chunks)
        self._client.upload_fileobj(io.BufferedReader(reader, buffer_size=1 << 20), self.settings.bucket, key,
                                    ExtraArgs=extra)
        return reader.size
