"""Exploding gradients and clipping (Pascanu et al., 2013): plain SGD on the adding problem at
learning rates up to one that makes gradients explode, each with and without clipping the
gradient norm."""

from __future__ import annotations

import math
from typing import Any

import torch

from avseq.study.models import SequenceRegressor
from avseq.study.tasks import BASELINE_MSE, accuracy, adding_batch

DIVERGED = 10 * BASELINE_MSE  # a run whose loss stays above this has left the task behind


def clipping_run(
    model: SequenceRegressor,
    span: int,
    steps: int,
    batch: int,
    lr: float,
    clip_norm: float | None,
    seed: int,
) -> dict[str, Any]:
    """Trains `model` with SGD at `lr`, clipping the gradient norm at `clip_norm` (None: not
    at all); stops at the first non-finite loss or gradient (the weights are lost).

    Returns:
        The loss and gradient-norm curves; whether it diverged (a non-finite loss, or the
        mean of its last tenth of losses above DIVERGED); that mean (the final loss); its
        largest gradient norm; the share of steps whose gradient was clipped; its accuracy on
        held-out sequences.
    """
    device = next(model.parameters()).device
    optimizer = torch.optim.SGD(model.parameters(), lr=lr)
    data = torch.Generator().manual_seed(seed)
    losses: list[float] = []
    norms: list[float] = []
    clipped = 0
    for _ in range(steps):
        x, y = adding_batch(batch, span, data)
        loss = ((model(x.to(device)) - y.to(device)) ** 2).mean()
        optimizer.zero_grad()
        loss.backward()
        norm = float(torch.nn.utils.get_total_norm([p.grad for p in model.parameters()]))
        losses.append(float(loss.detach()))
        norms.append(norm)
        if not (math.isfinite(losses[-1]) and math.isfinite(norm)):
            break
        if clip_norm is not None:
            clipped += norm > clip_norm
            torch.nn.utils.clip_grad_norm_(model.parameters(), clip_norm)
        optimizer.step()
    tail = losses[-max(1, len(losses) // 10) :]
    finite = all(math.isfinite(v) for v in tail) and len(losses) == steps
    final = sum(tail) / len(tail) if finite else math.inf
    diverged = final > DIVERGED
    test = None
    if finite:
        x, y = adding_batch(500, span, torch.Generator().manual_seed(10_000 + span))
        with torch.no_grad():
            test = accuracy(model(x.to(device)).cpu(), y)
    return {
        "lr": lr,
        "clip": clip_norm is not None,
        "losses": losses,
        "grad_norms": norms,
        "diverged": diverged,
        "steps_run": len(losses),
        "final_loss": final,
        "max_grad_norm": max(norms),
        "clipped_share": clipped / len(losses),
        "test_accuracy": test,
    }
