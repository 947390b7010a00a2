"""Language-model task: next-token cross-entropy, validation perplexity."""

from __future__ import annotations

import math
from collections.abc import Callable
from typing import Any

import torch
import torch.nn.functional as F

from avseq.errors import AvseqError
from avseq.models.checkpoint import write_record
from avseq.models.components.lm import RNNLanguageModel
from avseq.models.components.specs import net_spec
from avseq.models.tasks.common import AvseqTask
from avseq.models.tasks.tbptt import truncated_bptt
from avseq.text.tokenizer import Tokenizer


def summed_nll(logits: torch.Tensor, targets: torch.Tensor) -> torch.Tensor:
    """(B, L, V) logits, (B, L) targets (0: padding) -> the summed negative log-likelihood."""
    return F.cross_entropy(
        logits.float().flatten(0, 1), targets.flatten(), ignore_index=0, reduction="sum"
    )


class LanguageModelTask(AvseqTask):
    """Trains an `RNNLanguageModel` over the recognizer's tokens; logs train/loss, val/loss
    (mean negative log-likelihood per token, end of sentence included) and val/ppl.

    Args:
        tokenizer: the recognizer's tokenizer (saved in the checkpoint; decoding checks that
            the recognizer's is the same).
        optimizer: builds the optimizer given `params` (a Hydra `_partial_`).
        net: builds the `RNNLanguageModel` given `vocab_size` (a Hydra `_partial_`, see
            configs/model/speech_lm.yaml).
        warmup_steps, min_lr_ratio: the learning-rate schedule.
        tbptt_steps: truncated backpropagation through time: sequences longer than this are
            run in chunks of this many tokens, the LSTM state carried across chunks and
            detached between them (`truncated_bptt`); 0 backpropagates through whole sentences.
            The loss is the same either way (per token, over the whole sentence).
    """

    def __init__(
        self,
        tokenizer: Tokenizer,
        optimizer: Callable[..., torch.optim.Optimizer],
        net: Callable[..., RNNLanguageModel],
        warmup_steps: int = 200,
        min_lr_ratio: float = 0.05,
        tbptt_steps: int = 0,
    ) -> None:
        super().__init__()
        if tbptt_steps < 0:
            raise AvseqError(f"model.tbptt_steps={tbptt_steps}: must be >= 0 (0: off)")
        self.tbptt_steps = tbptt_steps
        self.tokenizer = tokenizer
        self.net_spec = net_spec(net, vocab_size=tokenizer.vocab_size)  # saved in checkpoints
        self.net = net(vocab_size=tokenizer.vocab_size)
        self.optimizer_factory = optimizer
        self.warmup_steps = warmup_steps
        self.min_lr_ratio = min_lr_ratio
        self._val_nll = self._val_tokens = 0.0

    def _nll(self, batch: dict[str, torch.Tensor]) -> tuple[torch.Tensor, torch.Tensor]:
        """(summed negative log-likelihood, number of tokens)."""
        targets = batch["targets"]
        return summed_nll(self.net(batch["inputs"]), targets), (targets != 0).sum()

    def _truncated_loss(self, batch: dict[str, torch.Tensor], n: torch.Tensor) -> torch.Tensor:
        """The mean NLL per token with truncated BPTT (`tbptt_steps` tokens per chunk)."""
        inputs, targets = batch["inputs"], batch["targets"]

        def run_chunk(span: slice, state: Any) -> tuple[torch.Tensor, Any]:
            logits, state = self.net.run(inputs[:, span], state)
            return summed_nll(logits, targets[:, span]) / n, state

        scaler = getattr(getattr(self._trainer, "precision_plugin", None), "scaler", None)
        params = [p for p in self.parameters() if p.requires_grad]
        scale = float(scaler.get_scale()) if scaler is not None else 1.0
        return truncated_bptt(run_chunk, inputs.size(1), self.tbptt_steps, params, scale)

    def training_step(self, batch: dict[str, torch.Tensor], batch_idx: int) -> torch.Tensor:
        if self.tbptt_steps and batch["inputs"].size(1) > self.tbptt_steps:
            n = (batch["targets"] != 0).sum()
            loss = self._truncated_loss(batch, n.clamp_min(1))
        else:
            nll, n = self._nll(batch)
            loss = nll / n.clamp_min(1)
        if int(n) == 0 or not self.finite_loss(loss, int(n)):
            return self.skip_batch()
        self.log("train/loss", loss, prog_bar=True, batch_size=batch["inputs"].size(0))
        return loss

    def on_validation_epoch_start(self) -> None:
        self._val_nll = self._val_tokens = 0.0

    def _eval_step(self, batch: dict[str, torch.Tensor], stage: str) -> None:
        nll, n = self._nll(batch)
        self._val_nll += float(nll)
        self._val_tokens += float(n)

    def on_validation_epoch_end(self) -> None:
        totals = torch.tensor([self._val_nll, self._val_tokens], device=self.device)
        totals = (
            self.all_gather(totals).view(-1, 2).sum(0) if self.trainer.world_size > 1 else totals
        )
        loss = float(totals[0] / totals[1].clamp_min(1))
        self.log("val/loss", loss, prog_bar=True, rank_zero_only=True)
        self.log("val/ppl", math.exp(loss), prog_bar=True, rank_zero_only=True)
        baseline = getattr(getattr(self.trainer, "datamodule", None), "unigram_ppl", None)
        if baseline is not None:  # what a model that ignores context would score
            self.log("val/unigram_ppl", baseline, rank_zero_only=True)

    def on_save_checkpoint(self, checkpoint: dict[str, Any]) -> None:
        write_record(checkpoint, "speech_lm", self.net_spec, tokenizer=self.tokenizer.to_dict())
