"""What the study's report sections share: the cells' colours and names, markdown tables and
small PNG figures."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import matplotlib

matplotlib.use("Agg")  # files only, no display
import matplotlib.pyplot as plt

COLORS = {"rnn": "tab:red", "lstm": "tab:blue", "gru": "tab:green"}
NAMES = {"rnn": "RNN", "lstm": "LSTM", "gru": "GRU"}


def table(header: list[str], rows: list[list[Any]]) -> list[str]:
    lines = ["| " + " | ".join(header) + " |", "|---" * len(header) + "|"]
    return lines + ["| " + " | ".join(str(v) for v in row) + " |" for row in rows]


def save_figure(fig: Any, path: Path) -> None:
    path.parent.mkdir(parents=True, exist_ok=True)
    fig.tight_layout()
    fig.savefig(path, dpi=80)
    plt.close(fig)


def share(value: float) -> str:
    return f"{value:.1e}" if value > 0 else "0 (underflow)"
