"""``kbchat``: serve, worker, migrate, search, ask — plus commands added by plugins (``ingest``).

Commands that touch data build the same :class:`~backend.services.Services` as the API, so the
CLI and the service can never disagree about where data lives or how it is searched.
"""

from __future__ import annotations

import asyncio
import dataclasses
import json
import logging
import signal
import threading
from pathlib import Path
from typing import TYPE_CHECKING, Annotated

import typer

from backend.logging_setup import configure_logging
from backend.plugins import load_plugins
from backend.settings import Settings
from backend.vectorstore.base import SearchMode

if TYPE_CHECKING:
    from backend.services import Services

app = typer.Typer(help="kbchat: a knowledge-base chat backend.", no_args_is_help=True, add_completion=False)
log = logging.getLogger("kbchat")


def settings() -> Settings:
    s = Settings()
    configure_logging(s.log_level, s.log_format)
    return s


def services_for_cli() -> Services:
    """Services for a worker or a one-shot command: no visitors' questions here (:meth:`Services.build`)."""
    from backend.services import Services  # imported here: `kbchat --help` must not load torch

    return Services.build(settings(), visitors=False)


@app.command()
def serve(
    host: Annotated[str, typer.Option(help="Interface to listen on.")] = "127.0.0.1",
    port: Annotated[int, typer.Option(help="TCP port.")] = 8000,
    workers: Annotated[int, typer.Option(help="Uvicorn processes (needs PostgreSQL + a Qdrant server).")] = 1,
) -> None:
    """Run the HTTP API (with the job worker inside it, unless KBCHAT_WORKER__EMBEDDED=false)."""
    import uvicorn

    from backend.api.app import create_app

    s = settings()
    if workers > 1:
        raise typer.BadParameter(
            "several processes need a shared database and Qdrant server; "
            "run one `kbchat serve` per container instead",
            param_hint="--workers",
        )
    # proxy_headers=False: the app applies KBCHAT_TRUSTED_PROXIES itself (backend/api/app.py).
    uvicorn.run(create_app(s), host=host, port=port, log_config=None, proxy_headers=False)


@app.command()
def worker() -> None:
    """Run the job workers as their own process: one compute lane and the I/O lanes (production: several
    processes, against PostgreSQL, a Qdrant server and a shared KBCHAT_ARTIFACTS_DIR)."""
    services = services_for_cli()
    if (port := services.settings.worker.metrics_port) is not None:
        from prometheus_client import start_http_server

        from backend.telemetry import QueueCollector

        services.telemetry.registry.register(QueueCollector(lambda: services.sessions))
        host = services.settings.worker.metrics_host
        start_http_server(port, addr=host, registry=services.telemetry.registry)
        log.info("worker metrics on http://%s:%d/metrics", host, port)
    services.start_workers()  # a compute lane and the I/O lanes (KBCHAT_WORKER__IO_CONCURRENCY)
    stopping = threading.Event()
    signal.signal(signal.SIGTERM, lambda *_: stopping.set())
    try:
        while not stopping.wait(1.0):
            pass
    except KeyboardInterrupt:
        pass
    finally:
        services.close()  # stops every lane; a batch claimed ahead goes back to the queue


@app.command()
def migrate() -> None:
    """Bring the database schema up to date (also done on every `serve`)."""
    from backend.db.engine import make_engine
    from backend.db.migrate import upgrade

    s = settings()
    upgrade(make_engine(s.database_url))
    typer.echo("database is up to date")


@app.command()
def search(
    query: Annotated[str, typer.Argument(help="What to look for.")],
    kb: Annotated[str, typer.Option("--kb", help="Knowledge base name.")],
    top_k: Annotated[int, typer.Option("--top-k", min=1, max=100)] = 5,
    mode: Annotated[
        SearchMode | None, typer.Option(help="dense, sparse or hybrid. Default: the knowledge base's.")
    ] = None,
    as_json: Annotated[bool, typer.Option("--json", help="Print JSON.")] = False,
) -> None:
    """Search a knowledge base and print the ranked passages."""
    from backend.catalog import knowledge_bases as kbs

    services = services_for_cli()
    try:
        with services.sessions() as session:
            found = kbs.get_by_name(session, kb)
            kb_id, config = found.id, kbs.retrieval_settings(found)
        if mode is not None:
            config = config.with_(mode=mode)
        result = services.retriever.search(kb_id=kb_id, query=query, top_k=top_k, config=config)
    finally:
        services.close()
    if as_json:
        typer.echo(json.dumps([dataclasses.asdict(p) for p in result.passages]))
        return
    for rank, p in enumerate(result.passages, start=1):
        where = " > ".join([p.title, *p.heading])
        typer.echo(f"{rank}. [{p.relevance:.3f}] {where}  ({p.source})")
        typer.echo("   " + p.text[:300].replace("\n", " ") + ("…" if len(p.text) > 300 else ""))
    typer.echo(f"({len(result.passages)} results in {result.took_ms:.0f} ms, mode {result.mode})")


