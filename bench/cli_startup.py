"""How long ``kbchat --help`` and each subcommand's ``--help`` take, beside a bare Python start.

A user's first contact with the CLI is its help; it used to take 13 s on this machine because
registering the job handlers imported torch and sentence-transformers. Handlers are now imported when
a service builds them (``backend.plugins.deferred``). Each command is run ``--runs`` times as a fresh
process; the median is printed with its ratio to ``python -c pass`` in the same run.

    .venv/bin/python -m bench.cli_startup --runs 5
"""

from __future__ import annotations

import argparse
import statistics
import subprocess
import sys
import time
from pathlib import Path

KBCHAT = Path(sys.executable).with_name("kbchat")
COMMANDS = [
    "",
    "serve",
    "worker",
    "search",
    "ask",
    "tune",
    "doctor",
    "ingest",
    "eval",
    "finetune",
    "encoders",
]


def _median_seconds(argv: list[str], runs: int) -> float:
    times = []
    for _ in range(runs):
        started = time.perf_counter()
        subprocess.run(argv, check=True, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
        times.append(time.perf_counter() - started)
    return statistics.median(times)


def main() -> None:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("--runs", type=int, default=5)
    args = parser.parse_args()
    bare = _median_seconds([sys.executable, "-c", "pass"], args.runs)
    print(f"{'python -c pass':28s} {bare * 1000:8.0f} ms   1.0×")
    for command in COMMANDS:
        argv = [str(KBCHAT), *([command] if command else []), "--help"]
        seconds = _median_seconds(argv, args.runs)
        print(
            f"{'kbchat ' + (command + ' ' if command else '') + '--help':28s} {seconds * 1000:8.0f} ms {seconds / bare:5.1f}×"
        )


if __name__ == "__main__":
    main()
