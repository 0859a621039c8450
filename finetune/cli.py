"""``kbchat finetune`` and ``kbchat encoders``: train, inspect and activate encoder versions.

Both run in this process (like ``kbchat ingest``): stop ``kbchat serve`` first when it uses the
embedded Qdrant store, or point both at a Qdrant server.
"""

from __future__ import annotations

import json
from pathlib import Path
from typing import Annotated

import typer
from tqdm import tqdm

from finetune.loss_names import LossName

encoders_app = typer.Typer(help="List and activate encoder versions.", no_args_is_help=True)


class _Bar:
    """One tqdm bar over a run's stages, fed ``(stage, fraction)`` reports."""

    def __init__(self, enabled: bool) -> None:
        self.bar = tqdm(total=1000, disable=not enabled, bar_format="{l_bar}{bar}| {elapsed}")

    def __call__(self, stage: str, fraction: float, **_: object) -> None:
        self.bar.set_description(stage)
        self.bar.update(max(0, round(fraction * 1000) - self.bar.n))

    def close(self) -> None:
        self.bar.close()


def finetune_command(
    kb: Annotated[str | None, typer.Option("--kb", help="Knowledge base to train for.")] = None,
    pairs: Annotated[
        Path | None, typer.Option(help='JSONL: {"query", "positive", "negatives"?, "doc_id"?} per line.')
    ] = None,
    dataset: Annotated[
        Path | None, typer.Option(help="BEIR folder: trains on qrels/train.tsv, measures on qrels/test.tsv.")
    ] = None,
    self_supervised: Annotated[
        bool, typer.Option("--self-supervised", help="Train on crops of the knowledge base's own text.")
    ] = False,
    loss: Annotated[LossName, typer.Option(help="mnrl, cached or moco.")] = "moco",
    epochs: Annotated[float, typer.Option(min=0.1)] = 2.0,
    batch_size: Annotated[int, typer.Option(min=2)] = 32,
    learning_rate: Annotated[float, typer.Option("--lr")] = 1e-4,
    hard_negatives: Annotated[int, typer.Option(min=0, max=8, help="Mined negatives per pair.")] = 0,
    guard: Annotated[Path | None, typer.Option(help="BEIR folder whose test split must not regress.")] = None,
    activate: Annotated[bool, typer.Option("--activate", help="Activate it right away if promoted.")] = False,
    name: Annotated[str | None, typer.Option(help="Version name. Default: ft-<date>-<time>-<id>.")] = None,
    as_json: Annotated[bool, typer.Option("--json", help="Print JSON.")] = False,
) -> None:
    """Fine-tune the encoder on question–passage pairs, measure it, and register the new version."""
    from backend.catalog import knowledge_bases as kbs
    from backend.cli.main import services_for_cli
    from finetune.data.pairs import parse_pairs_jsonl
    from finetune.rollout import activate_for_kb
    from finetune.runner import FinetuneRequest, run_finetune
    from finetune.training import TrainConfig

    if (kb is None) == (dataset is None):
        raise typer.BadParameter("give either --kb NAME (with --pairs or --self-supervised) or --dataset DIR")
    if activate and kb is None:
        raise typer.BadParameter(
            "--activate needs --kb: a version serves the knowledge bases it is activated for"
        )
    loaded = parse_pairs_jsonl(pairs.read_text(encoding="utf-8").splitlines()) if pairs else None
    config = TrainConfig(
        loss=loss,
        epochs=epochs,
        batch_size=batch_size,
        learning_rate=learning_rate,
        hard_negatives=hard_negatives,
    )
    services = services_for_cli()
    bar = _Bar(enabled=not as_json)
    try:
        kb_id = None
        if kb is not None:
            with services.sessions() as session:
                kb_id = kbs.get_by_name(session, kb).id
        summary = run_finetune(
            services,
            FinetuneRequest(
                kb_id=kb_id,
                pairs=loaded,
                dataset=dataset,
                self_supervised=self_supervised,
                guard=guard or services.settings.finetune.guard_dataset,
                config=config,
                name=name,
            ),
            on_progress=bar,
        )
        if activate and summary["promoted"] and kb_id is not None:
            summary["activation"] = activate_for_kb(services, kb_id, summary["version_id"], bar)
    finally:
        bar.close()
        services.close()
    summary.pop("loss_curve", None)
    if as_json:
        typer.echo(json.dumps(summary, indent=2))
        return
    before, after = summary["before"], summary["after"]
    typer.echo(
        f"{summary['name']}: {summary['mode']}, {summary['train_pairs']} training pairs, "
        f"{summary['eval_queries']} held-out queries, "
        f"{summary['steps']} steps in {summary['train_seconds']} s"
    )
    for metric in ("ndcg@10", "recall@10", "mrr@10"):
        typer.echo(f"  {metric:10s} {before[metric]:.4f} -> {after[metric]:.4f}")
    if summary.get("guard_before"):
        typer.echo(
            f"  guard nDCG@10 {summary['guard_before']['ndcg@10']:.4f} "
            f"-> {summary['guard_after']['ndcg@10']:.4f}"
        )
    verdict = "promoted" if summary["promoted"] else "not promoted (no gain on held-out pairs)"
    typer.echo(f"{verdict}; model: {summary['model_dir']}; chart: {summary['chart']}")
    if "activation" in summary:
        typer.echo(f"activated: {summary['activation']['chunks']} chunks re-embedded")
    elif summary["promoted"]:
        typer.echo(f"activate it with: kbchat encoders activate {summary['name']} --kb {kb or 'NAME'}")


