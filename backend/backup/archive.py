"""``kbchat backup`` and ``kbchat restore``: the database, the vectors, the fine-tuned encoders and the
generated admin token as one consistent, checksummed folder.

Consistency while the service runs: the database is read in one snapshot (backend/backup/rows.py) and
is the truth; the vectors are read after it. A document added or deleted between the two leaves a
stray or a missing point, and the restore ends with the same reconciliation as ``kbchat doctor --fix``
(strays deleted, documents with missing vectors re-ingested from their stored upload), so a restored
service always agrees with its database.

A backup is written to a hidden sibling folder and renamed into place when complete: a backup folder
that exists is whole, and its manifest's checksums prove it. A restore checks everything it can before
it writes anything (checksums, schema revision, encoder, an empty target) and loads the database in one
transaction.
"""

from __future__ import annotations

import json
import logging
import os
import shutil
import uuid
from datetime import UTC, datetime
from importlib.metadata import version
from pathlib import Path
from typing import TYPE_CHECKING, Any

from backend.backup.manifest import BackupRefused, read_verified, write_manifest
from backend.backup.points import dump_points, load_points
from backend.backup.rows import dump_database, load_database, rows_present, schema_revision
from backend.catalog.consistency import diagnose, repair
from backend.errors import Conflict, InvalidInput

if TYPE_CHECKING:
    from backend.services import Services

log = logging.getLogger(__name__)

ADMIN_TOKEN = "admin_token"
RESTORED_ENCODERS = Path("encoders") / "restored"
"""Where a version registered with an absolute path (releases before the artifacts folder) is put."""


def refuse_unless_empty(path: Path) -> None:
    """A backup goes to a new folder: never over another backup or other files."""
    if path.exists() and (not path.is_dir() or any(path.iterdir())):
        raise InvalidInput(f"{path} exists and is not empty; give a new folder for the backup")


