"""The inference fleet: the live status panel, staff start/stop/reboot and holds (each confirmed), the audit log."""

from __future__ import annotations

import functools
import logging
from typing import Any

from django.contrib import messages
from django.contrib.auth.decorators import login_required
from django.core.exceptions import PermissionDenied
from django.core.paginator import Paginator
from django.http import Http404, HttpRequest, HttpResponse
from django.shortcuts import redirect, render
from django.views.decorators.http import require_GET, require_http_methods

from dashboard import audit, compute, power, selectors
from dashboard.exceptions import ComputeError, PowerBusy

log = logging.getLogger(__name__)

ACTION_LABELS = {"start": "Start", "stop": "Stop", "reboot": "Reboot"}


def staff_required(view):
    """Log in first; then staff only, with a 403 (not a login redirect) for everyone else."""

    @functools.wraps(view)
    @login_required
    def wrapped(request: HttpRequest, *args: Any, **kwargs: Any) -> HttpResponse:
        if not request.user.is_staff:
            raise PermissionDenied("Only staff can control instances.")
        return view(request, *args, **kwargs)

    return wrapped


def duration(seconds: float | None) -> str:
    """Seconds as a short human duration: 42 s, 3 min 5 s, 2 h 10 min, 3 d 4 h."""
    if seconds is None:
        return "—"
    seconds = max(0, int(seconds))
    if seconds < 60:
        return f"{seconds} s"
    minutes, sec = divmod(seconds, 60)
    if minutes < 60:
        return f"{minutes} min {sec} s" if sec else f"{minutes} min"
    hours, minutes = divmod(minutes, 60)
    if hours < 24:
        return f"{hours} h {minutes} min"
    days, hours = divmod(hours, 24)
    return f"{days} d {hours} h"


def _panel_context(request: HttpRequest) -> dict[str, Any]:
    status = power.power_status()
    for row in status["instances"]:
        row["uptime"] = duration(row["uptime_s"])
        row["actions"] = _actions_for(row["instance"].state, status["supports_reboot"])
        if row["hold"] or status["fleet_hold"]:  # a held instance is not started, by the policy or by hand
            row["actions"] = [(action, label) for action, label in row["actions"] if action != "start"]
    for worker in [w for row in status["instances"] for w in row["workers"]] + status["other_workers"]:
        worker["heartbeat_age"] = duration(worker["heartbeat_age_s"])
    status["queue"]["oldest_queued_age"] = duration(status["queue"]["oldest_queued_age_s"])
    if status["power_error"]:
        status["power_error"]["retry_in"] = duration(status["power_error"]["retry_in_s"])
    for endpoint in status["endpoints"]:
        endpoint["last_invocation_age"] = duration(endpoint.get("last_invocation_age_s"))
        endpoint["idle_left"] = duration(endpoint.get("idle_left_s"))
    for silent in status["silent"]:
        silent["timeout"] = duration(silent["timeout_s"])
        silent["retry_in"] = duration(silent["retry_in_s"])
    is_staff = request.user.is_staff
    return {
        "power": status,
        "can_control": is_staff,
        "audit_events": list(selectors.audit_events(kind="power")[:5]) if is_staff else [],
        "refresh_ms": 2000 if status["transitioning"] else 5000,
    }


def _actions_for(state: str, supports_reboot: bool) -> list[tuple[str, str]]:
    actions = []
    if state == "stopped":
        actions.append(("start", "Start"))
    if state in {"pending", "running"}:
        actions.append(("stop", "Stop"))
    if state == "running" and supports_reboot:
        actions.append(("reboot", "Reboot"))
    return actions


@login_required
@require_GET
def power_panel(request: HttpRequest) -> HttpResponse:
    """The panel's body alone, polled by static/js/power.js."""
    return render(request, "dashboard/instance_status.html", _panel_context(request))


@login_required
@require_GET
def power_page(request: HttpRequest) -> HttpResponse:
    """The fleet on its own page, rendered in full (works without JavaScript)."""
    return render(request, "dashboard/instance_page.html", _panel_context(request))


