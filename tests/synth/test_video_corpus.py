"""The built-in action-clip corpus: files, determinism, hold-out, captions, clip semantics."""

from __future__ import annotations

import cmath
import json
import math
import random
from collections import Counter
from pathlib import Path

import av
import numpy as np
import pytest

from avseq.data.synth import video as sv
from avseq.data.synth import video_plan, video_render
from avseq.data.synth.video import SPLITS, VideoCorpusSpec, generate_video_corpus
from avseq.data.synth.video_plan import (
    held_out_combos,
    plan_clip,
    plan_jobs,
    reverse_job,
    valid_combos,
)
from avseq.data.synth.video_render import render_clip
from avseq.errors import AvseqError
from avseq.media.video import read_clip
from avseq.text.video_language import ACTIONS, COLOURS, REVERSED_ACTION, SHAPES

TINY = {"n_train": 14, "n_val": 2, "n_test": 3, "n_comp": 3, "n_other": 2, "size": 64, "seed": 1}
ORDER_FREE = {"bounce", "stay"}  # the classes whose clips played backwards show the same action


@pytest.fixture(scope="module")
def tiny(tmp_path_factory) -> VideoCorpusSpec:
    spec = VideoCorpusSpec(root=str(tmp_path_factory.mktemp("video")), workers=2, **TINY)
    generate_video_corpus(spec)
    return spec


def read_annotations(path: Path) -> list[tuple[str, int]]:
    rows = []
    for line in path.read_text().splitlines():
        rel, label = line.split(" ")
        rows.append((rel, int(label)))
    return rows


def decode(path: Path, codec: str = "h264") -> tuple[np.ndarray, float]:
    with av.open(str(path)) as container:
        stream = container.streams.video[0]
        assert stream.codec_context.name == codec
        assert stream.codec_context.pix_fmt == "yuv420p"
        rate = float(stream.average_rate)
        frames = [f.to_ndarray(format="rgb24") for f in container.decode(video=0)]
    return np.stack(frames), rate


def test_label_order_is_the_same_in_every_corpus_file_and_every_corpus(
    tiny: VideoCorpusSpec, tmp_path
) -> None:
    names = tiny.classes.read_text().splitlines()
    assert names == list(ACTIONS)
    assert json.loads((tiny.path / "corpus.json").read_text())["classes"] == names
    assert json.loads(tiny.captions.read_text())["info"]["classes"] == names
    # the order is not drawn: another seed and frame size give the same labels
    one_each = {"n_train": 1, "n_val": 1, "n_test": 1, "n_comp": 1, "n_other": 1}
    other = VideoCorpusSpec(root=str(tmp_path), seed=5, size=32, workers=1, **one_each)
    generate_video_corpus(other)
    assert other.classes.read_bytes() == tiny.classes.read_bytes()


def test_every_action_has_a_time_reverse_or_is_order_free() -> None:
    assert set(REVERSED_ACTION) | ORDER_FREE == set(ACTIONS)
    assert not set(REVERSED_ACTION) & ORDER_FREE
    assert all(
        REVERSED_ACTION[REVERSED_ACTION[a]] == a != REVERSED_ACTION[a] for a in REVERSED_ACTION
    )
    assert REVERSED_ACTION["move_up"] == "move_down"
    assert REVERSED_ACTION["move_left"] == "move_right"
    assert REVERSED_ACTION["rotate_clockwise"] == "rotate_counterclockwise"
    assert REVERSED_ACTION["grow"] == "shrink" and REVERSED_ACTION["appear"] == "disappear"


