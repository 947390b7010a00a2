"""`GradientMonitor`: how gradients flow in a run, logged beside its losses (TensorBoard, CSV)."""

from __future__ import annotations

import re
from typing import Any

import lightning as L
import torch
from lightning.pytorch.callbacks import Callback

from avseq.errors import AvseqError

# nn.RNN/LSTM/GRU parameter names: weight_ih_l0, bias_hh_l2_reverse, weight_hr_l1 (projections)
_RNN_PARAM = re.compile(r"^(?:weight|bias)_(?:ih|hh|hr)_l(\d+)(_reverse)?$")


def gradient_group(name: str, depth: int = 2) -> str:
    """The group a parameter's gradient norm is logged under: its module `depth` levels below
    the LightningModule ("net.encoder"), with each layer and direction of a recurrent network
    on its own ("net.encoder.l0", "net.encoder.l0_reverse")."""
    *path, leaf = name.split(".")
    group = ".".join(path[:depth]) or leaf
    rnn = _RNN_PARAM.match(leaf)
    return f"{group}.l{rnn[1]}{rnn[2] or ''}" if rnn else group


class GradientMonitor(Callback):
    """Logs the gradients of every optimizer step as the optimizer is about to see them: after
    the loss scaler of `16-mixed` has unscaled them, before `gradient_clip_val` clips them.

    Every `every_n_steps` optimizer steps (at global steps 0, n, 2n, ...) it logs

    - `grad/norm`: the global L2 norm over all parameters (NaN/inf for a non-finite step);
    - `grad/norm/<group>`: the L2 norm of each group (`gradient_group`);
    - `grad/clipped_frac`: the share of the optimizer steps since the previous log (this one
      included) whose norm exceeded the trainer's `gradient_clip_val` (its largest absolute
      gradient for `gradient_clip_algorithm=value`; always 0 without clipping);
    - `grad/nonfinite_frac`: the share of those steps with a NaN/inf gradient (steps the
      avseq tasks skip; a NaN/inf loss is skipped before it makes gradients and counts in
      `train/skipped_steps` instead).

    The global norm is computed on every step (one fused pass over the gradients, kept on the
    device until a log), the groups only on logged steps. It draws no random numbers and changes
    no gradient; the counts since the last log travel in checkpoints, so a resumed run logs what
    an uninterrupted one would.

    Args:
        every_n_steps: optimizer steps between logs.
        depth: module levels below the LightningModule that name a group.
    """

    def __init__(self, every_n_steps: int = 25, depth: int = 2) -> None:
        if every_n_steps < 1 or depth < 1:
            raise AvseqError(
                f"callbacks.gradient_monitor: every_n_steps={every_n_steps} and depth={depth} "
                "must both be >= 1"
            )
        self.every_n_steps = every_n_steps
        self.depth = depth
        self._counts: torch.Tensor | None = None  # (steps, clipped, non-finite) since the last log
        self._loaded: list[float] | None = None

    def on_before_optimizer_step(
        self, trainer: L.Trainer, pl_module: L.LightningModule, optimizer: torch.optim.Optimizer
    ) -> None:
        if not trainer.is_global_zero:  # gradients are already the same on every rank
            return
        grads = [p.grad for group in optimizer.param_groups for p in group["params"]]
        grads = [g for g in grads if g is not None]
        if not grads:
            return
        norm = torch.nn.utils.get_total_norm(grads)
        finite = torch.isfinite(norm)
        clipped = finite & self._exceeds_clip(trainer, grads, norm)
        step = torch.stack([torch.ones_like(finite), clipped, ~finite]).float()
        self._counts = self._start_counts(norm.device) + step
        if trainer.global_step % self.every_n_steps:
            return
        steps, n_clipped, n_nonfinite = self._counts.tolist()
        self._counts = None
        metrics = {
            "grad/norm": float(norm),
            "grad/clipped_frac": n_clipped / steps,
            "grad/nonfinite_frac": n_nonfinite / steps,
        }
        metrics.update(
            (f"grad/norm/{group}", value) for group, value in self.group_norms(pl_module).items()
        )
        for logger in trainer.loggers:
            logger.log_metrics(metrics, step=trainer.global_step)
            logger.save()  # now: a run killed before Lightning's next save would lose the row

    def group_norms(self, module: torch.nn.Module) -> dict[str, float]:
        """The L2 norm of the gradients of each `gradient_group` of `module`'s parameters."""
        groups: dict[str, list[torch.Tensor]] = {}
        for name, p in module.named_parameters():
            if p.grad is not None:
                groups.setdefault(gradient_group(name, self.depth), []).append(p.grad)
        norms = {g: torch.nn.utils.get_total_norm(grads) for g, grads in groups.items()}
        return {g: float(n) for g, n in norms.items()}

    @staticmethod
    def _exceeds_clip(
        trainer: L.Trainer, grads: list[torch.Tensor], norm: torch.Tensor
    ) -> torch.Tensor:
        clip = trainer.gradient_clip_val
        if not clip or clip <= 0:
            return torch.zeros_like(norm, dtype=torch.bool)
        if trainer.gradient_clip_algorithm == "value":
            return torch.nn.utils.get_total_norm(grads, norm_type=float("inf")) > clip
        return norm > clip

    def _start_counts(self, device: torch.device) -> torch.Tensor:
        if self._counts is not None:
            return self._counts
        loaded, self._loaded = self._loaded or [0.0, 0.0, 0.0], None
        return torch.tensor(loaded, device=device)

    def state_dict(self) -> dict[str, Any]:
        counts = self._counts.tolist() if self._counts is not None else self._loaded
        return {"counts": counts or [0.0, 0.0, 0.0]}

    def load_state_dict(self, state_dict: dict[str, Any]) -> None:
        self._counts, self._loaded = None, list(state_dict.get("counts") or [0.0, 0.0, 0.0])
