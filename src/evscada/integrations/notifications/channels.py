"""Delivery channels: e-mail over SMTP, signed JSON webhooks, and an SMS/push gateway behind a body template."""

from __future__ import annotations

import json
from email.message import EmailMessage
from typing import Any, Protocol

import aiosmtplib
import httpx

from evscada.core.notifications.deliveries import Delivery
from evscada.integrations import signing
from evscada.integrations.notifications.config import (
    PLACEHOLDER,
    NotificationSettings,
    SmsGatewaySettings,
    SmtpSettings,
)


class DeliveryError(Exception):
    """An attempt failed; `permanent` when retrying cannot help (the address itself is refused)."""

    def __init__(self, message: str, *, permanent: bool = False) -> None:
        super().__init__(message)
        self.permanent = permanent


class Sender(Protocol):
    async def send(self, delivery: Delivery, *, timestamp: int) -> None: ...


class EmailChannel:
    def __init__(self, config: SmtpSettings) -> None:
        self._config = config

    async def send(self, delivery: Delivery, *, timestamp: int) -> None:
        c = self._config
        message = EmailMessage()
        message["From"] = c.from_address
        message["To"] = delivery.address
        message["Subject"] = delivery.subject
        message["X-Evscada-Delivery"] = str(delivery.id)
        message.set_content(delivery.body)
        try:
            await aiosmtplib.send(
                message,
                hostname=c.host,
                port=c.port,
                username=c.username,
                password=c.password,
                use_tls=c.security == "tls",
                start_tls=c.security == "starttls",
                cert_bundle=None if c.ca_file is None else str(c.ca_file),
                timeout=c.timeout,
            )
        except aiosmtplib.SMTPRecipientsRefused as exc:
            raise DeliveryError(f"SMTP server refused {delivery.address}: {exc}", permanent=True) from None
        except (aiosmtplib.SMTPException, OSError) as exc:
            raise DeliveryError(f"SMTP {c.host}:{c.port}: {type(exc).__name__}: {exc}") from None


def webhook_body(delivery: Delivery) -> dict[str, Any]:
    """What a notification webhook receives (docs/api.md describes it)."""
    return {
        "delivery_id": delivery.id,
        "kind": delivery.kind,
        "recipient": delivery.recipient,
        "subject": delivery.subject,
        "text": delivery.body,
        "created_at": delivery.created_at.isoformat(),
        "alarms": delivery.payload.get("alarms", []),
    }


class WebhookChannel:
    def __init__(self, config: NotificationSettings, client: httpx.AsyncClient) -> None:
        self._secrets = {p.name: p.webhook_secret or config.webhook_secret or "" for p in config.people}
        self._timeout = config.webhook_timeout
        self._client = client

    async def send(self, delivery: Delivery, *, timestamp: int) -> None:
        body = json.dumps(webhook_body(delivery), separators=(",", ":")).encode()
        secret = self._secrets.get(delivery.recipient, "")
        headers = signing.signed_headers(secret, timestamp, body)
        await _post(self._client, delivery.address, body, headers, self._timeout)


def fill_template(template: str, values: dict[str, str]) -> bytes:
    """The JSON template with each {{placeholder}} in its strings replaced; JSON encoding escapes the values."""

    def fill(node: Any) -> Any:
        if isinstance(node, str):
            return PLACEHOLDER.sub(lambda m: values.get(m.group(1), ""), node)
        if isinstance(node, list):
            return [fill(item) for item in node]
        if isinstance(node, dict):
            return {key: fill(value) for key, value in node.items()}
        return node

    return json.dumps(fill(json.loads(template)), ensure_ascii=False).encode()


class SmsChannel:
    def __init__(self, config: SmsGatewaySettings, people: NotificationSettings, client: httpx.AsyncClient) -> None:
        self._config = config
        self._people = {p.name: p for p in people.people}
        self._client = client

    def body(self, delivery: Delivery) -> bytes:
        person = self._people.get(delivery.recipient)
        text = delivery.subject if delivery.kind != "test" else delivery.body
        limit = self._config.max_text_length
        if len(text) > limit:
            text = text[: limit - 1] + "…"
        return fill_template(
            self._config.body_template,
            {
                "name": delivery.recipient,
                "phone": delivery.address,
                "email": (person.email if person else None) or "",
                "subject": delivery.subject,
                "text": text,
                "priority": str(delivery.payload.get("priority", "")),
                "count": str(len(delivery.alarm_ids)),
                "delivery_id": str(delivery.id),
            },
        )

    async def send(self, delivery: Delivery, *, timestamp: int) -> None:
        headers = {"Content-Type": "application/json", **self._config.headers}
        await _post(self._client, self._config.url, self.body(delivery), headers, self._config.timeout)


async def _post(client: httpx.AsyncClient, url: str, body: bytes, headers: dict[str, str], timeout: float) -> None:
    try:
        response = await client.post(url, content=body, headers=headers, timeout=timeout)
    except httpx.HTTPError as exc:
        raise DeliveryError(f"POST {url}: {type(exc).__name__}: {exc}") from None
    if response.status_code >= 300:
        # A 4xx is most often our configuration (a wrong secret or URL): retried, so fixing it delivers the backlog.
        raise DeliveryError(f"POST {url}: HTTP {response.status_code} {response.text[:200]}")
