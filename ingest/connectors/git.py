"""The Git connector: the docs folders of a repository the operator allows.

Runs the ``git`` command (no library re-implements fetch and its protocols as well), shallow: one
``git fetch --depth 1`` of the branch into a bare repository kept in the source's folder, then
``git ls-tree`` lists the files with their blob ids. A blob id is a hash of the file's bytes, so it is
the change token: a file whose blob id is the one last synced is unchanged without being read, and
exactly the files a commit diff would name are read again. Only repositories under a prefix of
``KBCHAT_SOURCES__GIT_ALLOWLIST`` are fetched: git makes its own connections, outside the fetcher's
address policy, so the operator decides where they may go. No credentials prompt, no hooks, no
submodules; a fetch that takes longer than ``KBCHAT_SOURCES__GIT_TIMEOUT_S`` is stopped.
"""

from __future__ import annotations

import logging
import os
import subprocess
from collections.abc import Iterator
from pathlib import Path

from pydantic import BaseModel, ConfigDict, Field, field_validator

from backend.connectors.base import (
    Connector,
    Content,
    Failed,
    FetchFailed,
    Outcome,
    SourcePolicy,
    SyncContext,
    Unchanged,
)
from backend.errors import InvalidInput

log = logging.getLogger(__name__)
DOC_EXTENSIONS = (".md", ".markdown", ".rst", ".txt", ".html", ".htm")
MEDIA = {".md": "text/markdown", ".markdown": "text/markdown", ".html": "text/html", ".htm": "text/html"}


class GitSettings(BaseModel):
    model_config = ConfigDict(extra="forbid")
    branch: str | None = Field(default=None, max_length=200, description="Default: the remote's HEAD.")
    folders: list[str] = Field(
        default_factory=lambda: [""], max_length=50, description="'' is the whole tree."
    )
    extensions: list[str] = Field(default_factory=lambda: list(DOC_EXTENSIONS), max_length=50)
    max_files: int = Field(default=2000, ge=1, le=100_000)

    @field_validator("branch")
    @classmethod
    def _plain_branch(cls, value: str | None) -> str | None:
        if value is not None and (value.startswith("-") or ".." in value or not value.strip()):
            raise ValueError("a branch name must not start with '-' or contain '..'")
        return value

    @field_validator("folders")
    @classmethod
    def _relative_folders(cls, value: list[str]) -> list[str]:
        clean = [f.strip().strip("/") for f in value]
        if any(f.startswith("-") or ".." in f.split("/") for f in clean):
            raise ValueError("folders are paths inside the repository, without '..' or a leading '-'")
        return clean or [""]


def _allowed(url: str, allowlist: list[str]) -> bool:
    return any(url.startswith(prefix) for prefix in allowlist if prefix)


