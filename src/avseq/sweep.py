"""`avseq train -m key=a,b,c ...`: a Hydra multirun. The sweep goes through Hydra's own app
(`hydra.main`), so its sweepers and launchers apply as they are (the basic grid by default;
`hydra/sweeper=optuna`, `hydra/launcher=submitit_slurm` with their plugins installed). Each job
is one `train(cfg)` in `runs/<task>/multirun/<time>/<job>`; the sweep folder gets a
`summary.json`/`summary.md` of every job's overrides and final metrics."""

from __future__ import annotations

import json
import logging
import math
import sys
from pathlib import Path
from typing import Any

from omegaconf import DictConfig, OmegaConf

from avseq.config import check_config, config_dir
from avseq.errors import AvseqError
from avseq.utils.io import write_text_atomic

log = logging.getLogger(__name__)
RESULT = "sweep_result.json"  # in each job's run folder


def objective(cfg: DictConfig, result: dict[str, Any]) -> float:
    """What a sweeper minimises or maximises: the metric the best checkpoint is chosen by."""
    monitor = OmegaConf.select(cfg, "callbacks.model_checkpoint.monitor", default=None)
    value = result.get(monitor) if monitor else None
    return float(value) if value is not None else math.nan


def run_job(cfg: DictConfig) -> float:
    """One job of a sweep: `train(cfg)` in the job's folder; a bad setting fails this job
    with one line and the sweep goes on."""
    from hydra.core.hydra_config import HydraConfig

    from avseq.train import train

    hydra = HydraConfig.get()
    overrides = list(hydra.overrides.task)
    OmegaConf.set_struct(cfg, False)
    cfg.paths.output_dir = hydra.runtime.output_dir
    record: dict[str, Any] = {"job": hydra.job.num, "overrides": overrides}
    log.info("sweep job %d: %s", hydra.job.num, " ".join(overrides))
    try:
        for warning in check_config(cfg, overrides):
            log.warning(warning)
        result = train(cfg)
        record.update(status="done", objective=objective(cfg, result), metrics=result)
    except AvseqError as err:
        print(f"error: job {hydra.job.num} ({' '.join(overrides)}): {err}", file=sys.stderr)
        record.update(status="failed", objective=math.nan, error=str(err))
    write_text_atomic(Path(cfg.paths.output_dir) / RESULT, json.dumps(record, indent=2) + "\n")
    return record["objective"]


def summarize(sweep_dir: Path) -> list[dict[str, Any]]:
    """Every job's record under `sweep_dir`, in job order; writes summary.json and .md."""
    jobs = [d for d in sweep_dir.iterdir() if d.is_dir() and not d.is_symlink()]  # not latest
    records = [json.loads((d / RESULT).read_text()) for d in jobs if (d / RESULT).is_file()]
    records.sort(key=lambda r: r["job"])
    lines = ["| job | overrides | status | objective |", "|---|---|---|---|"]
    for r in records:
        value = r["objective"]
        shown = "" if value is None or math.isnan(value) else f"{value:.4f}"
        lines.append(f"| {r['job']} | {' '.join(r['overrides'])} | {r['status']} | {shown} |")
    write_text_atomic(sweep_dir / "summary.json", json.dumps(records, indent=2) + "\n")
    write_text_atomic(sweep_dir / "summary.md", "\n".join(lines) + "\n")
    return records


def multirun(overrides: list[str]) -> int:
    """Runs the sweep that `overrides` describe (Hydra's override grammar: `a=1,2`,
    `range(...)`, `choice(...)`, ...); returns 0 when every job trained, else 1."""
    import hydra
    from hydra.core.hydra_config import HydraConfig

    sweep: dict[str, Path] = {}

    @hydra.main(config_path=str(config_dir()), config_name="train", version_base="1.3")
    def job(cfg: DictConfig) -> float:
        sweep.setdefault("dir", Path(HydraConfig.get().sweep.dir))
        return run_job(cfg)

    argv = sys.argv
    sys.argv = ["avseq train", "--multirun", *overrides]
    try:
        job()
    finally:
        sys.argv = argv
    if "dir" not in sweep:
        raise AvseqError("the sweep ran no job")
    records = summarize(sweep["dir"])
    print((sweep["dir"] / "summary.md").read_text())
    print(f"sweep folder: {sweep['dir']}")
    return 0 if all(r["status"] == "done" for r in records) else 1
