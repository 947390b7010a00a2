"""The study's cells on the built-in speech corpus: the speech recipe's CTC recognizer
(`experiment=speech`: log-mel, 4x convolutional subsampling, a bidirectional `RNNEncoder`, a
CTC head), with a small encoder of one parameter budget in each cell, trained for the same
optimizer steps on the same batches. Per cell: the training CTC loss, greedy CER on held-out
validation utterances, the cost of a step, and how far the gradient of one output frame
reaches back into the encoder's input, at initialization and after training.

The recipe's parts (its data module, a cell's task, the training step's loss) come composed
from the configs by the caller, `avseq study gradients` (`avseq.cli.research.speech_parts`):
this package sits below the configs and the data in the project's layers."""

from __future__ import annotations

import logging
import time
from collections.abc import Callable, Iterator
from dataclasses import asdict, dataclass
from pathlib import Path
from typing import Any

import torch
from torchmetrics.text import CharErrorRate

from avseq.errors import AvseqError
from avseq.models.tasks.common import warmup_cosine
from avseq.models.tasks.speech import SpeechTask
from avseq.study.models import CELLS, encoder_parameters, matched_encoder_hidden, parameter_count
from avseq.utils.device import sync, to_device

log = logging.getLogger(__name__)

# the recipe without its waveform augmentation (most of a small model's step), loading in this
# process (a worker would take the core the second thread uses)
RECIPE = ("experiment=speech", "data.augment=null", "data.num_workers=0")


@dataclass(frozen=True)
class SpeechSize:
    """How much the speech part trains.

    Args:
        steps: optimizer steps per cell (AdamW, the recipe's warmup and cosine decay fitted
            to these steps, the recipe's gradient clipping).
        batch: utterances per step.
        budget: encoder parameters per cell (each cell gets the hidden size that fits).
        layers: encoder layers (bidirectional, as in the recipe).
        inputs: features per frame into the encoder (the subsampler's output, one size for
            every cell).
        channels, mels: the subsampler's convolution channels and the log-mel bands.
        lr: AdamW's peak learning rate (None: the recipe's).
        eval_items: validation utterances the CER is measured on (the first in the manifest).
        probe_items: the longest validation utterances the gradient reach is measured on.
        threads: CPU threads for the speech part (None: PyTorch's default, one per core).
        overrides: more config overrides (`key=value`, as for `avseq train`), e.g. the corpus.
    """

    steps: int = 800
    batch: int = 16
    budget: int = 125_000
    layers: int = 2
    inputs: int = 64
    channels: int = 16
    mels: int = 40
    lr: float | None = 0.003
    eval_items: int = 200
    probe_items: int = 4
    threads: int | None = None
    overrides: tuple[str, ...] = ()


SPEECH_SIZES = {
    "tiny": SpeechSize(
        steps=12, batch=8, budget=6_000, layers=1, inputs=16, channels=4, eval_items=8,
        probe_items=2,
    ),
    "cpu": SpeechSize(),
    "gpu": SpeechSize(steps=3000, batch=32, budget=600_000, layers=3, inputs=128, channels=32,
                      mels=80, eval_items=245),
}  # fmt: skip


@dataclass(frozen=True)
class SpeechParts:
    """The recipe's parts, composed from the configs (`speech_overrides`) by the caller.

    Args:
        data: the recipe's `SpeechDataModule`, set up for training (`check_corpus` first).
        task: (cell, hidden size) -> that cell's new `SpeechTask`, from the global seed.
        loss: (net, batch) -> the training step's loss (`avseq.bench.speech.ctc_step`).
        clip: the recipe's gradient-norm clipping (`trainer.gradient_clip_val`).
        lr: AdamW's peak learning rate, as the configs compose it.
    """

    data: Any
    task: Callable[[str, int], SpeechTask]
    loss: Callable[[torch.nn.Module, dict[str, Any]], torch.Tensor]
    clip: float
    lr: float


