"""Run folders: where a run writes, `runs/<task>/latest`, which runs finished, and which run
`ckpt_path=last` continues."""

from __future__ import annotations

import json
import os
import time
from dataclasses import dataclass
from pathlib import Path

import torch
from omegaconf import DictConfig

from avseq.errors import AvseqError
from avseq.utils.io import write_text_atomic

RUN_DIR_ENV = "AVSEQ_RUN_DIR"  # shared with DDP child processes, which re-run the command
FINISHED = "finished.json"  # written in a run folder when its training ended normally
LAST = Path("checkpoints") / "last.ckpt"


@dataclass(frozen=True)
class RunPlan:
    """Where a run writes and what it starts from.

    Attributes:
        run_dir: the run folder.
        ckpt_path: the checkpoint to resume from, or None for a fresh start.
        continues: True when the run continues the unfinished run in `run_dir`
            (`ckpt_path=last`): its logs are appended to, not started again.
    """

    run_dir: Path
    ckpt_path: str | None
    continues: bool


def new_run_dir(cfg: DictConfig) -> Path:
    """runs/<task>/<timestamp>, made unique when two runs start in the same second."""
    stamp = time.strftime("%Y-%m-%d_%H-%M-%S")
    run_dir = Path(cfg.paths.runs_dir) / cfg.task_name / stamp
    for n in range(1, 100):
        if not run_dir.exists():
            break
        run_dir = run_dir.with_name(f"{stamp}-{n}")
    return run_dir


def is_finished(run_dir: Path) -> bool:
    return (run_dir / FINISHED).is_file()


def runs_with_checkpoint(task_dir: Path) -> list[Path]:
    """The run folders of a task that hold a last.ckpt, the most recently written first."""
    if not task_dir.is_dir():
        return []
    runs = [
        d
        for d in task_dir.iterdir()
        if d.is_dir() and not d.is_symlink() and not d.name.startswith(".") and (d / LAST).is_file()
    ]
    return sorted(runs, key=lambda d: (d / LAST).stat().st_mtime, reverse=True)


def _no_unfinished_run(where: Path, finished: list[Path]) -> AvseqError:
    if finished:
        how = (
            f"to continue a finished run, resume it explicitly (in a new run folder): "
            f"ckpt_path={finished[0] / LAST}"
        )
    else:
        how = "train once without ckpt_path"
    return AvseqError(f"ckpt_path=last: no unfinished run with a last.ckpt in {where}; {how}")


def plan_run(cfg: DictConfig) -> RunPlan:
    """The run folder and checkpoint of this run.

    `ckpt_path=last` continues the newest unfinished run of the task (the one whose
    last.ckpt was written most recently, among the runs under runs/<task>/ without a
    `finished.json`; or paths.output_dir when set) in its own folder. `ckpt_path=FILE` starts
    a new run folder from that checkpoint. A DDP child process takes its parent's choice.

    Raises:
        AvseqError: no unfinished run to continue, or no such checkpoint file.
    """
    ckpt = cfg.get("ckpt_path") or None
    env_dir = os.environ.get(RUN_DIR_ENV)
    if int(os.environ.get("LOCAL_RANK", 0)) > 0 and env_dir and not cfg.paths.get("output_dir"):
        run_dir = Path(env_dir)
        if ckpt == "last":
            return RunPlan(run_dir, str(run_dir / LAST), continues=True)
        return RunPlan(run_dir, ckpt, continues=False)
    if ckpt == "last":
        if cfg.paths.get("output_dir"):
            where = Path(cfg.paths.output_dir)
            candidates = [where] if (where / LAST).is_file() else []
        else:
            where = Path(cfg.paths.runs_dir) / cfg.task_name
            candidates = runs_with_checkpoint(where)
        unfinished = [d for d in candidates if not is_finished(d)]
        if not unfinished:
            raise _no_unfinished_run(where, candidates)
        plan = RunPlan(unfinished[0], str(unfinished[0] / LAST), continues=True)
    else:
        if ckpt and not Path(ckpt).is_file():
            raise AvseqError(
                f"ckpt_path={ckpt}: no such checkpoint; give an existing .ckpt file, "
                "or ckpt_path=last to continue the newest unfinished run"
            )
        if ckpt:  # through runs/<task>/latest, which is about to point at this new run
            ckpt = str(Path(ckpt).resolve())
        out = cfg.paths.get("output_dir")
        plan = RunPlan(Path(out) if out else new_run_dir(cfg), ckpt, continues=False)
    os.environ[RUN_DIR_ENV] = str(plan.run_dir)
    return plan


def checkpoint_step(path: str) -> int:
    """The global step a checkpoint was written at (read lazily: the file is memory-mapped)."""
    return int(torch.load(path, map_location="cpu", weights_only=True, mmap=True)["global_step"])


def link_latest(run_dir: Path) -> None:
    """Points runs/<task>/latest at `run_dir` (atomically replaced)."""
    latest = run_dir.parent / "latest"
    tmp = run_dir.parent / f".latest-{os.getpid()}"
    tmp.unlink(missing_ok=True)
    tmp.symlink_to(run_dir.name)
    tmp.replace(latest)


def mark_finished(run_dir: Path, epoch: int, global_step: int) -> None:
    """Marks a run whose training ended normally: `ckpt_path=last` passes it by."""
    record = {"epoch": epoch, "global_step": global_step, "time": time.strftime("%FT%T")}
    write_text_atomic(run_dir / FINISHED, json.dumps(record) + "\n")
