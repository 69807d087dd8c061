"""`/api/v1/webhooks`: register, list and remove webhooks; read their delivery log; redeliver.

A user sees and changes only their own webhooks (staff: everyone's); another user's is a 404, as
a missing one is. The secret is in the answer to the POST only.
"""

from __future__ import annotations

from datetime import datetime
from typing import Any, ClassVar, Literal

from django.http import HttpRequest, HttpResponse, JsonResponse
from django.http.request import RawPostDataException
from ninja import Router, Schema
from pydantic import Field

from dashboard.api.responses import CSRF_REFUSED, UNAUTHORIZED, json_request, not_allowed
from dashboard.api.schemas import ApiRequest, Error, TooLarge, refuse, request_parse
from dashboard.api.submissions import json_body
from dashboard.auth import AuthenticatedHttpRequest, api_error
from dashboard.exceptions import WebhookLimit, WebhookUrlRefused
from dashboard.webhooks import selectors, services
from dashboard.webhooks.models import EVENT_TYPES

router = Router(tags=["webhooks"])

EventType = Literal[EVENT_TYPES]  # type: ignore[valid-type]
NOT_FOUND = "No webhook with that id."


class WebhookRequest(ApiRequest):
    example: ClassVar[str] = '{"url": "https://...", "events": ["item.done"]}'
    url: str = Field(description="Where events are POSTed: http(s), to a public address.")
    events: list[EventType] = Field(min_length=1)

    @classmethod
    def clean(cls, body: dict[str, Any]) -> dict[str, Any]:
        try:
            url = services.webhook_url_clean(body["url"])
        except WebhookUrlRefused as error:
            raise refuse(str(error), {"url": str(error)}) from None
        try:
            events = services.webhook_events_clean(body["events"])
        except ValueError as error:
            raise refuse(str(error), {"events": str(error)}) from None
        return {"url": url, "events": events}


class WebhookOut(Schema):
    id: str
    url: str
    events: list[EventType]
    active: bool
    created_at: datetime
    disabled_at: datetime | None
    disabled_reason: str | None = Field(description="Why it was disabled, e.g. a day of failed deliveries.")
    owner: str


class WebhookCreated(WebhookOut):
    secret: str = Field(description="The signing secret. Shown this once: keep it.")


class WebhookList(Schema):
    webhooks: list[WebhookOut]


class AttemptOut(Schema):
    at: datetime
    outcome: Literal["delivered", "failed", "refused"]
    status_code: int | None
    latency_ms: int | None
    response_snippet: str
    error: str | None


class DeliveryOut(Schema):
    id: int
    event_id: str
    event_type: EventType
    state: Literal["pending", "delivered", "failed"]
    created_at: datetime
    next_attempt_at: datetime | None
    attempts: list[AttemptOut] = Field(description="Newest first.")


class DeliveryList(Schema):
    deliveries: list[DeliveryOut] = Field(description=f"The newest {selectors.DELIVERIES_SHOWN}.")


@router.post(
    "/webhooks",
    url_name="api_webhooks",
    summary="Register a webhook",
    operation_id="createWebhook",
    openapi_extra=json_request(WebhookRequest),
    response={201: WebhookCreated, 400: Error, 401: UNAUTHORIZED, 403: CSRF_REFUSED, 413: TooLarge, 415: Error},
)
def api_webhook_create(request: AuthenticatedHttpRequest) -> HttpResponse:
    body = json_body(request, example=f"webhook as application/json: {WebhookRequest.example}")
    parsed = request_parse(WebhookRequest, body)
    try:
        webhook, secret = services.webhook_create(user=request.user, url=parsed.url, events=parsed.events)
    except WebhookLimit as error:
        return api_error(400, str(error))
    return JsonResponse(selectors.webhook_public(webhook) | {"secret": secret}, status=201)


@router.get(
    "/webhooks",
    url_name="api_webhooks",
    summary="Your webhooks",
    operation_id="listWebhooks",
    response={200: WebhookList, 401: UNAUTHORIZED},
)
def api_webhook_list(request: AuthenticatedHttpRequest) -> HttpResponse:
    webhooks = selectors.webhooks_visible(user=request.user)
    return JsonResponse({"webhooks": [selectors.webhook_public(webhook) for webhook in webhooks]})


