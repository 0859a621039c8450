"""Where a server's time goes, from py-spy's raw stacks (``bench.http_search --profile DIR``).

    .venv/bin/python -m bench.profile_summary DIR/clients-1.txt [--top 25] [--under FUNCTION]

Prints, per thread, its share of the samples, then the functions holding the most samples
*inclusively* (a frame counted once per stack) and by *self* time (the innermost frame). Sample counts
are what py-spy saw at its rate, so the absolute figure per request is samples ÷ rate ÷ requests.
``--under NAME`` keeps only stacks passing through a frame whose text contains NAME (a route, a stage).
"""

from __future__ import annotations

import argparse
from collections import Counter
from pathlib import Path

# Innermost frames of a thread that waits (py-spy counts a thread blocked in Python-level locking, or
# the event loop in select, as active): dropped unless --waits.
WAITS = ("Condition.wait (", "Event.wait (", "Runner.run (asyncio", "select (", "Queue.get (", "sleep (")


def parse(path: Path) -> list[tuple[str, list[str], int]]:
    """(thread, frames outermost first, samples) for each distinct stack in a raw py-spy file."""
    stacks = []
    for line in path.read_text().splitlines():
        body, _, count = line.rpartition(" ")
        if not body or not count.isdigit():
            continue
        frames = body.split(";")
        thread = "?"
        if frames[0].startswith(("thread (", "process ")):  # --threads: "thread (TID): NAME"
            thread, frames = frames[0], frames[1:]
        stacks.append((thread, frames, int(count)))
    return stacks


def main() -> None:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("file", type=Path)
    parser.add_argument("--top", type=int, default=25)
    parser.add_argument(
        "--waits", action="store_true", help="keep stacks that only wait (dropped by default)"
    )
    parser.add_argument("--thread", help="only threads whose name contains this text (MainThread, AnyIO)")
    parser.add_argument("--under", help="only stacks through a frame containing this text")
    args = parser.parse_args()

    stacks = parse(args.file)
    if not args.waits:
        stacks = [s for s in stacks if s[1] and not s[1][-1].startswith(WAITS)]
    if args.thread:
        stacks = [s for s in stacks if args.thread in s[0]]
    if args.under:
        stacks = [s for s in stacks if any(args.under in f for f in s[1])]
    total = sum(n for _, _, n in stacks) or 1
    threads: Counter[str] = Counter()
    inclusive: Counter[str] = Counter()
    own: Counter[str] = Counter()
    for thread, frames, n in stacks:
        threads[thread] += n
        for frame in set(frames):
            inclusive[frame] += n
        if frames:
            own[frames[-1]] += n
    print(f"{total} samples{' under ' + args.under if args.under else ''}")
    print("threads:")
    for thread, n in threads.most_common(8):
        print(f"  {100 * n / total:5.1f} %  {thread}")
    for title, counter in (("inclusive:", inclusive), ("self:", own)):
        print(title)
        for frame, n in counter.most_common(args.top):
            print(f"  {100 * n / total:5.1f} %  {frame}")


if __name__ == "__main__":
    main()
