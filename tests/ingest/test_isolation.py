"""Parsing in a child process: a file that hangs, eats memory or crashes the parser fails alone with
a message that says what happened, and the next file is parsed normally."""

from __future__ import annotations

from collections.abc import Iterator

import pytest

from backend.errors import EmptyContent, InvalidInput
from ingest.isolation import IsolatedParser

GOOD = b"# Title\n\nSome text worth indexing."


@pytest.fixture(scope="module")
def parser() -> Iterator[IsolatedParser]:
    isolated = IsolatedParser(
        timeout_s=2, memory_mb=512, target="tests.ingest.pathological:misbehaving_parse"
    )
    yield isolated
    isolated.close()


def _good(parser: IsolatedParser) -> None:
    parsed = parser.parse(GOOD, format="markdown", name="ok.md")
    assert parsed.title == "Title" and "worth indexing" in parsed.text


def test_normal_files_parse_like_in_process(parser: IsolatedParser) -> None:
    _good(parser)
    with pytest.raises(EmptyContent, match=r"empty\.md has no text to index"):
        parser.parse(b"   \n", format="markdown", name="empty.md")
    _good(parser)


def test_long_work_that_shows_progress_is_not_stopped(parser: IsolatedParser) -> None:
    parsed = parser.parse(GOOD, format="slow-but-alive", name="scan.md")  # 2.8 s against a 2 s deadline
    assert parsed.title == "Title"


@pytest.mark.parametrize(
    ("fmt", "message"),
    [
        ("hang", r"made no progress for 2 s and was stopped"),
        ("hog", r"needed more than 512 MB"),
        ("segfault", r"parser process died while reading bad.bin \(killed by SIGSEGV\)"),
        ("bug", r"bad.bin could not be parsed \(ZeroDivisionError"),
    ],
)
def test_a_pathological_file_fails_alone(parser: IsolatedParser, fmt: str, message: str) -> None:
    _good(parser)
    with pytest.raises(InvalidInput, match=message):
        parser.parse(b"x", format=fmt, name="bad.bin")
    _good(parser)  # the next document gets a working parser