not_allowed(router, "/webhooks", allowed=["GET", "POST"], view=api_webhook_list)


@router.get(
    "/webhooks/{webhook_id}",
    url_name="api_webhook_detail",
    summary="One webhook",
    operation_id="getWebhook",
    response={200: WebhookOut, 401: UNAUTHORIZED, 404: Error},
)
def api_webhook_detail(request: AuthenticatedHttpRequest, webhook_id: str) -> HttpResponse:
    webhook = selectors.webhook_get(user=request.user, webhook_id=webhook_id)
    if webhook is None:
        return api_error(404, NOT_FOUND)
    return JsonResponse(selectors.webhook_public(webhook))


@router.delete(
    "/webhooks/{webhook_id}",
    url_name="api_webhook_detail",
    summary="Remove a webhook",
    operation_id="deleteWebhook",
    response={204: None, 401: UNAUTHORIZED, 403: CSRF_REFUSED, 404: Error},
)
def api_webhook_delete(request: AuthenticatedHttpRequest, webhook_id: str) -> HttpResponse:
    webhook = selectors.webhook_get(user=request.user, webhook_id=webhook_id)
    if webhook is None:
        return api_error(404, NOT_FOUND)
    services.webhook_delete(webhook=webhook, actor=request.user)
    return HttpResponse(status=204)


not_allowed(router, "/webhooks/{webhook_id}", allowed=["GET", "DELETE"], view=api_webhook_detail)


@router.get(
    "/webhooks/{webhook_id}/deliveries",
    url_name="api_webhook_deliveries",
    summary="A webhook's delivery log",
    operation_id="listWebhookDeliveries",
    response={200: DeliveryList, 401: UNAUTHORIZED, 404: Error},
)
def api_webhook_deliveries(request: AuthenticatedHttpRequest, webhook_id: str) -> HttpResponse:
    webhook = selectors.webhook_get(user=request.user, webhook_id=webhook_id)
    if webhook is None:
        return api_error(404, NOT_FOUND)
    deliveries = selectors.webhook_deliveries(webhook=webhook)
    return JsonResponse({"deliveries": [selectors.delivery_public(delivery) for delivery in deliveries]})


not_allowed(router, "/webhooks/{webhook_id}/deliveries", allowed=["GET"], view=api_webhook_deliveries)


@router.post(
    "/webhooks/{webhook_id}/deliveries/{delivery_id}/redeliver",
    url_name="api_webhook_redeliver",
    summary="Send a delivery's event again (same event id)",
    operation_id="redeliverWebhookDelivery",
    response={202: DeliveryOut, 401: UNAUTHORIZED, 403: CSRF_REFUSED, 404: Error, 409: Error, 413: TooLarge},
)
def api_webhook_redeliver(request: AuthenticatedHttpRequest, webhook_id: str, delivery_id: str) -> HttpResponse:
    _body_within_limit(request)
    webhook = selectors.webhook_get(user=request.user, webhook_id=webhook_id)
    delivery = selectors.delivery_get(webhook=webhook, delivery_id=delivery_id) if webhook else None
    if delivery is None:
        return api_error(404, "No delivery with that id for this webhook.")
    try:
        again = services.delivery_redeliver(delivery=delivery)
    except WebhookUrlRefused as error:
        return api_error(409, str(error))
    return JsonResponse(selectors.delivery_public(again), status=202)


def _body_within_limit(request: HttpRequest) -> None:
    """Refuse a body over DATA_UPLOAD_MAX_MEMORY_SIZE (a 413 from dashboard.middleware), as every API route does.

    The body is not used. A form body has been read already (by the CSRF check), within the limit.
    """
    try:
        request.body  # noqa: B018  # reading it is the check
    except RawPostDataException:
        pass


not_allowed(
    router, "/webhooks/{webhook_id}/deliveries/{delivery_id}/redeliver", allowed=["POST"], view=api_webhook_redeliver
)
