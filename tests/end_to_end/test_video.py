"""The video model end to end through the real Hydra config: train the joint action +
caption model, evaluate, classify, caption; captions-only training on MSR-VTT-style data."""

from __future__ import annotations

import itertools
import json
import shutil
import subprocess
import sys
from pathlib import Path

import av
import numpy as np
import pytest
import torch

from avseq.cli.main import main
from avseq.config import load_config
from avseq.data.synth.video import VideoCorpusSpec
from avseq.text.video_language import ACTIONS
from avseq.train import train

TINY_MODEL = [
    "model.net.frame_encoder.channels=[8,16,16,16]",
    "model.net.frame_encoder.out_dim=32",
    "model.net.encoder.hidden_size=16",
]


@pytest.fixture(scope="module")
def video_corpus(tiny_video_corpus: VideoCorpusSpec) -> VideoCorpusSpec:
    return tiny_video_corpus


def overrides(spec: VideoCorpusSpec, runs: Path, *extra: str) -> list[str]:
    return [
        "experiment=video",
        f"data.corpus.root={spec.root}",
        f"data.corpus.n_train={spec.n_train}",
        f"data.corpus.n_val={spec.n_val}",
        f"data.corpus.n_test={spec.n_test}",
        f"data.corpus.n_comp={spec.n_comp}",
        f"data.corpus.n_other={spec.n_other}",
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
    assert meta["kind"] == "video" and meta["classes"] == list(ACTIONS)
    assert meta["clip"]["size"] == 32 and meta["clip"]["num_frames"] == 8
    assert Path(meta["clip"]["test_annotations"]).is_file()
    assert Path(meta["clip"]["captions"]).is_file()
    assert meta["vocab"]["type"] == "words" and "counterclockwise" in meta["vocab"]["tokens"]
    assert {"test/bleu4", "test/slot_acc", "test/caption_loss"} <= set(trained["result"])


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
    printed = capsys.readouterr().out
    assert "top-1" in printed and "BLEU-4" in printed and "slot accuracy" in printed
    # the joint model's captions, scored in the same folder
    captions = json.loads((out / "caption_summary.json").read_text())
    assert captions["videos"] == trained["spec"].n_test and captions["beam"] == 5
    for key in ("bleu1", "bleu4", "rouge_l", "cider_d"):
        assert 0 <= captions[key] <= (10 if key == "cider_d" else 1)
    assert 0 <= captions["slot_accuracy"] <= 1 and captions["slot_videos"] == captions["videos"]
    lines = (out / "caption_predictions.jsonl").read_text().splitlines()
    rows = [json.loads(line) for line in lines]
    assert len(rows) == captions["videos"]
    assert all(isinstance(r["caption"], str) and len(r["references"]) == 10 for r in rows)


def test_evaluate_the_compositional_and_other_renderer_splits(trained: dict, tmp_path) -> None:
    spec = trained["spec"]
    ckpt = trained["result"]["best_checkpoint"]
    args = ["evaluate", "--checkpoint", ckpt, "--workers", "0", "--beam", "1"]
    args += ["--captions", str(spec.captions), "--split", "test_comp"]
    assert main([*args, "--output-dir", str(tmp_path)]) == 0
    summary = json.loads((tmp_path / "caption_summary.json").read_text())
    assert summary["videos"] == spec.n_comp and summary["beam"] == 1
    assert not (tmp_path / "summary.json").exists()  # no labelled list given: captions only
    assert main([*args[:-4], "--split", "test_other"]) == 0  # actions and captions, by name
    out = Path(ckpt).parent.parent / "eval" / f"{Path(ckpt).stem}-test_other"
    rows = [json.loads(x) for x in (out / "predictions.jsonl").read_text().splitlines()]
    assert len(rows) == spec.n_other and all("/clips/test_other/" in r["video"] for r in rows)
    assert json.loads((out / "caption_summary.json").read_text())["slot_videos"] == spec.n_other


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
    ckpt["avseq"]["kind"] = "speech"
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


def test_caption_greedy_and_beam_with_attention_plots(trained: dict, tmp_path, capsys) -> None:
    ckpt = trained["result"]["best_checkpoint"]
    other = write_ffmpeg_style_video(tmp_path / "other.webm", 2.0, 24, "libvpx-vp9", (160, 120))
    builtin = sorted((trained["spec"].path / "clips" / "test").glob("*.mp4"))[0]
    (tmp_path / "again").mkdir()
    same_name = shutil.copy(builtin, tmp_path / "again" / builtin.name)
    plots = tmp_path / "plots"
    results = {}
    for beam in ("1", "5"):
        inputs = [str(other), str(builtin), str(same_name)]
        args = ["caption", "--checkpoint", ckpt, *inputs, "--beam", beam]
        assert main([*args, "--attention-plot", str(plots), "--max-words", "8"]) == 0
        out = capsys.readouterr().out
        results[beam] = [json.loads(x) for x in out.splitlines() if x.startswith("{")]
    for beam, rows in results.items():
        assert [Path(r["video"]).name for r in rows] == ["other.webm", *[builtin.name] * 2]
        for r in rows:
            assert isinstance(r["caption"], str) and len(r["caption"].split()) <= 8
            assert Path(r["attention_plot"]).read_bytes().startswith(b"\x89PNG")
        assert ("alternatives" in rows[0]) == (beam == "5")
    assert len(results["5"][0]["alternatives"]) == 4
    assert results["5"][0]["score"] >= max(a["score"] for a in results["5"][0]["alternatives"])
    # two inputs of the same name: two plots, neither overwriting the other
    assert sorted(p.name for p in plots.iterdir()) == sorted(
        [f"{builtin.stem}.attention.png", f"{builtin.stem}-2.attention.png", "other.attention.png"]
    )


def strip_head(ckpt_path: str, out: Path, head: str) -> Path:
    """The joint checkpoint without its action head or caption decoder (a one-task model)."""
    ckpt = torch.load(ckpt_path, map_location="cpu", weights_only=True)
    prefixes = {"head": ("net.head.",), "decoder": ("net.decoder.", "net.concepts.")}[head]
    ckpt["state_dict"] = {k: v for k, v in ckpt["state_dict"].items() if not k.startswith(prefixes)}
    if head == "head":
        ckpt["avseq"]["classes"], ckpt["avseq"]["net"]["num_classes"] = [], 0
    else:
        ckpt["avseq"]["vocab"], ckpt["avseq"]["net"]["vocab_size"] = None, 0
        ckpt["avseq"]["net"]["concepts"] = False
    torch.save(ckpt, out)
    return out


def test_one_task_checkpoints_are_refused_by_the_other_command(trained, tmp_path, capsys):
    ckpt = trained["result"]["best_checkpoint"]
    video = write_ffmpeg_style_video(tmp_path / "v.mp4", 1.0, 10, "libx264", (64, 64))
    captioner = strip_head(ckpt, tmp_path / "captioner.ckpt", "head")
    assert main(["classify", "--checkpoint", str(captioner), str(video)]) == 2
    assert "no action head" in capsys.readouterr().err
    assert main(["caption", "--checkpoint", str(captioner), str(video)]) == 0
    classifier = strip_head(ckpt, tmp_path / "classifier.ckpt", "decoder")
    assert main(["caption", "--checkpoint", str(classifier), str(video)]) == 2
    assert "no caption decoder" in capsys.readouterr().err
    assert main(["classify", "--checkpoint", str(classifier), str(video)]) == 0


def msrvtt_from_builtin(spec: VideoCorpusSpec, out: Path, drop: int = 0) -> Path:
    """The built-in clips as an MSR-VTT-style dataset: ids only (videos found by id in a
    folder), MSR-VTT split names, no labels."""
    data = json.loads(spec.captions.read_text())
    split_names = {"train": "train", "val": "validate", "test": "test"}
    videos = [
        {"video_id": v["video_id"], "split": split_names[v["split"]]}
        for v in data["videos"]
        if v["split"] in split_names
    ]
    keep = {v["video_id"] for v in videos}
    sentences = [s for s in data["sentences"] if s["video_id"] in keep]
    if drop:
        sentences = [s for s in sentences if s["video_id"] not in {"train_000001"}]
    path = out / "msrvtt.json"
    path.write_text(json.dumps({"videos": videos, "sentences": sentences}))
    return path


def test_captions_only_training_on_msrvtt_style_data(video_corpus, tmp_path, capsys) -> None:
    captions = msrvtt_from_builtin(video_corpus, tmp_path)
    args = overrides(
        video_corpus,
        tmp_path / "runs",
        "experiment=video_caption",
        "data.corpus=null",
        f"data.captions={captions}",
        f"data.video_root={video_corpus.path / 'clips'}",
        "data.vocab_min_count=2",
        "model.concept_weight=1.0",
        "model.net.frame_skip=true",
    )
    result = train(load_config(args))
    assert "test/bleu4" in result and "test/acc" not in result
    ckpt = torch.load(result["best_checkpoint"], map_location="cpu", weights_only=True)
    meta = ckpt["avseq"]
    assert meta["classes"] == [] and meta["net"]["num_classes"] == 0
    assert meta["net"]["concepts"] is True
    header = (Path(result["run_dir"]) / "csv" / "metrics.csv").read_text().splitlines()[0]
    assert "train/concept_loss" in header.split(",")
    assert 20 < len(meta["vocab"]["tokens"]) < 123  # rare words left out (min count 2)
    out = tmp_path / "eval"
    code = main(["evaluate", "--checkpoint", result["best_checkpoint"], "--workers", "0"])
    assert code == 0
    assert "BLEU-4" in capsys.readouterr().out
    code = main(
        [
            "evaluate",
            "--checkpoint",
            result["best_checkpoint"],
            "--workers",
            "0",
            "--split",
            "val",
            "--output-dir",
            str(out),
        ]
    )
    assert code == 0
    assert json.loads((out / "caption_summary.json").read_text())["videos"] == video_corpus.n_val


def test_bad_captions_fail_up_front_or_are_skipped(video_corpus, tmp_path) -> None:
    captions = msrvtt_from_builtin(video_corpus, tmp_path, drop=1)
    data = json.loads(captions.read_text())
    data["videos"].append({"video_id": "no_such_clip", "split": "train"})
    captions.write_text(json.dumps(data))
    base = [
        "experiment=video_caption",
        "data.corpus=null",
        f"data.captions={captions}",
        f"data.video_root={video_corpus.path / 'clips'}",
    ]
    check = overrides(video_corpus, tmp_path / "a", *base, "data.on_bad_item=check")
    proc = subprocess.run(
        [sys.executable, "-m", "avseq.cli.main", "train", *check],
        capture_output=True,
        text=True,
        timeout=300,
    )
    assert proc.returncode == 2
    err = proc.stderr.strip().splitlines()[-1]
    assert "msrvtt.json" in err and "2 bad item(s)" in err and "avseq check-data" in err
    result = train(load_config(overrides(video_corpus, tmp_path / "b", *base, "test=false")))
    assert Path(result["best_checkpoint"]).is_file()  # skipped, training went on
    broken = tmp_path / "broken.json"
    broken.write_text('{"videos": [}')
    bad = overrides(video_corpus, tmp_path / "c", *base[:-2], f"data.captions={broken}")
    proc = subprocess.run(
        [sys.executable, "-m", "avseq.cli.main", "train", *bad],
        capture_output=True,
        text=True,
        timeout=300,
    )
    assert proc.returncode == 2
    assert "broken.json:1:" in proc.stderr and "not valid JSON" in proc.stderr
    assert main(["check-data", str(captions), "--video-root", str(video_corpus.path)]) == 1
