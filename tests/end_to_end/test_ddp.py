"""DDP on CPU (gloo), 2 processes, through the real configs and console entry point."""

from __future__ import annotations

import json
import math
import os
import subprocess
import sys
from pathlib import Path

import torch

from .test_speech import tiny_overrides


def train_in_subprocess(overrides: list[str]) -> dict:
    """`avseq train` in a fresh process (Lightning's DDP re-launches the command it runs)."""
    env = {**os.environ, "PYTHONUNBUFFERED": "1", "OMP_NUM_THREADS": "1"}
    env.pop("LOCAL_RANK", None)
    proc = subprocess.run(
        [sys.executable, "-m", "avseq.cli.main", "train", *overrides],
        capture_output=True,
        text=True,
        env=env,
        timeout=300,
    )
    assert proc.returncode == 0, proc.stderr[-3000:]
    return json.loads(proc.stdout[proc.stdout.index("{") :])


def test_ddp_two_processes_on_cpu(tiny_corpus, tmp_path: Path) -> None:
    overrides = tiny_overrides(
        tiny_corpus,
        tmp_path / "runs",
        "trainer=ddp",
        "trainer.accelerator=cpu",
        "trainer.devices=2",
        "trainer.precision=32-true",
        "trainer.limit_train_batches=null",
        "test=false",
    )
    result = train_in_subprocess(overrides)
    ckpt = torch.load(result["best_checkpoint"], weights_only=True)
    n_train = len(tiny_corpus.manifest("train").read_text().splitlines())
    # each of the 2 ranks took half of the bucketed batches of 8
    assert ckpt["global_step"] == math.ceil(math.ceil(n_train / 8) / 2)
    assert "val/wer" in (Path(result["run_dir"]) / "csv" / "metrics.csv").read_text()


def test_ddp_video_two_processes_on_cpu(tmp_path: Path) -> None:
    """The video task on the same trainer configs: Lightning's sampler shards the clips."""
    from avseq.data.synth.video import VideoCorpusSpec, generate_video_corpus

    from .test_video import overrides as video_overrides

    spec = VideoCorpusSpec(
        root=str(tmp_path / "clips"), n_train=24, n_val=12, n_test=12, n_comp=12, size=64
    )
    generate_video_corpus(spec)
    args = video_overrides(
        spec,
        tmp_path / "runs",
        "trainer=ddp",
        "trainer.accelerator=cpu",
        "trainer.devices=2",
        "trainer.precision=32-true",
        "test=false",
    )
    result = train_in_subprocess(args)
    ckpt = torch.load(result["best_checkpoint"], weights_only=True)
    assert ckpt["global_step"] == math.ceil(24 / 2 / 8)  # 12 clips per rank, batches of 8
    assert ckpt["avseq"]["kind"] == "video" and ckpt["avseq"]["vocab"] is not None
    assert "val/bleu4" in result and "val/slot_acc" in result  # caption metrics across ranks
