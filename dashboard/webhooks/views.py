"""The webhooks pages: the list with the form that registers one, and each webhook's delivery log.

A user sees their own webhooks; staff see everyone's. Another user's webhook is a 404.
"""

from __future__ import annotations

from django.contrib import messages
from django.contrib.auth.decorators import login_required
from django.http import Http404, HttpResponse
from django.shortcuts import redirect, render
from django.views.decorators.http import require_GET, require_http_methods, require_POST

from dashboard.auth import AuthenticatedHttpRequest
from dashboard.exceptions import WebhookLimit, WebhookUrlRefused
from dashboard.webhooks import selectors, services
from dashboard.webhooks.forms import WebhookForm
from dashboard.webhooks.models import Webhook


def _webhook_or_404(request: AuthenticatedHttpRequest, webhook_id: str) -> Webhook:
    webhook = selectors.webhook_get(user=request.user, webhook_id=webhook_id)
    if webhook is None:
        raise Http404("No webhook with that id.")
    return webhook


@login_required
@require_http_methods(["GET", "POST"])
def webhooks(request: AuthenticatedHttpRequest) -> HttpResponse:
    form = WebhookForm(request.POST or None)
    context = {"form": form, "webhooks": selectors.webhooks_visible(user=request.user), "created": None}
    if request.method == "POST":
        if not form.is_valid():
            return render(request, "dashboard/webhooks.html", context, status=400)
        try:
            webhook, secret = services.webhook_create(
                user=request.user, url=form.cleaned_data["url"], events=form.cleaned_data["events"]
            )
        except WebhookLimit as error:
            form.add_error(None, str(error))
            return render(request, "dashboard/webhooks.html", context, status=400)
        # Rendered, not redirected: the secret is on this one page and never again.
        context |= {"form": WebhookForm(), "created": webhook, "secret": secret}
        context["webhooks"] = selectors.webhooks_visible(user=request.user)
    return render(request, "dashboard/webhooks.html", context)


@login_required
@require_GET
def webhook_detail(request: AuthenticatedHttpRequest, webhook_id: str) -> HttpResponse:
    webhook = _webhook_or_404(request, webhook_id)
    deliveries = selectors.webhook_deliveries(webhook=webhook)
    return render(request, "dashboard/webhook_detail.html", {"webhook": webhook, "deliveries": deliveries})


@login_required
@require_POST
def webhook_delete(request: AuthenticatedHttpRequest, webhook_id: str) -> HttpResponse:
    webhook = _webhook_or_404(request, webhook_id)
    services.webhook_delete(webhook=webhook, actor=request.user)
    messages.success(request, f"Webhook to {webhook.url} deleted.")
    return redirect("dashboard:webhooks")


@login_required
@require_POST
def webhook_enable(request: AuthenticatedHttpRequest, webhook_id: str) -> HttpResponse:
    webhook = _webhook_or_404(request, webhook_id)
    services.webhook_enable(webhook=webhook, actor=request.user)
    messages.success(request, "Webhook enabled again.")
    return redirect("dashboard:webhook_detail", webhook_id=webhook.pk)


@login_required
@require_POST
def webhook_redeliver(request: AuthenticatedHttpRequest, webhook_id: str, delivery_id: str) -> HttpResponse:
    webhook = _webhook_or_404(request, webhook_id)
    delivery = selectors.delivery_get(webhook=webhook, delivery_id=delivery_id)
    if delivery is None:
        raise Http404("No delivery with that id for this webhook.")
    try:
        services.delivery_redeliver(delivery=delivery)
    except WebhookUrlRefused as error:
        messages.error(request, str(error))
    else:
        messages.success(request, f"Event {delivery.event_id} queued for redelivery.")
    return redirect("dashboard:webhook_detail", webhook_id=webhook.pk)
