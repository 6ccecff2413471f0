"""Small display helpers for slice pages: cell values, shortened ids, status badges."""

import json
import unicodedata

from django import template
from django.utils import timezone
from django.utils.html import escape
from django.utils.safestring import SafeString, mark_safe

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


PRETTY_DEPTH = 12  # levels shown indented; anything deeper is shown on one line, so indentation stays readable
SHOWN_CHARACTERS = 200_000  # of one value on a page; the JSON API and the exports carry the rest


@register.filter
def json_pretty(value):
    """A JSON value to read: indented to PRETTY_DEPTH levels, deeper levels compact on one line each, and cut
    with a note past SHOWN_CHARACTERS. Any depth renders (the indented part recurses at most PRETTY_DEPTH
    times); past what the JSON encoder itself can nest, the subtree is replaced by a note."""
    if value is None:
        return "null"
    if isinstance(value, str):
        return value
    parts: list[str] = []
    _pretty(value, 0, parts)
    text = "".join(parts)
    if len(text) <= SHOWN_CHARACTERS:
        return text
    cut = text.rfind("\n", 0, SHOWN_CHARACTERS) + 1 or SHOWN_CHARACTERS
    return f"{text[:cut]}… {len(text) - cut:,} more characters not shown here (the JSON API and exports have them)"


def _pretty(value, depth: int, parts: list[str]) -> None:
    if not isinstance(value, dict | list) or not value:
        parts.append(_compact(value))
        return
    if depth >= PRETTY_DEPTH:
        parts.append(_compact(value))
        return
    pad, inner = "  " * depth, "  " * (depth + 1)
    is_object = isinstance(value, dict)
    items = sorted(value.items(), key=lambda item: str(item[0])) if is_object else list(enumerate(value))
    parts.append("{\n" if is_object else "[\n")
    for index, (key, item) in enumerate(items):
        parts.append(inner)
        if is_object:
            parts.append(f"{_compact(str(key))}: ")
        _pretty(item, depth + 1, parts)
        parts.append(",\n" if index < len(items) - 1 else "\n")
    parts.append(pad + ("}" if is_object else "]"))


def _compact(value) -> str:
    try:
        return json.dumps(value, ensure_ascii=False, sort_keys=True, default=str)
    except RecursionError:
        return '"… nested too deeply to show here: read the record through the JSON API"'
    except (TypeError, ValueError):  # keys of mixed types cannot be sorted
        return json.dumps(value, ensure_ascii=False, default=str)


_BIDI_CONTROLS = dict.fromkeys(map(ord, "\u202a\u202b\u202c\u202d\u202e\u2066\u2067\u2068\u2069"))
_REORDERING = {"R", "AL", "AN", "LRE", "RLE", "LRO", "RLO", "PDF", "LRI", "RLI", "FSI", "PDI"}


@register.filter
def isolate(value) -> str:
    """Text set inside other plain text (a page title, a message) so it cannot reorder the words around it: its
    own bidi controls dropped, the rest wrapped in a first-strong isolate (U+2068 … U+2069). Text with nothing
    right-to-left in it is left as it is. In HTML, prefer <bdi> or dir="auto", which keep the value exact."""
    text = "" if value is None else str(value)
    if text.isascii() or not any(unicodedata.bidirectional(c) in _REORDERING for c in text):
        return text
    return "\u2068" + text.translate(_BIDI_CONTROLS) + "\u2069"


@register.filter
def percent(share):
    """0..1 → SVG width on a 100-wide bar, never invisible when non-zero."""
    return f"{max(float(share) * 100, 0.5 if share else 0):.1f}"


@register.filter
def as_list(first, second):
    return [item for item in (first, second) if item is not None]


ONE_LINE_PATH = 60  # characters of a key path kept on one line on a wide screen


@register.filter
def key_path(value) -> SafeString:
    """A key path (`stepsConfig.steps[3].name`) that may break only after a dot or before a bracket, where it breaks
    at all: on one line up to ONE_LINE_PATH characters on a wide screen (the stylesheet), between keys on a phone,
    and a longer one anywhere it must."""
    text = "" if value is None else str(value)
    marked = escape(text).replace(".", ".<wbr>").replace("[", "<wbr>[")
    if len(text) > ONE_LINE_PATH:
        marked = f'<span class="long-path">{marked}</span>'
    return mark_safe(marked)  # noqa: S308 (escaped above)
