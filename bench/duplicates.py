"""Near-duplicate detection on a generated set: precision and recall at the default threshold.

    .venv/bin/python -m bench.duplicates [--dataset manpages] [--documents 120]

From a shared set's documents of at least 60 words that have no near-copy in the set already (exact
word-3-gram Jaccard < 0.3 with every other), each base document gets three copies with controlled
edits — **reworded** (8 % of words dropped, common words replaced by synonyms, every seventh pair of
words swapped), **truncated** (its first 50–80 %), **merged** (followed by another document) — and one
negative: its **same-topic neighbour**, the document closest to it by embedding among those sharing
almost no text with it (exact Jaccard < 0.1). Fingerprints as ingestion makes them (the mean of the
chunks' vectors under the default encoder; MinHash of word 3-grams), scored by
backend.text.fingerprint.duplicate_score. Seeded: the same set every run. The threshold was chosen on
manpages; python-faq is the held-out check.
"""

from __future__ import annotations

import argparse
import json
import random

import numpy as np

from bench.common import DATA

SYNONYMS = {
    "use": "utilize", "file": "document", "shows": "displays", "show": "display", "create": "make",
    "remove": "delete", "returns": "gives back", "value": "number", "option": "setting",
    "options": "settings", "print": "output", "prints": "outputs", "run": "execute", "command": "instruction",
    "directory": "folder", "default": "standard", "specified": "given", "program": "application",
}  # fmt: skip


def reword(text: str, rng: random.Random) -> str:
    words = [w for w in text.split() if rng.random() >= 0.08]
    words = [SYNONYMS.get(w.lower(), w) if rng.random() < 0.7 else w for w in words]
    for i in range(0, len(words) - 1, 7):
        if rng.random() < 0.5:
            words[i], words[i + 1] = words[i + 1], words[i]
    return " ".join(words)


def truncate(text: str, rng: random.Random) -> str:
    words = text.split()
    return " ".join(words[: int(len(words) * rng.uniform(0.5, 0.8))])


def main() -> None:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("--dataset", default="manpages")
    parser.add_argument("--documents", type=int, default=120)
    args = parser.parse_args()

    from backend.services import load_embedder
    from backend.settings import Settings
    from backend.text.fingerprint import (
        DUPLICATE_THRESHOLD,
        duplicate_score,
        jaccard,
        minhash,
        shingle_hashes,
    )
    from backend.text.fingerprint import containment as contained_share
    from ingest.chunking import Chunker
    from ingest.loaders.base import ParsedDocument, Section

    embedder = load_embedder(Settings())
    chunker = Chunker(embedder.tokenizer, max_tokens=embedder.max_tokens)

    def fingerprint(text: str) -> tuple[np.ndarray, np.ndarray, int]:
        chunks = chunker.split(ParsedDocument(text, [Section(0, len(text))]))
        vectors = np.asarray(embedder.embed_documents([c.embedding_text for c in chunks]))
        mean = vectors.mean(axis=0)
        hashes = shingle_hashes("\n".join(c.text for c in chunks))
        return mean / np.linalg.norm(mean), minhash(hashes), int(hashes.size)

    def exact(text: str) -> set[str]:
        words = text.lower().split()
        return {" ".join(words[i : i + 3]) for i in range(len(words) - 2)}

    with open(DATA / args.dataset / "corpus.jsonl") as corpus:
        rows = [json.loads(line) for line in corpus]
    rows = [r for r in rows if len(r["text"].split()) >= 60]
    grams = {r["_id"]: exact(r["text"]) for r in rows}

    def overlap(a: str, b: str) -> float:
        return len(grams[a] & grams[b]) / max(1, len(grams[a] | grams[b]))

    rng = random.Random(7)
    candidates = rng.sample(rows, min(4 * args.documents, len(rows)))
    base = [r for r in candidates if all(overlap(r["_id"], o["_id"]) < 0.3 for o in rows if o is not r)]
    base = base[: args.documents]
    prints = {r["_id"]: fingerprint(r["text"]) for r in base}
    ids = list(prints)
    matrix = np.stack([prints[i][0] for i in ids])
    cases: list[tuple[str, bool, float]] = []
    for k, row in enumerate(base):
        a = prints[row["_id"]]
        other = base[(k + 1) % len(base)]
        copies = {
            "reworded": reword(row["text"], rng),
            "truncated": truncate(row["text"], rng),
            "merged": row["text"] + " " + other["text"],
        }
        pairs = [(kind, True, fingerprint(text)) for kind, text in copies.items()]
        similar = matrix @ a[0]
        similar[k] = -1
        neighbour = next(int(j) for j in np.argsort(-similar) if overlap(ids[j], row["_id"]) < 0.1)
        pairs.append(("same-topic", False, prints[ids[neighbour]]))
        for kind, positive, b in pairs:
            j = jaccard(a[1], b[1])
            cases.append(
                (kind, positive, duplicate_score(float(a[0] @ b[0]), contained_share(j, a[2], b[2])))
            )

    print(f"{args.dataset}: {len(base)} base documents, {len(cases)} pairs")
    for threshold in (0.3, DUPLICATE_THRESHOLD, 0.5, 0.6):
        flagged = [c for c in cases if c[2] >= threshold]
        true = sum(1 for c in flagged if c[1])
        positives = sum(1 for c in cases if c[1])
        mark = "  (default)" if threshold == DUPLICATE_THRESHOLD else ""
        print(
            f"  threshold {threshold:.2f}: precision {true / max(1, len(flagged)):.3f}, recall {true / positives:.3f}{mark}"
        )
    for kind in ("reworded", "truncated", "merged", "same-topic"):
        scores = [c[2] for c in cases if c[0] == kind]
        hit = sum(1 for s in scores if s >= DUPLICATE_THRESHOLD)
        print(f"  {kind:10} flagged {hit}/{len(scores)}; score median {np.median(scores):.3f}")


if __name__ == "__main__":
    main()
