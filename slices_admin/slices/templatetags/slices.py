"""Small display helpers for slice pages: cell values, shortened ids, status badges."""

from django import template
from django.utils import timezone

register = template.Library()


@register.filter
def attr(obj, name):
    return getattr(obj, name, None)


@register.filter
def short_id(value, length=8):
    """`3f2c9a1e…` for a long id; the full value stays in the title and the copy button."""
    text = "" if value is None else str(value)
    return text if len(text) <= length + 1 else f"{text[:length]}…"


@register.filter
def status_class(value):
    text = str(value or "unknown").lower()
    return "status-" + "".join(c if c.isalnum() else "-" for c in text)


@register.filter
def iso(value):
    return timezone.localtime(value).isoformat(timespec="seconds") if value else ""
