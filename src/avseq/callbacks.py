"""Lightning callbacks and the logger of the recipes: the word LM written after training, the
`last.ckpt` policy, random state for exact resume, and a CSV log that a resumed run appends to."""

from __future__ import annotations

import csv
import io
import logging
import os
import random
import time
from pathlib import Path
from typing import Any

import lightning as L
import numpy as np
import torch
import torch.distributed as dist
from lightning.fabric.loggers.logger import rank_zero_experiment
from lightning.pytorch.callbacks import Callback, ModelCheckpoint
from lightning.pytorch.loggers import CSVLogger
from lightning.pytorch.loggers.csv_logs import ExperimentWriter

from avseq.decoding.ngram import build_word_lm
from avseq.errors import AvseqError
from avseq.utils.io import write_text_atomic

log = logging.getLogger(__name__)


class WordNgram(Callback):
    """Writes a word n-gram LM of the training transcripts (ARPA, `avseq word-lm`) beside the
    checkpoints when training ends, so the run can be decoded with a lexicon and word LM
    (`avseq evaluate --decoder ctc-beam --lm RUN/words-3gram.arpa`) without another step.
    Pure Python: about 2 s for the built-in corpus's 15k transcripts, minutes for millions;
    turn it off with `callbacks.word_lm=null`. A failure is logged, never fatal.

    Args:
        output: the .arpa file to write.
        order: the n-gram order.
    """

    def __init__(self, output: str, order: int = 3) -> None:
        self.output = Path(output)
        self.order = order

    def on_fit_end(self, trainer: L.Trainer, pl_module: L.LightningModule) -> None:
        if not trainer.is_global_zero:
            return
        manifest = getattr(trainer.datamodule, "manifests", {}).get("train")
        if manifest is None or not Path(manifest).is_file():
            return
        start = time.perf_counter()
        try:
            _, sentences, _ = build_word_lm(
                [manifest], self.output, self.order, trainer.datamodule.tokenizer
            )
        except (AvseqError, MemoryError, OSError, ValueError) as err:  # the checkpoints stand
            log.warning("no word LM written (%s); build one with `avseq word-lm`", err)
            return
        log.info(
            "word %d-gram LM of %d training transcripts: %s (%.1f s)",
            self.order,
            sentences,
            self.output,
            time.perf_counter() - start,
        )


class LastCheckpoint(ModelCheckpoint):
    """`last.ckpt`: the newest training state, to resume from after a crash (`ckpt_path=last`).

    Written every `every_n_train_steps` optimizer steps, at the end of every epoch (after its
    validation, so a resumed run does not repeat it) and when training ends however it ends
    (max_epochs, max_steps, max_time, early stopping) — unlike Lightning's `save_last` on a
    monitored checkpoint, which is only written when the metric improves. Each write replaces
    the file (atomically, through the trainer's checkpoint plugin). The best-by-metric
    checkpoint is a separate `ModelCheckpoint` (`callbacks.model_checkpoint`).

    Args:
        dirpath: the checkpoints folder.
        every_n_train_steps: steps between writes within an epoch (0: epoch ends only).
    """

    def __init__(self, dirpath: str, every_n_train_steps: int = 100) -> None:
        if every_n_train_steps < 0:
            raise AvseqError(
                f"callbacks.last_checkpoint.every_n_train_steps={every_n_train_steps}: "
                "must be >= 0 (0 writes last.ckpt at epoch ends only)"
            )
        super().__init__(
            dirpath=dirpath,
            filename="last",
            monitor=None,
            save_top_k=1,
            every_n_train_steps=every_n_train_steps,
            enable_version_counter=False,
        )
        # Lightning takes step and epoch triggers as exclusive; this checkpoint wants both
        self._every_n_epochs = 1

    def on_validation_end(self, trainer: L.Trainer, pl_module: L.LightningModule) -> None:
        if not trainer.sanity_checking and self._last_global_step_saved == trainer.global_step:
            self._last_global_step_saved = -1  # a step write came before validation: write again
        super().on_validation_end(trainer, pl_module)

    def on_train_end(self, trainer: L.Trainer, pl_module: L.LightningModule) -> None:
        if not self._should_skip_saving_checkpoint(trainer):  # e.g. max_time stopped mid-epoch
            self._save_none_monitor_checkpoint(trainer, self._monitor_candidates(trainer))


