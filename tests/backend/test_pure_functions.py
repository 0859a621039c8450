"""The pure functions under search, evaluation and chat, on inputs small enough to check by hand.

End-to-end tests cover them too; these say exactly which rule each one keeps, so a change that
breaks one fails here with the rule's name instead of as a shifted benchmark figure.
"""

from __future__ import annotations

import math

import pytest

from backend.api.csv_export import csv_response
from backend.llm.base import Prompt, Source, Turn
from backend.llm.prompting import estimate_tokens, pack
from backend.retrieval.fusion import convex, rrf
from backend.retrieval.metrics import all_metrics, mrr_at_k, ndcg_at_k, recall_at_k
from backend.retrieval.search import join_chunks
from backend.text.hyphenation import join_broken_words
from backend.vectorstore.base import Fusion, Hit


def _hits(scores: dict[str, float]) -> list[Hit]:
    return [Hit(pid, score, relevance=score) for pid, score in scores.items()]


def test_convex_fusion_weighs_min_max_normalised_scores() -> None:
    dense = _hits({"a": 0.9, "b": 0.5, "c": 0.1})  # normalised: a 1, b 0.5, c 0
    sparse = _hits({"c": 10.0, "d": 5.0, "a": 0.0})  # normalised: c 1, d 0.5, a 0
    fused = convex(dense, sparse, alpha=0.7)
    assert [h.id for h in fused] == ["a", "b", "c", "d"]
    assert [round(h.score, 6) for h in fused] == [0.7, 0.35, 0.3, 0.15]


def test_convex_fusion_keeps_the_dense_copy_and_scores_a_lone_hit_one() -> None:
    dense = [Hit("a", 0.4, relevance=0.4, payload={"from": "dense"})]
    sparse = [Hit("a", 7.0, relevance=0.0, payload={"from": "sparse"})]
    (fused,) = convex(dense, sparse, alpha=0.5)
    assert fused.payload == {"from": "dense"} and fused.relevance == 0.4
    assert fused.score == 1.0  # one hit per list: its span is zero, so it counts as the best


def test_convex_fusion_over_a_deeper_list_keeps_the_first_results() -> None:
    """A search asking for more results reads deeper lists; normalised over their first ``reference``
    hits, the first results score exactly as they do over the shallow lists (past it: floored at 0)."""
    dense = _hits({f"d{i}": 1.0 - i / 200 for i in range(150)})
    sparse = _hits({f"d{(i * 7) % 150}": 20.0 - i / 10 for i in range(150)})
    shallow = convex(dense[:100], sparse[:100], alpha=0.7, limit=10)
    deep = convex(dense, sparse, alpha=0.7, limit=10, reference=100)
    assert [(h.id, h.score) for h in deep] == [(h.id, h.score) for h in shallow]
    unreferenced = convex(dense, sparse, alpha=0.7, limit=10)  # what a deeper search used to rank
    assert [h.score for h in unreferenced] != [h.score for h in shallow]
    tail = {h.id: h.score for h in convex(dense, [], alpha=1.0, reference=100)}
    assert tail["d99"] == 0.0 and tail["d149"] == 0.0  # past the reference: as if missing


def test_rrf_replays_qdrants_weighted_formula() -> None:
    # k=2, weights 1 and 2: dense ranks x (1/2), y (1/3); sparse ranks y (1/1.5), z (1/2).
    ranked = rrf(["x", "y"], ["y", "z"], Fusion(k=2, dense_weight=1.0, sparse_weight=2.0))
    assert ranked == ["y", "x", "z"]  # y: 1/3 + 1/1.5 = 1.0; x 0.5; z 0.5 (x first: seen first)


