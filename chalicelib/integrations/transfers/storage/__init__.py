"""Where imports and exports are kept: the object storage port (``core.objects``) and its
S3 adapter, the only module that builds boto3's S3 client."""
from __future__ import annotations

from .s3 import S3Objects, S3Settings

__all__ = ["S3Objects", "S3Settings"]
