"""JSON and JSON Lines: one record a section, its prose as text, the rest as one line of fields.

A record is an object: the items of a top-level array, the array under ``data``, ``items``,
``records`` or ``results``, a lone object, or each line of a JSONL file. Its title is the first of
``title``, ``name``, ``question``, ``subject``, ``heading``; its text the values of ``text``,
``body``, ``content``, ``answer``, ``description``, ``summary``, ``message`` and any other string of
more than 80 characters; every other scalar (an id, a price, a category, a date; nested objects
flattened as ``a.b``) goes on a ``key: value; …`` line after the text, so it is searchable and
in the passage's context without drowning the prose. Each passage cites its record (its line number
in JSONL, its position otherwise).
"""

from __future__ import annotations

import json
from collections.abc import Iterator
from typing import Any

from backend.errors import EmptyContent, InvalidInput
from ingest.loaders.base import ParsedDocument
from ingest.loaders.decoding import decode_text
from ingest.loaders.located import LocatedBuilder

TITLE_KEYS = ("title", "name", "question", "subject", "heading")
TEXT_KEYS = ("text", "body", "content", "answer", "description", "summary", "message")
LONG_TEXT = 80
MAX_RECORDS = 200_000
MAX_FIELDS = 30
MAX_VALUE_CHARS = 200
CONTAINERS = ("data", "items", "records", "results")


def _flat(record: dict[str, Any], prefix: str = "") -> Iterator[tuple[str, Any]]:
    for key, value in record.items():
        if isinstance(value, dict) and not prefix:  # one level: deeper structure is not prose
            yield from _flat(value, f"{key}.")
        else:
            yield f"{prefix}{key}", value


def _render(record: dict[str, Any]) -> tuple[str, str]:
    """(title, text) of one record."""
    fields = list(_flat(record))
    title = next(
        (str(v).strip() for k, v in fields if k.lower() in TITLE_KEYS and isinstance(v, str) and v.strip()),
        "",
    )
    prose: list[str] = []
    rest: list[str] = []
    for key, value in fields:
        if isinstance(value, str) and value.strip() == title and key.lower() in TITLE_KEYS:
            continue
        if isinstance(value, str) and (key.lower().rsplit(".", 1)[-1] in TEXT_KEYS or len(value) > LONG_TEXT):
            prose.append(value.strip())
        elif isinstance(value, list) and value and all(isinstance(v, (str, int, float)) for v in value):
            rest.append(f"{key}: {', '.join(str(v) for v in value)[:MAX_VALUE_CHARS]}")
        elif isinstance(value, (str, int, float, bool)) and str(value).strip():
            rest.append(f"{key}: {str(value).strip()[:MAX_VALUE_CHARS]}")
    text = "\n\n".join(p for p in prose if p)
    if rest:
        text = f"{text}\n{'; '.join(rest[:MAX_FIELDS])}" if text else "; ".join(rest[:MAX_FIELDS])
    return title, text


def _build(records: Iterator[tuple[int, Any]], name: str) -> ParsedDocument:
    builder = LocatedBuilder()
    for count, (number, record) in enumerate(records, start=1):
        if count > MAX_RECORDS:
            raise InvalidInput(f"{name} has more than {MAX_RECORDS:,} records; the limit is {MAX_RECORDS:,}")
        if not isinstance(record, dict):
            record = {"text": str(record)} if isinstance(record, (str, int, float)) else {}
        title, text = _render(record)
        builder.part((title,) if title else (), text, {"record": number})
    parsed = builder.build()
    if not parsed.sections:
        raise EmptyContent(f"{name} has no record with text in it")
    return parsed


def _parse(text: str, name: str, where: str = "") -> Any:
    try:
        return json.loads(text)
    except json.JSONDecodeError as exc:
        raise InvalidInput(
            f"{name}{where} is not valid JSON ({exc.msg} at line {exc.lineno}, column {exc.colno})"
        ) from None
    except RecursionError:
        raise InvalidInput(f"{name}{where} is nested too deeply") from None


def load_json(data: bytes, *, name: str) -> ParsedDocument:
    value = _parse(decode_text(data, name=name), name)
    if isinstance(value, dict):
        inner = next((value[k] for k in CONTAINERS if isinstance(value.get(k), list)), None)
        value = inner if inner is not None else [value]
    if not isinstance(value, list):
        raise InvalidInput(
            f"{name} holds a single {type(value).__name__}; give an object or an array of objects"
        )
    return _build(enumerate(value, start=1), name)


def load_jsonl(data: bytes, *, name: str) -> ParsedDocument:
    lines = decode_text(data, name=name).splitlines()

    def records() -> Iterator[tuple[int, Any]]:
        for number, line in enumerate(lines, start=1):
            if line.strip():
                yield number, _parse(line, name, f" line {number}")

    return _build(records(), name)