def test_ranking_metrics_match_their_definitions() -> None:
    relevant = {"d1": 1, "d3": 2}
    ranked = ["d3", "d2", "d1"]
    ideal = 2 / math.log2(2) + 1 / math.log2(3)
    assert ndcg_at_k(ranked, relevant) == pytest.approx((2 / math.log2(2) + 1 / math.log2(4)) / ideal)
    assert recall_at_k(ranked, relevant, 1) == 0.5
    assert recall_at_k(ranked, relevant, 3) == 1.0
    assert mrr_at_k(["d2", "d1"], relevant) == 0.5
    assert all_metrics([], relevant) == {"ndcg@10": 0.0, "recall@10": 0.0, "recall@100": 0.0, "mrr@10": 0.0}
    assert ndcg_at_k(ranked, {}) == 0.0  # a query with no judged document scores 0, never divides by 0


def test_joined_chunks_drop_their_overlap_and_separate_gaps() -> None:
    text = "Alpha beta gamma delta epsilon."
    chunks = [
        {"text": text[0:16], "char_start": 0, "char_end": 16},  # "Alpha beta gamma"
        {"text": text[11:31], "char_start": 11, "char_end": 31},  # "gamma delta epsilon." (overlaps)
    ]
    assert join_chunks(chunks) == text
    apart = [
        {"text": "One.", "char_start": 0, "char_end": 4},
        {"text": "Two.", "char_start": 10, "char_end": 14},
    ]
    assert join_chunks(apart) == "One.\nTwo."


def test_csv_cells_cannot_become_formulas() -> None:
    response = csv_response(
        "x.csv", ["q", "n"], [["=HYPERLINK(1)", 3], ["-2+3", None], ["plain, with comma", 1.5]]
    )
    lines = bytes(response.body).decode().split("\r\n")
    assert lines[:4] == ["q,n", "'=HYPERLINK(1),3", "'-2+3,", '"plain, with comma",1.5']
    assert response.headers["content-disposition"] == 'attachment; filename="x.csv"'


def test_packing_drops_the_lowest_ranked_sources_then_the_oldest_turns() -> None:
    sources = [Source(i, f"t{i}", "x" * 400) for i in (1, 2, 3)]  # 101 + 1 + 12 = 114 tokens each
    history = [Turn("user", "old " * 50), Turn("assistant", "new")]  # 51 + 4 and 1 + 4 tokens
    prompt = Prompt("q?", sources, history, system="s")
    fixed = estimate_tokens("s") + estimate_tokens("q?") + 64  # 66
    # Room for two sources and the newest turn only: 66 + 2 * 114 + 5 = 299.
    packed, messages = pack(prompt, context_tokens=299 + 100, max_output_tokens=100)
    assert fixed == 66
    assert [s.index for s in packed.sources] == [1, 2]
    assert packed.history == [Turn("assistant", "new")]
    assert [m.role for m in messages] == ["system", "assistant", "user"]
    assert messages[-1].content.endswith("Question: q?") and 'id="3"' not in messages[-1].content


@pytest.mark.parametrize(
    ("typeset", "whole"),
    [
        ("create a certifi\u2010 cate", "create a certificate"),  # groff: U+2010, the break became a space
        ("update a WasmPlu\u2010\n   gin resource", "update a WasmPlugin resource"),  # a kept line break
        ("co\u00adop\u00aderate", "cooperate"),  # soft hyphens anywhere in a word
        ("an x\u2010ray", "an x\u2010ray"),  # U+2010 inside a word is a real hyphen
        ("pre\u2010 and post\u2010processing", "pre\u2010 and post\u2010processing"),  # suspended hyphen
        ("self-\ncontained", "self-\ncontained"),  # an ASCII hyphen may be a compound's: left alone
        ("a\u2010\n\nb", "a\u2010\n\nb"),  # a paragraph break is not a line break inside a word
        ("version 3\u2010 4", "version 3\u2010 4"),  # digits are not a broken word
    ],
)
def test_only_typographic_line_break_hyphens_are_joined(typeset: str, whole: str) -> None:
    assert join_broken_words(typeset) == whole
