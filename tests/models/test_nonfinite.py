"""Non-finite losses and gradients, and batches without a usable item: the optimizer step is
skipped (weights and optimizer state untouched), counted in `train/skipped_steps`, no loss is
logged for it, and training goes on."""

from __future__ import annotations

import csv
import json
import math
import os
import subprocess
import sys
from functools import partial
from pathlib import Path
from typing import Any

import lightning as L
import pytest
import torch
from lightning.pytorch.loggers import CSVLogger
from torch.utils.data import DataLoader

from avseq.errors import AvseqError
from avseq.features.audio import LogMel
from avseq.models.components.ctc_head import CTCHead
from avseq.models.components.recognizer import build_recognizer
from avseq.models.components.rnn_encoder import RNNEncoder
from avseq.models.components.subsampling import Conv2dSubsampler
from avseq.models.tasks.speech import SpeechTask
from avseq.text.tokenizer import CharTokenizer

TOK = CharTokenizer()


def tiny_task() -> SpeechTask:
    torch.manual_seed(0)
    net = partial(
        build_recognizer,
        frontend=partial(LogMel, n_mels=20),
        augment=None,
        subsampler=partial(Conv2dSubsampler, channels=4, out_dim=16),
        encoder=partial(RNNEncoder, hidden_size=16, num_layers=1, dropout=0.0),
        head=CTCHead,
    )
    return SpeechTask(TOK, partial(torch.optim.AdamW, lr=1e-2), net, warmup_steps=1)


def batch(kind: str = "good", seed: int = 0) -> dict[str, Any]:
    """A training batch as `collate_speech` makes it: "good", "nan" (poisoned audio, so the
    loss is NaN) or "empty" (every item was unusable)."""
    if kind == "empty":
        return {"skipped": 2}
    g = torch.Generator().manual_seed(seed)
    waves = 0.1 * torch.randn(2, 8000, generator=g)
    if kind == "nan":
        waves[0, 100:200] = float("nan")
    texts = ["one two", "three"]
    tokens = [torch.tensor(TOK.encode(t)) for t in texts]
    return {
        "skipped": 0,
        "waves": waves,
        "wave_lengths": torch.tensor([8000, 6000]),
        "tokens": torch.nn.utils.rnn.pad_sequence(tokens, batch_first=True),
        "token_lengths": torch.tensor([len(t) for t in tokens]),
        "texts": texts,
        "paths": ["a.wav", "b.wav"],
    }


def loader(batches: list[dict[str, Any]]) -> DataLoader:
    return DataLoader(batches, batch_size=None, collate_fn=lambda b: b)


class WatchWeights(L.Callback):
    """Records per batch whether the weights (and the optimizer's state) moved; poisons the
    gradients of the batches in `nan_grad_batches`."""

    def __init__(self, nan_grad_batches: tuple[int, ...] = ()) -> None:
        self.nan_grad_batches = nan_grad_batches
        self.moved: list[bool] = []
        self.state_moved: list[bool] = []

    @staticmethod
    def _state(trainer: L.Trainer) -> list[torch.Tensor]:
        opt = trainer.optimizers[0]
        return [v.clone() for s in opt.state.values() for v in s.values() if torch.is_tensor(v)]

    def on_train_batch_start(self, trainer, module, batch, batch_idx) -> None:
        self._before = [p.detach().clone() for p in module.parameters()]
        self._opt_before = self._state(trainer)

    def on_after_backward(self, trainer, module) -> None:
        if trainer.fit_loop.epoch_loop.batch_idx in self.nan_grad_batches:
            next(module.parameters()).grad[0] = float("inf")

    def on_train_batch_end(self, trainer, module, outputs, batch, batch_idx) -> None:
        self.moved.append(changed(self._before, list(module.parameters())))
        self.state_moved.append(changed(self._opt_before, self._state(trainer)))


def changed(before: list[torch.Tensor], after: list[torch.Tensor]) -> bool:
    return len(before) != len(after) or any(
        not torch.equal(a, b) for a, b in zip(before, after, strict=True)
    )


