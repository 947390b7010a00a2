"""Keyword classification with a trained checkpoint: THE predict path, used by
`avseq classify` and `avseq evaluate`."""

from __future__ import annotations

import time
from collections.abc import Iterable, Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import torch
from torch.nn.utils.rnn import pad_sequence

from avseq.errors import AvseqError
from avseq.media.audio import load_audio
from avseq.models.checkpoint import load_keyword_model
from avseq.utils.device import pick_device


@dataclass
class KeywordSpotter:
    """Labels utterances with a trained keyword checkpoint.

    Args:
        checkpoint: a keyword .ckpt written by `avseq train experiment=speech_commands`.
        device: "auto", "cpu", "cuda", "cuda:1", ...
        batch_size: waveforms run through the model together.
    """

    checkpoint: str | Path
    device: str = "auto"
    batch_size: int = 16
    audio_seconds: float = field(default=0.0, init=False)
    compute_seconds: float = field(default=0.0, init=False)

    def __post_init__(self) -> None:
        if self.batch_size < 1:
            raise AvseqError(f"--batch-size {self.batch_size}: must be at least 1")
        self.torch_device = pick_device(self.device)
        self.model, self.meta = load_keyword_model(self.checkpoint, self.torch_device)
        self.classes: list[str] = list(self.meta["classes"])
        self.sample_rate = self.model.sample_rate

    @torch.inference_mode()
    def predict_waves(self, waves: list[torch.Tensor]) -> torch.Tensor:
        """(T_i,) waveforms at the model rate -> (N, K) class probabilities, run in
        length-sorted batches (an utterance's result does not depend on its batch)."""
        order = sorted(range(len(waves)), key=lambda i: waves[i].numel())
        out = torch.empty(len(waves), len(self.classes))
        start = time.perf_counter()
        for b in range(0, len(order), self.batch_size):
            idx = order[b : b + self.batch_size]
            batch = pad_sequence([waves[i] for i in idx], batch_first=True).to(self.torch_device)
            lengths = torch.tensor([waves[i].numel() for i in idx], device=self.torch_device)
            logits, _ = self.model(batch, lengths)
            out[idx] = logits.float().softmax(-1).cpu()
        self.compute_seconds += time.perf_counter() - start
        self.audio_seconds += sum(w.numel() for w in waves) / self.sample_rate
        return out

    def top(self, probs: torch.Tensor, k: int) -> list[dict[str, Any]]:
        """The `k` most probable classes of one (K,) probability vector, best first."""
        scores, idx = probs.topk(min(k, probs.numel()))
        return [
            {"label": self.classes[i], "score": round(float(s), 4)}
            for s, i in zip(scores.tolist(), idx.tolist(), strict=True)
        ]

    def classify_files(
        self, paths: Iterable[str | Path], top_k: int = 5
    ) -> Iterator[tuple[str, dict[str, Any] | None, str | None]]:
        """Yields (path, {"audio_filepath", "duration", "labels": top-k}, None) per file in
        order, or (path, None, error) for a file that cannot be decoded."""
        batch: list[tuple[str, torch.Tensor]] = []

        def flush() -> Iterator[tuple[str, dict[str, Any] | None, str | None]]:
            probs = self.predict_waves([w for _, w in batch])
            for (path, wave), p in zip(batch, probs, strict=True):
                result = {
                    "audio_filepath": path,
                    "duration": round(wave.numel() / self.sample_rate, 3),
                    "labels": self.top(p, top_k),
                }
                yield path, result, None
            batch.clear()

        for path in map(str, paths):
            try:
                batch.append((path, load_audio(path, self.sample_rate)))
            except AvseqError as err:
                yield from flush()
                yield path, None, str(err)
                continue
            if len(batch) == self.batch_size:
                yield from flush()
        if batch:
            yield from flush()
