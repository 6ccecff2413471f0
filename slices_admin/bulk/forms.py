"""The bulk-edit form: what to set, why, and (for large edits) the typed count that confirms it."""

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

    def __init__(self, *args: Any, **kwargs: Any) -> None:
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
        """What was typed, as a number ("1,204" and "1204" alike); anything else confirms nothing."""
        typed = (self.cleaned_data.get("confirm_count") or "").replace(",", "").replace(" ", "")
        return int(typed) if typed.isascii() and typed.isdigit() and len(typed) < 12 else None

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
