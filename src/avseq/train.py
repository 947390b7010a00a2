"""`train(cfg)`: one plain function that builds data, model and trainer from a config and fits."""

from __future__ import annotations

import logging
import os
import time
from pathlib import Path
from typing import Any

import lightning as L
import torch
from hydra.utils import instantiate
from omegaconf import DictConfig, OmegaConf

from avseq.errors import AvseqError

log = logging.getLogger(__name__)
RUN_DIR_ENV = "AVSEQ_RUN_DIR"  # shared with DDP child processes, which re-run the command


def resolve_run_dir(cfg: DictConfig) -> Path:
    """The run folder: paths.output_dir, else the DDP parent's, else a new timestamped one."""
    ddp_child = int(os.environ.get("LOCAL_RANK", 0)) > 0
    if cfg.paths.get("output_dir"):
        run_dir = Path(cfg.paths.output_dir)
    elif ddp_child and os.environ.get(RUN_DIR_ENV):
        run_dir = Path(os.environ[RUN_DIR_ENV])
    else:
        stamp = time.strftime("%Y-%m-%d_%H-%M-%S")
        run_dir = Path(cfg.paths.runs_dir) / cfg.task_name / stamp
        for n in range(1, 100):  # two runs started in the same second
            if not run_dir.exists():
                break
            run_dir = run_dir.with_name(f"{stamp}-{n}")
    os.environ[RUN_DIR_ENV] = str(run_dir)
    return run_dir


def resolve_ckpt_path(cfg: DictConfig) -> str | None:
    """`ckpt_path=last` means the newest run's last.ckpt of this task."""
    ckpt = cfg.get("ckpt_path")
    if ckpt == "last":
        ckpt = str(
            Path(cfg.paths.runs_dir) / cfg.task_name / "latest" / "checkpoints" / "last.ckpt"
        )
    if ckpt and not Path(ckpt).is_file():
        raise AvseqError(
            f"{ckpt}: no checkpoint to resume from; train once without ckpt_path "
            "or give an existing .ckpt file"
        )
    return ckpt


def link_latest(run_dir: Path) -> None:
    """Points runs/<task>/latest at `run_dir` (atomically replaced)."""
    latest = run_dir.parent / "latest"
    tmp = run_dir.parent / f".latest-{os.getpid()}"
    tmp.unlink(missing_ok=True)
    tmp.symlink_to(run_dir.name)
    tmp.replace(latest)


def train(cfg: DictConfig) -> dict[str, Any]:
    """Trains (and optionally tests) a task.

    Returns:
        The trainer's final metrics plus `run_dir` and `best_checkpoint`.
    """
    L.seed_everything(cfg.seed, workers=True)
    # denormal floats make CPU recurrences several times slower as weights settle; flushing
    # them to zero changes nothing measurable in the results
    torch.set_flush_denormal(True)
    run_dir = resolve_run_dir(cfg)
    cfg.paths.output_dir = str(run_dir)
    ckpt_path = resolve_ckpt_path(cfg)
    run_dir.mkdir(parents=True, exist_ok=True)
    OmegaConf.save(cfg, run_dir / "config.yaml", resolve=True)

    datamodule = instantiate(cfg.data)
    task = instantiate(cfg.model, **datamodule.task_inputs())
    callbacks = [instantiate(c) for c in cfg.get("callbacks", {}).values() if c]
    loggers = [instantiate(lg) for lg in cfg.get("logger", {}).values() if lg]
    trainer: L.Trainer = instantiate(cfg.trainer, callbacks=callbacks, logger=loggers)
    if trainer.is_global_zero:
        log.info("run folder: %s", run_dir)
    trainer.fit(task, datamodule=datamodule, ckpt_path=ckpt_path, weights_only=True)
    if trainer.is_global_zero:
        link_latest(run_dir)
    best = trainer.checkpoint_callback.best_model_path if trainer.checkpoint_callback else ""
    if cfg.get("test") and datamodule.has_split("test"):
        trainer.test(task, datamodule=datamodule, ckpt_path=best or None, weights_only=True)
    metrics = {k: float(v) for k, v in trainer.callback_metrics.items()}
    return {**metrics, "run_dir": str(run_dir), "best_checkpoint": best}
