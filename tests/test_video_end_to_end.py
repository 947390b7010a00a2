"""Action recognition end to end through the real Hydra config: train, evaluate, classify."""

from __future__ import annotations

import itertools
import json
import subprocess
import sys
from pathlib import Path

import av
import numpy as np
import pytest
import torch

from avseq.cli.main import main
from avseq.config import load_config
from avseq.data.synth_video import ACTIONS, VideoCorpusSpec, generate_video_corpus
from avseq.train import train

TINY_MODEL = [
    "model.net.frame_encoder.channels=[8,16,16,16]",
    "model.net.frame_encoder.out_dim=32",
    "model.net.hidden_size=16",
]


@pytest.fixture(scope="module")
def video_corpus(tmp_path_factory) -> VideoCorpusSpec:
    root = tmp_path_factory.mktemp("clips")
    spec = VideoCorpusSpec(root=str(root), n_train=24, n_val=12, n_test=12, n_comp=12, size=64)
    generate_video_corpus(spec)
    return spec


def overrides(spec: VideoCorpusSpec, runs: Path, *extra: str) -> list[str]:
    return [
        "experiment=video_action",
        f"data.corpus.root={spec.root}",
        f"data.corpus.n_train={spec.n_train}",
        f"data.corpus.n_val={spec.n_val}",
        f"data.corpus.n_test={spec.n_test}",
        f"data.corpus.n_comp={spec.n_comp}",
        f"data.corpus.size={spec.size}",
        "data.size=32",
        "data.num_frames=8",
        "data.batch_size=8",
        "data.num_workers=0",
        f"paths.runs_dir={runs}",
        "trainer.max_epochs=1",
        "logger.tensorboard=null",
        "trainer.log_every_n_steps=1",
        *TINY_MODEL,
        *extra,
    ]


@pytest.fixture(scope="module")
def trained(video_corpus: VideoCorpusSpec, tmp_path_factory) -> dict:
    runs = tmp_path_factory.mktemp("runs")
    result = train(load_config(overrides(video_corpus, runs)))
    return {"result": result, "runs": runs, "spec": video_corpus}


def test_training_writes_checkpoints_with_classes_and_clip_settings(trained: dict) -> None:
    best = Path(trained["result"]["best_checkpoint"])
    assert best.is_file() and (best.parent / "last.ckpt").is_file()
    assert "test/acc" in trained["result"] and "test/top5" in trained["result"]
    ckpt = torch.load(best, map_location="cpu", weights_only=True)
    meta = ckpt["avseq"]
    assert meta["task"] == "video_action" and meta["classes"] == list(ACTIONS)
    assert meta["clip"]["size"] == 32 and meta["clip"]["num_frames"] == 8
    assert Path(meta["clip"]["test_annotations"]).is_file()


def test_evaluate_reports_accuracy_confusion_and_order_check(trained: dict, capsys) -> None:
    ckpt = trained["result"]["best_checkpoint"]
    out = Path(trained["runs"]) / "eval"
    code = main(
        [
            "evaluate",
            "--checkpoint",
            ckpt,
            "--output-dir",
            str(out),
            "--views",
            "2",
            "--workers",
            "0",
        ]
    )
    assert code == 0
    summary = json.loads((out / "summary.json").read_text())
    assert summary["clips"] == trained["spec"].n_test
    assert 0 <= summary["top1"] <= summary["top5"] <= 1
    assert set(summary["per_class"]) == set(ACTIONS)
    order = summary["temporal_order_check"]
    assert order["clips"] == 10  # 12 balanced test clips; bounce and stay are not reversible
    rows = [json.loads(line) for line in (out / "predictions.jsonl").read_text().splitlines()]
    assert len(rows) == summary["clips"]
    assert all(len(r["top5"]) == 5 and abs(sum(r["attention"]) - 1) < 1e-3 for r in rows)
    assert sum("reversed_prediction" in r for r in rows) == 10
    png = (out / "confusion_matrix.png").read_bytes()
    assert png.startswith(b"\x89PNG")
    assert "top-1" in capsys.readouterr().out


