"""The Edge directory of one process: its lock, the shards it has open, and the alias file.

Edge, like SQLite, belongs to one process: a lock file keeps a second one out, with an error that says
what to do. Within the process, every store on the directory (one per encoder version) shares this one
object, so a shard opened by one is the shard the others use. ``aliases.json`` plays the Qdrant server's
alias: it names the active shard and is replaced atomically (write, fsync, rename).
"""

from __future__ import annotations

import contextlib
import fcntl
import json
import os
import threading
from pathlib import Path
from typing import TYPE_CHECKING, ClassVar

from backend.errors import Unavailable

if TYPE_CHECKING:  # the binding is imported at run time by edge.py and edge_schema.py alone
    import qdrant_edge as qe


class EdgeHome:
    """The edge directory of one process: its lock, its open shards (shared by sibling stores), the
    alias file. One instance per directory per process."""

    _homes: ClassVar[dict[Path, EdgeHome]] = {}
    _guard: ClassVar[threading.Lock] = threading.Lock()

    def __init__(self, root: Path) -> None:
        root.mkdir(parents=True, exist_ok=True)
        self.root = root
        self._lock_file = (root / ".lock").open("a")
        try:
            fcntl.flock(self._lock_file, fcntl.LOCK_EX | fcntl.LOCK_NB)
        except BlockingIOError:
            self._lock_file.close()
            raise Unavailable(
                f"the embedded vector store at {root} is in use by another kbchat process. Stop it, or run "
                "a Qdrant server and set KBCHAT_QDRANT__URL so several processes can share it."
            ) from None
        self.shards: dict[str, qe.EdgeShard] = {}
        self.users = 0
        self.lock = threading.RLock()

    @classmethod
    def open(cls, root: Path) -> EdgeHome:
        with cls._guard:
            home = cls._homes.get(root.resolve())
            if home is None:
                home = cls._homes[root.resolve()] = EdgeHome(root)
            home.users += 1
            return home

    def release(self) -> None:
        with EdgeHome._guard:
            self.users -= 1
            if self.users > 0:
                return
            for shard in self.shards.values():
                with contextlib.suppress(Exception):
                    shard.flush()
                    shard.close()
            self.shards.clear()
            fcntl.flock(self._lock_file, fcntl.LOCK_UN)
            self._lock_file.close()
            del EdgeHome._homes[self.root.resolve()]

    def aliases(self) -> dict[str, str]:
        path = self.root / "aliases.json"
        return json.loads(path.read_text()) if path.exists() else {}

    def set_alias(self, alias: str, target: str) -> None:
        aliases = {**self.aliases(), alias: target}
        tmp = self.root / "aliases.json.tmp"
        with tmp.open("w") as f:
            json.dump(aliases, f)
            f.flush()
            os.fsync(f.fileno())
        os.replace(tmp, self.root / "aliases.json")