def test_corpus_files_parse_and_clips_decode(tiny: VideoCorpusSpec) -> None:
    root = tiny.path
    assert (root / "corpus.json").is_file()
    assert tiny.classes.read_text().splitlines() == list(ACTIONS)
    captions = json.loads(tiny.captions.read_text())
    videos = {v["video_id"]: v for v in captions["videos"]}
    counts = {"train": 14, "val": 2, "test": 3, "test_comp": 3, "test_other": 2}
    seen = set()
    for split in SPLITS:
        rows = read_annotations(tiny.annotations(split))
        assert len(rows) == counts[split]
        for rel, label in rows:
            assert rel.startswith(f"clips/{split}/") and rel.endswith(".mp4")
            video = videos[Path(rel).stem]
            assert (video["path"], video["category"], video["split"]) == (rel, label, split)
            assert ACTIONS[label] == video["action"]
            frames, rate = decode(root / rel, video["codec"])
            assert frames.shape == (video["num_frames"], video["height"], video["width"], 3)
            assert video["num_frames"] >= 16 and min(video["width"], video["height"]) >= 32
            rates = (25,) if split == "test_other" else video_plan.FPS_CHOICES
            assert rate == video["fps"] and video["fps"] in rates
            assert video["duration"] == pytest.approx(video["num_frames"] / video["fps"], abs=1e-3)
            seen.add(Path(rel).stem)
    assert seen == set(videos)  # no clip without an annotation line, and vice versa
    # the first 12 training clips are one balanced block: every class once
    assert sorted(label for _, label in read_annotations(tiny.annotations("train"))[:12]) == list(
        range(12)
    )
    # nothing left over from writing: no temporary clips, no unfinished corpus folders
    assert not list(root.rglob("*.tmp*"))
    assert [p.name for p in root.parent.iterdir()] == [root.name]


def test_captions_name_colour_shape_and_action(tiny: VideoCorpusSpec) -> None:
    captions = json.loads(tiny.captions.read_text())
    by_video: dict[str, list[str]] = {}
    for s in captions["sentences"]:
        by_video.setdefault(s["video_id"], []).append(s["caption"])
    assert len({s["sen_id"] for s in captions["sentences"]}) == len(captions["sentences"])
    direction = {"move_left": "left", "move_right": "right", "move_up": "up", "move_down": "down"}
    for video in captions["videos"]:
        texts = by_video[video["video_id"]]
        assert len(set(texts)) == len(texts) >= 5
        for text in texts:
            assert text == text.lower() and text.strip() == text
            assert f"{video['colour']} {video['shape']}" in text
        if video["action"] in ("move_up", "move_down"):
            words = {"up": ("up", "rises", "rising", "top"), "down": ("down", "sink", "bottom")}
            assert all(any(w in t for w in words[direction[video["action"]]]) for t in texts)
        elif video["action"] in direction:
            assert all(direction[video["action"]] in t for t in texts)
        elif video["action"] == "rotate_clockwise":
            assert all("clockwise" in t and "counter" not in t for t in texts)
        if video["distractor"] is not None:
            d = video["distractor"]
            assert d["colour"] != video["colour"] and d["action"] != video["action"]


def test_same_seed_same_corpus_whatever_the_workers(tiny: VideoCorpusSpec, tmp_path) -> None:
    again = VideoCorpusSpec(root=str(tmp_path), workers=1, **TINY)
    assert again.path.name == tiny.path.name  # workers are not part of the hash
    generate_video_corpus(again)
    for name in ["captions.json", "classes.txt"] + [f"{s}.txt" for s in SPLITS]:
        assert (again.path / name).read_bytes() == (tiny.path / name).read_bytes(), name
    for rel, _ in read_annotations(tiny.annotations("train"))[:4]:
        # the same frames (libx264 does not always write the same bytes for them on a loaded
        # machine, so the decoded pictures are compared)
        a, b = read_clip(again.path / rel, 64), read_clip(tiny.path / rel, 64)
        assert a.shape == b.shape and np.abs(a.astype(int) - b).mean() < 2
    other = VideoCorpusSpec(root=str(tmp_path), **{**TINY, "seed": 2})
    assert other.path != again.path
    assert plan_jobs(other)["train"][0] != plan_jobs(again)["train"][0]


