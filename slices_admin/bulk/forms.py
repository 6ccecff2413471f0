"""The bulk-edit form: what to set, why, and (for large edits) the typed count that confirms it."""

from datetime import UTC, datetime
from typing import Any, cast

from django import forms
from django.conf import settings
from django.utils.datastructures import MultiValueDict

from .changes import Change
from .services import Selection

ERROR_MODES = (("keep", "Leave each slice's error message as it is"), ("clear", "Clear it"), ("set", "Set it to:"))
_FIELD = {"targetStatus": "target_status", "reason": "reason", "errorMessage": "error_message"}


class BulkEditForm(forms.Form):
    # The selection travels with the form: the list's filter, or the ids picked on a page.
    scope = forms.ChoiceField(choices=(("filter", "filter"), ("ids", "ids")), widget=forms.HiddenInput)
    filter = forms.CharField(required=False, widget=forms.HiddenInput)
    ids = forms.MultipleChoiceField(required=False, widget=forms.MultipleHiddenInput)
    target_status = forms.ChoiceField(label="Set status to", error_messages={"required": "Choose the status to set."})
    error_mode = forms.ChoiceField(label="Error message", choices=ERROR_MODES, initial="keep", widget=forms.RadioSelect)
    error_message = forms.CharField(label="New error message", required=False, max_length=10000)
    reason = forms.CharField(
        label="Reason",
        max_length=2000,
        widget=forms.Textarea(attrs={"rows": 2, "placeholder": "Why this change? It goes into every audit entry."}),
        help_text="Required. Recorded in the audit entry of every slice this job touches.",
        error_messages={"required": "Say why: the reason goes into every audit entry of the job."},
    )
    confirm_count = forms.CharField(label="Type the number of slices that will change", required=False, max_length=20)
    max_rate = forms.FloatField(
        label="Maximum rate (requests a second)",
        required=False,
        min_value=0.1,
        widget=forms.NumberInput(attrs={"step": "any", "placeholder": "no limit"}),
        help_text="For the job as a whole, however many workers share it. Empty: as fast as its concurrency allows.",
    )
    start_at = forms.DateTimeField(
        label="Start at (UTC)",
        required=False,
        widget=forms.DateTimeInput(attrs={"type": "datetime-local", "data-utc-input": ""}, format="%Y-%m-%dT%H:%M"),
        help_text="Empty: now. Scheduled, it counts its selection again then and does not start if it drifted.",
    )

    def __init__(self, *args: Any, **kwargs: Any) -> None:
        kwargs.setdefault("initial", {}).setdefault("max_rate", settings.BULK_DEFAULT_RATE)
        super().__init__(*args, **kwargs)
        # `fields` holds copies of the fields declared above, typed as any Field.
        target_status = cast(forms.ChoiceField, self.fields["target_status"])
        target_status.choices = [("", "Choose a status")] + [
            (status, status) for status in settings.BULK_TARGET_STATUSES
        ]
        ids = cast(forms.MultipleChoiceField, self.fields["ids"])
        data = cast(MultiValueDict[str, str], self.data)  # request.POST, or Django's empty MultiValueDict if unbound
        ids.choices = [(i, i) for i in data.getlist("ids")] if data else []

    def clean(self) -> dict[str, Any]:
        super().clean()
        data = self.cleaned_data  # what Form.clean returns (its stub also allows None, for overrides)
        if data.get("scope") == "ids" and not data.get("ids"):
            self.add_error(None, "Select at least one slice on the list, or edit all that match the filter.")
        if data.get("error_mode") == "set" and not (data.get("error_message") or "").strip():
            self.add_error("error_message", "Type the message to set, or choose to leave or clear it.")
        change = self.change if not self.errors else None
        for name, message in (change.errors() if change else {}).items():
            self.add_error(_FIELD.get(name), message)
        return data

    def clean_confirm_count(self) -> int | None:
        return typed_count(self.cleaned_data.get("confirm_count"))

    def clean_start_at(self) -> datetime | None:
        """The time as typed, in UTC whatever the server's or the browser's time zone (the page shows it in both)."""
        typed: datetime | None = self.cleaned_data.get("start_at")
        return typed.replace(tzinfo=UTC) if typed is not None and typed.tzinfo is None else typed

    @property
    def selection(self) -> Selection:
        data = self.cleaned_data
        if data.get("scope") == "ids":
            return Selection.from_ids(data.get("ids") or [])
        return Selection(filter=data.get("filter") or "")

    @property
    def change(self) -> Change:
        data = self.cleaned_data
        message = {"keep": None, "clear": "", "set": (data.get("error_message") or "").strip()}[data["error_mode"]]
        return Change(data.get("target_status") or "", message, data.get("reason") or "")


def typed_count(text: str | None) -> int | None:
    """A typed count as a number ("1,204" and "1204" alike); anything else confirms nothing."""
    typed = (text or "").replace(",", "").replace(" ", "")
    return int(typed) if typed.isascii() and typed.isdigit() and len(typed) < 12 else None


class RateForm(forms.Form):
    max_rate = forms.FloatField(
        label="Maximum rate (requests a second)",
        required=False,
        min_value=0.1,
        widget=forms.NumberInput(attrs={"step": "any", "placeholder": "no limit"}),
    )


class UndoForm(RateForm):
    reason = forms.CharField(
        label="Reason",
        max_length=2000,
        widget=forms.Textarea(attrs={"rows": 2, "placeholder": "Why undo it? It goes into every audit entry."}),
        error_messages={"required": "Say why: the reason goes into every audit entry of the undo."},
    )
    confirm_count = forms.CharField(required=False, max_length=20)


class RejectForm(forms.Form):
    reason = forms.CharField(
        label="Why reject it",
        max_length=2000,
        widget=forms.Textarea(attrs={"rows": 2}),
        error_messages={"required": "Say why it is rejected: the requester sees it, and the audit log keeps it."},
    )
