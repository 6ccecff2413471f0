"""How slices and their changes read on a page: shortened ids, status classes, times, durations, JSON, a slice's
timeline. Plain functions of their values; `templatetags.slices` registers them as filters for the templates."""

import json
import unicodedata
from dataclasses import dataclass

from django.utils import timezone
from django.utils.html import escape
from django.utils.safestring import SafeString, mark_safe


def short_id(value, length=8):
    """`3f2c9a1e…` for a long id; the full value stays in the title and the copy button."""
    text = "" if value is None else str(value)
    return text if len(text) <= length + 1 else f"{text[:length]}…"


def status_class(value):
    text = str(value or "unknown").lower()
    return "status-" + "".join(c if c.isalnum() else "-" for c in text)


def iso(value):
    return timezone.localtime(value).isoformat(timespec="seconds") if value else ""


def relative_time(when, now) -> str:
    """`4 min ago` / `in 3 h`: a cheap, compact naturaltime for dense tables."""
    seconds = (now - when).total_seconds()
    future, seconds = seconds < 0, abs(seconds)
    if seconds < 45:
        text = "now" if seconds < 5 else f"{int(seconds)} s"
    elif seconds < 3600:
        text = f"{round(seconds / 60)} min"
    elif seconds < 86400:
        text = f"{seconds / 3600:.0f} h"
    else:
        text = f"{seconds / 86400:.0f} d"
    if text == "now":
        return text
    return f"in {text}" if future else f"{text} ago"


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


_BIDI_CONTROLS = dict.fromkeys(map(ord, "\u202a\u202b\u202c\u202d\u202e\u2066\u2067\u2068\u2069"))
_REORDERING = {"R", "AL", "AN", "LRE", "RLE", "LRO", "RLO", "PDF", "LRI", "RLI", "FSI", "PDI"}


def isolate(value) -> str:
    """Text set inside other plain text (a page title, a message) so it cannot reorder the words around it: its
    own bidi controls dropped, the rest wrapped in a first-strong isolate (U+2068 … U+2069). Text with nothing
    right-to-left in it is left as it is. In HTML, prefer <bdi> or dir="auto", which keep the value exact."""
    text = "" if value is None else str(value)
    if text.isascii() or not any(unicodedata.bidirectional(c) in _REORDERING for c in text):
        return text
    return "\u2068" + text.translate(_BIDI_CONTROLS) + "\u2069"


ONE_LINE_PATH = 60  # characters of a key path kept on one line on a wide screen


def key_path(value) -> SafeString:
    """A key path (`stepsConfig.steps[3].name`) that may break only after a dot or before a bracket, where it breaks
    at all: on one line up to ONE_LINE_PATH characters on a wide screen (the stylesheet), between keys on a phone,
    and a longer one anywhere it must."""
    text = "" if value is None else str(value)
    marked = escape(text).replace(".", ".<wbr>").replace("[", "<wbr>[")
    if len(text) > ONE_LINE_PATH:
        marked = f'<span class="long-path">{marked}</span>'
    return mark_safe(marked)  # noqa: S308 (escaped above)


PRETTY_DEPTH = 12  # levels shown indented; anything deeper is shown on one line, so indentation stays readable
SHOWN_CHARACTERS = 200_000  # of one value on a page; the JSON API and the exports carry the rest


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
    items = sorted(value.items(), key=lambda item: str(item[0])) if isinstance(value, dict) else list(enumerate(value))
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


def scale(percent):
    """A timeline position in percent → SVG user units on a 1000-wide canvas."""
    return f"{float(percent) * 10:.1f}"


def percent(share):
    """0..1 → SVG width on a 100-wide bar, never invisible when non-zero."""
    return f"{max(float(share) * 100, 0.5 if share else 0):.1f}"


@dataclass(frozen=True)
class Phase:
    label: str
    start: float  # percent of the timeline's width
    width: float
    duration: str
    css: str


@dataclass(frozen=True)
class Marker:
    label: str
    at: float
    when: object
    css: str
    offset: str  # time since the first moment, e.g. "+1 min 58 s"


@dataclass(frozen=True)
class Timeline:
    phases: list[Phase]
    markers: list[Marker]
    ends_now: bool


def _human(seconds: float) -> str:
    seconds = max(0, round(seconds))
    if seconds < 60:
        return f"{seconds} s"
    minutes, seconds = divmod(seconds, 60)
    if minutes < 60:
        return f"{minutes} min {seconds} s"
    hours, minutes = divmod(minutes, 60)
    if hours < 48:
        return f"{hours} h {minutes} min"
    return f"{hours // 24} d {hours % 24} h"


def timeline(row, now) -> Timeline | None:
    """The slice's lifecycle to scale: queued → leased → started → completed, lease expiry marked."""
    points = [
        ("Queued", row.queued_at),
        ("Leased", row.leased_at),
        ("Started", row.started_at),
        ("Completed", row.completed_at),
    ]
    known = [(label, when) for label, when in points if when is not None]
    if not known:
        return None
    first = min(when for _label, when in known)
    end = row.completed_at or now
    moments = [when for _label, when in known] + [end]
    if row.lease_expires_at:
        moments.append(row.lease_expires_at)
    last = max(moments)
    span = max((last - first).total_seconds(), 1.0)

    def at(when) -> float:
        return round((when - first).total_seconds() / span * 100, 2)

    phases = []
    names = {"Queued": ("Waiting for a worker", "wait"), "Leased": ("Starting", "lease"), "Started": ("Running", "run")}
    for (label, when), (_next_label, next_when) in zip(known, [*known[1:], ("end", end)], strict=True):
        if label == "Completed" or next_when < when:
            continue
        text, css = names[label]
        if next_when is end and row.completed_at is None:
            text += " (so far)"
        phases.append(
            Phase(text, at(when), max(at(next_when) - at(when), 0.3), _human((next_when - when).total_seconds()), css)
        )

    def marker(label, when, css) -> Marker:
        seconds = (when - first).total_seconds()
        return Marker(label, at(when), when, css, f"+{_human(seconds)}" if seconds else "start")

    markers = [marker(label, when, "point") for label, when in known]
    if row.lease_expires_at:
        expired = row.completed_at is None and row.lease_expires_at < now
        label = "Lease expired" if expired else "Lease expires"
        markers.append(marker(label, row.lease_expires_at, "expired" if expired else "lease"))
    return Timeline(phases=phases, markers=markers, ends_now=row.completed_at is None)


def readable_traceback(error_details) -> str:
    """A traceback carried in errorDetails (a string or a list of lines), as plain text to read; else ""."""
    if not isinstance(error_details, dict):
        return ""
    traceback = error_details.get("traceback") or error_details.get("stackTrace") or error_details.get("stack")
    if isinstance(traceback, str):
        return traceback
    if isinstance(traceback, list) and all(isinstance(line, str) for line in traceback):
        return "\n".join(line.rstrip("\n") for line in traceback)
    return ""
