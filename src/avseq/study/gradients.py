"""`avseq study gradients`: vanilla RNN, LSTM and GRU encoders (one or two directions, one
parameter budget) on the adding problem. It measures how the gradient reaching a state shrinks
with its distance to the loss, the longest span each network learns, what gradient clipping
does at a learning rate that makes gradients explode, and the cost of a training step; then
the same cells in the speech recipe's recognizer on the built-in corpus (`avseq.study.speech`)."""

from __future__ import annotations

import logging
import math
import time
from dataclasses import asdict, dataclass, replace
from typing import Any

import torch

from avseq.study.clipping import clipping_run
from avseq.study.models import CELLS, SequenceRegressor, matched_hidden, regressor_parameters
from avseq.study.speech import SPEECH_SIZES, SpeechParts, SpeechSize, run_speech
from avseq.study.tasks import BASELINE_MSE, accuracy, adding_batch
from avseq.utils.device import sync

log = logging.getLogger(__name__)
SOLVED = 0.8  # the accuracy at which a span counts as learned


@dataclass(frozen=True)
class StudySize:
    """How much the study trains.

    Args:
        spans: the spans T the networks are trained on, shortest first.
        steps: optimizer steps per network and span (Adam, clipped at norm 1; a network that
            reaches 95% accuracy on a check batch stops early).
        batch: sequences per step.
        budget: parameters per network (each cell gets the hidden size that fits).
        lr: Adam's learning rate.
        probe_span: the span of the sequences the gradient-vs-distance curves are measured on.
        curve_span: the span the networks of the "trained" curves were trained on; longer
            spans are tried only by networks that learned the span before.
        clip_span, clip_steps, clip_lrs, clip_norm: the clipping experiment: plain SGD at each
            of `clip_lrs` (up to one that makes gradients explode), with and without clipping
            the gradient norm at `clip_norm`.
        eval_items: held-out sequences for the accuracy.
        speech: the speech part (`avseq.study.speech`), or None to leave it out.
    """

    spans: tuple[int, ...] = (10, 30, 100, 300)
    steps: int = 1000
    batch: int = 64
    budget: int = 4700
    lr: float = 0.01
    probe_span: int = 1000
    curve_span: int = 100
    clip_span: int = 20
    clip_steps: int = 300
    clip_lrs: tuple[float, ...] = (0.1, 0.3, 1.0, 3.0)
    clip_norm: float = 1.0
    eval_items: int = 500
    speech: SpeechSize | None = SPEECH_SIZES["cpu"]


SIZES = {
    "tiny": StudySize(
        spans=(8, 24), steps=40, batch=32, budget=700, probe_span=120, curve_span=24,
        clip_span=16, clip_steps=40, clip_lrs=(0.3, 3.0), eval_items=200,
        speech=SPEECH_SIZES["tiny"],
    ),
    "cpu": StudySize(),
    "gpu": StudySize(
        spans=(10, 30, 100, 300, 1000), steps=3000, batch=128, speech=SPEECH_SIZES["gpu"]
    ),
}  # fmt: skip


def networks(budget: int) -> list[dict[str, Any]]:
    """(cell, bidirectional, hidden size, parameters) of each network at `budget`."""
    out = []
    for cell in CELLS:
        for bidirectional in (False, True):
            hidden = matched_hidden(cell, bidirectional, budget)
            parameters = regressor_parameters(cell, bidirectional, hidden)
            out.append(
                {
                    "cell": cell,
                    "bidirectional": bidirectional,
                    "hidden": hidden,
                    "parameters": parameters,
                }
            )
    return out


def _model(net: dict[str, Any], seed: int, device: torch.device) -> SequenceRegressor:
    torch.manual_seed(seed)
    return SequenceRegressor(2, net["hidden"], net["cell"], net["bidirectional"]).to(device)


def evaluate(model: SequenceRegressor, span: int, items: int, device: torch.device) -> dict:
    x, y = adding_batch(items, span, torch.Generator().manual_seed(10_000 + span))
    with torch.no_grad():
        prediction = model(x.to(device)).cpu()
    mse = float(((prediction - y) ** 2).mean())
    return {"accuracy": accuracy(prediction, y), "mse": mse, "mse_vs_baseline": mse / BASELINE_MSE}


