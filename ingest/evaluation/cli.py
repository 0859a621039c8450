"""``kbchat eval DATASET_DIR``: retrieval quality and latency per search mode, beside baselines."""

from __future__ import annotations

import dataclasses
import json
import logging
import tempfile
from pathlib import Path
from typing import Annotated

import typer
from tqdm import tqdm

from backend.vectorstore.base import SearchMode


def eval_command(
    dataset_dir: Annotated[
        Path, typer.Argument(help="BEIR layout: corpus.jsonl, queries.jsonl, qrels/<split>.tsv")
    ],
    split: Annotated[str, typer.Option(help="Which qrels to score.")] = "test",
    modes: Annotated[str, typer.Option(help="Comma-separated: dense,sparse,hybrid.")] = "dense,sparse,hybrid",
    baseline: Annotated[bool, typer.Option(help="Also run BM25 and raw sentence-transformers.")] = True,
    data_dir: Annotated[
        Path | None, typer.Option(help="Where the scratch knowledge base lives. Default: a temporary folder.")
    ] = None,
    unanswerable: Annotated[
        Path | None,
        typer.Option(
            help="Another BEIR dataset whose questions this corpus cannot answer: reports false answers."
        ),
    ] = None,
    curve: Annotated[
        Path | None,
        typer.Option(help="Write the refusal trade-off curve of each mode and gate to this PNG."),
    ] = None,
    tune_split: Annotated[
        str | None,
        typer.Option(
            help="Also report the gate `kbchat tune` fits from this split's questions (e.g. train): the "
            "knowledge base's own cut, and with --unanswerable that split's questions of the other "
            "dataset as pairs to decline."
        ),
    ] = None,
    as_json: Annotated[bool, typer.Option("--json", help="Print JSON.")] = False,
) -> None:
    """Ingest a BEIR dataset into a scratch knowledge base and score every query through real search."""
    from backend.cli.main import settings
    from backend.retrieval.beir import load_beir
    from backend.services import Services
    from ingest.evaluation.runner import evaluate

    try:
        chosen = [SearchMode(m.strip()) for m in modes.split(",") if m.strip()]
    except ValueError:
        raise typer.BadParameter("modes are dense, sparse, hybrid", param_hint="--modes") from None
    dataset = load_beir(dataset_dir, split)
    outside = load_beir(unanswerable, split) if unanswerable else None
    if tune_split == split:
        raise typer.BadParameter(
            f"tune on another split than the one scored ({split})", param_hint="--tune-split"
        )
    tuning = load_beir(dataset_dir, tune_split) if tune_split else None
    declines = load_beir(unanswerable, tune_split) if tune_split and unanswerable else None
    if curve is not None and not curve.parent.is_dir():
        raise typer.BadParameter(f"{curve.parent} is not a folder", param_hint="--curve")
    scratch = data_dir or Path(tempfile.mkdtemp(prefix="kbchat-eval-"))
    configured = settings()
    # A scratch store: never the service's database or collection.
    run_settings = configured.model_copy(
        update={
            "data_dir": scratch,
            "database": configured.database.model_copy(update={"url": None}),
            "qdrant": configured.qdrant.model_copy(update={"url": None}),
        }
    )
    for chatty in ("backend.jobs.worker", "ingest.handler"):  # one line per document is noise here
        logging.getLogger(chatty).setLevel(logging.WARNING)
    services = Services.build(run_settings)
    bars: dict[str, tqdm] = {}

    def progress(stage: str, done: int, total: int) -> None:
        if as_json:
            return
        bar = bars.get(stage) or bars.setdefault(
            stage,
            tqdm(total=total, desc=stage, unit="q", leave=False, disable=None),  # off when not a TTY
        )
        bar.n = done
        bar.refresh()

    try:
        report = evaluate(
            services,
            dataset,
            split=split,
            modes=chosen,
            baseline=baseline,
            unanswerable=outside,
            tuning=(tuning, declines) if tuning else None,
            progress=progress,
        )
    finally:
        for bar in bars.values():
            bar.close()
        services.close()
    if curve is not None:
        from ingest.evaluation.curve import plot

        plot(report, curve)
    if as_json:
        typer.echo(json.dumps(dataclasses.asdict(report), indent=2))
        return
    typer.echo(
        f"{report.dataset} ({report.split}): {report.queries} queries, {report.documents} documents, "
        f"{report.chunks} chunks, encoder {services.encoders.base.model_id}"
    )
    typer.echo(
        f"{'':36s} {'nDCG@10':>8s} {'R@10':>7s} {'R@100':>7s} {'MRR@10':>7s} {'p50 ms':>8s} {'p95 ms':>8s}"
    )
    for row in report.rows:
        m = row.metrics
        typer.echo(
            f"{row.name:36s} {m['ndcg@10']:8.3f} {m['recall@10']:7.3f} {m['recall@100']:7.3f} "
            f"{m['mrr@10']:7.3f} {row.latency_p50_ms:8.1f} {row.latency_p95_ms:8.1f}"
        )
    languages = sorted({lang for row in report.rows for lang in row.by_language})
    if languages:
        typer.echo("")
        typer.echo(f"nDCG@10 per query language{'':10s}" + "".join(f"{lang:>8s}" for lang in languages))
        for row in report.rows:
            typer.echo(
                f"{row.name:36s} "
                + "".join(
                    f"{row.by_language.get(lang, {}).get('ndcg@10', float('nan')):8.3f}" for lang in languages
                )
            )
    typer.echo("")
    typer.echo(
        f"when to answer (top 5 passages; {next(iter(report.gates.values())).found if report.gates else 0} "
        f"questions with a relevant passage retrieved"
        + (
            f", {report.gates[next(iter(report.gates))].unanswerable} unanswerable from {report.unanswerable}"
            if report.unanswerable and report.gates
            else ""
        )
        + ")"
    )
    typer.echo(
        f"{'':36s} {'cut':>6s} {'false refusals':>15s} {'false answers':>14s} {'quote precision':>16s}"
    )
    for mode, gate in report.gates.items():
        gates = [("confidence", gate.confidence), ("confidence, tuned", gate.tuned), ("cosine", gate.cosine)]
        for name, figures in (g for g in gates if g[1]):
            false_answer = f"{figures['false_answer']:14.1%}" if report.unanswerable else f"{'-':>14s}"
            typer.echo(
                f"{'kbchat ' + mode + ' · ' + name:36s} {figures['threshold']:6.3f} "
                f"{figures['false_refusal']:15.1%} {false_answer} {figures['quote_precision']:16.1%}"
            )
    if curve is not None:
        typer.echo(f"trade-off curve: {curve}")
