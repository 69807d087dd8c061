"""API tokens on the user's settings page: list them, create one (shown once), revoke one after confirming.

Everyone sees and revokes their own tokens; staff see and revoke everyone's. `manage.py create_api_token`
and `revoke_api_token` do the same from the command line, through the same services.
"""

from __future__ import annotations

from datetime import datetime, timedelta

from django import forms
from django.contrib import messages
from django.contrib.auth.decorators import login_required
from django.core.paginator import Paginator
from django.http import HttpResponse
from django.shortcuts import get_object_or_404, redirect, render
from django.utils import timezone
from django.views.decorators.cache import never_cache
from django.views.decorators.http import require_http_methods

from dashboard import selectors, services
from dashboard.auth import AuthenticatedHttpRequest
from dashboard.models import ApiToken

VIA = "settings page"
EXPIRY_CHOICES = [("7", "7 days"), ("30", "30 days"), ("90", "90 days"), ("365", "1 year"), ("never", "No expiry")]


class TokenForm(forms.Form):
    name = forms.CharField(
        max_length=100,
        required=False,
        help_text="A note to recognise it by, such as the machine or script that uses it.",
    )
    expires_in = forms.ChoiceField(choices=EXPIRY_CHOICES, initial="90", label="Expires after")

    def expires_at(self, *, now: datetime) -> datetime | None:
        """When the token stops working: `expires_in` days from `now`, or never."""
        days = self.cleaned_data["expires_in"]
        return None if days == "never" else now + timedelta(days=int(days))


def token_state(token: ApiToken, *, now: datetime) -> str:
    """revoked, expired or active: what the API does with the token now."""
    if token.revoked_at is not None:
        return "revoked"
    if token.expires_at is not None and token.expires_at <= now:
        return "expired"
    return "active"


def _token_for(request: AuthenticatedHttpRequest, token_id: int) -> ApiToken:
    """The unrevoked token with this id that the user may revoke; 404 for anyone else's, as for none."""
    return get_object_or_404(selectors.api_tokens_visible(user=request.user), pk=token_id, revoked_at__isnull=True)


@never_cache  # the response to a create carries the raw token: no cache may keep it
@login_required
@require_http_methods(["GET", "POST"])
def token_list(request: AuthenticatedHttpRequest) -> HttpResponse:
    """GET: the tokens and the form. POST (CSRF-checked): create one and show it, this once."""
    form = TokenForm(request.POST or None)
    created = raw = None
    if request.method == "POST" and form.is_valid():
        created, raw = services.api_token_create(
            user=request.user,
            name=form.cleaned_data["name"].strip(),
            expires_at=form.expires_at(now=timezone.now()),
            actor=request.user,
            via=VIA,
        )
        form = TokenForm()
    now = timezone.now()
    page = Paginator(selectors.api_tokens_visible(user=request.user), 50).get_page(request.GET.get("page"))
    context = {
        "form": form,
        "created": created,
        "raw_token": raw,
        "page": page,
        "rows": [(token, token_state(token, now=now)) for token in page.object_list],
        "show_owner": request.user.is_staff,
    }
    return render(request, "dashboard/tokens.html", context, status=400 if form.errors else 200)


@login_required
@require_http_methods(["GET", "POST"])
def token_revoke(request: AuthenticatedHttpRequest, token_id: int) -> HttpResponse:
    """GET: the confirmation page. POST (CSRF-checked): revoke it, audited, back to the list."""
    token = _token_for(request, token_id)
    if request.method == "POST":
        services.api_token_revoke(prefix=token.prefix, user=token.user, token_id=token.pk, actor=request.user, via=VIA)
        messages.success(request, f"Revoked {token.prefix}…; it is refused from now on.")
        return redirect("dashboard:token_list")
    return render(request, "dashboard/token_revoke.html", {"token": token, "show_owner": request.user.is_staff})
