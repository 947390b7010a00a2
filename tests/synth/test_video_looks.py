"""The built-in clips' varied looks (frame sizes, backgrounds, drawing styles, fades and pops,
encodings) and the second renderer of the `test_other` split."""

from __future__ import annotations

import json
import math
import random
from collections import Counter

import av
import numpy as np
import pytest

from avseq.data.synth import video_look, video_plan, video_render
from avseq.data.synth.video import VideoCorpusSpec, generate_video_corpus
from avseq.data.synth.video_background import draw_background
from avseq.data.synth.video_heldout import (
    HEIGHT,
    OTHER_RENDERER_SPLIT,
    WIDTH,
    plan_other_clip,
    render_other_clip,
)
from avseq.data.synth.video_plan import plan_clip, plan_jobs
from avseq.data.synth.video_render import render_clip
from avseq.errors import AvseqError
from avseq.media.video import read_clip, write_mp4
from avseq.text.video_language import ACTIONS, COLOURS, SHAPES, parse_caption

SPEC = VideoCorpusSpec(n_train=600, n_val=12, n_test=12, n_comp=12, n_other=24, seed=4)


@pytest.fixture(scope="module")
def jobs() -> list[dict]:
    return plan_jobs(SPEC)["train"]


def test_plans_are_deterministic_json_and_differ_by_seed(jobs: list[dict]) -> None:
    again = plan_jobs(VideoCorpusSpec(**{**SPEC.__dict__, "root": "elsewhere"}))["train"]
    assert json.loads(json.dumps(jobs)) == again  # plain JSON values, the same for a seed
    other = plan_jobs(VideoCorpusSpec(**{**SPEC.__dict__, "seed": 5}))["train"]
    assert [j["background"] for j in other[:20]] != [j["background"] for j in jobs[:20]]


def test_looks_are_drawn_widely(jobs: list[dict]) -> None:
    count = Counter
    assert set(count(j["background"]["kind"] for j in jobs)) == set(video_look.BACKGROUNDS)
    assert set(count(j["main"]["style"]["fill"] for j in jobs)) == set(video_look.FILLS)
    assert set(count(j["codec"] for j in jobs)) == set(video_look.ENCODINGS)
    assert len({j["quality"] for j in jobs if j["codec"] == "h264"}) >= 8  # several CRFs
    hard = sum(j["main"]["style"]["hard"] for j in jobs) / len(jobs)
    assert 0.2 < hard < 0.5
    shapes = {(j["width"], j["height"]) for j in jobs}
    aspects = {round(w / h, 2) for w, h in shapes}
    assert {1.0, 0.75, 1.33, 1.78} <= aspects and all(w % 2 == h % 2 == 0 for w, h in shapes)
    shorts = {min(s) for s in shapes}
    assert min(shorts) >= 0.75 * SPEC.size - 2 and max(shorts) <= 1.25 * SPEC.size + 2
    assert len({j["fps"] for j in jobs}) == len(video_plan.FPS_CHOICES)
    light = sum(sum(j["background"]["rgb"]) > 3 * 140 for j in jobs) / len(jobs)
    assert 0.15 < light < 0.5  # light backgrounds as well as dark ones
    radii = [j["main"]["radius"] for j in jobs]
    assert 0.1 <= min(radii) < 0.12 and max(radii) > 0.2  # sizes relative to the frame vary widely
    speeds = [abs(j["main"]["dx"] + j["main"]["dy"]) * j["fps"] / j["num_frames"] for j in jobs]
    moving = [s for s, j in zip(speeds, jobs, strict=True) if j["main"]["action"][:4] == "move"]
    assert max(moving) > 4 * min(moving)


def test_the_main_object_stays_where_a_centre_crop_sees_it(jobs: list[dict]) -> None:
    """Training and evaluation crop the centre square of wide and tall frames: the main object
    stays inside it (a moving one at least halfway along its path)."""
    for job in jobs:
        main, n, unit = job["main"], job["num_frames"], job["size"]
        x, y, r, _, _ = video_render._trajectory(main, n, unit)
        reach = video_render.EXTENT[main["shape"]] * r
        when = n // 2 if main["action"].startswith("move") else slice(None)
        for centre, side in ((x[when], job["width"]), (y[when], job["height"])):
            low = (side - unit) / 2 - 0.5
            assert np.all(centre - reach[when] >= low)
            assert np.all(centre + reach[when] <= low + unit + 1)


