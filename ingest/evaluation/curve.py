"""The refusal trade-off as a picture: false refusals against false answers, for every mode and gate.

The figures themselves are in ``kbchat eval --json`` too (``gates.<mode>.curve``).
"""

from __future__ import annotations

from pathlib import Path
from typing import Any


def plot(report: Any, path: Path) -> None:
    import matplotlib

    matplotlib.use("Agg")  # no display: a file only
    import matplotlib.pyplot as plt

    figure, axes = plt.subplots(figsize=(6.4, 4.8), dpi=120)
    for mode, gate in report.gates.items():
        for name, style, figures in (
            ("confidence", "-", gate.confidence),
            ("confidence, tuned", "--", gate.tuned),
            ("cosine", ":", gate.cosine),
        ):
            if name not in gate.curve:
                continue
            points = gate.curve[name]
            axes.plot([p[2] for p in points], [p[1] for p in points], style, label=f"{mode} · {name}")
            chosen = figures
            axes.plot(
                [chosen["false_answer"]], [chosen["false_refusal"]], "o", color=axes.lines[-1].get_color()
            )
    axes.set_xlabel(f"false answers (questions from {report.unanswerable or 'no other set'} answered)")
    axes.set_ylabel("false refusals (answerable questions refused)")
    axes.set_title(f'{report.dataset} ({report.split}): when to say "I don\'t know"')
    axes.set_xlim(0, 1)
    axes.set_ylim(0, 1)
    axes.grid(alpha=0.3)
    axes.legend(fontsize="small")
    figure.tight_layout()
    figure.savefig(path)
    plt.close(figure)
