"""A page or the fragment of it that an htmx poll swaps in, chosen by django-htmx's `request.htmx`."""

from __future__ import annotations

from typing import Any

from django.http import HttpRequest, HttpResponse
from django.shortcuts import render
from django.utils.cache import patch_vary_headers


def wants_fragment(request: HttpRequest) -> bool:
    """True for htmx's own requests (`HX-Request`); a boosted link is a navigation and gets the whole page."""
    htmx = getattr(request, "htmx", None)
    return htmx is not None and bool(htmx) and not htmx.boosted


def render_page_or_fragment(
    request: HttpRequest, *, page: str, fragment: str, context: dict[str, Any], status: int = 200
) -> HttpResponse:
    response = render(request, fragment if wants_fragment(request) else page, context, status=status)
    # One URL answers with two bodies: a cache (or the browser's back button) must not mix them up.
    patch_vary_headers(response, ("HX-Request",))
    return response
