"""Hostile values: what a person might type, or a Kodexa deployment might answer with, in every field of a slice.

Strings go into every text field, objects into every JSON field, and the odd dates and numbers into the fields of
those types, of records cached exactly as Kodexa would answer them (`nasty_records`). NUL is left out of cached
records: PostgreSQL stores no NUL in text or jsonb, so the cache cannot hold one (the wire schema refuses it on
input, and the audit cleaner strips it); lone surrogates likewise (not UTF-8).
"""

import itertools
import re
import uuid
from html.parser import HTMLParser

from slices_admin.kodexa.contract import EXECUTION_SLICE, ORCHESTRATOR_SLICE, Resource, WireType
from tests.factories import execution_record, orchestrator_record

SCRIPT = "<script>alert(1)</script>"
IMG_ONERROR = '"><img src=x onerror=alert(1)>'
TEMPLATE_SYNTAX = "{{ 7|add:7 }}{% debug %}{% csrf_token %}"
RLO = "\u202e"
LONG_WORD = "W" * 10_000  # one unbroken word: must wrap or clip, never widen the page

STRINGS: dict[str, str] = {
    "script": SCRIPT,
    "img-onerror": IMG_ONERROR,
    "textarea-breakout": f"</textarea></pre></title>{SCRIPT}",
    "attribute-breakout": "' autofocus onfocus=alert(1) x='",
    "svg": "<svg/onload=alert(1)>",
    "template-syntax": TEMPLATE_SYNTAX,
    "javascript-url": "javascript:alert(1)",
    "data-url": "data:text/html,<script>alert(1)</script>",
    "entities": "&lt;b&gt; &amp; &#x3C;script&#x3E; &quot;",
    "formula": '=HYPERLINK("http://example.invalid","x")',
    "formula-plus": "+1+1",
    "formula-at": "@SUM(A1)",
    "formula-minus": "-cmd|' /C calc'!A0",
    "long-text": ("lorem ipsum dolor " * 6000)[:100_000],
    "long-word": LONG_WORD,
    "control": "bell\x07 backspace\x08 escape\x1b[31m red del\x7f vt\x0b ff\x0c c1\x85 end",
    "newlines": "first line\nsecond line\r\nthird\rfourth\ttabbed",
    "line-separators": "para\u2028line\u2029graph",
    "rlo": f"{RLO}gnp.exe txet desrever",
    "rlo-unterminated": f"abc{RLO}def",
    "bidi-isolate-escape": f"\u2069{RLO}escapes an isolate?",
    "bidi-mixed": "שלום world مرحبا 123",
    "rtl-marks": "\u200f\u202b embedded rtl\u202c \u2067isolate\u2069",
    "emoji": "👩‍👩‍👧‍👦 🏳️‍🌈 🇺🇳 💩",
    "combining": "Z̴̡̛͈a̶l̷g̸o̵ e\u0301 " + "a" + "\u0301" * 50,
    "zero-width": "zero\u200bwidth\u200cjoin\u200dbom\ufeffend",
    "whitespace-only": " \t ",
    "empty": "",
    "invalid-date": "2026-02-30",
    "sql": "'; DROP TABLE slices_orchestratorslice; --",
    "percent": "%s %d %(x)s {0} %%",
    "backslashes": "C:\\path\\to\\file \\u0000 \\n",
}

# Ids stay printable and within 255 characters (a URL segment and a primary key): nasty, but a real id's shape.
ID_STRINGS: dict[str, str] = {
    "script": SCRIPT,
    "img-onerror": IMG_ONERROR,
    "template-syntax": TEMPLATE_SYNTAX,
    "javascript-url": "javascript:alert(1)",
    "formula": "=1+1",
    "rlo": f"{RLO}gnp.exe",
    "bidi-mixed": "שלום-مرحبا",
    "emoji": "👩‍👩‍👧‍👦🏳️‍🌈",
    "zero-width": "a\u200bb\u200dc\ufeff",
    "url-syntax": "a/b?c=d&e#f %2F %",
    "long-word": "L" * 200,
}

DATES = [
    "2026-02-30T00:00:00Z",
    "not a date",
    "2026-02-30",
    "99999-01-01T00:00:00Z",
    "+275760-09-13T00:00:00Z",
    "0000-00-00T00:00:00Z",
    "2026-01-01T25:61:61Z",
    "9999-12-31T23:59:59-01:00",
    "2026-01-01T00:00:00",
    SCRIPT,
]

NUMBERS = [
    2**31,
    -(2**31) - 1,
    2**63 - 1,
    -(2**63),
    2**64,
    10**30,
    1e308,
    -1e308,
    -0.0,
    0.5,
    "NaN",
    "Infinity",
    "12",
    True,
]
INT32_EXTREMES = [2**31 - 1, -(2**31)]


def deep(levels: int, leaf=SCRIPT) -> dict:
    """`{"a": {"a": … leaf}}`, `levels` objects deep (alternating with lists)."""
    value = leaf
    for level in range(levels):
        value = {"a": value} if level % 2 else [value]
    return {"deep": value}


def wide(keys: int) -> dict:
    return {f"key-{n}-{SCRIPT}": n for n in range(keys)}


def object_of_strings() -> dict:
    """Every nasty string as a key and as a value, with the number extremes beside them."""
    return {
        **{name: value for name, value in STRINGS.items() if name not in ("long-text",)},
        **{value[:200]: name for name, value in STRINGS.items()},
        "numbers": [n for n in NUMBERS if not isinstance(n, str)],
        "traceback": f'Traceback (most recent call last):\n  File "{SCRIPT}", line 1\n{RLO}Error: {LONG_WORD[:3000]}',
    }


