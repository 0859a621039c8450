"""Keyword search alone, per query language: the English-only analysis (en1) vs the per-language one
(ml2), beside bm25s, one run.

Whole documents (no chunking, so only the analysis differs), each stored with its detected language in
a real Qdrant Edge collection per analysis; sparse search with Qdrant's IDF; a question analysed as
the service analyses it (its detected language plus the collection's). Also the analysis cost per
document and per question on this machine, against bm25s's tokenizer.

    .venv/bin/python -m bench.keyword_analysis                      # debian-reference-xl, python-faq, manpages
    .venv/bin/python -m bench.keyword_analysis --sets debian-reference-xl
"""

from __future__ import annotations

import argparse
import statistics
import tempfile
import time
from collections import defaultdict
from pathlib import Path

import bm25s
import numpy as np

from backend.keywords import LexicalEncoder
from backend.keywords.encoder import KeywordsVersion
from backend.retrieval.beir import BeirDataset, load_beir
from backend.retrieval.metrics import ndcg_at_k
from backend.text.languages import language_of
from backend.vectorstore.base import ChunkRecord, SearchMode
from backend.vectorstore.edge import EdgeVectorStore
from backend.vectorstore.ids import point_id
from bench.common import DATA
from ingest.evaluation.baselines import bm25

KB = "bench"


def _language(text: str) -> str:
    return language_of(text, "en")


def _by_language(dataset: BeirDataset, ranked: dict[str, list[str]]) -> dict[str, float]:
    scores: dict[str, list[float]] = defaultdict(list)
    for qid, relevant in dataset.qrels.items():
        value = ndcg_at_k(ranked.get(qid, []), relevant)
        scores[dataset.languages.get(qid, "all")].append(value)
        if dataset.languages:
            scores["all"].append(value)
    return {lang: statistics.fmean(v) for lang, v in scores.items()}


def _run(
    dataset: BeirDataset, version: KeywordsVersion, root: Path
) -> tuple[dict[str, list[str]], float, float]:
    """Ranked ids per query; ms per document analysed; ms per question analysed."""
    keywords = LexicalEncoder(version)
    store = EdgeVectorStore(root / version, prefix="b", encoder_id=version, dimension=1)
    texts = [(row["_id"], f"{row.get('title') or ''}\n{row['text']}".strip()) for row in dataset.corpus]
    languages = [_language(text) for _, text in texts]
    started = time.perf_counter()
    sparse = [keywords.encode_document(text, lang) for (_, text), lang in zip(texts, languages, strict=True)]
    doc_ms = (time.perf_counter() - started) * 1000 / len(texts)
    store.upsert(
        [
            ChunkRecord(
                point_id(cid, 0, text),
                np.ones(1, np.float32),
                vec,
                {"kb_id": KB, "document_id": cid, "lang": lang},
            )
            for (cid, text), vec, lang in zip(texts, sparse, languages, strict=True)
        ]
    )
    kb_languages = list(store.languages(kb_id=KB))
    ranked, query_ms = {}, []
    for qid, question in dataset.queries.items():
        started = time.perf_counter()
        vector = keywords.encode_query(question, [_language(question), *kb_languages])
        query_ms.append((time.perf_counter() - started) * 1000)
        hits = store.search(
            kb_id=KB, dense=np.ones(1, np.float32), sparse=vector, mode=SearchMode.SPARSE, limit=100
        )
        ranked[qid] = [h.payload["document_id"] for h in hits]
    store.close()
    return ranked, doc_ms, statistics.median(query_ms)


def main() -> None:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("--sets", default="debian-reference-xl,python-faq,manpages")
    parser.add_argument("--split", default="test")
    args = parser.parse_args()
    for name in args.sets.split(","):
        dataset = load_beir(DATA / name, args.split)
        started = time.perf_counter()
        bm25s.tokenize([r["text"] for r in dataset.corpus], stopwords="en", show_progress=False)
        bm25s_doc_ms = (time.perf_counter() - started) * 1000 / len(dataset.corpus)
        rows = {
            "BM25 (bm25s, English stop words)": (_by_language(dataset, bm25(dataset)[0]), bm25s_doc_ms, None)
        }
        with tempfile.TemporaryDirectory() as tmp:
            for version, label in (
                ("en1", "kbchat en1 (English only, before)"),
                ("ml2", "kbchat ml2 (per language)"),
            ):
                ranked, doc_ms, query_ms = _run(dataset, version, Path(tmp))
                rows[label] = (_by_language(dataset, ranked), doc_ms, query_ms)
        languages = list(next(iter(rows.values()))[0])
        print(
            f"\n{name} ({args.split}, {len(dataset.queries)} queries, {len(dataset.corpus)} documents), nDCG@10"
        )
        print("| | " + " | ".join(languages) + " | ms/document | ms/question |")
        print("|---" * (len(languages) + 3) + "|")
        for label, (scores, doc_ms, query_ms) in rows.items():
            cells = " | ".join(f"{scores[lang]:.3f}" for lang in languages)
            q = f"{query_ms:.2f}" if query_ms is not None else ""
            print(f"| {label} | {cells} | {doc_ms:.2f} | {q} |")


if __name__ == "__main__":
    main()
