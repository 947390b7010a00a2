"""The video task: action recognition, captioning, or both on one shared encoder."""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

import torch
import torch.nn.functional as F
from torchmetrics import SumMetric
from torchmetrics.classification import MulticlassAccuracy
from torchmetrics.text import BLEUScore

from avseq.decoding.beam import greedy_search
from avseq.metrics.captioning import SLOT_COUNTS, SLOTS, slot_counts
from avseq.models.checkpoint import write_record
from avseq.models.components.specs import net_spec
from avseq.models.components.video_encoder import VideoModel
from avseq.models.tasks.common import AvseqTask
from avseq.text.vocab import WordVocab


def view_average(logits: torch.Tensor, views: int) -> torch.Tensor:
    """(B * views, K) logits -> (B, K) class probabilities averaged over the views."""
    return logits.float().softmax(-1).view(-1, views, logits.size(-1)).mean(1)


class VideoTask(AvseqTask):
    """Trains a `VideoModel`: cross-entropy on attention-pooled states for actions, and/or
    teacher-forced cross-entropy of a caption decoder; the loss is their weighted sum.

    Logs train/loss, val/acc, val/top5 (actions), val/bleu4 and val/slot_acc (greedy
    captions; slot accuracy on built-in-style captions, and val/slot_colour, val/slot_shape,
    val/slot_action for each slot) and the same under test/.

    Args:
        classes: action class names in index order (saved in checkpoints); may be empty.
        optimizer: builds the optimizer given `params` (a Hydra `_partial_`).
        net: builds the `VideoModel` given num_classes, vocab_size, image_size (the clips')
            and concepts (a Hydra `_partial_` of `build_video_model` with its parts, see
            configs/model/video_action.yaml).
        vocab: caption words (a `WordVocab`'s tokens, saved in checkpoints), or None.
        clip: how the data samples clips (size, num_frames, seconds, test_annotations, ...);
            saved in checkpoints so `avseq classify` / `avseq caption` sample the same way.
        action_weight: weight of the action loss; 0 trains no action head.
        caption_weight: weight of the caption loss; 0 trains no caption decoder.
        concept_weight: weight of the concept-detection loss (binary cross-entropy: which
            words most of a clip's reference captions use, see `concept_targets`); 0 leaves
            the detector out.
        label_smoothing: action cross-entropy label smoothing.
        caption_label_smoothing: caption cross-entropy label smoothing.
        scheduled_sampling: final probability of feeding the decoder its own previous word,
            reached linearly over training (0: plain teacher forcing).
        max_caption_words: longest caption decoded in validation.
        warmup_steps: linear LR warmup steps.
        min_lr_ratio: final LR as a fraction of the peak.
    """

    def __init__(
        self,
        classes: list[str],
        optimizer: Callable[..., torch.optim.Optimizer],
        net: Callable[..., VideoModel],
        vocab: list[str] | None = None,
        clip: dict[str, Any] | None = None,
        action_weight: float = 1.0,
        caption_weight: float = 0.0,
        concept_weight: float = 0.0,
        label_smoothing: float = 0.0,
        caption_label_smoothing: float = 0.1,
        scheduled_sampling: float = 0.0,
        max_caption_words: int = 20,
        warmup_steps: int = 100,
        min_lr_ratio: float = 0.02,
    ) -> None:
        super().__init__()
        self.classes = list(classes) if action_weight > 0 else []
        self.vocab = WordVocab(vocab) if vocab is not None and caption_weight > 0 else None
        if not self.classes and self.vocab is None:
            raise ValueError(
                "nothing to train: give action classes with model.action_weight > 0 and/or "
                "captions with model.caption_weight > 0"
            )
        self.clip = dict(clip or {})
        sizes = {
            "num_classes": len(self.classes),
            "vocab_size": len(self.vocab) if self.vocab else 0,
            "image_size": self.clip.get("size", 64),
            "concepts": concept_weight > 0,
        }
        self.net_spec = net_spec(net, **sizes)  # saved in checkpoints
        self.net = net(**sizes)
        self.optimizer_factory = optimizer
        self.action_weight = action_weight
        self.caption_weight = caption_weight
        self.concept_weight = concept_weight
        self.label_smoothing = label_smoothing
        self.caption_label_smoothing = caption_label_smoothing
        self.scheduled_sampling = scheduled_sampling
        self.max_caption_words = max_caption_words
        self.warmup_steps = warmup_steps
        self.min_lr_ratio = min_lr_ratio
        metrics: dict[str, Any] = {}
        for stage in ("val", "test"):
            if self.classes:
                k = len(self.classes)
                metrics[f"{stage}_acc"] = MulticlassAccuracy(k, top_k=1, average="micro")
                metrics[f"{stage}_top5"] = MulticlassAccuracy(k, top_k=min(5, k), average="micro")
            if self.vocab is not None:
                metrics[f"{stage}_bleu4"] = BLEUScore(n_gram=4)
                for key in SLOT_COUNTS:
                    metrics[f"{stage}_slot_{key}"] = SumMetric()
        self.metrics = torch.nn.ModuleDict(metrics)

    def forward(
        self, frames: torch.Tensor, lengths: torch.Tensor
    ) -> tuple[torch.Tensor, torch.Tensor]:
        return self.net(frames, lengths)

    def _sample_prob(self) -> float:
        if self.scheduled_sampling <= 0 or self._trainer is None:
            return 0.0
        total = max(1, int(self.trainer.estimated_stepping_batches))
        return self.scheduled_sampling * min(1.0, self.global_step / total)

    def concept_targets(
        self, references: list[list[str]], device: torch.device
    ) -> tuple[torch.Tensor, torch.Tensor]:
        """(B, vocab) targets and weights of the concept detector: a word is present when
        every one of a clip's references uses it, absent when none does, and left out of the
        loss in between (a phrasing some annotators chose is not a property of the video)."""
        assert self.vocab is not None
        counts = torch.zeros(len(references), len(self.vocab))
        for i, refs in enumerate(references):
            for ref in refs:
                counts[i, list(set(self.vocab.encode(ref)))] += 1
            counts[i] /= max(1, len(refs))
        counts[:, : WordVocab.unk + 1] = 0  # special tokens are never concepts
        target = (counts >= 1.0).float()
        weight = ((counts >= 1.0) | (counts == 0)).float()
        return target.to(device), weight.to(device)

    def _caption_losses(
        self,
        states: torch.Tensor,
        lengths: torch.Tensor,
        tokens: torch.Tensor,
        references: list[list[str]],
        sample: float,
    ) -> tuple[torch.Tensor, torch.Tensor | None]:
        """Teacher-forced caption cross-entropy, and the concept loss (if detected)."""
        mask, concept_logits = self.net.caption_context(states, lengths)
        logits, _ = self.net.decoder(states, mask, tokens, sample, concept_logits)
        caption = F.cross_entropy(
            logits.float().flatten(0, 1),
            tokens[:, 1:].flatten(),
            ignore_index=WordVocab.pad,
            label_smoothing=self.caption_label_smoothing,
        )
        concept = None
        if concept_logits is not None:
            target, weight = self.concept_targets(references, states.device)
            # summed over the words, averaged over the videos: each word gets a per-video
            # signal (a mean over all words would shrink it by the vocabulary size)
            concept = F.binary_cross_entropy_with_logits(
                concept_logits.float(), target, weight=weight, reduction="sum"
            ) / max(1, target.size(0))
        return caption, concept

    def training_step(self, batch: dict[str, Any], batch_idx: int) -> torch.Tensor:
        self.log_skipped(batch)
        if "lengths" not in batch:
            return self.skip_batch()
        states = self.net.encoder(batch.get("frames"), batch["lengths"], batch.get("features"))
        n = batch["lengths"].numel()
        loss = states.new_zeros((), dtype=torch.float)
        labels = batch["labels"]
        logs: dict[str, torch.Tensor] = {}
        if self.classes and bool((labels >= 0).any()):
            logits, _ = self.net.classify(states, batch["lengths"])
            action = F.cross_entropy(
                logits.float(), labels, ignore_index=-1, label_smoothing=self.label_smoothing
            )
            loss = loss + self.action_weight * action
            valid = labels >= 0
            logs["train/action_loss"] = action
            logs["train/acc"] = (logits.argmax(-1)[valid] == labels[valid]).float().mean()
        if self.vocab is not None and "tokens" in batch:
            caption, concept = self._caption_losses(
                states, batch["lengths"], batch["tokens"], batch["references"], self._sample_prob()
            )
            loss = loss + self.caption_weight * caption
            logs["train/caption_loss"] = caption
            if concept is not None:
                loss = loss + self.concept_weight * concept
                logs["train/concept_loss"] = concept
        if not self.finite_loss(loss, n):
            return self.skip_batch()
        for name, value in logs.items():
            self.log(name, value, batch_size=n)
        self.log("train/loss", loss, prog_bar=True, batch_size=n)
        return loss

    def _eval_step(self, batch: dict[str, Any], stage: str) -> None:
        if "lengths" not in batch:
            return
        states = self.net.encoder(batch.get("frames"), batch["lengths"], batch.get("features"))
        views = batch["views"]
        labels = batch["labels"]
        n = labels.numel()
        if self.classes and bool((labels >= 0).any()):
            logits, _ = self.net.classify(states, batch["lengths"])
            probs = view_average(logits, views)
            valid = labels >= 0
            probs, labels = probs[valid], labels[valid]
            loss = F.nll_loss(probs.clamp_min(1e-12).log(), labels)
            self.log(f"{stage}/loss", loss, batch_size=n, sync_dist=True)
            for name in ("acc", "top5"):
                metric = self.metrics[f"{stage}_{name}"]
                metric.update(probs, labels)
                self.log(f"{stage}/{name}", metric, prog_bar=name == "acc", batch_size=n)
        if self.vocab is not None and batch.get("references"):
            first = states[::views]  # captions come from the first view of each clip
            lengths = batch["lengths"][::views]
            refs = batch["references"]
            if "tokens" in batch:
                loss, _ = self._caption_losses(first, lengths, batch["tokens"], refs, 0.0)
                self.log(f"{stage}/caption_loss", loss, batch_size=n, sync_dist=True)
            mask, concept_logits = self.net.caption_context(first, lengths)
            hyps = greedy_search(
                self.net.decoder, first, mask, self.max_caption_words, concept_logits
            )
            texts = [self.vocab.decode(h.tokens) for h in hyps]
            bleu = self.metrics[f"{stage}_bleu4"]
            bleu.update(texts, refs)
            self.log(f"{stage}/bleu4", bleu, prog_bar=True, batch_size=n)
            counts = slot_counts(texts, refs)
            if counts["total"]:
                for key, count in counts.items():
                    self.metrics[f"{stage}_slot_{key}"].update(float(count))

    def _log_slots(self, stage: str) -> None:
        if self.vocab is None:
            return
        total = self.metrics[f"{stage}_slot_total"]
        t = float(total.compute()) if total.update_count else 0.0
        for key in ("all", *SLOTS):
            hits = self.metrics[f"{stage}_slot_{key}"]
            if t > 0:
                name = "slot_acc" if key == "all" else f"slot_{key}"
                self.log(f"{stage}/{name}", float(hits.compute()) / t, prog_bar=key == "all")
            hits.reset()
        total.reset()

    def on_validation_epoch_end(self) -> None:
        self._log_slots("val")

    def on_test_epoch_end(self) -> None:
        self._log_slots("test")

    def on_save_checkpoint(self, checkpoint: dict[str, Any]) -> None:
        write_record(
            checkpoint,
            "video",
            self.net_spec,
            classes=self.classes,
            vocab=self.vocab.to_dict() if self.vocab is not None else None,
            clip=self.clip,
        )