_sequence = itertools.count()


def _record(resource: Resource, *, text: str, id_text: str, obj: dict, date, number) -> dict:
    n = next(_sequence)
    base = orchestrator_record() if resource is ORCHESTRATOR_SLICE else execution_record()
    record = dict(base)
    for field in resource.fields:
        if field.wire_name == "id":
            continue
        if field.type is WireType.STRING:
            record[field.wire_name] = text
        elif field.type is WireType.OBJECT:
            record[field.wire_name] = obj
        elif field.type is WireType.DATETIME and date is not None:
            record[field.wire_name] = date
        elif field.type is WireType.INT32 and number is not None:
            record[field.wire_name] = number
    record["id"] = f"{id_text}-{n}"[-255:] if id_text else str(uuid.uuid4())
    record[f"unknown {SCRIPT}"] = {RLO: text[:300]}  # fields outside the contract are shown too
    return record


def nasty_records(resource: Resource) -> list[dict]:
    """Records as Kodexa might answer them: each nasty string in every text field (with a nasty id), the odd
    dates and numbers, and objects that are deep, wide and full of the strings."""
    objects = object_of_strings()
    ids = list(ID_STRINGS.values())
    records = [
        _record(resource, text=text, id_text=ids[i % len(ids)], obj=objects, date=None, number=None)
        for i, text in enumerate(STRINGS.values())
    ]
    records += [
        _record(resource, text=SCRIPT, id_text="", obj={}, date=date, number=number)
        for date, number in itertools.zip_longest(DATES, NUMBERS + INT32_EXTREMES)
    ]
    records.append(_record(resource, text=LONG_WORD, id_text="deep", obj=deep(260), date=None, number=None))
    records.append(_record(resource, text=SCRIPT, id_text="deeper", obj=deep(900), date=None, number=None))
    records.append(_record(resource, text=SCRIPT, id_text="wide", obj=wide(10_000), date=None, number=None))
    return records


def pipeline_of(resource: Resource) -> str:
    return "pipelineExecutionId" if resource is ORCHESTRATOR_SLICE else "executionId"


RESOURCES = (ORCHESTRATOR_SLICE, EXECUTION_SLICE)


# --- checks on what a page made of these values -----------------------------------------------------------------
_BIDI_CONTROLS = re.compile("[\u202a-\u202e\u2066-\u2069]")
_ISOLATING_ELEMENTS = {"bdi", "textarea", "pre"}  # <pre> holds one JSON value: a block of its own
_URL_ATTRIBUTES = {"href", "src", "action", "formaction", "xlink:href", "data", "poster"}


class _MarkupCheck(HTMLParser):
    """Elements and attributes as a browser would see them."""

    def __init__(self):
        super().__init__(convert_charrefs=True)
        self.problems: list[str] = []

    def handle_starttag(self, tag, attrs):
        values = dict(attrs)
        if tag == "script" and not (values.get("src") or "").startswith("/static/"):
            self.problems.append(f"a <script> not the console's own: {attrs}")
        if tag in ("img", "iframe", "object", "embed", "base", "meta") and tag != "meta":
            self.problems.append(f"a <{tag}> element: {attrs}")
        for name, value in attrs:
            if name.startswith("on"):
                self.problems.append(f"an event handler attribute: <{tag} {name}={value!r}>")
            if name in _URL_ATTRIBUTES and re.match(r"\s*(javascript|data|vbscript):", value or "", re.I):
                self.problems.append(f"a script URL: <{tag} {name}={value!r}>")

    handle_startendtag = handle_starttag


def assert_safe_html(body: str) -> None:
    """Nothing from the data became markup: no script but the console's own, no element that loads or runs
    anything, no event handler attribute, no script URL in a link."""
    check = _MarkupCheck()
    check.feed(body)
    check.close()
    assert not check.problems, check.problems[:5]


class _BidiCheck(HTMLParser):
    """Text nodes holding bidi controls outside any element that isolates them (<bdi>, an element with `dir`,
    a text area or a <pre>): there an RLO would flip the page's own text after it."""

    VOID = {"area", "base", "br", "col", "embed", "hr", "img", "input", "link", "meta", "source", "track", "wbr"}

    def __init__(self):
        super().__init__(convert_charrefs=True)
        self.stack: list[tuple[str, bool]] = []
        self.leaks: list[str] = []

    def handle_starttag(self, tag, attrs):
        if tag in self.VOID:
            return
        isolating = tag in _ISOLATING_ELEMENTS or any(name == "dir" for name, _value in attrs)
        self.stack.append((tag, isolating))

    def handle_endtag(self, tag):
        for index in range(len(self.stack) - 1, -1, -1):
            if self.stack[index][0] == tag:
                del self.stack[index:]
                return

    def handle_data(self, data):
        if not _BIDI_CONTROLS.search(data) or any(isolating for _tag, isolating in self.stack):
            return
        if self.stack and self.stack[-1][0] == "title" and _isolated_in_text(data):
            return
        self.leaks.append(f"<{'><'.join(tag for tag, _ in self.stack[-4:])}> {data[:80]!r}")


def _isolated_in_text(text: str) -> bool:
    """Every bidi control sits between a first-strong isolate (U+2068) and its pop (U+2069)."""
    depth = 0
    for character in text:
        if character == "\u2068":
            depth += 1
        elif character == "\u2069" and depth:
            depth -= 1
        elif _BIDI_CONTROLS.match(character) and not depth:
            return False
    return True


def bidi_leaks(body: str) -> list[str]:
    check = _BidiCheck()
    check.feed(body)
    check.close()
    return check.leaks
