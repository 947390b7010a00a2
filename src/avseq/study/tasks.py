"""The adding problem (Hochreiter and Schmidhuber, 1997, experiment 4; Le et al., 2015): a
long-range task whose span T is set at will.

Each step holds two numbers: a value drawn uniformly from [0, 1] and a marker, 1 at exactly
two steps (one in the first half, one in the second) and 0 elsewhere. The target is the sum of
the two marked values. A network must keep the first marked value for up to T steps; one that
remembers nothing predicts the mean, 1, and scores the baseline mean squared error 1/6.
"""

from __future__ import annotations

import torch

BASELINE_MSE = 1 / 6  # the variance of the sum of two uniform values: what predicting 1 scores
TOLERANCE = 0.1  # a prediction within this of the sum counts as right


def adding_batch(
    batch: int, span: int, generator: torch.Generator
) -> tuple[torch.Tensor, torch.Tensor]:
    """(B, T, 2) inputs [value, marker] and (B,) targets, drawn from `generator`."""
    if span < 2:
        raise ValueError(f"the adding problem needs a span of at least 2 steps, got {span}")
    values = torch.rand(batch, span, generator=generator)
    half = span // 2
    first = torch.randint(0, half, (batch,), generator=generator)
    second = torch.randint(half, span, (batch,), generator=generator)
    markers = torch.zeros(batch, span)
    rows = torch.arange(batch)
    markers[rows, first] = 1.0
    markers[rows, second] = 1.0
    return torch.stack([values, markers], dim=-1), (values * markers).sum(1)


def accuracy(prediction: torch.Tensor, target: torch.Tensor) -> float:
    """The share of predictions within TOLERANCE of the target (predicting 1 scores ~0.19)."""
    return float(((prediction - target).abs() < TOLERANCE).float().mean())
