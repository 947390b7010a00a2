"""Shared fixtures: tiny generated audio and corpora, nothing downloaded."""

from __future__ import annotations

import json
import shutil
from pathlib import Path

import numpy as np
import pytest
import soundfile as sf

from avseq.data.synth.speech import CorpusSpec, generate_corpus

REPO = Path(__file__).resolve().parents[1]

needs_espeak = pytest.mark.skipif(
    shutil.which("espeak-ng") is None, reason="espeak-ng is not installed (make setup installs it)"
)


def write_tone(
    path: Path, seconds: float = 1.0, rate: int = 16000, channels: int = 1, freq: float = 440.0
) -> Path:
    t = np.arange(int(seconds * rate)) / rate
    wave = 0.3 * np.sin(2 * np.pi * freq * t)
    data = np.stack([wave] * channels, axis=1) if channels > 1 else wave
    sf.write(str(path), data, rate)
    return path


def write_manifest(path: Path, entries: list[dict]) -> Path:
    path.write_text("".join(json.dumps(e) + "\n" for e in entries))
    return path


@pytest.fixture(scope="session")
def tiny_corpus(tmp_path_factory) -> CorpusSpec:
    """A ~2-minute built-in corpus (train) shared by the end-to-end tests: both synthesizers."""
    for program in ("espeak-ng", "flite"):
        if shutil.which(program) is None:
            pytest.skip(f"{program} is not installed (make setup installs it)")
    root = tmp_path_factory.mktemp("corpus")
    spec = CorpusSpec(
        root=str(root),
        train_hours=0.03,
        val_hours=0.006,
        test_hours=0.006,
        unseen_hours=0.004,
        seed=3,
    )
    generate_corpus(spec)
    return spec


@pytest.fixture(scope="session")
def tiny_speech_checkpoint(tiny_corpus: CorpusSpec, tmp_path_factory) -> Path:
    """A tiny recognizer trained for a few steps on `tiny_corpus` (best.ckpt), shared by the
    export and server tests."""
    from avseq.config import load_config
    from avseq.train import train

    from .end_to_end.test_speech import tiny_overrides

    runs = tmp_path_factory.mktemp("speech_runs")
    train(load_config(tiny_overrides(tiny_corpus, runs)))
    return next(runs.rglob("best.ckpt"))


@pytest.fixture(scope="session")
def tiny_video_corpus(tmp_path_factory):
    """A few built-in clips per split (actions and captions)."""
    from avseq.data.synth.video import VideoCorpusSpec, generate_video_corpus

    root = tmp_path_factory.mktemp("clips")
    sizes = {"n_train": 24, "n_val": 12, "n_test": 12, "n_comp": 12, "n_other": 12}
    spec = VideoCorpusSpec(root=str(root), size=64, **sizes)
    generate_video_corpus(spec)
    return spec


@pytest.fixture(scope="session")
def tiny_video_checkpoint(tiny_video_corpus, tmp_path_factory) -> Path:
    """A tiny joint action + caption model trained one epoch on `tiny_video_corpus`."""
    from avseq.config import load_config
    from avseq.train import train

    from .end_to_end.test_video import overrides

    runs = tmp_path_factory.mktemp("video_runs")
    train(load_config(overrides(tiny_video_corpus, runs)))
    return next(runs.rglob("best.ckpt"))
