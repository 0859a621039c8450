"""Chunker properties, on the real encoder's tokenizer: no text lost, limits kept, overlap right."""

from __future__ import annotations

import itertools

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from backend.encoder.sentence_transformer import SentenceTransformerEmbedder
from ingest.chunking import Chunker
from ingest.loaders import parse
from ingest.loaders.base import ParsedDocument, Section

WORDS = st.sampled_from(
    [
        *[
            "the",
            "router",
            "password",
            "reset",
            "firmware",
            "E4471",
            "v3.11",
            "naïve",
            "東京",
            "ünïcödé",
            ".",
            ",",
            "!",
            "?",
        ],
        "supercalifragilisticexpialidocious",
        "\n",
        "\n\n",
        "http://example.com/a/b?c=d",
    ]
)
TEXTS = st.lists(WORDS, min_size=1, max_size=600).map(" ".join)


def _doc(text: str, heading: tuple[str, ...] = ()) -> ParsedDocument:
    return ParsedDocument(text=text, sections=[Section(0, len(text), heading)], title="Guide")


def _covered(chunks, start: int, end: int) -> list[bool]:
    mask = [False] * (end - start)
    for c in chunks:
        for i in range(c.char_start, c.char_end):
            mask[i - start] = True
    return mask


@pytest.fixture(scope="module")
def tokenizer(embedder: SentenceTransformerEmbedder):
    return embedder.tokenizer


