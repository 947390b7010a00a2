"""Speech recognition task: CTC and/or attention loss, WER/CER, AdamW with warmup and cosine
decay."""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

import torch
import torch.nn.functional as F
from torchmetrics.text import CharErrorRate, WordErrorRate

from avseq.decoding.attention import attention_greedy_texts
from avseq.decoding.ctc import ctc_greedy_texts
from avseq.models.checkpoint import write_record
from avseq.models.components.ctc_head import ctc_loss
from avseq.models.components.recognizer import SpeechRecognizer
from avseq.models.components.specs import net_spec
from avseq.models.tasks.common import AvseqTask
from avseq.text.tokenizer import Tokenizer


class SpeechTask(AvseqTask):
    """Trains a `SpeechRecognizer` with CTC, an attention decoder, or both (joint CTC/attention,
    loss = ctc_weight * CTC + (1 - ctc_weight) * attention cross-entropy); logs train/loss,
    val/loss, val/wer, val/cer (greedy CTC decoding, or greedy attention decoding when
    ctc_weight is 0).

    Args:
        tokenizer: the transcript tokenizer (its vocabulary is saved in checkpoints).
        optimizer: builds the optimizer given `params` (a Hydra `_partial_`).
        net: builds the recognizer given `vocab_size` (a Hydra `_partial_` of
            `build_recognizer` with its parts, see configs/model/speech_ctc.yaml); its
            `decoder` None for CTC only.
        warmup_steps: linear LR warmup steps.
        min_lr_ratio: final LR as a fraction of the peak.
        test_manifest: the data's test manifest, recorded as `avseq evaluate`'s default.
        ctc_weight: weight of the CTC loss when there is a decoder (1 = CTC only, 0 =
            attention only).
        label_smoothing: of the attention decoder's cross-entropy.
    """

    def __init__(
        self,
        tokenizer: Tokenizer,
        optimizer: Callable[..., torch.optim.Optimizer],
        net: Callable[..., SpeechRecognizer],
        warmup_steps: int = 300,
        min_lr_ratio: float = 0.02,
        test_manifest: str | None = None,
        ctc_weight: float = 1.0,
        label_smoothing: float = 0.1,
    ) -> None:
        super().__init__()
        if not 0.0 <= ctc_weight <= 1.0:
            raise ValueError(f"ctc_weight must lie in [0, 1], got {ctc_weight}")
        self.net_spec = net_spec(net, vocab_size=tokenizer.vocab_size)  # saved in checkpoints
        has_decoder = self.net_spec.get("decoder") is not None
        if not has_decoder and ctc_weight < 1.0:
            raise ValueError(
                f"ctc_weight={ctc_weight} needs an attention decoder (model.net.decoder); "
                "set ctc_weight=1 for a CTC-only model"
            )
        self.tokenizer = tokenizer
        self.net = net(vocab_size=tokenizer.vocab_size)
        self.ctc_weight = ctc_weight if has_decoder else 1.0
        self.label_smoothing = label_smoothing
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

    def _loss(
        self, batch: dict[str, Any]
    ) -> tuple[torch.Tensor, torch.Tensor, torch.Tensor, torch.Tensor]:
        """(loss, CTC logits, encoder states, frames)."""
        states, frames = self.net.encode(batch["waves"], batch["wave_lengths"])
        logits = self.net.head(states)
        tokens, token_lengths = batch["tokens"], batch["token_lengths"]
        loss = logits.new_zeros((), dtype=torch.float32)
        if self.ctc_weight > 0:
            ctc = ctc_loss(logits, frames, tokens, token_lengths, self.tokenizer.blank)
            loss = loss + self.ctc_weight * ctc
        if self.ctc_weight < 1:
            att_logits, targets = self.net.attention_logits(states, frames, tokens, token_lengths)
            att = F.cross_entropy(
                att_logits.float().flatten(0, 1),
                targets.flatten(),
                ignore_index=0,
                label_smoothing=self.label_smoothing,
            )
            loss = loss + (1 - self.ctc_weight) * att
        return loss, logits, states, frames

    def greedy_texts(
        self, logits: torch.Tensor, states: torch.Tensor, frames: torch.Tensor
    ) -> list[str]:
        """Greedy CTC transcripts, or greedy attention ones for an attention-only model."""
        if self.ctc_weight > 0:
            return ctc_greedy_texts(logits, frames, self.tokenizer)
        return attention_greedy_texts(self.net, states, frames, self.tokenizer)

    def training_step(self, batch: dict[str, Any], batch_idx: int) -> torch.Tensor:
        self.log_skipped(batch)
        if "waves" not in batch:
            return self.skip_batch()
        loss = self._loss(batch)[0]
        waves, lengths = batch["waves"], batch["wave_lengths"]
        n = waves.size(0)
        if not self.finite_loss(loss, n):
            return self.skip_batch()
        self.log("train/loss", loss, prog_bar=True, batch_size=n)
        self.log("train/pad_frac", 1 - lengths.sum() / waves.numel(), batch_size=n)
        return loss

    def _eval_step(self, batch: dict[str, Any], stage: str) -> None:
        if "waves" not in batch:
            return
        loss, logits, states, frames = self._loss(batch)
        hyps = self.greedy_texts(logits, states, frames)
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
        write_record(
            checkpoint,
            "speech",
            self.net_spec,
            tokenizer=self.tokenizer.to_dict(),
            ctc_weight=self.ctc_weight,
            test_manifest=self.test_manifest,
        )
