"""``kbchat ingest PATH... --kb NAME``: upload files and folders, then process them with a progress bar.

Runs the same job handler as the service, in this process, so it needs the data to itself (the
embedded Qdrant store is single-process): stop ``kbchat serve`` first, or use a Qdrant server.
"""

from __future__ import annotations

import time
from pathlib import Path
from typing import Annotated

import typer
from tqdm import tqdm


def _files(paths: list[Path]) -> list[Path]:
    from backend.catalog.formats import EXTENSIONS

    found: list[Path] = []
    for path in paths:
        if path.is_dir():
            found.extend(sorted(p for p in path.rglob("*") if p.is_file() and p.suffix.lower() in EXTENSIONS))
        elif path.is_file():
            found.append(path)
        else:
            raise typer.BadParameter(f"{path} does not exist", param_hint="PATH")
    return found


def ingest_command(
    paths: Annotated[list[Path], typer.Argument(help="Files or folders (searched recursively).")],
    kb: Annotated[str, typer.Option("--kb", help="Knowledge base name; created if missing.")],
) -> None:
    """Add files to a knowledge base and wait until they are searchable."""
    # Imported here, not at the top: `kbchat --help` lists this command without loading the database.
    from backend.catalog import documents as docs
    from backend.catalog import knowledge_bases as kbs
    from backend.catalog.formats import EXTENSIONS, detect_format
    from backend.cli.main import services_for_cli
    from backend.db.models import JobStatus
    from backend.errors import KbchatError, NotFound

    files = _files(paths)
    if not files:
        raise typer.BadParameter(f"no supported files found (extensions: {', '.join(sorted(EXTENSIONS))})")
    services = services_for_cli()
    try:
        with services.sessions.begin() as session:
            try:
                kb_id = kbs.get_by_name(session, kb).id
            except NotFound:
                kb_id = kbs.create(session, name=kb).id
                typer.echo(f"created knowledge base {kb!r}")
        jobs: dict[str, str] = {}
        problems: list[str] = []
        unchanged = 0
        for path in files:
            try:
                with services.sessions.begin() as session:
                    accepted = docs.accept_upload(
                        session,
                        kb_id=kb_id,
                        data=path.read_bytes(),
                        format=detect_format(path.name, None),
                        name=path.name,
                        source=str(path),
                        filename=path.name,
                        max_bytes=services.settings.ingest.max_upload_bytes,
                        max_attempts=services.settings.ingest.max_attempts,
                    )
                    if accepted.job is not None:
                        jobs[accepted.job.id] = str(path)
                    unchanged += accepted.unchanged
            except KbchatError as exc:
                problems.append(f"{path}: {exc.message}")
        worker = services.make_worker()
        with tqdm(total=len(jobs), unit="doc", desc=f"ingesting into {kb}") as bar:
            while (left := services.queue.pending(jobs)) > 0:
                if not worker.run_once():
                    time.sleep(0.2)  # a job is backing off before a retry
                bar.n = len(jobs) - left
                bar.refresh()
            bar.n = len(jobs)
            bar.refresh()
        failed = 0
        for job_id, source in jobs.items():
            job = services.queue.get(job_id)
            if job.status != JobStatus.SUCCEEDED:
                failed += 1
                problems.append(f"{source}: {job.error}")
    finally:
        services.close()
    typer.echo(f"{len(jobs) - failed} ingested, {unchanged} unchanged, {len(problems)} failed")
    for problem in problems:
        typer.echo(f"  failed: {problem}", err=True)
    if problems:
        raise typer.Exit(1)


def extend_cli(app: typer.Typer) -> None:
    from ingest.evaluation.cli import eval_command
    from ingest.sources_cli import sources_app

    app.command("ingest")(ingest_command)
    app.command("eval")(eval_command)
    app.add_typer(sources_app, name="sources")