def create_backup(services: Services, path: Path) -> dict[str, Any]:
    """Write a backup of everything ``services`` serves to the new folder ``path``; returns the
    manifest (without its file list)."""
    path = path.absolute()
    refuse_unless_empty(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    staging = path.parent / f".{path.name}.partial-{uuid.uuid4().hex[:8]}"
    staging.mkdir()
    try:
        started = datetime.now(UTC)
        revision = schema_revision(services.engine)
        tables = dump_database(services.engine, staging / "database")
        collections: dict[str, dict[str, Any]] = {}
        (staging / "vectors").mkdir()
        for name, store in services.encoders.registered_collections().items():
            points = dump_points(store, staging / "vectors" / f"{name}.jsonl")
            collections[name] = {
                "encoder_id": store.encoder_id,
                "dimension": store.dimension,
                "points": points,
            }
        encoders = _copy_encoders(services, staging)
        token = services.settings.data_dir / ADMIN_TOKEN
        if token.is_file():
            (staging / "secrets").mkdir(mode=0o700)
            shutil.copy2(token, staging / "secrets" / ADMIN_TOKEN)
        manifest = write_manifest(
            staging,
            {
                "created_at": started.isoformat(),
                "kbchat_version": version("kbchat"),
                "schema_revision": revision,
                "database": {"dialect": services.engine.dialect.name, "rows": tables},
                "base_model": services.encoders.base.model_id,
                "collections": collections,
                "encoders": encoders,
            },
        )
        try:
            os.replace(staging, path)  # a backup folder that exists is complete
        except OSError as exc:
            raise Conflict(f"{path} was written meanwhile (another backup?); give a new folder") from exc
    except BaseException:
        shutil.rmtree(staging, ignore_errors=True)
        raise
    log.info(
        "backup written to %s: %d rows, %d points, %d encoder versions",
        path,
        sum(tables.values()),
        sum(c["points"] for c in collections.values()),
        len(encoders),
    )
    return {k: v for k, v in manifest.items() if k != "files"}


def _copy_encoders(services: Services, staging: Path) -> dict[str, str]:
    """Copy each fine-tuned version's folder named in the dumped ``encoder_versions`` rows (so the
    copies match the database snapshot); returns version id → its stored path."""
    copied: dict[str, str] = {}
    rows = staging / "database" / "encoder_versions.jsonl"
    with rows.open(encoding="utf-8") as f:
        for line in f:
            row = json.loads(line)
            if not row.get("path"):
                continue  # still training: no weights yet
            folder = Path(services.encoders.resolve_path(row["path"]))
            if not folder.is_dir():
                log.warning(
                    "encoder version %s: its folder %s is missing; not in the backup", row["id"], folder
                )
                continue
            shutil.copytree(folder, staging / "encoders" / row["id"])
            copied[row["id"]] = row["path"]
    return copied


def restore_backup(
    services: Services, path: Path, *, force: bool = False, manifest: dict[str, Any] | None = None
) -> dict[str, Any]:
    """Restore the backup at ``path`` into what ``services`` serves (its database, vector store,
    artifacts folder and data dir). Refused, before anything is written, when the backup is damaged,
    from another schema revision or base encoder, or when the target holds data (unless ``force``:
    then everything in it is replaced). ``manifest``: what :func:`read_verified` returned for ``path``
    just before (every file already hashed), so a large backup is read once more, not twice."""
    path = path.absolute()
    manifest = manifest or read_verified(path)  # the CLI verifies before it loads the encoder
    revision = schema_revision(services.engine)
    if manifest.get("schema_revision") != revision:
        raise BackupRefused(
            f"the backup's database schema is at revision {manifest.get('schema_revision')}, this kbchat's "
            f"at {revision}; restore it with the kbchat release that wrote it "
            f"({manifest.get('kbchat_version')}), then upgrade"
        )
    base = services.encoders.base.model_id
    if manifest.get("base_model") != base:
        raise BackupRefused(
            f"the backup's vectors are from the base encoder {manifest.get('base_model')}, this service "
            f"runs {base}; set KBCHAT_ENCODER__MODEL to the model the backup was taken with"
        )
    stores = services.encoders.registered_collections()
    held = rows_present(services.engine)
    points = sum(store.size() for store in stores.values())
    if (held or points) and not force:
        raise Conflict(
            f"the target holds data ({sum(held.values())} rows in {len(held)} tables, {points} vectors); "
            "restore into an empty data directory and database, or pass --force to replace everything "
            "in it with the backup"
        )
    encoders = _restore_encoders(services, path, manifest["encoders"], force=force)
    rows = load_database(
        services.engine,
        path / "database",
        {"encoder_versions": lambda row: {**row, "path": encoders.get(row["id"], row["path"])}},
        replace=force,
    )
    if force:
        for store in stores.values():
            for kb_id in {kb for kb, _ in store.inventory()}:
                store.delete_knowledge_base(kb_id=kb_id)
    services.encoders.refresh()
    restored_points = 0
    for name, entry in manifest["collections"].items():
        store = services.encoders.store(entry["encoder_id"], entry["dimension"])
        restored_points += load_points(store, path / "vectors" / f"{name}.jsonl")
    token = path / "secrets" / ADMIN_TOKEN
    target = services.settings.data_dir / ADMIN_TOKEN
    if token.is_file() and (force or not target.exists()):
        target.unlink(missing_ok=True)
        target.touch(mode=0o600)
        target.write_bytes(token.read_bytes())
    in_use, home = services.encoders.collections_in_use()
    diagnosis = diagnose(services.sessions, in_use, home)
    repaired = None
    if not diagnosis.healthy:
        repaired = repair(
            services.sessions, in_use, home, diagnosis, max_attempts=services.settings.ingest.max_attempts
        )
    log.info(
        "restored %s: %d rows, %d points; reconciled: %s", path, sum(rows.values()), restored_points, repaired
    )
    return {"rows": rows, "points": restored_points, "encoders": len(encoders), "reconciled": repaired}


def _restore_encoders(
    services: Services, path: Path, encoders: dict[str, str], *, force: bool
) -> dict[str, str]:
    """Copy the backup's version folders into the artifacts folder; returns version id → its stored
    path (relative to the artifacts folder, also for versions the backup had at an absolute path)."""
    artifacts = services.settings.artifacts_path
    targets: dict[str, Path] = {}
    for version_id, stored in encoders.items():
        relative = Path(stored) if not Path(stored).is_absolute() else RESTORED_ENCODERS / version_id
        if ".." in relative.parts:
            raise BackupRefused(f"encoder version {version_id} names the path {stored!r}; refusing it")
        targets[version_id] = relative
        if (artifacts / relative).exists() and not force:
            raise Conflict(
                f"{artifacts / relative} already exists; restore into an empty data directory, or pass "
                "--force to replace it"
            )
    for version_id, relative in targets.items():
        target = artifacts / relative
        staging = target.parent / f".{target.name}.partial-{uuid.uuid4().hex[:8]}"
        staging.parent.mkdir(parents=True, exist_ok=True)
        shutil.copytree(path / "encoders" / version_id, staging)
        if target.exists():
            shutil.rmtree(target)
        os.replace(staging, target)
    paths = {version_id: relative.as_posix() for version_id, relative in targets.items()}
    return paths
