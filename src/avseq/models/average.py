"""Checkpoint averaging: the element-wise mean of the weights of several checkpoints of one
network (the last or best k of a run), as ESPnet, SpeechBrain and NeMo average before
decoding. The result is a self-describing avseq checkpoint for evaluation, transcription and
export (weights only: no optimizer or loop state to resume from)."""

from __future__ import annotations

from pathlib import Path
from typing import Any

from avseq.errors import AvseqError
from avseq.models.checkpoint import load_checkpoint


def average_checkpoints(paths: list[str | Path]) -> dict[str, Any]:
    """The mean of the floating-point tensors of `paths`' state dicts; integer tensors (e.g.
    BatchNorm's batch counter) are taken from the last checkpoint. The `avseq` record is the
    last checkpoint's, with `averaged_from` listing the sources.

    Raises:
        AvseqError: fewer than two files, or checkpoints of different networks.
    """
    if len(paths) < 2:
        raise AvseqError("--checkpoints: give at least two checkpoints to average")
    first = load_checkpoint(paths[0], None)
    kind, net, state = first["avseq"]["kind"], first["avseq"]["net"], first["state_dict"]
    total = {k: v.double() if v.is_floating_point() else v for k, v in state.items()}
    last = first
    for path in paths[1:]:
        ckpt = load_checkpoint(path, None)
        if ckpt["avseq"]["kind"] != kind or ckpt["avseq"]["net"] != net:
            raise AvseqError(
                f"{path}: a different network than {paths[0]}; average checkpoints of one run"
            )
        if set(ckpt["state_dict"]) != set(total):
            raise AvseqError(f"{path}: its weights differ in names from {paths[0]}'s")
        for k, v in ckpt["state_dict"].items():
            if v.shape != total[k].shape:
                raise AvseqError(f"{path}: {k} has shape {tuple(v.shape)}, not {total[k].shape}")
            total[k] = total[k] + v.double() if v.is_floating_point() else v
        last = ckpt
    averaged = {
        k: (v / len(paths)).to(last["state_dict"][k].dtype) if v.is_floating_point() else v
        for k, v in total.items()
    }
    record = {**last["avseq"], "averaged_from": [str(p) for p in paths]}
    return {
        "state_dict": averaged,
        "avseq": record,
        "epoch": last.get("epoch", 0),
        "global_step": last.get("global_step", 0),
        "pytorch-lightning_version": last.get("pytorch-lightning_version", ""),
    }
