"""HTML forms for a whole slice record, built from the contract and validated by the same wire schema as the API.

The browser sends text; this turns each field's text into its wire value (numbers, JSON objects, nulls) and lets
the wire schema decide what is valid, so a form and a script get the same errors for the same values.
"""

import json
from typing import Any

from django import forms

from slices_admin.kodexa.contract import INT32_MAX, INT32_MIN, ContractField, Resource, WireType
from slices_admin.kodexa.schemas import InvalidRecord, nests_deeper_than, validate_input

# Shown grouped on forms and detail pages.
FIELD_GROUPS = (
    ("Identity", ("id", "uuid", "organizationId", "pipelineExecutionId", "executionId", "moduleRuntimeId",
                  "moduleRuntimeRef", "sliceOrder", "stepStartOrder", "stepEndOrder", "changeSequence")),
    ("Lifecycle", ("status", "attemptNumber", "queuedAt", "leasedAt", "leaseExpiresAt", "startedAt",
                   "completedAt", "durationMs", "lambdaRequestId", "logGroup", "logStream", "createdAt",
                   "createdOn", "updatedOn")),
    ("Errors", ("errorMessage", "errorDetails")),
    ("Payloads", ("inputEvent", "outputEvent", "stepsConfig")),
)  # fmt: skip


def grouped(resource: Resource) -> list[tuple[str, list[ContractField]]]:
    by_name = {f.wire_name: f for f in resource.fields}
    return [(title, [by_name[n] for n in names if n in by_name]) for title, names in FIELD_GROUPS]


def label_for(wire_name: str) -> str:
    """`pipelineExecutionId` → `Pipeline execution ID`."""
    words = "".join(f" {c.lower()}" if c.isupper() else c for c in wire_name).split()
    words = [_LABEL_WORDS.get(word, word) for word in words]
    return " ".join([words[0][0].upper() + words[0][1:], *words[1:]])


_LABEL_WORDS = {"id": "ID", "uuid": "UUID", "ms": "(ms)"}


# String fields whose value may run over several lines: an <input> would drop the line breaks.
_MULTILINE = {"errorMessage"}


def _form_field(field: ContractField, *, readonly: bool, multiline: bool = False) -> forms.Field:
    attrs: dict[str, Any] = {"autocomplete": "off", "spellcheck": "false"}
    if readonly:
        attrs["readonly"] = True
    help_text = field.wire_name + (" · may be empty (null)" if field.nullable else "")
    widget: forms.Widget
    if field.type is WireType.STRING and (multiline or field.wire_name in _MULTILINE):
        widget = forms.Textarea(attrs={**attrs, "rows": 2, "class": "text-lines"})
    elif field.type is WireType.OBJECT:
        widget = forms.Textarea(attrs={**attrs, "rows": 6, "class": "json-editor", "data-json-editor": ""})
        help_text += " · JSON object"
    elif field.type is WireType.INT32:
        widget = forms.TextInput(attrs={**attrs, "inputmode": "numeric"})
        help_text += f" · whole number {INT32_MIN}…{INT32_MAX}"
    elif field.type is WireType.DATETIME:
        widget = forms.TextInput(attrs={**attrs, "placeholder": "2026-11-23T09:30:00Z"})
        help_text += " · RFC 3339, with time zone"
    elif field.wire_name == "status":
        widget = forms.TextInput(attrs={**attrs, "list": "status-choices"})
        help_text += " · any string; the usual ones are suggested"
    else:
        widget = forms.TextInput(attrs=attrs)
    return forms.CharField(
        label=label_for(field.wire_name), required=False, strip=False, widget=widget, help_text=help_text
    )


_INDENTED_DEPTH = 20


def _refuse_constant(name: str):
    raise ValueError(f"Not valid JSON: {name} is not a JSON number.")


