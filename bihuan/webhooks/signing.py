"""The HMAC signature of a delivery: sha256 of "<timestamp>.<body>" keyed by the secret."""

from __future__ import annotations

import hashlib
import hmac
import secrets


def new_secret() -> str:
    """A fresh random secret, shown once to the administrator."""
    return secrets.token_hex(32)


def sign(secret: str, timestamp: str, body: str) -> str:
    """The X-Bihuan-Signature header value."""
    mac = hmac.new(secret.encode(), f"{timestamp}.{body}".encode(), hashlib.sha256)
    return "sha256=" + mac.hexdigest()


def verify(secret: str, timestamp: str, body: str, signature: str) -> bool:
    """What a receiver does: compare in constant time."""
    return hmac.compare_digest(sign(secret, timestamp, body), signature)