@app.command()
def ask(
    question: Annotated[str, typer.Argument(help="The question.")],
    kb: Annotated[str, typer.Option("--kb", help="Knowledge base name.")],
    as_json: Annotated[bool, typer.Option("--json", help="Print JSON.")] = False,
) -> None:
    """Ask a knowledge base a question; prints the answer and its citations."""
    from backend.catalog import knowledge_bases as kbs
    from backend.chat import ChatInput

    services = services_for_cli()
    try:
        with services.sessions() as session:
            found = kbs.get_by_name(session, kb)
            kb_id, config, chat = found.id, kbs.retrieval_settings(found), kbs.chat_settings(found)
        answer = asyncio.run(services.chat.answer(ChatInput(kb_id, question, config=config, chat=chat)))
    finally:
        services.close()
    if as_json:
        typer.echo(json.dumps({"answer": answer.answer, "citations": answer.citations}))
        return
    typer.echo(answer.answer)
    for c in answer.citations:
        typer.echo(f"  [{c['index']}] {c['title']} — {c['source']}")


@app.command()
def tune(
    kb: Annotated[str, typer.Option("--kb", help="Knowledge base name.")],
    pairs: Annotated[
        Path,
        typer.Option(
            help='JSONL, one per line: {query, document_id | source | positive}, or {query, "answerable": '
            "false} for a question the assistant must decline (10 or more refit the gate's weights)."
        ),
    ],
    dry_run: Annotated[
        bool, typer.Option("--dry-run", help="Report only; keep the current settings.")
    ] = False,
    as_json: Annotated[bool, typer.Option("--json", help="Print JSON.")] = False,
) -> None:
    """Pick the search mode and fusion weights that maximise nDCG@10 on your own pairs, and refit the
    confidence model that decides when chat answers "I couldn't find it"."""
    from backend.catalog import knowledge_bases as kbs
    from backend.catalog.tuning import parse_pairs_jsonl, report_dict, run_tuning
    from backend.services import tuning_parts

    judged = parse_pairs_jsonl(pairs.read_text(encoding="utf-8").splitlines())
    services = services_for_cli()
    try:
        with services.sessions() as session:
            kb_id = kbs.get_by_name(session, kb).id
        report, calibration = run_tuning(tuning_parts(services), kb_id, judged, apply=not dry_run)
    finally:
        services.close()
    summary = report_dict(report, calibration, applied=not dry_run)
    if as_json:
        typer.echo(json.dumps(summary, indent=2))
        return
    typer.echo(f"{report.queries} judged queries ({report.skipped} skipped: answer not found by any mode)")
    for row in summary["top"][:8]:
        typer.echo(f"  {row['ndcg@10']:.3f}  {row['label']}")
    typer.echo(f"current settings: {report.current.ndcg:.3f} nDCG@10")
    verdict = "applied" if summary["applied"] else ("would apply" if report.best.update else "kept (no gain)")
    typer.echo(f"best: {report.best.label} at {report.best.ndcg:.3f}: {verdict}")
    confidence = summary["confidence"]
    if calibration.model is None:
        typer.echo(f"confidence model: {confidence['reason']}")
    else:
        fitted = calibration.model.fitted
        typer.echo(
            f"confidence model refitted on {confidence['positive_passages']} answering and "
            f"{confidence['negative_passages']} other passages: threshold {calibration.model.threshold:.3f}, "
            f"false refusals {fitted['false_refusal']:.1%}, false answers with the answer's own document "
            f"removed {fitted['false_answer_without_own_document']:.1%}"
            f"{'' if confidence['applied'] else ' (dry run: not stored)'}"
        )


@app.command()
def doctor(
    fix: Annotated[bool, typer.Option("--fix", help="Repair what is found.")] = False,
    as_json: Annotated[bool, typer.Option("--json", help="Print JSON.")] = False,
) -> None:
    """Check that the database and the vector store agree and no work is stuck; --fix repairs it, and
    adds sentence vectors to chunks stored without them.

    Exit code 0: healthy (or repaired), 1: problems found and not fixed."""
    from backend.catalog.consistency import diagnose, repair

    services = services_for_cli()
    try:
        stores, home = services.encoders.collections_in_use()
        sentence_models = (
            services.encoders.collection_models() if services.settings.chunking.sentence_vectors else None
        )
        diagnosis = diagnose(services.sessions, stores, home, sentence_models)
        repaired = (
            repair(
                services.sessions,
                stores,
                home,
                diagnosis,
                max_attempts=services.settings.ingest.max_attempts,
            )
            if fix and not diagnosis.complete
            else None
        )
    finally:
        services.close()
    if as_json:
        typer.echo(json.dumps({**diagnosis.as_dict(), "repaired": repaired}, indent=2))
    else:
        typer.echo(
            f"orphaned vectors: {sum(diagnosis.orphaned.values())} in {len(diagnosis.orphaned)} documents"
        )
        for key, count in list(diagnosis.orphaned.items())[:20]:
            typer.echo(f"  {key}: {count}")
        typer.echo(f"documents with missing vectors: {len(diagnosis.missing)}")
        for document_id, (expected, stored) in list(diagnosis.missing.items())[:20]:
            typer.echo(f"  {document_id}: {stored} stored, {expected} expected")
        typer.echo(f"stuck documents (no job to finish them): {len(diagnosis.stuck)}")
        typer.echo(f"stale vectors (outside their knowledge base's encoder): {len(diagnosis.stale)}")
        typer.echo(
            f"running jobs with an expired lease (a worker takes them over): {len(diagnosis.expired_jobs)}"
        )
        if sentence_models is not None:
            typer.echo(
                f"documents with chunks stored without sentence vectors: {len(diagnosis.unsentenced)} "
                f"({sum(diagnosis.unsentenced.values())} chunks; searches encode those sentences when they "
                "meet them)"
            )
        if repaired is not None:
            typer.echo(
                f"repaired: {repaired['orphaned_deleted']} orphaned documents' vectors deleted, "
                f"{repaired['documents_requeued']} documents queued for ingestion, "
                f"{repaired['documents_requeued_for_sentence_vectors']} queued to add their sentence vectors "
                "(a worker finishes them; stored chunk vectors are reused)"
            )
        elif not diagnosis.complete:
            typer.echo("run `kbchat doctor --fix` to repair")
    if not diagnosis.healthy and repaired is None:
        raise typer.Exit(1)


