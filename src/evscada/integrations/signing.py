"""HMAC-SHA256 signatures for outgoing HTTP messages (webhooks, notification webhooks).

The receiver recomputes `sha256=HMAC(secret, f"{timestamp}.{body}")` and compares in constant time; the timestamp
is signed too, so a captured message cannot be replayed later with a fresh timestamp.
"""

from __future__ import annotations

import hashlib
import hmac

SIGNATURE_HEADER = "X-Evscada-Signature"
TIMESTAMP_HEADER = "X-Evscada-Timestamp"


def signature(secret: str, timestamp: int, body: bytes) -> str:
    mac = hmac.new(secret.encode(), f"{timestamp}.".encode() + body, hashlib.sha256)
    return f"sha256={mac.hexdigest()}"


def signed_headers(secret: str, timestamp: int, body: bytes) -> dict[str, str]:
    return {
        "Content-Type": "application/json",
        TIMESTAMP_HEADER: str(timestamp),
        SIGNATURE_HEADER: signature(secret, timestamp, body),
    }


def verify(secret: str, timestamp: int, body: bytes, header: str) -> bool:
    return hmac.compare_digest(signature(secret, timestamp, body), header)