@staff_required
@require_http_methods(["GET", "POST"])
def instance_action(request: HttpRequest, instance_id: str, action: str) -> HttpResponse:
    """GET: the confirmation page. POST (CSRF-checked): do it, audit it, back to the dashboard."""
    backend = compute.backend()
    if instance_id not in backend.instance_ids() or action not in ACTION_LABELS:
        raise Http404("No such instance or action")
    if action == "reboot" and not backend.supports_reboot:
        raise Http404(f"{backend.name} instances cannot be rebooted")
    if request.method == "POST":
        try:
            state = power.instance_action(instance_id=instance_id, action=action, actor=request.user)
        except PowerBusy as error:
            messages.warning(request, f"{ACTION_LABELS[action]} {instance_id}: busy, nothing done. {error}")
            return render(request, "dashboard/instance_confirm.html", _confirm_context(instance_id, action), status=409)
        except ComputeError as error:
            messages.error(request, f"{ACTION_LABELS[action]} {instance_id} failed: {error}")
        else:
            messages.success(request, f"{ACTION_LABELS[action]} {instance_id}: requested; it is now {state}.")
        return redirect("dashboard:home")
    return render(request, "dashboard/instance_confirm.html", _confirm_context(instance_id, action))


HOLD_LABELS = {"hold": "Hold", "release": "Release"}


@staff_required
@require_http_methods(["GET", "POST"])
def power_hold(request: HttpRequest, target: str, action: str) -> HttpResponse:
    """Hold an instance (or the fleet) off, or release it. GET: confirm (a hold asks why). POST: do it, audited."""
    if action not in HOLD_LABELS or (target != power.FLEET and target not in compute.backend().instance_ids()):
        raise Http404("No such instance or action")
    context: dict[str, Any] = {
        "target": target,
        "fleet": target == power.FLEET,
        "action": action,
        "action_label": HOLD_LABELS[action],
        "hold": power.holds_all().get(target),
        "reason": "",
        "error": None,
    }
    if request.method == "POST":
        context["reason"] = request.POST.get("reason", "")
        try:
            power.hold_change(target=target, hold=action == "hold", actor=request.user, reason=context["reason"])
        except ValueError as error:
            context["error"] = str(error)
            return render(request, "dashboard/hold_confirm.html", context, status=400)
        name = "the fleet" if context["fleet"] else target
        if action == "hold":
            messages.success(request, f"Holding {name}: it is not started until you release it.")
        else:
            messages.success(request, f"Released {name}: it is started again when work needs it.")
        return redirect("dashboard:power")
    return render(request, "dashboard/hold_confirm.html", context)


def _confirm_context(instance_id: str, action: str) -> dict[str, Any]:
    try:
        instance = next((i for i in compute.backend().instances() if i.id == instance_id), None)
        describe_error = None
    except ComputeError as error:
        instance, describe_error = None, str(error)
    try:
        counts = power.queue_counts()
    except Exception:
        counts = None
    return {
        "instance_id": instance_id,
        "instance": instance,
        "describe_error": describe_error,
        "action": action,
        "action_label": ACTION_LABELS[action],
        "counts": counts,
    }


@staff_required
@require_GET
def audit_log(request: HttpRequest) -> HttpResponse:
    kind = request.GET.get("kind", "")
    kind = kind if kind in audit.KINDS else ""
    actor_name = request.GET.get("user", "").strip()[:150]
    events = selectors.audit_events(kind=kind or None, actor_name=actor_name or None)
    page = Paginator(events, 50).get_page(request.GET.get("page"))
    filters = request.GET.copy()
    filters.pop("page", None)
    context = {
        "page": page,
        "kinds": audit.KINDS,
        "kind": kind,
        "user_filter": actor_name,
        "filter_query": filters.urlencode(),
    }
    return render(request, "dashboard/audit_log.html", context)