def test_existing_corpus_is_reused_and_interrupted_runs_leave_nothing(
    tiny: VideoCorpusSpec, tmp_path, monkeypatch
) -> None:
    marker = tiny.path / "corpus.json"
    before = marker.stat().st_mtime_ns
    assert generate_video_corpus(tiny) == tiny.path
    assert marker.stat().st_mtime_ns == before

    monkeypatch.setattr(sv, "_write_clip", _write_two_clips_then_fail)
    failing_spec = VideoCorpusSpec(root=str(tmp_path), workers=1, **TINY)
    with pytest.raises(RuntimeError, match="disk full"):
        generate_video_corpus(failing_spec)
    assert list(tmp_path.iterdir()) == []  # no corpus folder, no half-written partial one


_written: list[int] = []
_real_write_clip = sv._write_clip


def _write_two_clips_then_fail(args: tuple) -> int:
    """Stands in for the clip writer in the (forked) workers: fails on the third clip."""
    _written.append(1)
    if len(_written) > 2:
        raise RuntimeError("disk full")
    return _real_write_clip(args)


@pytest.mark.parametrize(
    ("key", "value"),
    [
        ("n_train", 0),
        ("n_comp", -3),
        ("n_other", 0),
        ("size", 63),
        ("size", 16),
        ("workers", 0),
        ("name", "a/b"),
    ],
)
def test_bad_settings_are_one_line_errors_naming_the_value(key: str, value) -> None:
    with pytest.raises(AvseqError) as err:
        VideoCorpusSpec(**{key: value})
    message = str(err.value)
    assert key in message and repr(value) in message and "\n" not in message


def test_compositional_hold_out() -> None:
    valid = set(valid_combos())
    assert len(valid) == len(COLOURS) * len(SHAPES) * len(ACTIONS) - 2 * len(COLOURS)
    assert not any(s == "circle" and a.startswith("rotate") for _, s, a in valid)
    sets = [held_out_combos(seed) for seed in range(4)]
    assert sets[0] == held_out_combos(0) and len({frozenset(s) for s in sets}) == 4
    for held in sets:
        assert held <= valid
        assert abs(len(held) - 0.1 * len(valid)) <= 1
        assert {a for _, _, a in held} == set(ACTIONS)
        seen = valid - held
        for c, s, a in held:  # every pair inside a held-out combination occurs in training
            assert any(x[0] == c and x[2] == a for x in seen)
            assert any(x[1] == s and x[2] == a for x in seen)
            assert any(x[0] == c and x[1] == s for x in seen)
        for colour in COLOURS:  # and every colour, shape and action keeps many partners
            assert sum(x[0] == colour for x in seen) >= 45
        for shape in SHAPES:
            assert sum(x[1] == shape for x in seen) >= 60
        for action in ACTIONS:
            assert sum(x[2] == action for x in seen) >= 24

    spec = VideoCorpusSpec(n_train=600, n_val=60, n_test=120, n_comp=60, seed=3)
    jobs = plan_jobs(spec)
    held = held_out_combos(3)

    def combo(job: dict) -> tuple[str, str, str]:
        m = job["main"]
        return (m["colour"], m["shape"], m["action"])

    for split in ("train", "val", "test"):
        assert not {combo(j) for j in jobs[split]} & held
    assert {combo(j) for j in jobs["test_comp"]} <= held
    train = [combo(j) for j in jobs["train"]]
    assert {c for c, _, _ in train} == set(COLOURS)
    assert {s for _, s, _ in train} == set(SHAPES)
    for split in video_plan.SPLITS:  # balanced classes
        counts = Counter(j["main"]["action"] for j in jobs[split])
        assert set(counts) == set(ACTIONS) and max(counts.values()) - min(counts.values()) <= 1
    assert all(j["label"] == ACTIONS.index(j["main"]["action"]) for j in jobs["train"])


