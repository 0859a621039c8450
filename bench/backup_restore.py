"""Backup and restore of a whole service, timed beside a plain copy of its data folder.

    .venv/bin/python -m bench.backup_restore [--dataset manpages]

Ingests a shared set into a scratch service (embedded defaults: SQLite + Qdrant Edge), then times
``create_backup`` (consistent snapshot, JSON lines, checksums) and ``restore_backup`` into an empty
data folder (checksums verified, database in one transaction, vectors upserted, reconciliation), beside
``shutil.copytree`` of the data folder (the baseline: what an operator copying the files of a stopped
service pays). Then checks that every test question returns the same passages with the same scores.
"""

from __future__ import annotations

import argparse
import shutil
import tempfile
import time
from pathlib import Path

from bench.common import DATA, scratch_settings


def _size(path: Path) -> int:
    return sum(p.stat().st_size for p in path.rglob("*") if p.is_file())


def main() -> None:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("--dataset", default="manpages")
    args = parser.parse_args()

    from backend.backup.archive import create_backup, restore_backup
    from backend.retrieval.beir import load_beir
    from backend.services import Services
    from ingest.evaluation.runner import ingest_corpus

    dataset = load_beir(DATA / args.dataset, "test")
    source = scratch_settings()
    services = Services.build(source)
    kb_id, _ = ingest_corpus(services, dataset)
    questions = list(dataset.queries.values())

    def answers(s: Services) -> list[list[tuple[str, float]]]:
        return [
            [(p.id, round(p.score, 5)) for p in s.retriever.search(kb_id=kb_id, query=q, top_k=10).passages]
            for q in questions
        ]

    before = answers(services)
    folder = Path(tempfile.mkdtemp(prefix="kbchat-backup-")) / "backup"
    started = time.perf_counter()
    manifest = create_backup(services, folder)
    backup_s = time.perf_counter() - started
    services.close()

    copy = Path(tempfile.mkdtemp(prefix="kbchat-copy-")) / "data"
    started = time.perf_counter()
    shutil.copytree(source.data_dir, copy)
    copy_s = time.perf_counter() - started

    target = scratch_settings()
    restored = Services.build(target, embedder=services.encoders.base.embedder)
    started = time.perf_counter()
    result = restore_backup(restored, folder)
    restore_s = time.perf_counter() - started
    same = answers(restored) == before
    restored.close()

    points = sum(c["points"] for c in manifest["collections"].values())
    print(
        f"{args.dataset}: {len(dataset.corpus)} documents, {points} points, data folder {_size(source.data_dir) / 1e6:.1f} MB"
    )
    print(f"  copytree of the data folder (baseline)  {copy_s:6.2f} s")
    print(
        f"  kbchat backup                           {backup_s:6.2f} s   {backup_s / copy_s:5.1f}x   {_size(folder) / 1e6:.1f} MB"
    )
    print(f"  kbchat restore (empty target)           {restore_s:6.2f} s   {restore_s / copy_s:5.1f}x")
    print(
        f"  restored rows {sum(result['rows'].values())}, points {result['points']}; same answers to {len(questions)} questions: {same}"
    )


if __name__ == "__main__":
    main()
