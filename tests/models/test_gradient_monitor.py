"""`GradientMonitor`: the norms it logs are those of the gradients the optimizer is handed
(before clipping), per group and in all; the clipped and non-finite shares count the steps
since the previous log; a run resumed from a checkpoint logs what an uninterrupted one does."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import lightning as L
import pytest
import torch
from lightning.pytorch.loggers import Logger
from torch import nn
from torch.utils.data import DataLoader

from avseq.gradient_monitor import GradientMonitor, gradient_group

# the loss is multiplied by this at each global step: small, large (clipped), NaN
SCALES = [1.0, 100.0, 1.0, float("nan"), 100.0, 1.0]
GROUPS = {
    "net.inp": ["net.inp.weight", "net.inp.bias"],
    "net.rnn.l0": [f"net.rnn.{w}_l0" for w in ("weight_ih", "weight_hh", "bias_ih", "bias_hh")],
    "net.rnn.l0_reverse": [
        f"net.rnn.{w}_l0_reverse" for w in ("weight_ih", "weight_hh", "bias_ih", "bias_hh")
    ],
    "net.rnn.l1": [f"net.rnn.{w}_l1" for w in ("weight_ih", "weight_hh", "bias_ih", "bias_hh")],
    "net.rnn.l1_reverse": [
        f"net.rnn.{w}_l1_reverse" for w in ("weight_ih", "weight_hh", "bias_ih", "bias_hh")
    ],
    "net.out": ["net.out.weight", "net.out.bias"],
}


def hand_norm(params) -> torch.Tensor:
    return torch.linalg.vector_norm(torch.cat([p.grad.flatten() for p in params]))


class Net(nn.Module):
    def __init__(self) -> None:
        super().__init__()
        self.inp = nn.Linear(3, 4)
        self.rnn = nn.GRU(4, 5, num_layers=2, bidirectional=True, batch_first=True)
        self.out = nn.Linear(10, 1)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.out(self.rnn(self.inp(x))[0]).pow(2).mean()


class Tiny(L.LightningModule):
    """Records, by hand, the norms of the gradients as clipping is about to see them (the
    LightningModule's hook runs after the callbacks', before clipping)."""

    def __init__(self) -> None:
        super().__init__()
        torch.manual_seed(0)
        self.net = Net()
        self.hand: dict[int, dict[str, float]] = {}

    def training_step(self, batch: torch.Tensor, batch_idx: int) -> torch.Tensor:
        return self.net(batch) * SCALES[self.global_step]

    def on_before_optimizer_step(self, optimizer: torch.optim.Optimizer) -> None:
        grads = dict(self.named_parameters())
        norm = {g: float(hand_norm(grads[n] for n in names)) for g, names in GROUPS.items()}
        total = hand_norm(self.parameters())
        self.hand[self.global_step] = {"all": float(total), **norm}
        if not torch.isfinite(total):
            optimizer.zero_grad()  # as the avseq tasks do: a non-finite step moves nothing

    def configure_optimizers(self) -> torch.optim.Optimizer:
        return torch.optim.SGD(self.parameters(), lr=0.01)


class Recorder(Logger):
    def __init__(self) -> None:
        super().__init__()
        self.rows: dict[int, dict[str, float]] = {}

    name, version = "recorder", 0

    def log_hyperparams(self, params: Any) -> None:
        pass

    def log_metrics(self, metrics: dict[str, float], step: int | None = None) -> None:
        self.rows.setdefault(step, {}).update(metrics)


def batches() -> list[torch.Tensor]:
    # an epoch of 2 steps, one batch twice: what a step sees does not depend on where a
    # resumed run restarts its epoch
    return [torch.randn(2, 7, 3, generator=torch.Generator().manual_seed(1))] * 2


def fit(
    model: Tiny, max_steps: int, clip: float, ckpt: str | None = None
) -> tuple[L.Trainer, Recorder]:
    recorder = Recorder()
    trainer = L.Trainer(
        accelerator="cpu",
        max_steps=max_steps,
        gradient_clip_val=clip,
        callbacks=[GradientMonitor(every_n_steps=2)],
        logger=[recorder],
        enable_checkpointing=False,
        enable_progress_bar=False,
        enable_model_summary=False,
    )
    trainer.fit(model, DataLoader(batches(), batch_size=None), ckpt_path=ckpt)
    return trainer, recorder


def unit_norm() -> float:
    model = Tiny()
    model.net(batches()[0]).backward()
    return float(hand_norm(model.parameters()))


def test_logged_norms_and_shares_match_a_hand_computation() -> None:
    clip = 10 * unit_norm()  # steps of scale 1 stay under it, those of scale 100 exceed it
    model = Tiny()
    _, recorder = fit(model, len(SCALES), clip)
    assert sorted(recorder.rows) == [0, 2, 4]
    for step, row in recorder.rows.items():
        hand = model.hand[step]
        assert row["grad/norm"] == pytest.approx(hand["all"], rel=1e-5)
        for group in GROUPS:
            assert row[f"grad/norm/{group}"] == pytest.approx(hand[group], rel=1e-5)
        assert {k for k in row if k.startswith("grad/norm/")} == {f"grad/norm/{g}" for g in GROUPS}
    # step 0 alone; steps 1-2: one clipped; steps 3-4: one NaN, one clipped
    assert [recorder.rows[s]["grad/clipped_frac"] for s in (0, 2, 4)] == [0.0, 0.5, 0.5]
    assert [recorder.rows[s]["grad/nonfinite_frac"] for s in (0, 2, 4)] == [0.0, 0.0, 0.5]
    assert model.hand[1]["all"] > clip > model.hand[2]["all"]


def test_a_resumed_run_logs_what_an_uninterrupted_one_does(tmp_path: Path) -> None:
    clip = 10 * unit_norm()
    _, whole = fit(Tiny(), len(SCALES), clip)
    # stopped after the clipped step 1: the log at step 2 must still count it
    trainer, first = fit(Tiny(), 2, clip)
    trainer.save_checkpoint(tmp_path / "stop.ckpt")
    _, rest = fit(Tiny(), len(SCALES), clip, ckpt=str(tmp_path / "stop.ckpt"))
    assert sorted(first.rows) == [0] and sorted(rest.rows) == [2, 4]
    resumed = {**first.rows, **rest.rows}
    assert resumed.keys() == whole.rows.keys()
    for step, row in whole.rows.items():
        assert resumed[step] == pytest.approx(row, rel=1e-6)
    assert resumed[2]["grad/clipped_frac"] == 0.5


def test_groups_split_recurrent_layers_and_directions() -> None:
    assert gradient_group("net.encoder.rnn.weight_hh_l2_reverse") == "net.encoder.l2_reverse"
    assert gradient_group("net.encoder.rnn.bias_ih_l0") == "net.encoder.l0"
    assert gradient_group("net.decoder.cell.weight_ih") == "net.decoder"  # an LSTMCell: one group
    assert gradient_group("net.frontend.conv.0.weight", depth=3) == "net.frontend.conv"
    assert gradient_group("scale") == "scale"
