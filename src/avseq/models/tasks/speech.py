"""Speech recognition task: CTC loss, WER/CER, AdamW with warmup and cosine decay."""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

import torch
from torchmetrics.text import CharErrorRate, WordErrorRate

from avseq.data.tokenizer import CharTokenizer
from avseq.decoding.ctc import ctc_greedy_texts
from avseq.models.components.ctc_head import ctc_loss
from avseq.models.components.recognizer import SpeechRecognizer
from avseq.models.tasks.common import CHECKPOINT_FORMAT, AvseqTask


class SpeechTask(AvseqTask):
    """Trains a `SpeechRecognizer` with CTC; logs train/loss, val/loss, val/wer, val/cer.

    Args:
        tokenizer: the transcript tokenizer (its vocabulary is saved in checkpoints).
        optimizer: builds the optimizer given `params` (a Hydra `_partial_`).
        frontend: `SpeechRecognizer` front-end arguments (sample_rate, n_mels, SpecAugment...).
        encoder: `SpeechRecognizer` encoder arguments (rnn_type, hidden_size, num_layers...).
        warmup_steps: linear LR warmup steps.
        min_lr_ratio: final LR as a fraction of the peak.
        test_manifest: the data's test manifest, recorded as `avseq evaluate`'s default.
    """

    def __init__(
        self,
        tokenizer: CharTokenizer,
        optimizer: Callable[..., torch.optim.Optimizer],
        frontend: dict[str, Any] | None = None,
        encoder: dict[str, Any] | None = None,
        warmup_steps: int = 300,
        min_lr_ratio: float = 0.02,
        test_manifest: str | None = None,
    ) -> None:
        super().__init__()
        self.tokenizer = tokenizer
        self.net = SpeechRecognizer(tokenizer.vocab_size, **(frontend or {}), **(encoder or {}))
        self.optimizer_factory = optimizer
        self.warmup_steps = warmup_steps
        self.min_lr_ratio = min_lr_ratio
        self.val_wer, self.val_cer = WordErrorRate(), CharErrorRate()
        self.test_wer, self.test_cer = WordErrorRate(), CharErrorRate()
        self.test_manifest = test_manifest  # default manifest of `avseq evaluate`

    def forward(
        self, waves: torch.Tensor, lengths: torch.Tensor
    ) -> tuple[torch.Tensor, torch.Tensor]:
        return self.net(waves, lengths)

    def _loss(self, batch: dict[str, Any]) -> tuple[torch.Tensor, torch.Tensor, torch.Tensor]:
        logits, frames = self.net(batch["waves"], batch["wave_lengths"])
        loss = ctc_loss(
            logits, frames, batch["tokens"], batch["token_lengths"], self.tokenizer.blank
        )
        return loss, logits, frames

    def training_step(self, batch: dict[str, Any], batch_idx: int) -> torch.Tensor | None:
        self.log_skipped(batch)
        if "waves" not in batch:
            return None
        loss, _, _ = self._loss(batch)
        waves, lengths = batch["waves"], batch["wave_lengths"]
        n = waves.size(0)
        self.log("train/loss", loss, prog_bar=True, batch_size=n)
        self.log("train/pad_frac", 1 - lengths.sum() / waves.numel(), batch_size=n)
        return loss

    def _eval_step(self, batch: dict[str, Any], stage: str) -> None:
        if "waves" not in batch:
            return
        loss, logits, frames = self._loss(batch)
        hyps = ctc_greedy_texts(logits, frames, self.tokenizer)
        wer, cer = (
            (self.val_wer, self.val_cer) if stage == "val" else (self.test_wer, self.test_cer)
        )
        wer.update(hyps, batch["texts"])
        cer.update(hyps, batch["texts"])
        n = len(hyps)
        self.log(f"{stage}/loss", loss, batch_size=n, sync_dist=True)
        self.log(f"{stage}/wer", wer, prog_bar=True, batch_size=n)
        self.log(f"{stage}/cer", cer, prog_bar=True, batch_size=n)

    def on_save_checkpoint(self, checkpoint: dict[str, Any]) -> None:
        checkpoint["avseq"] = {
            "task": "speech",
            "format": CHECKPOINT_FORMAT,
            "net": dict(self.net.config),
            "tokenizer": self.tokenizer.to_dict(),
            "test_manifest": self.test_manifest,
        }
