"""Reading a list answer's JSON text into its page object while keeping each record's own JSON text, as it came.

The cache stores every record's JSON as received; cutting it out of the answer while decoding spares encoding each
record again (measured: as much work as decoding it). Only the page object's own keys and the `content` list are
walked here; each value, and each record, is decoded by the standard library's scanner in one call.
"""

import json
import re
from collections.abc import Callable
from typing import Any, cast

# The standard library's scanner (C) and string reader; typeshed leaves both out.
_SCAN = cast(Callable[[str, int], tuple[Any, int]], json.scanner.make_scanner(json.JSONDecoder()))  # type: ignore[attr-defined]
_STRING = cast(Callable[[str, int], tuple[str, int]], json.decoder.scanstring)  # type: ignore[attr-defined]
_SPACE = re.compile(r"[ \t\n\r]*")


def _skip(text: str, at: int) -> int:
    match = _SPACE.match(text, at)
    assert match is not None  # the pattern matches the empty string
    return match.end()


def _expect(text: str, at: int, char: str) -> int:
    if text[at : at + 1] != char:
        raise json.JSONDecodeError(f"Expecting {char!r}", text, at)
    return _skip(text, at + 1)


def _value(text: str, at: int) -> tuple[Any, int]:
    try:
        return _SCAN(text, at)
    except StopIteration as exc:
        raise json.JSONDecodeError("Expecting value", text, exc.value) from None


def _records(text: str, at: int) -> tuple[list[Any], list[str], int]:
    """The list at `at`, each item decoded and its text; and where the list ends."""
    items: list[Any] = []
    texts: list[str] = []
    at = _expect(text, at, "[")
    if text[at : at + 1] == "]":
        return items, texts, at + 1
    while True:
        item, end = _value(text, at)
        items.append(item)
        texts.append(text[at:end])
        at = _skip(text, end)
        if text[at : at + 1] == "]":
            return items, texts, at + 1
        at = _expect(text, at, ",")


def decode_page(text: str) -> tuple[Any, list[str] | None]:
    """The JSON value of `text`, and when it is an object with a `content` list, the JSON text of each item of that
    list (None otherwise). Refuses what `json.loads` refuses (JSONDecodeError)."""
    at = _skip(text, 0)
    if text[at : at + 1] != "{":
        return json.loads(text), None
    page: dict[str, Any] = {}
    texts: list[str] | None = None
    at = _skip(text, at + 1)
    if text[at : at + 1] == "}":
        at += 1
    else:
        while True:
            if text[at : at + 1] != '"':
                raise json.JSONDecodeError("Expecting property name enclosed in double quotes", text, at)
            key, at = _STRING(text, at + 1)
            at = _expect(text, _skip(text, at), ":")
            if key == "content" and text[at : at + 1] == "[":
                page[key], texts, at = _records(text, at)
            else:
                page[key], at = _value(text, at)
                if key == "content":
                    texts = None
            at = _skip(text, at)
            if text[at : at + 1] == "}":
                at += 1
                break
            at = _expect(text, at, ",")
    if _skip(text, at) != len(text):
        raise json.JSONDecodeError("Extra data", text, _skip(text, at))
    return page, texts
