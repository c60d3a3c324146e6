"""The dev stack's own token issuer: an RS256 key made on first use, its JWKS published as a
file. The API verifies these tokens with exactly the code that verifies Cognito's
(``core.tenancy.verify_jwt``): only the JWKS URL differs.
"""
from __future__ import annotations

import json
import time
import uuid
from pathlib import Path
from typing import Any

import jwt
from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.asymmetric import rsa

ISSUER = "https://enclave.invalid/dev-issuer"
AUDIENCE = "enclave-console"
PLATFORM_ADMIN_GROUP = "platform-admin"


class DevIssuer:
    def __init__(self, directory: Path) -> None:
        directory.mkdir(parents=True, exist_ok=True)
        key_file = directory / "signing-key.pem"
        if not key_file.exists():
            key = rsa.generate_private_key(public_exponent=65537, key_size=2048)
            key_file.write_bytes(key.private_bytes(
                serialization.Encoding.PEM, serialization.PrivateFormat.PKCS8, serialization.NoEncryption()))
            key_file.chmod(0o600)
        self._key = serialization.load_pem_private_key(key_file.read_bytes(), password=None)
        self.kid = uuid.uuid5(uuid.NAMESPACE_URL, key_file.read_text()).hex
        public_jwk = json.loads(jwt.algorithms.RSAAlgorithm.to_jwk(self._key.public_key()))
        public_jwk.update({"kid": self.kid, "use": "sig", "alg": "RS256"})
        self.jwks_file = directory / "jwks.json"
        self.jwks_file.write_text(json.dumps({"keys": [public_jwk]}))

    @property
    def jwks_url(self) -> str:
        return self.jwks_file.resolve().as_uri()

    def token(
        self,
        subject: str,
        *,
        tenant_id: str | None = None,
        role: str | None = None,
        groups: list[str] | None = None,
        ttl_seconds: int = 12 * 3600,
        **overrides: Any,
    ) -> str:
        """An ID token shaped like Cognito's; ``overrides`` replace or add claims."""
        now = int(time.time())
        claims: dict[str, Any] = {
            "sub": subject, "iss": ISSUER, "aud": AUDIENCE, "token_use": "id",
            "iat": now, "exp": now + ttl_seconds, "email": f"{subject}@example.test",
        }
        if tenant_id:
            claims["custom:tenant_id"] = tenant_id
        if role:
            claims["custom:role"] = role
        if groups:
            claims["cognito:groups"] = groups
        claims.update(overrides)
        return jwt.encode(claims, self._key, algorithm="RS256", headers={"kid": self.kid})

    def admin_token(self, subject: str = "platform-operator", ttl_seconds: int = 12 * 3600) -> str:
        return self.token(subject, groups=[PLATFORM_ADMIN_GROUP], ttl_seconds=ttl_seconds)
