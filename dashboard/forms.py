from __future__ import annotations

from django import forms
from django.conf import settings

from dashboard.validators import submission_text_clean


class SubmissionForm(forms.Form):
    text = forms.CharField(
        widget=forms.Textarea(attrs={"rows": 5, "placeholder": "Type or paste a text to classify…", "autofocus": True}),
        strip=False,
        required=False,  # emptiness is reported by submission_text_clean, with one message for form and API
    )

    def __init__(self, *args, **kwargs) -> None:
        super().__init__(*args, **kwargs)
        self.fields["text"].help_text = f"Up to {settings.SUBMISSION_MAX_CHARS:,} characters."

    def clean_text(self) -> str:
        return submission_text_clean(self.cleaned_data.get("text", ""))
