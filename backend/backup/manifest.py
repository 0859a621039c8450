"""A backup's manifest: what it holds, and a checksum of every file, so a restore can refuse a corrupted
or partial backup before it touches anything.

The manifest is written last, after every file it names is complete and hashed: a backup without one
was interrupted and is refused. A backup is a plain folder (JSON lines and the encoders' own files), so
an operator can inspect it, copy it with any tool and keep it where their other backups live.
"""

from __future__ import annotations

import hashlib
import json
from pathlib import Path
from typing import Any

from backend.errors import InvalidInput

FORMAT = "kbchat-backup"
VERSION = 1
MANIFEST = "manifest.json"
MAX_MANIFEST_BYTES = 16 * 1024 * 1024
"""A manifest lists files, tables and collections: megabytes at most. Read only up to this."""


class BackupRefused(InvalidInput):
    """The backup cannot be used as it is: missing, corrupted, partial, or from another schema."""

    code = "backup_refused"


def sha256_of(path: Path) -> str:
    digest = hashlib.sha256()
    with path.open("rb") as f:
        while block := f.read(1 << 20):
            digest.update(block)
    return digest.hexdigest()


def file_entries(root: Path) -> dict[str, dict[str, Any]]:
    """Every file under ``root`` (but the manifest) → its size and SHA-256, by POSIX relative path."""
    entries: dict[str, dict[str, Any]] = {}
    for path in sorted(root.rglob("*")):
        if path.is_file() and path.name != MANIFEST:
            entries[path.relative_to(root).as_posix()] = {
                "bytes": path.stat().st_size,
                "sha256": sha256_of(path),
            }
    return entries


def write_manifest(root: Path, contents: dict[str, Any]) -> dict[str, Any]:
    manifest = {"format": FORMAT, "version": VERSION, **contents, "files": file_entries(root)}
    path = root / MANIFEST
    with path.open("w", encoding="utf-8") as f:
        json.dump(manifest, f, indent=2, sort_keys=True)
        f.flush()
    return manifest


def read_verified(root: Path) -> dict[str, Any]:
    """The manifest of the backup at ``root``, once every file it names is there with its size and
    checksum; raise :class:`BackupRefused` saying what is wrong otherwise."""
    if not root.is_dir():
        raise BackupRefused(f"{root} is not a folder; give the folder `kbchat backup` wrote")
    path = root / MANIFEST
    if not path.is_file():
        raise BackupRefused(
            f"{root} has no {MANIFEST}: the backup was interrupted before it finished (or this is not "
            "a kbchat backup); take a new one"
        )
    if path.stat().st_size > MAX_MANIFEST_BYTES:
        raise BackupRefused(f"{path} is over {MAX_MANIFEST_BYTES} bytes; it is not a kbchat manifest")
    try:
        manifest = json.loads(path.read_text(encoding="utf-8"))
    except (UnicodeDecodeError, json.JSONDecodeError) as exc:
        raise BackupRefused(f"{path} is not valid JSON ({exc}); the backup is damaged") from exc
    if not isinstance(manifest, dict) or manifest.get("format") != FORMAT:
        raise BackupRefused(f"{path} is not a kbchat backup manifest")
    if manifest.get("version") != VERSION:
        raise BackupRefused(
            f"backup format version {manifest.get('version')!r}; this kbchat reads version {VERSION}"
        )
    files = manifest.get("files")
    if not isinstance(files, dict):
        raise BackupRefused(f"{path} lists no files; the backup is damaged")
    for name, entry in files.items():
        file = (root / name).resolve()
        if not file.is_relative_to(root.resolve()):
            raise BackupRefused(f"{path} names {name!r}, outside the backup folder; refusing it")
        if not file.is_file():
            raise BackupRefused(f"{name} is missing from {root}: the backup is partial; take a new one")
        if file.stat().st_size != entry.get("bytes"):
            raise BackupRefused(
                f"{name} has {file.stat().st_size} bytes, the manifest says {entry.get('bytes')}: the "
                "backup is truncated or was changed; take a new one"
            )
        if sha256_of(file) != entry.get("sha256"):
            raise BackupRefused(
                f"{name} does not match its checksum: the backup is corrupted; take a new one"
            )
    return manifest
