"""What is saved with every encoder version: metrics.json and a before/after chart (PNG)."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import matplotlib

matplotlib.use("Agg")  # no display on a server; must precede pyplot
import matplotlib.pyplot as plt

SHOWN = ("ndcg@10", "recall@10", "mrr@10")


def write_report(folder: Path, summary: dict[str, Any]) -> tuple[Path, Path]:
    """``metrics.json`` (everything in ``summary``) and ``chart.png``: the loss curve, and held-out
    (and guard) metrics before and after training."""
    folder.mkdir(parents=True, exist_ok=True)
    metrics_path = folder / "metrics.json"
    metrics_path.write_text(json.dumps(summary, indent=2))
    groups = [("held-out", summary["before"], summary["after"])]
    if summary.get("guard_before"):
        groups.append(("guard", summary["guard_before"], summary["guard_after"]))
    fig, axes = plt.subplots(1, 1 + len(groups), figsize=(5 * (1 + len(groups)), 3.6))
    steps = [s for s, _ in summary.get("loss_curve", [])]
    axes[0].plot(steps, [v for _, v in summary.get("loss_curve", [])], color="#3366cc")
    axes[0].set_title("training loss")
    axes[0].set_xlabel("step")
    for ax, (label, before, after) in zip(axes[1:], groups, strict=True):
        x = range(len(SHOWN))
        ax.bar([i - 0.2 for i in x], [before[m] for m in SHOWN], width=0.4, label="before", color="#bbbbbb")
        ax.bar([i + 0.2 for i in x], [after[m] for m in SHOWN], width=0.4, label="after", color="#3366cc")
        ax.set_xticks(list(x), SHOWN)
        ax.set_ylim(0, 1)
        ax.set_title(label)
        ax.legend(loc="lower right")
    fig.suptitle(summary.get("name", "encoder"))
    fig.tight_layout()
    chart_path = folder / "chart.png"
    fig.savefig(chart_path, dpi=90)
    plt.close(fig)
    return metrics_path, chart_path