def fit(tmp_path: Path, batches: list[dict[str, Any]], watch: WatchWeights, **task_attrs) -> Any:
    task = tiny_task()
    for name, value in task_attrs.items():
        setattr(task, name, value)
    trainer = L.Trainer(
        accelerator="cpu",
        max_epochs=1,
        gradient_clip_val=1.0,
        logger=CSVLogger(tmp_path, name="csv", version=0),
        log_every_n_steps=1,
        enable_checkpointing=False,
        enable_progress_bar=False,
        enable_model_summary=False,
        callbacks=[watch],
    )
    trainer.fit(task, loader(batches))
    return trainer


def test_nonfinite_and_empty_batches_skip_the_step_and_are_counted(tmp_path: Path) -> None:
    batches = [batch("good", 0), batch("nan"), batch("empty"), batch("good", 1), batch("good", 2)]
    watch = WatchWeights(nan_grad_batches=(3,))  # finite loss, an infinite gradient
    trainer = fit(tmp_path, batches, watch)
    assert watch.moved == [True, False, False, False, True]  # training went on after the skips
    assert watch.state_moved == [True, False, False, False, True]  # AdamW's moments too
    assert trainer.callback_metrics["train/skipped_steps"] == 3
    assert all(torch.isfinite(p).all() for p in trainer.lightning_module.parameters())
    # the LR schedule follows batches, skipped or not
    assert trainer.lr_scheduler_configs[0].scheduler.last_epoch == len(batches)
    rows = list(csv.DictReader((tmp_path / "csv" / "version_0" / "metrics.csv").open()))
    losses = {int(r["step"]): float(r["train/loss"]) for r in rows if r.get("train/loss")}
    # no loss for the NaN and the empty batch; the batch with the infinite gradient had a loss
    assert sorted(losses) == [0, 3, 4]
    assert all(math.isfinite(v) for v in losses.values())


def test_steps_that_keep_failing_stop_training_with_one_clear_line(tmp_path: Path) -> None:
    watch = WatchWeights()
    with pytest.raises(AvseqError, match=r"3 optimizer steps in a row had NaN/inf") as err:
        fit(tmp_path, [batch("nan")] * 5, watch, nonfinite_patience=3)
    assert "\n" not in str(err.value) and "model.optimizer.lr" in str(err.value)
    assert watch.moved == [False, False]  # the third raised before its batch ended


DDP_SCRIPT = """
import json, os, sys
import lightning as L
from tests.models.test_nonfinite import WatchWeights, batch, loader, tiny_task

watch = WatchWeights()
task = tiny_task()
trainer = L.Trainer(
    accelerator="cpu", devices=2, strategy="ddp", max_epochs=1, logger=False,
    enable_checkpointing=False, enable_progress_bar=False, enable_model_summary=False,
    use_distributed_sampler=False, callbacks=[watch],
)
rank = int(os.environ.get("LOCAL_RANK", 0))
mine = [batch("good", 0), batch("nan"), batch("good", 1), batch("empty")]
if rank == 0:  # rank 0 has good batches where rank 1 has a NaN loss and nothing usable
    mine = [batch("good", 0), batch("good", 3), batch("good", 1), batch("good", 4)]
trainer.fit(task, loader(mine))
out = {"moved": watch.moved, "skipped": float(trainer.callback_metrics["train/skipped_steps"])}
with open(sys.argv[1] + f".{rank}", "w") as f:
    json.dump(out, f)
"""


@pytest.mark.slow
def test_under_ddp_every_rank_skips_the_same_steps(tmp_path: Path) -> None:
    script = tmp_path / "ddp_nonfinite.py"
    script.write_text(DDP_SCRIPT)
    root = Path(__file__).resolve().parents[2]
    env = {**os.environ, "PYTHONPATH": str(root), "OMP_NUM_THREADS": "1"}
    env.pop("LOCAL_RANK", None)
    out = tmp_path / "result"
    proc = subprocess.run(
        [sys.executable, str(script), str(out)],
        cwd=root,
        env=env,
        capture_output=True,
        text=True,
        timeout=240,
    )
    assert proc.returncode == 0, proc.stderr[-3000:]
    results = [json.loads((tmp_path / f"result.{rank}").read_text()) for rank in (0, 1)]
    # rank 1's NaN loss (step 1) skips rank 0's step too; rank 1's empty batch (step 3) alone
    # does not, since rank 0 had items
    assert results[0] == results[1] == {"moved": [True, False, True, True], "skipped": 1.0}
