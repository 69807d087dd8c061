from __future__ import annotations

import logging

from django.contrib import messages
from django.contrib.auth.decorators import login_required
from django.http import HttpRequest, HttpResponse
from django.shortcuts import redirect, render
from django.views.decorators.http import require_GET, require_http_methods

from dashboard import services
from dashboard.exceptions import QueueUnavailable, StoreUnavailable
from dashboard.forms import SubmissionForm
from dashboard.metrics.submissions import submission_counted
from dashboard.ratelimit import rate_limited, submissions_charge
from dashboard.views.results import latest_results_context

log = logging.getLogger(__name__)


@login_required
@require_GET
def home(request: HttpRequest) -> HttpResponse:
    """The dashboard: a quick submit box and the latest results; panels add themselves here."""
    context = latest_results_context(request, limit=5)
    return render(request, "dashboard/home.html", {**context, "form": SubmissionForm()})


@login_required
@require_http_methods(["GET", "POST"])
@rate_limited(api=False)
@submission_counted(kind="submission")
def submit(request: HttpRequest) -> HttpResponse:
    form = SubmissionForm(request.POST or None)
    if request.method == "POST" and form.is_valid():
        submissions_charge(user=request.user, cost=1)  # per-user limit against abuse: 429 via @rate_limited
        try:
            item = services.submission_create(text=form.cleaned_data["text"], submitted_by=request.user.get_username())
        except (StoreUnavailable, QueueUnavailable) as error:
            form.add_error(None, f"Not submitted: {error}")
            return render(request, "dashboard/submit.html", {"form": form}, status=503)
        messages.success(request, f"Submitted {item['id']}; it is queued for classification.")
        return redirect("dashboard:results")
    return render(request, "dashboard/submit.html", {"form": form}, status=400 if form.errors else 200)