def test_every_background_keeps_the_object_visible(jobs: list[dict]) -> None:
    for kind in video_look.BACKGROUNDS:
        job = next(j for j in jobs if j["background"]["kind"] == kind)
        h, w = job["height"], job["width"]
        img = draw_background(np.random.default_rng(0), job["background"], h, w, job["size"])
        assert img.shape == (h, w, 3) and img.dtype == np.float32
        assert img.min() >= 0 and img.max() <= 255
        median = np.median(img.reshape(-1, 3), axis=0)
        assert np.linalg.norm(median - job["main"]["rgb"]) > 80, kind
        if kind != "flat":
            assert img.std(axis=(0, 1)).max() > 2, kind  # not a flat colour


def styled(fill: str, hard: bool, **extra) -> dict:
    job = plan_clip(random.Random(3), "stay", "red", "square", 64, distractor=False, noise=False)
    job["background"] = {"kind": "flat", "rgb": [30, 30, 30], "grain": 0.0}
    job["main"].update(radius=0.2, x=0.5, y=0.5, angle=0.0)
    style = {"fill": fill, "hard": hard, "line": 2.0, "line_fraction": 0.25}
    job["main"]["style"] = {**style, "shade": None, "rim": None, **extra}
    return job


def test_drawing_styles() -> None:
    solid = render_clip(styled("solid", False))[0][0].astype(int)
    hard = render_clip(styled("solid", True))[0][0].astype(int)
    outline = render_clip(styled("outline", False))[0][0].astype(int)
    shaded = render_clip(styled("shaded", False, shade=[1.0, 0.0, 0.3]))[0][0].astype(int)
    rim = render_clip(styled("solid", False, rim=[0.4, 2.0]))[0][0].astype(int)
    area = lambda f: int((np.abs(f - 30).max(-1) > 100).sum())  # noqa: E731
    # hard edges: every pixel is either background or object, none in between
    colours = {(30, 30, 30), tuple(styled("solid", True)["main"]["rgb"])}
    assert {tuple(p) for p in hard.reshape(-1, 3)} <= colours
    assert len({tuple(p) for p in solid.reshape(-1, 3)}) > 2  # anti-aliased edge pixels
    assert 0.2 * area(solid) < area(outline) < 0.7 * area(solid)  # only a ring is painted
    centre = solid[32, 32]
    assert np.array_equal(outline[32, 32], [30, 30, 30]) and centre[0] > 200
    inside = shaded[np.abs(shaded - 30).max(-1) > 100][:, 0]
    assert inside.max() - inside.min() > 40  # a brightness ramp across the object
    # a darker rim: the same painted pixels, the same centre, a darker edge
    painted = np.abs(solid - 30).max(-1) > 20
    assert np.array_equal(np.abs(rim - 30).max(-1) > 20, painted)
    assert rim[32, 32, 0] == centre[0] and rim[painted][:, 0].min() < 0.7 * centre[0]


def test_appear_and_disappear_as_pops_and_as_fades(jobs: list[dict]) -> None:
    fades = [j["main"]["fade"] for j in jobs if j["main"]["fade"]]
    pops = sum(length == 0 for _, length in fades) / len(fades)
    assert abs(pops - video_plan.POP_SHARE) < 0.15
    for start, length in fades:
        assert start >= 0.15 and start + length <= 0.86
    for pop in (True, False):
        job = styled("solid", False)
        job["main"]["action"] = "appear"
        job["main"]["fade"] = [0.3, 0.0 if pop else 0.4]
        frames = render_clip(job)[0].astype(int)
        level = frames[:, 32, 32, 0]  # the red channel at the object's centre
        partial = ((level > 40) & (level < 200)).sum()
        assert level[0] == 30 and level[-1] > 200
        assert partial == 0 if pop else partial >= 5
        assert np.all(np.diff(level) >= 0)


@pytest.mark.parametrize("codec", sorted(video_look.ENCODINGS))
@pytest.mark.parametrize("kind", video_look.BACKGROUNDS)
def test_every_background_and_encoding_decodes_at_its_size_and_rate(
    tmp_path, jobs: list[dict], kind: str, codec: str
) -> None:
    job = next(j for j in jobs if j["background"]["kind"] == kind and j["width"] != j["height"])
    job = {**job, "num_frames": 16, "codec": codec, "quality": video_look.ENCODINGS[codec][1][1]}
    frames, fps = render_clip(job)
    assert frames.shape == (16, job["height"], job["width"], 3) and frames.dtype == np.uint8
    path = tmp_path / "clip.mp4"
    write_mp4(path, frames, fps, job["quality"], codec)
    with av.open(str(path)) as container:
        stream = container.streams.video[0]
        assert stream.codec_context.name == codec and float(stream.average_rate) == fps
        decoded = np.stack([f.to_ndarray(format="rgb24") for f in container.decode(video=0)])
    assert decoded.shape == frames.shape
    assert np.abs(decoded.astype(float) - frames).mean() < 12  # lossy, at the worst quality
    square = read_clip(path, 32)  # what training sees: short side scaled, centre crop
    assert square.shape == (16, 32, 32, 3)