@app.command()
def backup(
    path: Annotated[Path, typer.Argument(help="A new (or empty) folder to write the backup to.")],
    as_json: Annotated[bool, typer.Option("--json", help="Print the manifest as JSON.")] = False,
) -> None:
    """Back up the database, the vectors, the fine-tuned encoders and the admin token, consistently,
    while the service runs (with PostgreSQL and a Qdrant server) or is stopped (embedded defaults: the
    embedded vector store belongs to one process)."""
    from backend.backup.archive import create_backup, refuse_unless_empty
    from backend.errors import Unavailable

    refuse_unless_empty(path.absolute())  # before the encoder loads: a wrong path is told at once
    try:
        services = services_for_cli()
    except Unavailable as exc:
        if "in use by another kbchat process" not in exc.message:
            raise
        raise Unavailable(
            f"{exc.message} While the service runs on the embedded store, it takes the backup itself: "
            'POST /v1/backups {"name": "..."} with the admin token writes it under <data dir>/backups.'
        ) from exc
    try:
        manifest = create_backup(services, path)
    finally:
        services.close()
    if as_json:
        typer.echo(json.dumps(manifest, indent=2))
        return
    rows = manifest["database"]["rows"]
    points = sum(c["points"] for c in manifest["collections"].values())
    typer.echo(
        f"backup written to {path}: {sum(rows.values())} database rows ({rows.get('documents', 0)} "
        f"documents), {points} vectors in {len(manifest['collections'])} collections, "
        f"{len(manifest['encoders'])} fine-tuned encoders; schema {manifest['schema_revision']}"
    )


@app.command()
def restore(
    path: Annotated[Path, typer.Argument(help="A folder `kbchat backup` wrote.")],
    force: Annotated[
        bool, typer.Option("--force", help="Replace everything the target database and store hold.")
    ] = False,
) -> None:
    """Restore a backup into the configured data directory, database and vector store (the service
    stopped). Checks every checksum first; refuses a target that holds data unless --force."""
    from backend.backup.archive import restore_backup
    from backend.backup.manifest import read_verified

    manifest = read_verified(path.absolute())  # a damaged backup is refused before anything loads
    services = services_for_cli()
    try:
        result = restore_backup(services, path, force=force, manifest=manifest)
    finally:
        services.close()
    reconciled = result["reconciled"]
    typer.echo(
        f"restored {sum(result['rows'].values())} database rows, {result['points']} vectors and "
        f"{result['encoders']} fine-tuned encoders from {path}"
    )
    if reconciled:
        typer.echo(
            f"reconciled: {reconciled['orphaned_deleted']} documents' stray vectors deleted, "
            f"{reconciled['documents_requeued']} documents queued to be embedded again (written or deleted "
            "while the backup ran); a worker finishes them"
        )


_extended = False


def full_app() -> typer.Typer:
    """The command tree with every installed plugin's commands (``ingest``, ``finetune``…), added once."""
    global _extended
    if not _extended:
        for extend in load_plugins().cli_extensions:
            extend(app)
        _extended = True
    return app


def main(argv: list[str] | None = None) -> None:
    """The ``kbchat`` console script. ``argv`` (default: the process's) lets tests run it in-process,
    with the same exit codes and messages a user sees."""
    try:
        full_app()(args=argv, prog_name="kbchat")
    except Exception as exc:  # our errors carry a message meant for the user; show it, not a traceback
        from pydantic import ValidationError

        from backend.errors import KbchatError

        if isinstance(exc, KbchatError):
            typer.echo(f"error: {exc.message}", err=True)
            raise SystemExit(2) from None
        if isinstance(exc, ValidationError) and exc.title == "Settings":
            for problem in exc.errors():
                name = "KBCHAT_" + "__".join(str(p).upper() for p in problem["loc"])
                typer.echo(f"configuration error: {name}: {problem['msg']}", err=True)
            raise SystemExit(2) from None
        raise
