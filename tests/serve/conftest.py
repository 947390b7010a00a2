"""Server fixtures: tiny trained models (each trained once per session), generated media, and
stub predictors for the limit tests that need no model."""

from __future__ import annotations

import json
import time
import warnings
from pathlib import Path

import numpy as np
import pytest

from avseq.config import load_config
from avseq.data.synth.speech import CorpusSpec
from avseq.data.synth.video import VideoCorpusSpec
from avseq.inference.speech import DecodeOptions
from avseq.media.video import write_mp4
from avseq.serve.predictors import Predictors, load_predictors
from avseq.train import train

from ..end_to_end.test_speech import tiny_overrides
from ..end_to_end.test_speech_decoding import TINY_JOINT
from ..end_to_end.test_video import overrides as video_overrides

with warnings.catch_warnings():  # Starlette's notice that its test client will move to httpx2
    warnings.simplefilter("ignore")
    import fastapi.testclient  # noqa: F401


@pytest.fixture(scope="session")
def speech_checkpoint(tiny_corpus: CorpusSpec, tmp_path_factory) -> str:
    """A tiny joint CTC/attention model: word times from CTC, an alignment from attention."""
    runs = tmp_path_factory.mktemp("serve-speech-runs")
    extra = (*TINY_JOINT, "trainer.limit_train_batches=2", "test=false")
    return train(load_config(tiny_overrides(tiny_corpus, runs, *extra)))["best_checkpoint"]


@pytest.fixture(scope="session")
def video_spec(tiny_video_corpus: VideoCorpusSpec) -> VideoCorpusSpec:
    return tiny_video_corpus


@pytest.fixture(scope="session")
def video_checkpoint(tiny_video_checkpoint: Path) -> str:
    """A tiny joint action + caption model."""
    return str(tiny_video_checkpoint)


@pytest.fixture(scope="session")
def action_checkpoint(video_spec: VideoCorpusSpec, tmp_path_factory) -> str:
    """A tiny action recognizer without a caption decoder."""
    runs = tmp_path_factory.mktemp("serve-action-runs")
    extra = ("experiment=video_action", "data.size=32", "trainer.max_epochs=1")
    extra += ("trainer.limit_train_batches=2", "test=false")
    return train(load_config(video_overrides(video_spec, runs, *extra)))["best_checkpoint"]


@pytest.fixture(scope="session")
def speech_wav(tiny_corpus: CorpusSpec) -> Path:
    """A synthesized test utterance of the tiny corpus."""
    manifest = Path(tiny_corpus.manifest("test"))
    entry = json.loads(manifest.read_text().splitlines()[0])
    return manifest.parent / entry["audio_filepath"]


@pytest.fixture(scope="session")
def video_mp4(video_spec: VideoCorpusSpec) -> Path:
    """A clip of the tiny video corpus."""
    first = video_spec.annotations("test").read_text().split()[0]
    return video_spec.path / first


@pytest.fixture(scope="session")
def long_mp4(tmp_path_factory) -> Path:
    """An 8 s video (longer than the clips trained on): labelled window by window."""
    path = tmp_path_factory.mktemp("long") / "long.mp4"
    t = np.arange(64)[:, None, None, None]
    x = np.arange(48)[None, None, :, None]
    frames = np.broadcast_to(((x * 5 + t * 3) % 256).astype(np.uint8), (64, 48, 48, 3))
    write_mp4(path, np.ascontiguousarray(frames), fps=8)
    return path


@pytest.fixture(scope="session")
def predictors(speech_checkpoint: str, video_checkpoint: str) -> Predictors:
    return load_predictors(speech_checkpoint, video_checkpoint, DecodeOptions(), "cpu")


def wait_until_idle(app, seconds: float = 10.0) -> None:
    """Waits for work still running after its request was answered (a timed-out job)."""
    end = time.monotonic() + seconds
    while app.state.pool.in_progress() and time.monotonic() < end:
        time.sleep(0.02)
