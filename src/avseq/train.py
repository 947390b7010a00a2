"""`train(cfg)`: one plain function that builds data, model and trainer from a config and fits."""

from __future__ import annotations

import logging
from typing import Any

import lightning as L
import torch
from hydra.utils import instantiate
from lightning.pytorch.callbacks import ModelCheckpoint
from lightning.pytorch.trainer.states import TrainerStatus
from omegaconf import DictConfig, OmegaConf

from avseq.callbacks import AppendingCSVLogger
from avseq.runs import checkpoint_step, link_latest, mark_finished, plan_run

log = logging.getLogger(__name__)


def train(cfg: DictConfig) -> dict[str, Any]:
    """Trains (and optionally tests) a task.

    Returns:
        The trainer's final metrics plus `run_dir` and `best_checkpoint`.
    """
    L.seed_everything(cfg.seed, workers=True)
    # denormal floats make CPU recurrences several times slower as weights settle; flushing
    # them to zero changes nothing measurable in the results
    torch.set_flush_denormal(True)
    plan = plan_run(cfg)
    run_dir, ckpt_path = plan.run_dir, plan.ckpt_path
    cfg.paths.output_dir = str(run_dir)
    run_dir.mkdir(parents=True, exist_ok=True)
    OmegaConf.save(cfg, run_dir / "config.yaml", resolve=True)

    datamodule = instantiate(cfg.data)
    task = instantiate(cfg.model, **datamodule.task_inputs())
    callbacks = [instantiate(c) for c in cfg.get("callbacks", {}).values() if c]
    loggers = [instantiate(lg) for lg in cfg.get("logger", {}).values() if lg]
    trainer: L.Trainer = instantiate(cfg.trainer, callbacks=callbacks, logger=loggers)
    if trainer.is_global_zero:
        params = run_params(cfg)  # the whole resolved config, for comparing runs in any logger
        for lg in loggers:
            lg.log_hyperparams(params)
        link_latest(run_dir)  # at the start, so a crashed run is the latest one
        if plan.continues:
            step = checkpoint_step(ckpt_path)
            log.info("continuing the unfinished run %s from step %d", run_dir, step)
            for lg in loggers:
                if isinstance(lg, AppendingCSVLogger):
                    lg.drop_rows_from(step)
        elif ckpt_path:
            log.info("resuming from %s in a new run folder", ckpt_path)
        log.info("run folder: %s", run_dir)
    trainer.fit(task, datamodule=datamodule, ckpt_path=ckpt_path, weights_only=True)
    if trainer.is_global_zero and trainer.state.status == TrainerStatus.FINISHED:
        mark_finished(run_dir, trainer.current_epoch, trainer.global_step)
    best = best_checkpoint(trainer)
    if cfg.get("test") and datamodule.has_split("test"):
        trainer.test(task, datamodule=datamodule, ckpt_path=best or None, weights_only=True)
    metrics = {k: float(v) for k, v in trainer.callback_metrics.items()}
    return {**metrics, "run_dir": str(run_dir), "best_checkpoint": best}


def run_params(cfg: DictConfig) -> dict[str, Any]:
    """The run's resolved config without Hydra's own section, nested as in config.yaml."""
    params = OmegaConf.to_container(cfg, resolve=True)
    params.pop("hydra", None)
    return params


def best_checkpoint(trainer: L.Trainer) -> str:
    """The best-by-metric checkpoint's path ("" when none was written or none is monitored)."""
    monitored = [c for c in trainer.checkpoint_callbacks if isinstance(c, ModelCheckpoint)]
    monitored = [c for c in monitored if c.monitor] or monitored
    return monitored[0].best_model_path if monitored else ""