class SliceRecordForm(forms.Form):
    """Every field of one resource. `partial=True` (a create) leaves blank fields out of the body; otherwise (a
    full replace) a blank field means null where the contract allows it, `{}` for objects, `""` for strings.
    A string with line breaks is edited in a text area (an <input> drops them), and CRLF comes back as LF."""

    def __init__(
        self,
        *args,
        resource: Resource,
        partial: bool,
        readonly: tuple[str, ...] = (),
        record_id: str | None = None,
        **kwargs,
    ):
        super().__init__(*args, **kwargs)
        self.resource, self.partial, self.record_id = resource, partial, record_id
        self.contract = {f.wire_name: f for f in resource.fields}
        shown = self.data if self.is_bound else self.initial
        for _title, fields in grouped(resource):
            for field in fields:
                text = shown.get(field.wire_name)
                self.fields[field.wire_name] = _form_field(
                    field,
                    readonly=field.wire_name in readonly,
                    multiline=isinstance(text, str) and ("\n" in text or "\r" in text),
                )
        self.values: dict[str, Any] = {}
        self._body: dict[str, Any] = {}

    def groups(self):
        return [(title, [self[f.wire_name] for f in fields]) for title, fields in grouped(self.resource)]

    @staticmethod
    def initial_from_record(record: dict[str, Any]) -> dict[str, str]:
        """A wire record → the text each input shows."""
        initial = {}
        for name, value in record.items():
            if value is None:
                initial[name] = ""
            elif isinstance(value, dict | list):
                # Indented to read and edit; on one line when deep, where indentation would outgrow the data.
                indent = None if nests_deeper_than(value, _INDENTED_DEPTH) else 2
                initial[name] = json.dumps(value, indent=indent, ensure_ascii=False)
            else:
                initial[name] = str(value)
        return initial

    def _wire_value(self, field: ContractField, text: str) -> Any:
        if text.strip() == "":
            if field.nullable:
                return None
            if field.type is WireType.OBJECT:
                return {}
            if field.type is WireType.STRING:
                return ""
            raise forms.ValidationError("Required: PUT replaces the whole record.")
        if field.type is WireType.INT32:
            try:
                return int(text.strip())
            except ValueError:
                raise forms.ValidationError("Must be a whole number.") from None
        if field.type is WireType.OBJECT:
            try:
                return json.loads(text, parse_constant=_refuse_constant)
            except json.JSONDecodeError as exc:
                raise forms.ValidationError(
                    f"Not valid JSON: {exc.msg} at line {exc.lineno}, column {exc.colno}."
                ) from None
            except ValueError as exc:
                raise forms.ValidationError(str(exc)) from None
            except RecursionError:
                raise forms.ValidationError("Not valid JSON here: nested far too deeply.") from None
        if field.type is WireType.DATETIME:
            return text.strip()
        # A browser submits a line break in a text area as CRLF (and htmx as LF): both mean the LF Kodexa sent.
        return text.replace("\r\n", "\n")

    def wire_body(self) -> dict[str, Any]:
        """The body the inputs describe (only valid after `is_valid()`)."""
        return self._body

    def clean(self):
        body: dict[str, Any] = {}
        for name, field in self.contract.items():
            text = self.cleaned_data.get(name) or ""
            if self.partial and text.strip() == "":
                continue
            try:
                body[name] = self._wire_value(field, text)
            except forms.ValidationError as exc:
                self.add_error(name, exc)
        self._body = body
        if self.record_id is not None and body.get("id") != self.record_id:
            self.add_error("id", f"Must stay the id of the slice being edited ({self.record_id}): an id cannot change.")
        if self.errors:
            return self.cleaned_data
        try:
            self.values = validate_input(self.resource, body, partial=self.partial)
        except InvalidRecord as exc:
            self.add_wire_errors(exc.field_errors)
        return self.cleaned_data

    def add_wire_errors(self, errors: dict[str, Any]) -> None:
        """Attach field errors keyed by wire name (ours or Kodexa's) to the matching inputs."""
        for name, messages in errors.items():
            messages = messages if isinstance(messages, list) else [messages]
            self.add_error(name if name in self.fields else None, [str(m) for m in messages])
