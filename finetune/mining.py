"""Hard negatives: passages the current encoder ranks high for a query, but that do not answer it.

The very top of the ranking is skipped (``skip_top``) and so is anything scoring within ``margin`` of
the positive: in a knowledge base many passages answer a question and only one is labelled, so the
closest "negatives" are often unlabelled positives, and training against them hurts (the false
negative problem RocketQA and NV-Retriever measured).
"""

from __future__ import annotations

import logging
from collections.abc import Sequence
from dataclasses import replace
from typing import Any

import numpy as np

from finetune.data.pairs import TrainingPair

log = logging.getLogger(__name__)


def mine_hard_negatives(
    model: Any,
    pairs: Sequence[TrainingPair],
    corpus: Sequence[str] = (),
    *,
    per_pair: int = 1,
    skip_top: int = 3,
    margin: float = 0.95,
    batch_size: int = 64,
) -> list[TrainingPair]:
    """``pairs`` with up to ``per_pair`` mined negatives each (given negatives are kept first).

    Candidates are ``corpus`` plus every pair's positive. Excluded: the pair's own positive, the
    positives of every pair with the same document (its other labelled answers), the ``skip_top``
    best-ranked remaining candidates, and candidates scoring above ``margin`` × the positive's score.
    """
    texts = list(dict.fromkeys([*corpus, *(p.positive for p in pairs)]))
    index = {text: i for i, text in enumerate(texts)}
    positives_of: dict[str, set[int]] = {}
    for pair in pairs:
        positives_of.setdefault(pair.group, set()).add(index[pair.positive])
    options = {"batch_size": batch_size, "normalize_embeddings": True, "convert_to_numpy": True}
    docs = model.encode(texts, show_progress_bar=False, **options)
    queries = model.encode([p.query for p in pairs], show_progress_bar=False, **options)
    depth = min(len(texts), skip_top + per_pair + 64)
    out: list[TrainingPair] = []
    mined = 0
    for start in range(0, len(pairs), 512):
        scores = queries[start : start + 512] @ docs.T
        for row, pair in enumerate(pairs[start : start + 512]):
            own = positives_of[pair.group]
            positive_score = float(scores[row, index[pair.positive]])
            order = np.argsort(-scores[row])[:depth]
            candidates = [int(i) for i in order if int(i) not in own][skip_top:]
            chosen = [texts[i] for i in candidates if scores[row, i] < margin * positive_score][
                : max(0, per_pair - len(pair.negatives))
            ]
            mined += len(chosen)
            out.append(replace(pair, negatives=(*pair.negatives, *chosen)[:per_pair]))
    log.info("mined %d hard negatives for %d pairs over %d passages", mined, len(pairs), len(texts))
    return out