@encoders_app.command("list")
def list_command(as_json: Annotated[bool, typer.Option("--json")] = False) -> None:
    """Every encoder version, newest first: what it measured and how many knowledge bases it serves."""
    from backend.catalog import encoders
    from backend.cli.main import settings
    from backend.db.engine import make_engine, make_session_factory
    from backend.db.migrate import upgrade

    engine = make_engine(settings().database_url)
    upgrade(engine)
    with make_session_factory(engine)() as session:
        users = encoders.usage(session)
        rows = [
            {
                "name": v.name,
                "status": str(v.status),
                "default": v.active,
                "knowledge_bases": users.get(v.id, 0),
                "owner": v.kb_id,
                "shared": v.shared,
                "promoted": v.promoted,
                "ndcg@10_before": v.metrics.get("before", {}).get("ndcg@10"),
                "ndcg@10_after": v.metrics.get("after", {}).get("ndcg@10"),
                "relevance_threshold": v.relevance_threshold,
                "path": v.path,
                "created_at": v.created_at.isoformat(),
            }
            for v in encoders.list_all(session)
        ]
    engine.dispose()
    if as_json:
        typer.echo(json.dumps(rows, indent=2))
        return
    mark = " " if any(r["default"] for r in rows) else "*"
    typer.echo(f"{mark} base (KBCHAT_ENCODER__MODEL)  serves {users.get(None, 0)} knowledge base(s)")
    for r in rows:
        typer.echo(
            f"{'*' if r['default'] else ' '} {r['name']}  [{r['status']}] nDCG@10 {r['ndcg@10_before']} -> "
            f"{r['ndcg@10_after']}{'' if r['promoted'] else ' (not promoted)'}  serves "
            f"{r['knowledge_bases']} knowledge base(s){', shared' if r['shared'] else ''}"
        )
    typer.echo("(* the default for new knowledge bases)")


@encoders_app.command("activate")
def activate_command(
    version: Annotated[
        str, typer.Argument(help="Version name or id; 'base' goes back to the configured model.")
    ],
    kb: Annotated[str | None, typer.Option("--kb", help="The knowledge base to switch (its name).")] = None,
    every: Annotated[
        bool, typer.Option("--all", help="Every knowledge base, and the default for new ones.")
    ] = False,
) -> None:
    """Re-embed a knowledge base (--kb) or every one (--all) with VERSION, then switch it."""
    from backend.catalog import encoders
    from backend.catalog import knowledge_bases as kbs
    from backend.cli.main import services_for_cli
    from finetune.rollout import activate_everywhere, activate_for_kb

    if (kb is None) == (not every):
        raise typer.BadParameter("say which: --kb NAME (one knowledge base) or --all (every one)")
    services = services_for_cli()
    bar = _Bar(enabled=True)
    try:
        with services.sessions() as session:
            version_id = None if version == encoders.BASE else encoders.get(session, version).id
            kb_id = kbs.get_by_name(session, kb).id if kb is not None else None
        if kb_id is not None:
            result = activate_for_kb(services, kb_id, version_id, bar)
        else:
            result = activate_everywhere(services, version_id, bar)
    finally:
        bar.close()
        services.close()
    typer.echo(f"{kb or 'every knowledge base'}: {result['version']} ({result['chunks']} chunks re-embedded)")


def extend_cli(app: typer.Typer) -> None:
    app.command("finetune")(finetune_command)
    app.add_typer(encoders_app, name="encoders")
