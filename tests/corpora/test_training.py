"""What `avseq prepare` writes trains as it is: a few steps on prepared LibriSpeech manifests
and on prepared HMDB51 annotation files (tiny models, CPU)."""

from __future__ import annotations

import math
from pathlib import Path

import pytest

from avseq.config import load_config
from avseq.data.corpora import prepare
from avseq.train import train
from tests.corpora import fakes
from tests.end_to_end.test_speech import TINY_MODEL as TINY_SPEECH
from tests.end_to_end.test_video import TINY_MODEL as TINY_VIDEO

COMMON = ["trainer.max_epochs=1", "logger.tensorboard=null", "trainer.log_every_n_steps=1"]


@pytest.mark.slow
def test_train_on_prepared_librispeech(tmp_path: Path) -> None:
    out = tmp_path / "manifests"
    prepare("librispeech", fakes.librispeech(tmp_path), out)
    train_manifest, dev = out / "train-clean-100.jsonl", out / "dev-clean.jsonl"
    cfg = load_config(
        [
            "experiment=speech",
            "data=manifests",
            f"data.train_manifest={train_manifest}",
            f"data.val_manifest={dev}",
            f"data.test_manifest={dev}",
            "data.num_workers=0",
            "data.batch_size=2",
            "callbacks.word_lm=null",
            f"paths.runs_dir={tmp_path / 'runs'}",
            *COMMON,
            *TINY_SPEECH,
        ]
    )
    result = train(cfg)
    assert Path(result["best_checkpoint"]).is_file() and math.isfinite(result["test/cer"])


@pytest.mark.slow
def test_train_on_prepared_hmdb51(tmp_path: Path) -> None:
    out = tmp_path / "annotations"
    prepare("hmdb51", fakes.hmdb51(tmp_path), out)
    cfg = load_config(
        [
            "experiment=video_action",
            "data.corpus=null",
            f"data.train_annotations={out / 'train.txt'}",
            f"data.val_annotations={out / 'test.txt'}",
            f"data.test_annotations={out / 'test.txt'}",
            "data.size=32",
            "data.num_frames=8",
            "data.batch_size=2",
            "data.num_workers=0",
            f"paths.runs_dir={tmp_path / 'runs'}",
            *COMMON,
            *TINY_VIDEO,
        ]
    )
    result = train(cfg)
    assert Path(result["best_checkpoint"]).is_file() and "test/acc" in result
