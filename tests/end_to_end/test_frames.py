"""Frame prediction end to end through the real Hydra config: train a tiny predictor on the
tiny clips, evaluate it against the baselines, write true and predicted frames side by side."""

from __future__ import annotations

import json
from pathlib import Path

import av
import pytest
import torch
from PIL import Image

from avseq.cli.main import main
from avseq.config import load_config
from avseq.data.synth.video import VideoCorpusSpec
from avseq.train import train

TINY_FRAMES = [
    "model.net.channels=[8,16]",
    "model.net.latent_size=32",
    "model.net.encoder.hidden_size=32",
]


def overrides(spec: VideoCorpusSpec, runs: Path, *extra: str) -> list[str]:
    return [
        "experiment=video_frames",
        f"data.corpus.root={spec.root}",
        *(f"data.corpus.{k}={getattr(spec, k)}" for k in ("n_train", "n_val", "n_test")),
        *(f"data.corpus.{k}={getattr(spec, k)}" for k in ("n_comp", "n_other", "size")),
        "data.size=32",
        "data.context_frames=4",
        "data.future_frames=2",
        "data.batch_size=8",
        "data.num_workers=0",
        f"paths.runs_dir={runs}",
        "trainer.max_epochs=1",
        "trainer.max_time=null",
        "logger.tensorboard=null",
        "trainer.log_every_n_steps=1",
        *TINY_FRAMES,
        *extra,
    ]


@pytest.fixture(scope="module")
def trained(tiny_video_corpus: VideoCorpusSpec, tmp_path_factory) -> dict:
    runs = tmp_path_factory.mktemp("frame_runs")
    result = train(load_config(overrides(tiny_video_corpus, runs)))
    return {"result": result, "best": Path(result["best_checkpoint"]), "spec": tiny_video_corpus}


@pytest.mark.slow
def test_training_writes_a_self_describing_checkpoint(trained: dict) -> None:
    assert {"test/psnr", "test/psnr_h1", "test/psnr_h2", "test/ssim_h2"} <= set(trained["result"])
    meta = torch.load(trained["best"], map_location="cpu", weights_only=True)["avseq"]
    assert meta["kind"] == "video_frames"
    clip = meta["clip"]
    assert (clip["size"], clip["context_frames"], clip["future_frames"]) == (32, 4, 2)
    assert Path(clip["test_annotations"]).is_file()
    assert meta["net"]["encoder"]["bidirectional"] is False


@pytest.mark.slow
def test_evaluate_scores_the_model_and_both_baselines_per_horizon(trained: dict, tmp_path) -> None:
    out = tmp_path / "eval"
    args = ["evaluate", "--checkpoint", str(trained["best"]), "--workers", "0"]
    assert main([*args, "--output-dir", str(out)]) == 0
    summary = json.loads((out / "summary.json").read_text())
    assert summary["clips"] == trained["spec"].n_test and summary["skipped"] == 0
    assert set(summary["scores"]) == {"model", "copy_last", "linear_extrapolation"}
    for scores in summary["scores"].values():
        assert len(scores["psnr"]) == len(scores["ssim"]) == 2
    # the same test split, the same numbers as the trainer's test stage
    assert summary["scores"]["model"]["psnr"][0] == pytest.approx(
        trained["result"]["test/psnr_h1"], abs=1e-3
    )
    rows = (out / "predictions.jsonl").read_text().splitlines()
    assert len(rows) == summary["clips"] and "psnr_copy_last" in json.loads(rows[0])
    assert "| 2 |" in (out / "summary.md").read_text()


@pytest.mark.slow
def test_predict_frames_writes_gif_mp4_and_png(trained: dict, tmp_path, capsys) -> None:
    video = sorted(Path(trained["spec"].path, "clips", "test").glob("*.mp4"))[0]
    ckpt = str(trained["best"])
    command = ["predict-frames", str(video), "--checkpoint", ckpt, "--output"]
    for name in ("out.gif", "out.mp4", "strip.png"):
        assert main([*command, str(tmp_path / name)]) == 0
    result = json.loads(capsys.readouterr().out.splitlines()[0])
    assert len(result["psnr"]) == len(result["psnr_copy_last"]) == 2
    with Image.open(tmp_path / "out.gif") as gif:
        assert gif.n_frames == 6  # 4 seen + 2 predicted, true beside predicted
        assert gif.size[0] == 2 * gif.size[1]
    with av.open(str(tmp_path / "out.mp4")) as container:
        assert sum(1 for _ in container.decode(video=0)) == 6
    with Image.open(tmp_path / "strip.png") as png:
        assert png.size[0] == 3 * png.size[1]  # 2 rows of 6 frames
    assert main([*command, "x.avi"]) == 2
    assert "--output x.avi" in capsys.readouterr().err