def write_ffmpeg_style_video(path: Path, seconds: float, fps: int, codec: str, size: tuple) -> Path:
    """A video from PyAV's encoder directly (not the generator): a square moving left."""
    w, h = size
    with av.open(str(path), "w") as out:
        stream = out.add_stream(codec, rate=fps)
        stream.width, stream.height, stream.pix_fmt = w, h, "yuv420p"
        n = int(seconds * fps)
        for i in range(n):
            img = np.full((h, w, 3), 30, np.uint8)
            x = int((w - 60) * (1 - i / n))
            img[h // 2 - 30 : h // 2 + 30, x : x + 60] = (230, 40, 40)
            for packet in stream.encode(av.VideoFrame.from_ndarray(img, format="rgb24")):
                out.mux(packet)
        for packet in stream.encode():
            out.mux(packet)
    return path


def test_classify_short_and_long_videos_of_any_format(trained: dict, tmp_path, capsys) -> None:
    ckpt = trained["result"]["best_checkpoint"]
    short = write_ffmpeg_style_video(tmp_path / "short.webm", 2.0, 24, "libvpx-vp9", (160, 120))
    long = write_ffmpeg_style_video(tmp_path / "long.mp4", 12.0, 30, "libx264", (320, 180))
    code = main(["classify", "--checkpoint", ckpt, str(short), str(long), "--top-k", "3"])
    assert code == 0
    lines = [json.loads(x) for x in capsys.readouterr().out.splitlines() if x.startswith("{")]
    assert [Path(r["video"]).name for r in lines] == ["short.webm", "long.mp4"]
    assert len(lines[0]["labels"]) == 3 and "windows" not in lines[0]
    assert all(lab["label"] in ACTIONS for lab in lines[0]["labels"])
    windows = lines[1]["windows"]
    assert len(windows) >= 8  # 12 s in half-overlapping windows of the training clip length
    assert windows[0]["start"] == 0 and windows[-1]["end"] == pytest.approx(12.0, abs=0.2)
    assert all(a["start"] < b["start"] for a, b in itertools.pairwise(windows))


def test_classify_reports_bad_files_and_keeps_going(trained: dict, tmp_path, capsys) -> None:
    ckpt = trained["result"]["best_checkpoint"]
    good = write_ffmpeg_style_video(tmp_path / "ok.mp4", 1.0, 10, "libx264", (64, 64))
    bad = tmp_path / "broken.mp4"
    bad.write_text("nope")
    out = tmp_path / "labels.jsonl"
    code = main(["classify", "--checkpoint", ckpt, str(bad), str(good), "--output", str(out)])
    assert code == 1  # a file failed
    assert "broken.mp4" in capsys.readouterr().err
    assert [json.loads(x)["video"] for x in out.read_text().splitlines()] == [str(good)]


def test_a_speech_checkpoint_is_refused_by_classify(trained: dict, tmp_path, capsys) -> None:
    ckpt = torch.load(trained["result"]["best_checkpoint"], weights_only=True)
    ckpt["avseq"]["task"] = "speech"
    torch.save(ckpt, tmp_path / "speech.ckpt")
    code = main(["classify", "--checkpoint", str(tmp_path / "speech.ckpt"), "x.mp4"])
    assert code == 2
    assert "'speech' checkpoint" in capsys.readouterr().err


def test_check_data_on_annotations(trained: dict, tmp_path, capsys) -> None:
    spec = trained["spec"]
    assert main(["check-data", str(spec.annotations("val"))]) == 0
    assert "12 usable videos, 0 problem(s)" in capsys.readouterr().out
    lines = spec.annotations("val").read_text().splitlines()
    broken = spec.path / "broken.txt"
    broken.write_text("\n".join([lines[0], "clips/none.mp4 0", "clips/x.mp4 no_such_class"]))
    assert main(["check-data", str(broken)]) == 1
    out = capsys.readouterr().out
    assert "broken.txt:2" in out and "broken.txt:3: unknown label 'no_such_class'" in out


def test_check_mode_stops_before_training_on_a_bad_video(trained: dict, tmp_path, capsys):
    spec = trained["spec"]
    lines = spec.annotations("train").read_text().splitlines()
    bad = Path(spec.path) / "bad_train.txt"
    bad.write_text("\n".join([*lines[:4], "clips/missing.mp4 3"]) + "\n")
    args = overrides(spec, tmp_path, f"data.train_annotations={bad}", "data.on_bad_item=check")
    proc = subprocess.run(
        [sys.executable, "-m", "avseq.cli.main", "train", *args],
        capture_output=True,
        text=True,
        timeout=300,
    )
    assert proc.returncode == 2
    assert "bad_train.txt:5" in proc.stderr and "no such video file" in proc.stderr


def test_frozen_frame_encoder_caches_features_once(video_corpus, tmp_path) -> None:
    args = overrides(
        video_corpus,
        tmp_path / "runs",
        f"paths.data_dir={tmp_path}",
        "model.net.frame_encoder.freeze=true",
        "test=false",
    )
    first = train(load_config(args))
    cache = tmp_path / "feature_cache"
    files = sorted(cache.glob("*.pt"))
    assert [f.name.split("-")[0] for f in files] == ["train", "val"]
    data = torch.load(files[0], map_location="cpu", weights_only=True)
    assert len(data["features"]) == video_corpus.n_train
    assert data["features"][0].shape == (8, 32)  # num_frames x frame feature size
    stamps = [f.stat().st_mtime_ns for f in files]
    second = train(load_config(args))
    assert [f.stat().st_mtime_ns for f in sorted(cache.glob("*.pt"))] == stamps  # reused
    assert second["val/acc"] == pytest.approx(first["val/acc"])
    # the frozen encoder's checkpoint classifies from frames like any other
    ckpt = torch.load(second["best_checkpoint"], map_location="cpu", weights_only=True)
    assert ckpt["avseq"]["net"]["frame_encoder"]["freeze"] is True