@settings(max_examples=60, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(text=TEXTS, max_tokens=st.integers(16, 254), overlap=st.integers(0, 64))
def test_no_text_lost_limits_kept_overlap_bounded(
    tokenizer, text: str, max_tokens: int, overlap: int
) -> None:
    chunker = Chunker(tokenizer, max_tokens=max_tokens, overlap_tokens=overlap)
    chunks = chunker.split(_doc(text, ("Setup", "Reset")))
    covered = _covered(chunks, 0, len(text))
    for start, end in tokenizer.token_offsets(text):  # every token lies inside some chunk
        assert all(covered[start:end]), (text[start:end], start)
    for chunk in chunks:
        assert chunk.text == text[chunk.char_start : chunk.char_end]
        assert len(tokenizer.token_offsets(chunk.embedding_text)) <= max_tokens
    for before, after in itertools.pairwise(chunks):
        assert after.char_start > before.char_start  # always advances
        shared = [
            t for t in tokenizer.token_offsets(text) if after.char_start <= t[0] and t[1] <= before.char_end
        ]
        assert len(shared) <= overlap  # overlap never exceeds the setting


def test_overlap_is_about_the_setting_and_cuts_fall_between_sentences(tokenizer) -> None:
    sentences = [
        f"Sentence number {i} explains step {i} of the router setup in plain words." for i in range(80)
    ]
    text = " ".join(sentences)
    chunks = Chunker(tokenizer, max_tokens=64, overlap_tokens=16).split(_doc(text))
    assert len(chunks) > 5
    for before, after in itertools.pairwise(chunks):
        overlap_tokens = len(tokenizer.token_offsets(text[after.char_start : before.char_end]))
        assert 8 <= overlap_tokens <= 16
        assert before.text.endswith(".")  # cut at a sentence end, not mid-sentence


def test_cuts_prefer_paragraphs(tokenizer) -> None:
    paragraphs = [" ".join(["alpha beta gamma delta."] * 6) for _ in range(6)]
    chunks = Chunker(tokenizer, max_tokens=80, overlap_tokens=0).split(_doc("\n\n".join(paragraphs)))
    assert all(c.text.endswith(".") for c in chunks)
    assert all("\n\n" not in c.text[-3:] for c in chunks)
    assert len(chunks) >= 3


def test_heading_path_is_context_not_text(tokenizer) -> None:
    md = (
        b"# Guide\n\nIntro text here.\n\n## Install\n\nRun the installer.\n\n"
        b"### On Linux\n\nUse apt.\n\n## Reset\n\nHold the button."
    )
    chunks = Chunker(tokenizer, max_tokens=254).split(parse(md, format="markdown", name="g.md"))
    by_text = {c.text: c for c in chunks}
    assert by_text["Use apt."].heading == ("Guide", "Install", "On Linux")
    assert by_text["Use apt."].embedding_text == "Guide > Install > On Linux\nUse apt."
    assert by_text["Hold the button."].heading == ("Guide", "Reset")  # a sibling pops the deeper level
    assert by_text["Intro text here."].context == "Guide"  # the title is not repeated


def test_huge_heading_is_truncated_so_limits_still_hold(tokenizer) -> None:
    heading = ("word " * 400,)
    chunks = Chunker(tokenizer, max_tokens=64).split(_doc("body text " * 100, heading))
    assert all(len(tokenizer.token_offsets(c.embedding_text)) <= 64 for c in chunks)
    assert "".join(c.text for c in chunks).count("body") >= 100


def test_one_giant_word_is_still_split(tokenizer) -> None:
    text = "x" * 5000  # no space anywhere: cutting inside the "word" is the only option
    chunks = Chunker(tokenizer, max_tokens=32, overlap_tokens=4).split(_doc(text))
    assert chunks[0].char_start == 0 and chunks[-1].char_end == len(text)
    assert all(len(tokenizer.token_offsets(c.embedding_text)) <= 32 for c in chunks)


def test_rejects_a_budget_too_small(tokenizer) -> None:
    with pytest.raises(ValueError, match="at least"):
        Chunker(tokenizer, max_tokens=4)


def test_a_long_section_is_cut_into_blocks_at_line_breaks_and_keeps_exact_offsets(embedder) -> None:
    """A 10 MB text without headings is tokenized a block at a time (bounded memory); the chunks still
    point at exactly their text, and no chunk crosses a block edge in the middle of a line."""
    from ingest.chunking.chunker import BLOCK_CHARS, _blocks

    line = "Refunds reach the card within five business days of the return scan.\n"
    text = line * (3 * BLOCK_CHARS // len(line))
    spans = _blocks(text, 0, len(text))
    assert len(spans) >= 3 and spans[0][0] == 0 and spans[-1][1] == len(text)
    assert all(a[1] == b[0] and text[a[1] - 1] == "\n" for a, b in itertools.pairwise(spans))
    assert all(end - start <= BLOCK_CHARS for start, end in spans)
    chunker = Chunker(embedder.tokenizer, max_tokens=embedder.max_tokens)
    chunks = chunker.split(ParsedDocument(text=text, sections=[Section(0, len(text))], title="Returns"))
    assert all(text[c.char_start : c.char_end] == c.text for c in chunks)
    assert [c.ordinal for c in chunks] == list(range(len(chunks)))


def test_chunks_after_the_opening_read_the_documents_lead(tokenizer) -> None:
    """A passage from the middle of a page reads the page's first words above it (beside the heading
    path), within the same token limit; the opening chunk does not repeat them."""
    opening = "Refunds for unworn shoes are accepted within 45 days of delivery at the Leeds warehouse."
    filler = " ".join(f"Step {i} of the returns process is described here in plain words." for i in range(60))
    text = f"{opening} {filler}"
    chunks = Chunker(tokenizer, max_tokens=128, overlap_tokens=8, lead_tokens=24).split(_doc(text))
    assert len(chunks) > 3
    assert chunks[0].context == "Guide"  # the title: the opening reads its own words as text
    lead = chunks[1].context.removeprefix("Guide\n")
    assert lead != chunks[1].context and text.startswith(lead) and "Leeds warehouse" in lead
    assert len(tokenizer.token_offsets(lead)) <= 24
    assert all(c.context == f"Guide\n{lead}" for c in chunks[1:])
    assert all(c.embedding_text == f"Guide\n{lead}\n{c.text}" for c in chunks[1:])
    assert all(len(tokenizer.token_offsets(c.embedding_text)) <= 128 for c in chunks)
    alone = Chunker(tokenizer, max_tokens=128, overlap_tokens=8, lead_tokens=0).split(_doc(text))
    assert {c.context for c in alone} == {"Guide"}


def test_a_document_shorter_than_its_lead_gets_none(tokenizer) -> None:
    md = b"# Guide\n\nShort intro.\n\n## Reset\n\nHold the button."
    chunks = Chunker(tokenizer, max_tokens=254, lead_tokens=32).split(
        parse(md, format="markdown", name="g.md")
    )
    assert [c.context for c in chunks] == ["Guide", "Guide > Reset"]


def test_the_lead_never_takes_more_than_a_quarter_of_a_small_budget(tokenizer) -> None:
    text = " ".join(["alpha beta gamma delta epsilon."] * 80)
    chunks = Chunker(tokenizer, max_tokens=32, overlap_tokens=4, lead_tokens=128).split(_doc(text))
    assert all(len(tokenizer.token_offsets(c.context)) <= 32 // 4 + 2 for c in chunks[1:])  # "Guide" + lead
    assert all(len(tokenizer.token_offsets(c.embedding_text)) <= 32 for c in chunks)


def test_a_lead_of_long_words_is_still_bounded(tokenizer) -> None:
    # Over 8 characters a token: the lead's window of text holds fewer tokens than asked for.
    text = " ".join(["telecommunications responsibilities characterization"] * 40)
    chunks = Chunker(tokenizer, max_tokens=64, overlap_tokens=4, lead_tokens=16).split(_doc(text))
    assert len(chunks) > 2 and chunks[1].context.startswith("Guide\ntelecommunications responsibilities")
    assert all(len(tokenizer.token_offsets(c.embedding_text)) <= 64 for c in chunks)