def test_other_renderer_plans_and_frames() -> None:
    plans = [plan_other_clip(0, i) for i in range(24)]
    assert plans == [plan_other_clip(0, i) for i in range(24)]
    assert plans[0] != plan_other_clip(1, 0)
    assert Counter(p["action"] for p in plans) == dict.fromkeys(ACTIONS, 2)
    for p in plans:
        assert p["colour"] in COLOURS and p["shape"] in SHAPES
        assert not (p["shape"] == "circle" and p["action"].startswith("rotate"))
        slots = {parse_caption(c) for c in p["captions"]}
        assert slots == {(p["colour"], p["shape"], p["action"])}
    for action, axis, sign in [("move_left", 0, -1), ("move_up", 1, -1), ("move_down", 1, 1)]:
        plan = next(p for p in plans if p["action"] == action)
        plan = {**plan, "noise": 0.0}
        frames, fps = render_other_clip(plan)
        assert frames.shape == (plan["frames"], HEIGHT, WIDTH, 3) and fps == 25
        rgb = np.asarray(COLOURS[plan["colour"]])
        mask = np.abs(frames.astype(int) - rgb).max(-1) < 10
        ys, xs = np.nonzero(mask[0]), np.nonzero(mask[-1])
        first = (ys[1].mean(), ys[0].mean())
        last = (xs[1].mean(), xs[0].mean())
        assert (last[axis] - first[axis]) * sign > 50, action
    plan = next(p for p in plans if p["action"] == "rotate_clockwise")
    assert math.degrees(plan["turn"]) >= 90


def test_other_renderer_split_is_generated_with_the_corpus(tmp_path) -> None:
    sizes = {"n_train": 2, "n_val": 1, "n_test": 1, "n_comp": 1, "n_other": 3}
    spec = VideoCorpusSpec(root=str(tmp_path), size=32, workers=1, **sizes)
    root = generate_video_corpus(spec)
    lines = spec.annotations(OTHER_RENDERER_SPLIT).read_text().splitlines()
    rows = [line.split() for line in lines]
    assert [int(label) for _, label in rows] == [0, 1, 2]  # balanced, in class order
    captions = json.loads(spec.captions.read_text())
    other = [v for v in captions["videos"] if v["split"] == OTHER_RENDERER_SPLIT]
    assert [v["path"] for v in other] == [rel for rel, _ in rows]
    for video in other:
        frames = read_clip(root / video["path"], 64)
        assert frames.shape == (video["num_frames"], 64, 64, 3)
        assert (video["width"], video["height"], video["fps"]) == (WIDTH, HEIGHT, 25)
    marker = json.loads((root / "corpus.json").read_text())
    assert marker["splits"][OTHER_RENDERER_SPLIT]["clips"] == 3
    assert "n_other" in marker["settings"]


@pytest.mark.parametrize("codec", ["h264", "vp9", "mpeg4"])
def test_write_mp4_round_trip(tmp_path, codec: str) -> None:
    job = plan_clip(random.Random(2), "move_right", "yellow", "cross", 64, noise=False)
    frames, fps = render_clip(job)
    path = tmp_path / "clip.mp4"
    write_mp4(path, frames, fps, crf={"h264": 23, "vp9": 32, "mpeg4": 4}[codec], codec=codec)
    with av.open(str(path)) as container:
        assert container.streams.video[0].codec_context.name == codec
        rate = float(container.streams.video[0].average_rate)
    decoded = read_clip(path, 64)
    assert rate == fps and decoded.shape == frames.shape
    assert np.abs(decoded.astype(float) - frames).mean() < 4
    assert [p.name for p in tmp_path.iterdir()] == ["clip.mp4"]
    with pytest.raises(AvseqError, match="even"):
        write_mp4(tmp_path / "odd.mp4", np.zeros((16, 63, 64, 3), np.uint8), 10)