def rng_states() -> dict[str, Any]:
    """Every random generator of this process: torch CPU and CUDA, numpy, Python `random`
    (as tensors, ints and tuples, so a `weights_only` load reads them)."""
    _, keys, pos, has_gauss, gauss = np.random.get_state()
    return {
        "torch": torch.get_rng_state(),
        # this process's device only (DDP: one per rank)
        "cuda": torch.cuda.get_rng_state() if torch.cuda.is_initialized() else None,
        "numpy": (torch.from_numpy(keys.astype(np.int64)), int(pos), int(has_gauss), gauss),
        "python": random.getstate(),
    }


def set_rng_states(states: dict[str, Any]) -> None:
    """Restores what `rng_states` returned."""
    torch.set_rng_state(states["torch"])
    if states["cuda"] is not None and torch.cuda.is_available():
        torch.cuda.set_rng_state(states["cuda"])
    keys, pos, has_gauss, gauss = states["numpy"]
    np.random.set_state(("MT19937", keys.numpy().astype(np.uint32), pos, has_gauss, gauss))
    random.setstate(states["python"])


class ExactResume(Callback):
    """Makes a resumed run see the same batches and random numbers as one never interrupted.

    Each checkpoint stores the state of every random generator (torch CPU/CUDA, numpy,
    Python) of every DDP rank as it is when the checkpoint is written; a resumed run sets them
    at the start of its first step, so that step's dropout and SpecAugment masks are the ones
    the uninterrupted run drew. Nothing between a checkpoint and the next step draws from them
    (the data loaders have generators of their own, and each item's augmentation draws from
    (seed, epoch, index): `BucketBatchSampler(seeded=True)`).

    It also hands the training loader its saved position (`ResumableLoader`) at the start of
    training: Lightning 2.6 loads it only when it makes the loader, and a task that asks for
    `trainer.estimated_stepping_batches` in `configure_optimizers` has it made before the
    checkpoint's loop state is read.
    """

    def __init__(self) -> None:
        self._loaded: list[dict[str, Any]] | None = None

    def on_train_start(self, trainer: L.Trainer, pl_module: L.LightningModule) -> None:
        trainer.fit_loop._load_combined_loader_states()  # a no-op when Lightning did it

    def on_train_batch_start(
        self, trainer: L.Trainer, pl_module: L.LightningModule, batch: Any, batch_idx: int
    ) -> None:
        if self._loaded is None:
            return
        ranks, self._loaded = self._loaded, None
        if len(ranks) != trainer.world_size:
            log.warning(
                "the checkpoint holds the random state of %d process(es), this run has %d: "
                "its random draws will differ from those of an uninterrupted run",
                len(ranks),
                trainer.world_size,
            )
        set_rng_states(ranks[trainer.global_rank % len(ranks)])

    def state_dict(self) -> dict[str, Any]:
        ranks = [rng_states()]
        if dist.is_available() and dist.is_initialized() and dist.get_world_size() > 1:
            ranks = [None] * dist.get_world_size()  # every rank saves, rank 0 writes the file
            dist.all_gather_object(ranks, rng_states())
        return {"ranks": ranks}

    def load_state_dict(self, state_dict: dict[str, Any]) -> None:
        self._loaded = state_dict.get("ranks") or None


class _AppendingWriter(ExperimentWriter):
    def _check_log_dir_exists(self) -> None:
        # Lightning deletes an existing metrics.csv here; a resumed run appends to it instead
        if os.path.isfile(self.metrics_file_path):
            with open(self.metrics_file_path, newline="", encoding="utf-8") as f:
                self.metrics_keys = next(csv.reader(f), [])


class AppendingCSVLogger(CSVLogger):
    """Lightning's `CSVLogger` that keeps the rows already in `metrics.csv`: a run resumed into
    its own folder appends to the rows of its earlier part (see `drop_rows_from`)."""

    @property
    @rank_zero_experiment
    def experiment(self) -> ExperimentWriter:
        if self._experiment is None:
            self._fs.makedirs(self.root_dir, exist_ok=True)
            self._experiment = _AppendingWriter(log_dir=self.log_dir)
        return self._experiment

    def drop_rows_from(self, step: int) -> None:
        """Drops the rows a run resumed at global step `step` logs again: those logged at
        steps >= `step` (Lightning logs the step that brings global_step to g as step g-1)."""
        path = Path(self.log_dir) / ExperimentWriter.NAME_METRICS_FILE
        if not path.is_file():
            return
        with open(path, newline="", encoding="utf-8") as f:
            reader = csv.DictReader(f)
            header, rows = reader.fieldnames or [], list(reader)
        kept = [r for r in rows if not r.get("step") or float(r["step"]) < step]
        if len(kept) == len(rows):
            return
        out = io.StringIO()
        writer = csv.DictWriter(out, fieldnames=header, lineterminator="\n")
        writer.writeheader()
        writer.writerows(kept)
        write_text_atomic(path, out.getvalue())