def test_planned_objects_fit_and_distractors_are_small() -> None:
    jobs = plan_jobs(VideoCorpusSpec(n_train=480, n_val=12, n_test=12, n_comp=12))
    with_distractor = 0
    for job in jobs["train"]:
        main, other = job["main"], job["distractor"]
        assert not (main["shape"] == "circle" and main["action"].startswith("rotate"))
        n, unit, w, h = job["num_frames"], job["size"], job["width"], job["height"]
        assert unit == min(w, h) and w % 2 == h % 2 == 0
        lo, hi = video_plan.CLIP_SECONDS
        assert n >= 16 and lo - 1 / job["fps"] <= n / job["fps"] <= max(hi, 16 / job["fps"]) + 0.1
        for obj in (main, other) if other else (main,):
            x, y, r, _, _ = video_render._trajectory(obj, n, unit)
            reach = video_render.EXTENT[obj["shape"]] * r
            assert (x - reach).min() >= 0 and (x + reach).max() <= w
            assert (y - reach).min() >= 0 and (y + reach).max() <= h
        main_r = video_render._trajectory(main, n, job["size"])[2]
        if other is not None:
            with_distractor += 1
            assert other["radius"] * job["size"] < main_r.min()
            assert other["colour"] != main["colour"] and other["action"] != main["action"]
            assert other["action"] in video_plan.DISTRACTOR_ACTIONS
            assert not (other["shape"] == "circle" and other["action"].startswith("rotate"))
    assert 0.6 < with_distractor / len(jobs["train"]) < 0.8


# --- what the frames show --------------------------------------------------------------------


def clean_job(action: str, shape: str = "square", seed: int = 0, size: int = 64) -> dict:
    """A solid red main object on a varied background, no distractor, no camera jitter, no
    pixel noise."""
    job = plan_clip(random.Random(seed), action, "red", shape, size, distractor=False, noise=False)
    job["main"]["style"] = {"fill": "solid", "hard": False, "shade": None, "rim": None}
    return job


def red_masks(frames: np.ndarray) -> np.ndarray:
    f = frames.astype(int)
    return f[..., 0] - np.maximum(f[..., 1], f[..., 2]) > 100


def centroids(masks: np.ndarray) -> np.ndarray:
    ys, xs = np.mgrid[: masks.shape[1], : masks.shape[2]]
    area = masks.sum(axis=(1, 2))
    return np.stack([(masks * xs).sum(axis=(1, 2)) / area, (masks * ys).sum(axis=(1, 2)) / area], 1)


def screen_rotation(masks: np.ndarray, fold: int) -> float:
    """Total rotation in degrees, positive = clockwise as seen on screen (y points down),
    from the argument of the shape's `fold`-th complex moment around its centroid."""
    ys, xs = np.mgrid[: masks.shape[1], : masks.shape[2]]
    angles = []
    for m in masks:
        z = (xs[m] - xs[m].mean()) + 1j * (ys[m] - ys[m].mean())
        angles.append(cmath.phase((z**fold).sum()) / fold)
    steps = np.diff(angles)
    period = 2 * math.pi / fold
    steps = (steps + period / 2) % period - period / 2  # symmetric: angles are modulo a period
    return math.degrees(steps.sum())


@pytest.mark.parametrize("seed", range(3))
def test_moves_go_the_named_way(seed: int) -> None:
    for action, axis, sign in [
        ("move_left", 0, -1),
        ("move_right", 0, 1),
        ("move_up", 1, -1),
        ("move_down", 1, 1),
    ]:
        frames, _ = render_clip(clean_job(action, "circle", seed))
        c = centroids(red_masks(frames))
        travel = (c[-1] - c[0]) * sign
        assert travel[axis] > 0.18 * 64, action
        assert abs(c[-1, 1 - axis] - c[0, 1 - axis]) < 0.06 * 64, action  # only a slight drift
        assert np.all(np.diff(c[:, axis]) * sign > -0.2), action  # steady, no going back
        back = centroids(red_masks(frames[::-1]))  # played backwards: the other way
        assert (back[-1, axis] - back[0, axis]) * sign < -0.18 * 64, action