def speech_overrides(size: SpeechSize, cell: str = "gru", hidden: int = 1) -> list[str]:
    """The config overrides of one cell's `experiment=speech` recipe (`avseq.config`)."""
    model = [
        f"model.net.encoder.rnn_type={cell}",
        f"model.net.encoder.hidden_size={hidden}",
        f"model.net.encoder.num_layers={size.layers}",
        "model.net.encoder.bidirectional=true",
        f"model.net.subsampler.out_dim={size.inputs}",
        f"model.net.subsampler.channels={size.channels}",
        f"model.net.frontend.n_mels={size.mels}",
    ]
    if size.lr is not None:
        model.append(f"model.optimizer.lr={size.lr}")
    return [*RECIPE, f"data.batch_size={size.batch}", *model, *size.overrides]


def check_corpus(dm: Any) -> None:
    """An error naming `make data-speech` when the data module's built-in corpus has not been
    generated (the study does not generate it), or a manifest it needs is missing."""
    corpus = dm.corpus
    if corpus is not None and not (corpus.path / "corpus.json").is_file():
        raise AvseqError(
            f"no built-in speech corpus at {corpus.path}: generate it with `make data-speech` "
            "(minutes), or leave out the speech part with --no-speech"
        )
    for split in ("train", "val"):
        path = dm.manifests[split]
        if path is None or not Path(path).is_file():
            raise AvseqError(f"the speech study needs a {split} manifest, not found: {path}")


def cells(size: SpeechSize) -> list[dict[str, Any]]:
    """(cell, hidden size, encoder parameters) of each cell at `size.budget`."""
    out = []
    for cell in CELLS:
        hidden = matched_encoder_hidden(cell, size.budget, size.inputs, size.layers)
        parameters = encoder_parameters(cell, hidden, size.inputs, size.layers, True)
        out.append({"cell": cell, "hidden": hidden, "parameters": parameters})
    return out


def training_batches(dm: Any, steps: int) -> Iterator[dict[str, Any]]:
    """The first `steps` training batches, epoch after epoch: the same for every call."""
    loader = dm.train_dataloader()
    epoch, given = 0, 0
    while given < steps:
        loader.batch_sampler.set_epoch(epoch)
        for batch in loader:
            if "waves" not in batch:  # every item of it unreadable
                continue
            yield batch
            given += 1
            if given == steps:
                return
        epoch += 1


