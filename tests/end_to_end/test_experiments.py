"""Every recipe under configs/experiment/ trains: each is composed as a user would run it, shrunk
to tiny sizes on tiny generated data, trained a few steps through `train(load_config(...))`, and
leaves a best checkpoint that the inference code rebuilds. A new experiment file is picked up by
the glob; one with a data module not listed in `tiny_overrides` fails until it is added there."""

from __future__ import annotations

import math
from pathlib import Path

import pytest
import torch
from omegaconf import DictConfig, OmegaConf

from avseq.config import load_config
from avseq.models.checkpoint import (
    checkpoint_task,
    load_checkpoint,
    load_frame_model,
    load_keyword_model,
    load_language_model,
    load_speech_model,
    load_video_model,
)
from avseq.text.tokenizer import tokenizer_from_dict
from avseq.train import train

from ..conftest import REPO
from .test_frames import overrides as frames_overrides
from .test_keyword import keyword_manifests  # noqa: F401 (the tiny labelled manifests fixture)
from .test_speech import TINY_LM, TINY_MODEL, corpus_overrides
from .test_speech_decoding import TINY_DECODER
from .test_video import overrides as video_overrides
from .test_video import video_corpus  # noqa: F401 (the tiny clips fixture)

EXPERIMENTS = sorted(p.stem for p in (REPO / "configs" / "experiment").glob("*.yaml"))
# the kind of checkpoint each data module's models write
KINDS = {"SpeechDataModule": "speech", "TextDataModule": "speech_lm", "VideoDataModule": "video"}
KINDS["KeywordDataModule"] = "keyword"
KINDS["FrameDataModule"] = "video_frames"

# a couple of steps of everything: fit, validation (so the checkpoint monitor is exercised),
# and the test stage where the recipe runs one
SHORT_RUN = [
    "trainer.max_epochs=1",
    "trainer.max_time=null",
    "trainer.limit_train_batches=2",
    "trainer.limit_val_batches=1",
    "+trainer.limit_test_batches=1",
    "trainer.log_every_n_steps=1",
    "logger.tensorboard=null",
]


def data_module(cfg: DictConfig) -> str:
    """The class name of a composed config's data module."""
    return cfg.data._target_.rsplit(".", 1)[-1]


def tiny_overrides(
    name: str, cfg: DictConfig, request: pytest.FixtureRequest, runs: Path
) -> list[str]:
    """Overrides that shrink experiment `name` (composed as `cfg`) to tiny sizes and data."""
    data = data_module(cfg)
    if data == "SpeechDataModule":
        joint = OmegaConf.select(cfg, "model.net.decoder") is not None
        model = [*TINY_MODEL, *(TINY_DECODER if joint else [])]
        sizes = ["data.batch_size=8", "data.num_workers=0", *model]
        corpus = request.getfixturevalue("tiny_corpus")
        if cfg.data.corpus is None:  # a recipe for a real corpus: the tiny corpus's manifests
            splits = {s: corpus.manifest(s) for s in ("train", "val", "test")}
            extra = [f"data.{s}_manifest={m}" for s, m in splits.items()] + sizes
        else:
            extra = [*corpus_overrides(corpus), *sizes]
    elif data == "KeywordDataModule":  # the tiny corpus's manifests with a label field
        manifests = request.getfixturevalue("keyword_manifests")
        extra = [f"data.{s}_manifest={m}" for s, m in manifests.items()]
        extra += ["data.batch_size=8", "data.num_workers=0", *TINY_MODEL]
    elif data == "FrameDataModule":  # the tiny clips, as a frame sequence each
        base = frames_overrides(request.getfixturevalue("video_corpus"), runs)
        extra = [o for o in base if not o.startswith("experiment=")]
    elif data == "TextDataModule":
        extra = [*corpus_overrides(request.getfixturevalue("tiny_corpus")), *TINY_LM]
        extra.append("data.batch_size=8")
    elif data == "VideoDataModule":
        # the tiny clips, clip and model sizes of the video end-to-end tests
        clips = request.getfixturevalue("video_corpus")
        base = video_overrides(clips, runs)
        extra = [o for o in base if not o.startswith("experiment=")]
        if cfg.data.corpus is None:  # a recipe for a real corpus: the tiny clips' files
            extra = [o for o in extra if not o.startswith("data.corpus.")]
            extra += [f"data.{s}_annotations={clips.annotations(s)}" for s in ("train", "val")]
            extra += [
                f"data.test_annotations={clips.annotations('test')}",
                f"data.classes={clips.classes}",
                "data.video_root=null",
                "model.net.frame_encoder.kind=cnn",
            ]
    else:
        pytest.fail(f"experiment={name}: no tiny overrides for {data}; add them in tiny_overrides")
    if cfg.trainer.accelerator != "cpu":  # a GPU recipe: everything else as configured
        extra += ["trainer.accelerator=cpu", "trainer.devices=1", "trainer.precision=32-true"]
        if cfg.trainer.get("strategy"):
            extra.append("trainer.strategy=auto")
    return [f"experiment={name}", *extra, *SHORT_RUN, f"paths.runs_dir={runs}"]


def rebuild(path: str) -> str:
    """Rebuilds the model of a checkpoint the way inference does; returns its kind."""
    kind = checkpoint_task(path)
    if kind == "speech":
        load_speech_model(path)
    elif kind == "speech_lm":
        meta = load_checkpoint(path, "speech_lm")["avseq"]
        load_language_model(path, tokenizer_from_dict(meta["tokenizer"]))
    elif kind == "keyword":
        load_keyword_model(path)
    elif kind == "video_frames":
        load_frame_model(path)
    else:
        load_video_model(path)
    return kind


def best_score(path: Path) -> tuple[str, float]:
    """(monitored metric, its best value) as the checkpoint's ModelCheckpoint state keeps them."""
    callbacks = torch.load(path, map_location="cpu", weights_only=True)["callbacks"]
    state = next(v for k, v in callbacks.items() if k.startswith("ModelCheckpoint"))
    return state["monitor"], float(state["best_model_score"])


def test_the_experiments_are_found() -> None:
    assert {"speech", "speech_lm", "video", "video_action"} <= set(EXPERIMENTS)


@pytest.mark.slow
@pytest.mark.parametrize("name", EXPERIMENTS)
def test_every_experiment_trains_and_writes_a_loadable_checkpoint(
    name: str, request: pytest.FixtureRequest, tmp_path: Path
) -> None:
    cfg = load_config([f"experiment={name}"])
    result = train(load_config(tiny_overrides(name, cfg, request, tmp_path)))
    best = Path(result["best_checkpoint"])
    assert best.is_file() and best.name == "best.ckpt"
    assert (best.parent / "last.ckpt").is_file()
    # the checkpoint policy watched a metric the model logs, and kept its best value
    monitor, score = best_score(best)
    assert monitor == cfg.callbacks.model_checkpoint.monitor and math.isfinite(score)
    assert rebuild(str(best)) == KINDS[data_module(cfg)]
