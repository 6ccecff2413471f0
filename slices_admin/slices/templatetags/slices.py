"""Small display helpers for slice pages: cell values, shortened ids, status badges."""

import json

from django import template
from django.utils import timezone

register = template.Library()


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


@register.filter
def get(mapping, key):
    """`request.GET|get:name` for a parameter whose name is in a variable."""
    return mapping.get(key, "")


@register.filter
def get_suffixed(mapping, name):
    """The `<name>_after` and `<name>_before` values of a time range filter."""
    return [mapping.get(f"{name}_after", ""), mapping.get(f"{name}_before", "")]


@register.filter
def duration_ms(value):
    """900143 → `15 min 0 s`; 850 → `850 ms`."""
    if value is None:
        return ""
    value = int(value)
    if value < 1000:
        return f"{value} ms"
    seconds = value / 1000
    if seconds < 60:
        return f"{seconds:.1f} s"
    minutes, seconds = divmod(int(seconds), 60)
    if minutes < 60:
        return f"{minutes} min {seconds} s"
    hours, minutes = divmod(minutes, 60)
    return f"{hours} h {minutes} min"


@register.filter
def scale(percent):
    """A timeline position in percent → SVG user units on a 1000-wide canvas."""
    return f"{float(percent) * 10:.1f}"


@register.filter
def json_pretty(value):
    if value is None:
        return "null"
    if isinstance(value, str):
        return value
    return json.dumps(value, indent=2, ensure_ascii=False, sort_keys=True)


@register.filter
def percent(share):
    """0..1 → SVG width on a 100-wide bar, never invisible when non-zero."""
    return f"{max(float(share) * 100, 0.5 if share else 0):.1f}"


@register.filter
def as_list(first, second):
    return [item for item in (first, second) if item is not None]
