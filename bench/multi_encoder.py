"""Many knowledge bases, each on its own encoder: memory, cold loads, and search latency.

Twenty knowledge bases hold the same BEIR corpus (ingested through the real worker). Ten stay on the
base model ("one encoder"); the other ten are each activated (the real re-embedding job) for a
version of their own, so ten encoders serve them ("ten encoders"). The versions are copies of the
base model with small seeded weight noise: distinct models and collections, the same size and speed
as a fine-tuned MiniLM. Reported, in one run:
- resident memory added by each extra encoder (RSS before/after loading it);
- cold-load time: the first query's wait for an encoder that is not in memory, its encoding included
  (median of ten; the weights are in the page cache, as on a warm server);
- search p50/p95 through ``Retriever.search`` (dense), the two setups interleaved query by query,
  in rounds, and the ratio of medians (goal: ten encoders at most 5 % slower when all fit the LRU).

    .venv/bin/python -m bench.multi_encoder --dataset python-faq
"""

from __future__ import annotations

import argparse
import gc
import itertools
import statistics
import time
from pathlib import Path

from bench.common import DATA, percentile, scratch_settings, summary

ENCODERS = 10


def _rss_mb() -> float:
    for line in Path("/proc/self/status").read_text().splitlines():
        if line.startswith("VmRSS:"):
            return int(line.split()[1]) / 1024
    return float("nan")


def _make_versions(services, folder: Path, n: int) -> list[str]:
    """Register ``n`` versions: the base weights plus seeded noise (std 1e-3), owned by nobody."""
    import torch
    from sentence_transformers import SentenceTransformer

    from backend.db.models import EncoderVersion
    from backend.encoder.sentence_transformer import resolve_model_path

    ids = []
    for i in range(n):
        model = SentenceTransformer(resolve_model_path(services.settings.encoder.model), device="cpu")
        generator = torch.Generator().manual_seed(i)
        with torch.no_grad():
            for p in model.parameters():
                p.add_(torch.randn(p.shape, generator=generator) * 1e-3)
        path = folder / f"bench-v{i}" / "model"
        model.save(str(path))
        with services.sessions.begin() as session:
            version = EncoderVersion(
                name=f"bench-v{i}",
                base_model="",
                path=str(path),
                kb_id=None,
                data_hash="",
                model_id=f"bench-v{i}@{i}",
            )
            session.add(version)
            session.flush()
            ids.append(version.id)
    return ids


def main() -> None:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("--dataset", default="python-faq")
    parser.add_argument("--rounds", type=int, default=3)
    args = parser.parse_args()

    from backend.retrieval.beir import load_beir
    from backend.retrieval.config import RetrievalSettings
    from backend.services import Services
    from backend.vectorstore.base import SearchMode
    from finetune.rollout import activate_for_kb
    from ingest.evaluation.runner import ingest_corpus

    dataset = load_beir(DATA / args.dataset, "test")
    settings = scratch_settings(encoder={"max_loaded": ENCODERS, "drop_old_after_s": 0})
    services = Services.build(settings)
    t = time.perf_counter()
    one = [ingest_corpus(services, dataset)[0] for _ in range(ENCODERS)]
    own = [ingest_corpus(services, dataset)[0] for _ in range(ENCODERS)]
    print(
        f"ingested {2 * ENCODERS} knowledge bases of {len(dataset.corpus)} documents in {time.perf_counter() - t:.0f} s"
    )
    versions = _make_versions(services, settings.data_dir / "versions", ENCODERS)

    gc.collect()
    rss = [_rss_mb()]
    for version_id in versions:
        # A first query touches every weight: safetensors are memory-mapped, so a model that has not
        # run yet looks smaller than one that serves.
        services.encoders.version(version_id).embedder.embed_queries(["warm up"])
        gc.collect()
        rss.append(_rss_mb())
    added = [b - a for a, b in itertools.pairwise(rss)]
    print(
        f"resident memory: {rss[0]:.0f} MB with the base model; each extra encoder adds "
        f"median {statistics.median(added):.0f} MB (min {min(added):.0f}, max {max(added):.0f})"
    )

    cold = []
    for version_id in versions:
        services.encoders.loaded.discard(version_id)
        gc.collect()
        started = time.perf_counter()
        services.encoders.version(version_id).embedder.embed_queries([f"cold {version_id}"])
        cold.append((time.perf_counter() - started) * 1000)
    print(
        f"cold load (first query of a knowledge base whose encoder is not in memory): "
        f"median {statistics.median(cold):.0f} ms, max {max(cold):.0f} ms"
    )

    t = time.perf_counter()
    for kb_id, version_id in zip(own, versions, strict=True):
        activate_for_kb(services, kb_id, version_id, operator=True)
    print(f"activated {ENCODERS} knowledge bases for their own encoders in {time.perf_counter() - t:.0f} s")
    assert len({services.encoders.snapshot(kb).model_id for kb in own}) == ENCODERS

    config = RetrievalSettings(mode=SearchMode.DENSE)
    queries = list(dataset.queries.values())
    timings: dict[str, list[float]] = {"one encoder": [], "ten encoders": []}
    ratios = []
    for r in range(args.rounds):
        per_round: dict[str, list[float]] = {"one encoder": [], "ten encoders": []}
        for i, query in enumerate(queries):
            pair = [("one encoder", one[i % ENCODERS]), ("ten encoders", own[i % ENCODERS])]
            for label, kb_id in pair if (i + r) % 2 == 0 else reversed(pair):
                # Another string each round: the encoders' query caches must not answer for it.
                started = time.perf_counter()
                services.retriever.search(kb_id=kb_id, query=f"{query} #{r}", top_k=10, config=config)
                per_round[label].append((time.perf_counter() - started) * 1000)
        for label, values in per_round.items():
            timings[label].extend(values)
        ratios.append(
            statistics.median(per_round["ten encoders"]) / statistics.median(per_round["one encoder"])
        )
    for label, values in timings.items():
        print(f"{label:13s} {summary(values)}   ({len(values)} searches over {ENCODERS} knowledge bases)")
    print(
        f"ten encoders / one encoder, median of per-round ratios: {statistics.median(ratios):.3f} "
        f"(rounds {', '.join(f'{x:.3f}' for x in ratios)}); p95 ratio "
        f"{percentile(timings['ten encoders'], 95) / percentile(timings['one encoder'], 95):.3f}"
    )
    services.close()


if __name__ == "__main__":
    main()
