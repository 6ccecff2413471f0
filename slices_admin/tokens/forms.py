"""The form that names a new token and chooses when it expires."""

from typing import Any

from django import forms

from .services import default_expiry_days, expiry_choices


def _days(days: int) -> str:
    return "1 year" if days == 365 else f"{days} day{'s' if days != 1 else ''}"


class NewTokenForm(forms.Form):
    name = forms.CharField(
        label="Name",
        max_length=100,
        help_text="What it is for, e.g. the script or machine that uses it.",
        error_messages={"required": "Name the token, so you can tell it apart from your others."},
        widget=forms.TextInput(attrs={"autocomplete": "off", "placeholder": "e.g. nightly retry script"}),
    )
    expires_in = forms.TypedChoiceField(label="Expires in", coerce=int)

    def __init__(self, *args: Any, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        field = self.fields["expires_in"]
        assert isinstance(field, forms.TypedChoiceField)
        field.choices = [(days, _days(days)) for days in expiry_choices()]
        field.initial = default_expiry_days()