@pytest.mark.parametrize("shape", ["square", "triangle", "star", "cross"])
def test_rotations_turn_the_named_way_on_screen(shape: str) -> None:
    fold = {"square": 4, "triangle": 3, "star": 5, "cross": 4}[shape]
    for seed in range(2):
        job = clean_job("rotate_clockwise", shape, seed, size=96)
        frames, _ = render_clip(job)
        masks = red_masks(frames)
        turned = screen_rotation(masks, fold)
        assert turned == pytest.approx(math.degrees(job["main"]["spin"]), rel=0.15)
        assert 100 < turned < 420
        assert screen_rotation(masks[::-1], fold) == pytest.approx(-turned)
        c = centroids(masks)
        assert np.abs(c - c[0]).max() < 1.0  # turns in place

        frames, _ = render_clip(clean_job("rotate_counterclockwise", shape, seed, size=96))
        assert -420 < screen_rotation(red_masks(frames), fold) < -100


def test_size_and_visibility_changes() -> None:
    for seed in range(3):
        areas = red_masks(render_clip(clean_job("grow", "star", seed))[0]).sum(axis=(1, 2))
        assert areas[-1] > 2.2 * areas[0] and np.all(np.diff(areas) >= -2)
        areas = red_masks(render_clip(clean_job("shrink", "cross", seed))[0]).sum(axis=(1, 2))
        assert areas[0] > 2.2 * areas[-1]

        job = clean_job("appear", "triangle", seed)
        areas = red_masks(render_clip(job)[0]).sum(axis=(1, 2))
        n = len(areas)
        assert areas[: int(0.15 * n)].max() == 0 and areas[-1] > 10
        assert np.all(np.diff(areas) >= -2)  # once there, it stays
        areas = red_masks(render_clip(clean_job("disappear", "triangle", seed))[0]).sum((1, 2))
        assert areas[0] > 10 and areas[-int(0.15 * n) :].max() == 0

        masks = red_masks(render_clip(clean_job("stay", "square", seed))[0])
        c, areas = centroids(masks), masks.sum(axis=(1, 2))
        assert np.abs(c - c[0]).max() < 0.5 and areas.max() - areas.min() < 0.05 * areas.max()


def test_bounce_rises_and_lands() -> None:
    for seed in range(3):
        job = clean_job("bounce", "circle", seed)
        y = centroids(red_masks(render_clip(job)[0]))[:, 1]
        k, amp = job["main"]["bounce"]
        assert y[0] == pytest.approx(y.max(), abs=1.0) and y[-1] == pytest.approx(y.max(), abs=1)
        assert y.max() - y.min() > 0.8 * amp * 64
        # it touches the floor (a sharp local maximum of y) between consecutive bounces
        landings = [i for i in range(1, len(y) - 1) if y[i] > y[i - 1] and y[i] >= y[i + 1]]
        assert len(landings) == k - 1
        assert all(y[i] > y.max() - 0.5 * amp * 64 for i in landings)


@pytest.mark.parametrize("action", ACTIONS)
def test_reversed_clip_is_a_clip_of_the_reversed_action(action: str) -> None:
    shape = "triangle" if action.startswith("rotate") else "star"
    job = plan_clip(random.Random(7), action, "green", shape, 64, distractor=True, noise=False)
    back = reverse_job(job)
    assert back["main"]["action"] == REVERSED_ACTION.get(action, action)
    forward, _ = render_clip(job)
    backward, _ = render_clip(back)
    assert np.abs(forward[::-1].astype(int) - backward).max() <= 1
    if action not in ORDER_FREE:
        assert np.abs(forward.astype(int) - backward).max() > 50  # and differs when not reversed


def test_rendering_is_deterministic_and_noise_is_per_frame() -> None:
    job = plan_clip(random.Random(5), "stay", "blue", "square", 64)
    job["noise"], job["jitter"] = 4.0, 0
    a, fps = render_clip(job)
    b, _ = render_clip(json.loads(json.dumps(job)))
    assert np.array_equal(a, b) and fps == job["fps"] and a.dtype == np.uint8
    diff = a[1:].astype(float) - a[:-1]
    assert 3 < diff.std() < 8  # independent noise in consecutive frames (sqrt(2) * 4)
    background = np.median(a[0].reshape(-1, 3), axis=0)  # the object stands out from it
    assert np.linalg.norm(background - job["main"]["rgb"]) > 80