def train_cell(
    task: SpeechTask, parts: SpeechParts, steps: int, device: torch.device
) -> dict[str, Any]:
    """Trains `task.net` for `steps` steps on the recipe's first training batches (a
    non-finite gradient skips its step); returns every loss, the steps skipped, the median ms
    per step and the seconds of all steps (loading batches not counted)."""
    net = task.net.to(device).train()
    optimizer = task.optimizer_factory(params=[p for p in net.parameters() if p.requires_grad])
    warmup = min(task.warmup_steps, max(1, steps // 10))
    schedule = warmup_cosine(warmup, steps, task.min_lr_ratio)
    scheduler = torch.optim.lr_scheduler.LambdaLR(optimizer, schedule)
    losses, seconds, skipped = [], [], 0
    for batch in training_batches(parts.data, steps):
        batch = to_device(batch, device)
        sync(device)
        start = time.perf_counter()
        loss = parts.loss(net, batch)
        optimizer.zero_grad(set_to_none=True)
        loss.backward()
        norm = torch.nn.utils.clip_grad_norm_(net.parameters(), parts.clip)
        if torch.isfinite(norm):
            optimizer.step()
        else:
            skipped += 1
        scheduler.step()
        sync(device)
        seconds.append(time.perf_counter() - start)
        losses.append(float(loss.detach()))
    ms = sorted(seconds)[len(seconds) // 2] * 1000
    return {
        "losses": losses,
        "skipped_steps": skipped,
        "ms_per_step": ms,
        "train_seconds": sum(seconds),
    }


def held_out(dm: Any, size: SpeechSize) -> tuple[list[dict], dict]:
    """Batches of the first `eval_items` validation utterances, and one batch of the
    `probe_items` longest."""
    val = dm.datasets["val"]
    items = [val[i] for i in range(min(size.eval_items, len(val)))]
    step = max(1, size.batch)
    batches = [dm.collate(items[i : i + step]) for i in range(0, len(items), step)]
    longest = sorted(range(len(val)), key=lambda i: -val.durations[i])[: size.probe_items]
    return [b for b in batches if "waves" in b], dm.collate([val[i] for i in longest])


def greedy_cer(task: SpeechTask, batches: list[dict], device: torch.device) -> float:
    """The character error rate of the task's greedy decoding over `batches` (the metric of
    its val/cer)."""
    net = task.net.eval()
    score = CharErrorRate()
    with torch.no_grad():
        for batch in batches:
            b = to_device(batch, device)
            states, frames = net.encode(b["waves"], b["wave_lengths"])
            score.update(task.greedy_texts(net.head(states), states, frames), b["texts"])
    return float(score.compute())


def reach_curve(net: torch.nn.Module, probe: dict, device: torch.device) -> dict[str, Any]:
    """How far back the gradient of one output frame reaches: for the middle frame c of each
    probe utterance, ||d log p(best token at c) / d x_t|| for the encoder's input x_t (the
    subsampler's output), at each distance d = |t - c| (the mean of t = c - d and c + d, then
    of the utterances), relative to d = 0, out to the shortest utterance's half."""
    net = net.to(device).eval()
    b = to_device(probe, device)
    with torch.no_grad():
        feats, frames = net.features(b["waves"], b["wave_lengths"])
        x, frames = net.subsampler(feats, frames)
    x = x.detach().requires_grad_(True)
    log_probs = net.head(net.encoder(x, frames)).log_softmax(-1)  # (B, F, V)
    centers = (frames // 2).to(device)
    rows = torch.arange(x.size(0), device=device)
    # utterances are independent in a batch: the gradient of the sum is each one's own
    best = log_probs[rows, centers].max(-1).values.sum()
    (grad,) = torch.autograd.grad(best, x)
    norms = grad.norm(dim=-1).cpu()  # (B, F)
    centers, frames = centers.cpu()[:, None], frames.cpu()[:, None]
    reach = int(torch.minimum(centers, frames - 1 - centers).min())
    d = torch.arange(reach + 1)[None, :]
    by_distance = ((norms.gather(1, centers - d) + norms.gather(1, centers + d)) / 2).mean(0)
    relative = by_distance / by_distance[0].clamp_min(1e-30)
    return {
        "distance": list(range(reach + 1)),
        "relative_norm": [float(v) for v in relative],
        "norm_at_0": float(by_distance[0]),
    }


def run_speech(
    size: SpeechSize, parts: SpeechParts, device: torch.device, seed: int = 0
) -> dict[str, Any]:
    """Builds, probes, trains and probes again each cell; returns what the report writes up."""
    threads = torch.get_num_threads()
    torch.set_num_threads(size.threads or threads)
    used = torch.get_num_threads()
    try:
        started = time.perf_counter()
        dm = parts.data
        evaluation, probe = held_out(dm, size)
        rows, curves = [], []
        for net in cells(size):
            torch.manual_seed(seed)
            task = parts.task(net["cell"], net["hidden"])
            curves.append({**net, "when": "initial", **reach_curve(task.net, probe, device)})
            initial_cer = greedy_cer(task, evaluation, device)
            result = train_cell(task, parts, size.steps, device)
            curves.append({**net, "when": "trained", **reach_curve(task.net, probe, device)})
            tail = result["losses"][-max(1, size.steps // 10) :]
            row = {
                **net,
                **result,
                "model_parameters": parameter_count(task.net),
                "steps": size.steps,
                "final_loss": sum(tail) / len(tail),
                "initial_cer": initial_cer,
                "cer": greedy_cer(task, evaluation, device),
            }
            rows.append(row)
            log.info(
                "speech %s (h=%d): loss %.3f, CER %.1f%% after %d steps (%.0f ms/step)",
                net["cell"],
                net["hidden"],
                row["final_loss"],
                100 * row["cer"],
                size.steps,
                row["ms_per_step"],
            )
        corpus = dm.corpus.path if dm.corpus is not None else dm.manifests["train"]
        seconds = time.perf_counter() - started
    finally:
        torch.set_num_threads(threads)
    return {
        "size": asdict(size),
        "corpus": str(corpus),
        "train_utterances": len(dm.datasets["train"]),
        "eval_utterances": sum(len(b["texts"]) for b in evaluation),
        "probe_seconds": [round(int(n) / dm.sample_rate, 2) for n in probe["wave_lengths"]],
        "clip": parts.clip,
        "lr": parts.lr,
        "cells": rows,
        "curves": curves,
        "threads": used,
        "seconds": seconds,
    }