def train_span(
    model: SequenceRegressor, span: int, size: StudySize, seed: int, device: torch.device
) -> dict[str, Any]:
    """Trains on fresh batches of `span`; returns the steps taken, the median ms per step and
    every fifth loss."""
    optimizer = torch.optim.Adam(model.parameters(), lr=size.lr)
    data = torch.Generator().manual_seed(seed)
    check_x, check_y = adding_batch(256, span, torch.Generator().manual_seed(20_000 + span))
    losses, seconds, steps = [], [], 0
    for steps in range(1, size.steps + 1):
        x, y = adding_batch(size.batch, span, data)
        start = time.perf_counter()
        loss = ((model(x.to(device)) - y.to(device)) ** 2).mean()
        optimizer.zero_grad()
        loss.backward()
        torch.nn.utils.clip_grad_norm_(model.parameters(), 1.0)
        optimizer.step()
        sync(device)
        seconds.append(time.perf_counter() - start)
        losses.append(float(loss.detach()))
        if steps % 50 == 0:
            with torch.no_grad():
                if accuracy(model(check_x.to(device)).cpu(), check_y) >= 0.95:
                    break
    ms = sorted(seconds)[len(seconds) // 2] * 1000
    return {"steps": steps, "ms_per_step": ms, "losses": losses[::5]}


def distance_curve(
    model: SequenceRegressor, span: int, seed: int, device: torch.device
) -> dict[str, list[float]]:
    """Mean ||dL/dh_t|| over a batch of `span` steps against the distance from h_t to the
    state the loss reads (forward: T-1-t; backward: t), relative to the distance-0 value."""
    x, y = adding_batch(16, span, torch.Generator().manual_seed(seed))
    prediction, forward, backward = model.unrolled(x.to(device))
    loss = ((prediction - y.to(device)) ** 2).mean()
    grads = torch.autograd.grad(loss, forward + backward)
    norms = torch.stack([g.norm(dim=-1).mean() for g in grads]).detach().cpu()
    by_distance = norms[:span].flip(0)  # forward: distance T-1-t
    if backward:
        by_distance = (by_distance + norms[span:]) / 2  # backward: distance t
    relative = by_distance / by_distance[0].clamp_min(1e-30)
    distances = sorted(
        {0, *(round(math.exp(v)) for v in torch.linspace(0, math.log(span - 1), 40).tolist())}
    )
    return {"distance": distances, "relative_norm": [float(relative[d]) for d in distances]}


def clipping_sweep(size: StudySize, seed: int, device: torch.device) -> list[dict[str, Any]]:
    """Every unidirectional network, at every `clip_lrs`, with and without clipping."""
    runs = []
    for net in networks(size.budget):
        if net["bidirectional"]:
            continue
        for lr in size.clip_lrs:
            for clip in (None, size.clip_norm):
                model = _model(net, seed, device)
                run = clipping_run(
                    model, size.clip_span, size.clip_steps, size.batch, lr, clip, seed
                )
                runs.append({**net, **run})
    return runs


def run_study(
    size: StudySize, device: torch.device, seed: int = 0, speech: SpeechParts | None = None
) -> dict[str, Any]:
    """Runs everything; returns the results `avseq.study.report` writes up. The speech part
    (`size.speech`) trains on `speech`, the recipe's parts composed from the configs."""
    if size.speech is not None and speech is None:
        raise ValueError("size.speech needs the recipe's parts (avseq.cli.research.speech_parts)")
    torch.set_flush_denormal(True)  # vanishing gradients are denormal: slow on CPUs
    threads = torch.get_num_threads()
    # tiny networks gain nothing from threads, and OpenMP threads stall when a core is busy
    torch.set_num_threads(1)
    started = time.perf_counter()
    try:
        nets = networks(size.budget)
        grid, curves = [], []
        for i, net in enumerate(nets):
            init = _model(net, seed + i, device)
            curve = distance_curve(init, size.probe_span, seed, device)
            curves.append({**net, "when": "initial", **curve})
            grid += train_spans(net, size, seed + i, device, curves)
        clipping = clipping_sweep(size, seed, device)
    finally:
        torch.set_num_threads(threads)
    if size.speech is not None and speech is not None:
        speech_results = run_speech(size.speech, speech, device, seed)
    else:
        speech_results = None
    seconds = time.perf_counter() - started
    return {
        "size": asdict(size),
        "device": str(device),
        "networks": nets,
        "grid": grid,
        "curves": curves,
        "clipping": clipping,
        "solved_threshold": SOLVED,
        "speech": speech_results,
        "seconds": seconds,
    }


def train_spans(
    net: dict[str, Any], size: StudySize, seed: int, device: torch.device, curves: list[dict]
) -> list[dict[str, Any]]:
    """`net` trained afresh on each span; spans beyond `curve_span` only while it learns the
    previous one. Appends the gradient curve of the network trained on `curve_span`."""
    rows: list[dict[str, Any]] = []
    for span in size.spans:
        if span > size.curve_span and rows and rows[-1]["accuracy"] < SOLVED:
            break
        model = _model(net, seed, device)
        result = train_span(model, span, size, seed * 100 + span, device)
        result.update(evaluate(model, span, size.eval_items, device))
        rows.append({**net, "span": span, **result})
        log.info(
            "%s%s, T=%d: accuracy %.2f after %d steps (%.1f ms/step)",
            "bi" if net["bidirectional"] else "",
            net["cell"],
            span,
            result["accuracy"],
            result["steps"],
            result["ms_per_step"],
        )
        if span == size.curve_span:
            curve = distance_curve(model, size.probe_span, seed, device)
            curves.append({**net, "when": f"trained on T={span}", **curve})
    return rows


def sized(name: str, **overrides: Any) -> StudySize:
    """A named size (`SIZES`) with some fields replaced (those given as not None); the
    trained curves come from the longest span up to the size's `curve_span` trained on."""
    size = replace(SIZES[name], **{k: v for k, v in overrides.items() if v is not None})
    spans = tuple(sorted(set(size.spans)))
    curve = max((t for t in spans if t <= size.curve_span), default=spans[0])
    return replace(size, spans=spans, curve_span=curve)
