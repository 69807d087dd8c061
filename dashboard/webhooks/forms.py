"""The form that registers a webhook on its page."""

from __future__ import annotations

from typing import Any

from django import forms

from dashboard.exceptions import WebhookUrlRefused
from dashboard.webhooks import services
from dashboard.webhooks.models import EVENT_TYPES


class WebhookForm(forms.Form):
    url = forms.CharField(
        label="URL",
        max_length=2000,
        widget=forms.URLInput(attrs={"placeholder": "https://example.com/hooks/console", "autocomplete": "off"}),
        help_text="POSTed to with each event, signed. Only public addresses are allowed.",
    )
    events = forms.MultipleChoiceField(
        choices=[(event, event) for event in EVENT_TYPES],
        widget=forms.CheckboxSelectMultiple,
        initial=list(EVENT_TYPES),
    )

    def clean_url(self) -> str:
        try:
            return services.webhook_url_clean(self.cleaned_data["url"])
        except WebhookUrlRefused as error:
            raise forms.ValidationError(str(error)) from None

    def clean_events(self) -> list[str]:
        events: Any = self.cleaned_data["events"]
        return services.webhook_events_clean(list(events))