class GitConnector(Connector):
    kind = "git"
    description = (
        "Markdown, reStructuredText, HTML and text files in chosen folders of an allowed Git repository."
    )
    Settings = GitSettings

    @classmethod
    def check(cls, url: str, settings: BaseModel, policy: SourcePolicy) -> None:
        allowlist = policy.limits.git_allowlist
        if not allowlist:
            raise InvalidInput(
                "Git sources are off here: KBCHAT_SOURCES__GIT_ALLOWLIST names the repositories allowed"
            )
        if url.startswith("-") or not _allowed(url, allowlist):
            raise InvalidInput(
                f"{url[:200]} is not an allowed repository; "
                f"KBCHAT_SOURCES__GIT_ALLOWLIST allows: {', '.join(allowlist)}"
            )

    def sync(self, ctx: SyncContext) -> Iterator[Outcome]:
        settings = ctx.settings
        assert isinstance(settings, GitSettings)
        repo = ctx.workdir / "repo.git"
        timeout = ctx.limits.git_timeout_s
        if not _allowed(ctx.url, ctx.limits.git_allowlist):  # the allowlist may have shrunk since
            raise FetchFailed(f"{ctx.url} is no longer in KBCHAT_SOURCES__GIT_ALLOWLIST", transient=False)
        if not (repo / "HEAD").exists():
            _git(["init", "--quiet", "--bare", str(repo)], cwd=ctx.workdir, timeout=timeout)
        ref = settings.branch or "HEAD"
        _git(["fetch", "--quiet", "--depth", "1", "--no-tags", "--", ctx.url, ref], cwd=repo, timeout=timeout)
        commit = _git(["rev-parse", "FETCH_HEAD^{commit}"], cwd=repo, timeout=timeout).decode().strip()
        files = self._files(repo, commit, settings, timeout)
        limit = min(settings.max_files, ctx.limits.max_items)
        if len(files) > limit:
            ctx.incomplete(
                f"the repository has {len(files):,} matching files; only the first {limit:,} are synced"
            )
            files = files[:limit]
        log.info("git source %s at %s: %d files", ctx.url, commit[:12], len(files))
        for i, (path, blob, size) in enumerate(files):
            ctx.progress(i, len(files))
            previous = ctx.previous(path)
            if previous is not None and previous.change_token == blob:
                yield Unchanged(path, change_token=blob)
            elif size > ctx.max_bytes:
                yield Failed(path, f"{size:,} bytes; the limit is {ctx.max_bytes:,}", transient=False)
            else:
                data = _git(["cat-file", "blob", blob], cwd=repo, timeout=timeout)
                suffix = Path(path).suffix.lower()
                yield Content(
                    path,
                    data,
                    content_type=MEDIA.get(suffix, "text/plain"),
                    name=path if suffix in MEDIA or suffix == ".txt" else f"{path}.txt",
                    title=path,
                    source=f"{ctx.url}#{path}",
                    change_token=blob,
                )

    @staticmethod
    def _files(repo: Path, commit: str, settings: GitSettings, timeout: float) -> list[tuple[str, str, int]]:
        folders = [f for f in settings.folders if f] or []
        listing = _git(["ls-tree", "-r", "-l", "-z", commit, "--", *folders], cwd=repo, timeout=timeout)
        extensions = tuple(e.lower() for e in settings.extensions)
        files = []
        for entry in listing.split(b"\0"):
            if not entry:
                continue
            meta, _, raw_path = entry.partition(b"\t")
            mode, kind, blob, size = meta.split()
            path = raw_path.decode("utf-8", errors="replace")
            if kind == b"blob" and mode != b"120000" and path.lower().endswith(extensions):  # no symlinks
                files.append((path, blob.decode(), int(size)))
        return sorted(files)


def _git(args: list[str], *, cwd: Path, timeout: float) -> bytes:
    """Run git with no prompts, no system or user configuration, no hooks; errors as FetchFailed."""
    env = {
        "PATH": os.environ.get("PATH", "/usr/bin:/bin"),
        "GIT_TERMINAL_PROMPT": "0",
        "GIT_CONFIG_NOSYSTEM": "1",
        "GIT_CONFIG_GLOBAL": os.devnull,
        "HOME": str(cwd),
    }
    command = ["git", "-c", "core.hooksPath=/dev/null", "-c", "protocol.ext.allow=never", *args]
    try:
        done = subprocess.run(command, cwd=cwd, env=env, capture_output=True, timeout=timeout, check=False)
    except subprocess.TimeoutExpired:
        raise FetchFailed(
            f"git {args[0]} took longer than {timeout:g} s (KBCHAT_SOURCES__GIT_TIMEOUT_S)", transient=True
        ) from None
    if done.returncode != 0:
        detail = done.stderr.decode("utf-8", errors="replace").strip().splitlines()
        message = f"git {args[0]} failed: {detail[-1] if detail else f'exit status {done.returncode}'}"
        raise FetchFailed(message[:500], transient=args[0] == "fetch")
    return done.stdout
