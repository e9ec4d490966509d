"""Webhook subscriptions for third parties (admin only): register, change, test, and read the delivery log."""

from __future__ import annotations

from typing import Annotated

from fastapi import APIRouter, Query, Response, status

from evscada.api.deps import Admin, Context, CoreDep
from evscada.api.params import Id, Offset
from evscada.api.webhook_schemas import WebhookCreatedOut, WebhookDeliveryOut, WebhookIn, WebhookOut, WebhookPatch
from evscada.core.notifications.webhooks import WebhookDeliveryStatus

router = APIRouter(tags=["webhooks"])

_404 = {404: {"description": "unknown webhook or delivery"}}


@router.get("/webhooks", response_model=list[WebhookOut])
async def list_webhooks(core: CoreDep, _: Admin) -> list[WebhookOut]:
    return [WebhookOut.of(s) for s in await core.webhooks.list()]


@router.post("/webhooks", response_model=WebhookCreatedOut, status_code=status.HTTP_201_CREATED)
async def create_webhook(body: WebhookIn, core: CoreDep, _: Admin) -> WebhookCreatedOut:
    """The answer holds the signing secret; no later call shows it again."""
    s = await core.webhooks.create(
        url=body.url, events=body.events, secret=body.secret, active=body.active, description=body.description
    )
    return WebhookCreatedOut(**WebhookOut.of(s).model_dump(), secret=s.secret)


@router.get("/webhooks/{webhook_id}", response_model=WebhookOut, responses=_404)
async def get_webhook(webhook_id: Id, core: CoreDep, _: Admin) -> WebhookOut:
    return WebhookOut.of(await core.webhooks.get(subscription_id=webhook_id))


@router.patch("/webhooks/{webhook_id}", response_model=WebhookOut, responses=_404)
async def update_webhook(webhook_id: Id, body: WebhookPatch, context: Context, core: CoreDep, _: Admin) -> WebhookOut:
    changes = body.model_dump(exclude_unset=True)
    for key in ("url", "events", "secret", "active"):
        if key in changes and changes[key] is None:
            changes.pop(key)  # null means "leave as it is" for fields that cannot be empty
    s = await core.webhooks.update(subscription_id=webhook_id, changes=changes)
    context.wake_webhooks()  # reactivated: its pending deliveries go out now
    return WebhookOut.of(s)


@router.delete("/webhooks/{webhook_id}", status_code=status.HTTP_204_NO_CONTENT, responses=_404)
async def delete_webhook(webhook_id: Id, core: CoreDep, _: Admin) -> Response:
    """Deletes its delivery log too; pending deliveries are dropped."""
    await core.webhooks.delete(subscription_id=webhook_id)
    return Response(status_code=status.HTTP_204_NO_CONTENT)


@router.get("/webhooks/{webhook_id}/deliveries", response_model=list[WebhookDeliveryOut], responses=_404)
async def list_deliveries(
    webhook_id: Id,
    core: CoreDep,
    _: Admin,
    status: WebhookDeliveryStatus | None = None,
    limit: Annotated[int, Query(ge=1, le=1000)] = 100,
    offset: Offset = 0,
) -> list[WebhookDeliveryOut]:
    """Newest first."""
    deliveries = await core.webhooks.deliveries(subscription_id=webhook_id, status=status, limit=limit, offset=offset)
    return [WebhookDeliveryOut.of(d) for d in deliveries]


@router.get("/webhooks/{webhook_id}/deliveries/{delivery_id}", response_model=WebhookDeliveryOut, responses=_404)
async def get_delivery(webhook_id: Id, delivery_id: Id, core: CoreDep, _: Admin) -> WebhookDeliveryOut:
    return WebhookDeliveryOut.of(await core.webhooks.delivery(subscription_id=webhook_id, delivery_id=delivery_id))


@router.post(
    "/webhooks/{webhook_id}/deliveries/{delivery_id}/redeliver",
    response_model=WebhookDeliveryOut,
    status_code=status.HTTP_202_ACCEPTED,
    responses=_404,
)
async def redeliver(webhook_id: Id, delivery_id: Id, context: Context, core: CoreDep, _: Admin) -> WebhookDeliveryOut:
    """Queue the same event (same event id) again as a new delivery, e.g. after it failed for good."""
    delivery = await core.webhooks.redeliver(subscription_id=webhook_id, delivery_id=delivery_id)
    context.wake_webhooks()  # out now rather than at the next scan
    return WebhookDeliveryOut.of(delivery)


@router.post("/webhooks/{webhook_id}/ping", response_model=WebhookDeliveryOut, status_code=202, responses=_404)
async def ping(webhook_id: Id, context: Context, core: CoreDep, _: Admin) -> WebhookDeliveryOut:
    """Queue a signed `ping` event to this webhook; its delivery log entry shows how the receiver answered."""
    delivery = await core.webhooks.ping(subscription_id=webhook_id)
    context.wake_webhooks()  # out now rather than at the next scan
    return WebhookDeliveryOut.of(delivery)
