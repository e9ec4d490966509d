"""Asking an OCSP responder (RFC 6960, over HTTP POST) about a certificate, for 2.0.1 GetCertificateStatus."""

from __future__ import annotations

import httpx

OCSP_TIMEOUT_SECONDS = 10.0
MAX_RESPONSE_BYTES = 64 * 1024  # an OCSP response is a few kB; anything larger is not one


async def fetch_ocsp(url: str, request_der: bytes) -> bytes:
    """The responder's DER response; httpx.HTTPError or ValueError when there is none usable."""
    async with httpx.AsyncClient(timeout=OCSP_TIMEOUT_SECONDS, follow_redirects=False) as client:
        response = await client.post(url, content=request_der, headers={"Content-Type": "application/ocsp-request"})
    response.raise_for_status()
    if len(response.content) > MAX_RESPONSE_BYTES:
        raise ValueError(f"the responder's answer is {len(response.content)} bytes; not an OCSP response")
    return response.content
