"""Classification metrics (torchmetrics) and the confusion-matrix plot."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import matplotlib

matplotlib.use("Agg")  # files only, no display
import matplotlib.pyplot as plt
import torch
from torchmetrics.functional.classification import (
    multiclass_accuracy,
    multiclass_confusion_matrix,
)


class ClassificationReport:
    """Accumulates (probabilities, label) pairs; top-1, top-5, per-class accuracy, confusion."""

    def __init__(self, classes: list[str]) -> None:
        self.classes = list(classes)
        self.probs: list[torch.Tensor] = []
        self.labels: list[int] = []

    def add(self, probs: torch.Tensor, label: int) -> None:
        self.probs.append(probs.float())
        self.labels.append(label)

    def _tensors(self) -> tuple[torch.Tensor, torch.Tensor]:
        return torch.stack(self.probs), torch.tensor(self.labels)

    def confusion(self) -> torch.Tensor:
        """(K, K) counts, rows = true class, columns = prediction."""
        probs, labels = self._tensors()
        return multiclass_confusion_matrix(probs, labels, len(self.classes))

    def summary(self) -> dict[str, Any]:
        probs, labels = self._tensors()
        k = len(self.classes)
        top1 = multiclass_accuracy(probs, labels, k, top_k=1, average="micro")
        top5 = multiclass_accuracy(probs, labels, k, top_k=min(5, k), average="micro")
        counts = torch.bincount(labels, minlength=k)
        hits = torch.bincount(labels[probs.argmax(-1) == labels], minlength=k)
        per_class = {
            name: {
                "accuracy": (hits[i] / counts[i]).item() if counts[i] else None,
                "clips": int(counts[i]),
            }
            for i, name in enumerate(self.classes)
        }
        return {"top1": top1.item(), "top5": top5.item(), "per_class": per_class}


def plot_confusion(matrix: torch.Tensor, classes: list[str], path: Path) -> None:
    """Saves a row-normalised confusion matrix with counts in the cells (atomically)."""
    counts = matrix.float()
    norm = counts / counts.sum(1, keepdim=True).clamp_min(1)
    k = len(classes)
    side = max(5.0, 0.5 * k + 2.5)
    fig, ax = plt.subplots(figsize=(side + 1, side))
    image = ax.imshow(norm.numpy(), cmap="Blues", vmin=0, vmax=1)
    ax.set_xticks(range(k), classes, rotation=60, ha="right", fontsize=8)
    ax.set_yticks(range(k), classes, fontsize=8)
    ax.set_xlabel("predicted")
    ax.set_ylabel("true")
    if k <= 40:
        for i in range(k):
            for j in range(k):
                if counts[i, j] > 0:
                    color = "white" if norm[i, j] > 0.5 else "black"
                    ax.text(
                        j, i, int(counts[i, j]), ha="center", va="center", fontsize=7, color=color
                    )
    fig.colorbar(image, ax=ax, fraction=0.046, pad=0.04, label="share of the true class")
    ax.set_title("confusion matrix (rows: true class)")
    fig.tight_layout()
    tmp = path.with_name(path.stem + ".tmp.png")
    fig.savefig(tmp, dpi=110)
    plt.close(fig)
    tmp.replace(path)
