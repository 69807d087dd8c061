"""Text generation on the SageMaker endpoint: the Generate page (the API is dashboard/api/generate.py)."""

from __future__ import annotations

import logging
from typing import Any

from django import forms
from django.conf import settings
from django.contrib.auth.decorators import login_required
from django.core.exceptions import ValidationError
from django.http import HttpRequest, HttpResponse
from django.shortcuts import redirect, render
from django.urls import reverse
from django.views.decorators.http import require_http_methods

from dashboard import generation, ratelimit
from dashboard.exceptions import (
    EndpointError,
    EndpointNotReady,
    EndpointStarting,
    EndpointThrottled,
    EndpointTimeout,
    EndpointUnavailable,
    ItemNotFound,
    RateLimited,
    StoreUnavailable,
)
from dashboard.validators import item_id_valid

log = logging.getLogger(__name__)

HISTORY_SIZE = 10


def endpoint_error_status(error: EndpointError) -> int:
    """The HTTP status that tells a client what kind of endpoint failure this was."""
    if isinstance(error, EndpointThrottled):
        return 429
    if isinstance(error, EndpointTimeout):
        return 504
    if isinstance(error, EndpointNotReady | EndpointUnavailable):
        return 503
    return 502  # the model failed, or answered with something that is not a generation


class GenerationForm(forms.Form):
    prompt = forms.CharField(
        widget=forms.Textarea(attrs={"rows": 4, "placeholder": "The beginning of a text for the model to continue…"}),
        strip=False,
        required=False,  # emptiness is reported by generation_params_clean, one message for page and API
    )
    max_new_tokens = forms.CharField(
        required=False,
        initial=generation.DEFAULT_MAX_NEW_TOKENS,
        widget=forms.NumberInput(attrs={"min": 1, "step": 1}),
    )
    temperature = forms.CharField(
        required=False,
        initial=generation.DEFAULT_TEMPERATURE,
        widget=forms.NumberInput(attrs={"min": 0, "max": generation.MAX_TEMPERATURE, "step": 0.1}),
    )

    def __init__(self, *args, **kwargs) -> None:
        super().__init__(*args, **kwargs)
        self.fields["max_new_tokens"].widget.attrs["max"] = settings.GENERATE_MAX_NEW_TOKENS
        self.fields["prompt"].help_text = f"Up to {settings.GENERATE_MAX_PROMPT_CHARS:,} characters."
        self.fields["max_new_tokens"].help_text = f"1 to {settings.GENERATE_MAX_NEW_TOKENS:,}."
        self.fields["temperature"].help_text = "0 = greedy (always the likeliest token); higher = more varied."

    def clean(self) -> dict[str, Any]:
        super().clean()
        data = self.cleaned_data
        try:
            self.params = generation.generation_params_clean(
                prompt=data.get("prompt", ""),
                max_new_tokens=data.get("max_new_tokens"),
                temperature=data.get("temperature"),
            )
        except ValidationError as error:
            for field, messages in error.message_dict.items():
                self.add_error(field, messages)
        return data


def _history() -> tuple[list[dict], str | None]:
    try:
        return generation.generations_recent(limit=HISTORY_SIZE), None
    except StoreUnavailable as error:
        return [], f"The generation history cannot be read right now: {error}"


@login_required
@require_http_methods(["GET", "POST"])
def generate(request: HttpRequest) -> HttpResponse:
    """POST generates, then redirects to `?id=<generation>` so a reload never generates (and pays) twice."""
    if request.method == "GET" and request.GET.get("id"):
        return _shown(request, request.GET["id"])
    form = GenerationForm(request.POST or None)
    status = 200
    result = None
    endpoint_error = None
    if request.method == "POST":
        if form.is_valid():
            try:
                generation.generation_endpoint_ready()
                with ratelimit.generation_admitted(user=request.user, tokens=form.params.max_new_tokens):
                    result = generation.generation_create(params=form.params, requested_by=request.user.get_username())
            except RateLimited as error:
                response = _page(request, form=form, endpoint_error=str(error), status=429)
                response["Retry-After"] = str(error.retry_after)
                return response
            except EndpointError as error:
                recorded = getattr(error, "generation", None)
                if recorded and recorded["stored"]:
                    return redirect(f"{reverse('dashboard:generate')}?id={recorded['id']}")
                endpoint_error = str(error)
                status = endpoint_error_status(error)
                if isinstance(error, EndpointStarting):
                    # The form stays filled in: "Try again" sends the same request once the endpoint is up.
                    response = _page(request, form=form, starting=error.retry_after, status=status)
                    response["Retry-After"] = str(error.retry_after)
                    return response
            else:
                if result["stored"]:
                    return redirect(f"{reverse('dashboard:generate')}?id={result['id']}")
        else:
            status = 400
    return _page(request, form=form, result=result, endpoint_error=endpoint_error, status=status)


def _shown(request: HttpRequest, generation_id: str) -> HttpResponse:
    """One recorded generation, with the form filled in from it for the next try."""
    try:
        if not item_id_valid(generation_id):
            raise ItemNotFound(generation_id)
        item = generation.generation_get(generation_id=generation_id)
    except ItemNotFound:
        return _page(request, form=GenerationForm(), missing=True, status=404)
    except StoreUnavailable as error:
        return _page(request, form=GenerationForm(), load_error=str(error), status=503)
    form = GenerationForm(
        initial={"prompt": item["prompt"], "max_new_tokens": item["max_new_tokens"], "temperature": item["temperature"]}
    )
    if item["status"] == "failed":
        return _page(request, form=form, endpoint_error=item["error"])
    return _page(request, form=form, result=item | {"stored": True})


def _page(
    request: HttpRequest,
    *,
    form: GenerationForm,
    result: dict | None = None,
    endpoint_error: str | None = None,
    missing: bool = False,
    load_error: str | None = None,
    starting: int | None = None,
    status: int = 200,
) -> HttpResponse:
    history, history_error = _history()
    context = {
        "form": form,
        "result": result,
        "endpoint_error": endpoint_error,
        "missing": missing,
        "load_error": load_error,
        "starting": starting,
        "endpoint": settings.SAGEMAKER_GENERATE_ENDPOINT,
        "endpoint_is_local": settings.SAGEMAKER_BACKEND == "local",
        "history": history,
        "history_error": history_error,
    }
    return render(request, "dashboard/generate.html", context, status=status)
