"""Video decoding, annotation layouts and the clip dataset, on files made at test time."""

from __future__ import annotations

import itertools
from pathlib import Path

import av
import numpy as np
import pytest
import torch

from avseq.data.check import check_clips
from avseq.data.video.annotations import load_annotations, read_classes
from avseq.data.video.dataset import VideoClipDataset
from avseq.errors import AnnotationError, BadVideoError
from avseq.media.clips import collate_video
from avseq.media.video import iter_frames, read_clip, sample_indices, video_info


def write_video(
    path: Path,
    frames: int = 20,
    width: int = 80,
    height: int = 60,
    fps: int = 15,
    codec: str = "libx264",
) -> Path:
    """A bright square moving right on grey, so frame order is checkable."""
    with av.open(str(path), "w") as out:
        stream = out.add_stream(codec, rate=fps)
        stream.width, stream.height, stream.pix_fmt = width, height, "yuv420p"
        for i in range(frames):
            img = np.full((height, width, 3), 60, np.uint8)
            # move within the centred square a centre crop keeps
            lo = (width - min(width, height)) // 2 + 2
            x = lo + int(i * (min(width, height) - 16) / max(1, frames - 1))
            img[height // 2 - 6 : height // 2 + 6, x : x + 12] = 250
            for packet in stream.encode(av.VideoFrame.from_ndarray(img, format="rgb24")):
                out.mux(packet)
        for packet in stream.encode():
            out.mux(packet)
    return path


def bright_x(frame: np.ndarray) -> float:
    mask = frame.mean(-1) > 150
    return float(np.nonzero(mask)[1].mean())


@pytest.mark.parametrize(
    ("name", "width", "height", "fps", "codec"),
    [
        ("a.mp4", 96, 96, 10, "libx264"),
        ("b.mp4", 160, 90, 30, "libx264"),
        ("c.webm", 64, 128, 24, "libvpx-vp9"),
        ("d.avi", 120, 80, 12, "mpeg4"),
    ],
)
def test_decodes_any_size_rate_and_container(tmp_path, name, width, height, fps, codec) -> None:
    path = write_video(tmp_path / name, 18, width, height, fps, codec)
    info = video_info(path)
    assert (info.width, info.height) == (width, height)
    assert info.fps == pytest.approx(fps)
    frames = read_clip(path, 48)
    assert frames.shape == (18, 48, 48, 3) and frames.dtype == np.uint8
    xs = [bright_x(f) for f in frames]
    assert xs[-1] > xs[0] + 10  # frames come in order, the square moved right


def test_iter_frames_keeps_at_most_one_frame_per_interval(tmp_path) -> None:
    path = write_video(tmp_path / "v.mp4", frames=60, fps=30)  # 2 s
    times = [t for t, _ in iter_frames(path, 32, every=0.25)]
    assert 7 <= len(times) <= 9
    assert all(b - a >= 0.25 - 1e-6 for a, b in itertools.pairwise(times))


def test_sample_indices_spread_over_the_clip() -> None:
    idx = sample_indices(100, 10)
    assert len(idx) == 10 and idx[0] < 10 and idx[-1] >= 90
    assert np.all(np.diff(idx) > 0)
    assert list(sample_indices(5, 10)) == [0, 1, 2, 3, 4]  # short clip: all frames
    jittered = sample_indices(100, 10, offset=None)
    assert np.all((jittered // 10) == np.arange(10))  # one frame in each segment


def test_dataset_views_reverse_and_padding(tmp_path) -> None:
    from avseq.data.video.annotations import Clip

    long = write_video(tmp_path / "long.mp4", frames=30)
    short = write_video(tmp_path / "short.mp4", frames=6)
    clips = [Clip(long, 1, "x:1"), Clip(short, 2, "x:2")]
    ds = VideoClipDataset(clips, size=32, num_frames=8, views=2)
    batch = collate_video([ds[0], ds[1]])
    assert batch["frames"].shape == (4, 8, 3, 32, 32)
    assert batch["lengths"].tolist() == [8, 8, 6, 6]
    assert batch["labels"].tolist() == [1, 2]
    assert batch["frames"][2:, 6:].abs().sum() == 0  # padding is zeros
    forward = ds[0]["frames"][0].permute(0, 2, 3, 1).numpy()
    backward = VideoClipDataset(clips, 32, 8, reverse=True)[0]["frames"][0]
    backward = backward.permute(0, 2, 3, 1).numpy()
    assert bright_x(forward[0]) < bright_x(forward[-1])
    assert bright_x(backward[0]) > bright_x(backward[-1])


def test_annotation_file_with_indices_names_and_classes_txt(tmp_path) -> None:
    for name in ("a", "b", "c"):
        write_video(tmp_path / f"{name}.mp4", frames=4)
    (tmp_path / "classes.txt").write_text("walk\nrun\njump\n")
    (tmp_path / "train.txt").write_text("# comment\na.mp4 0\n\nb.mp4 jump\nc.mp4 120 1\n")
    clips, classes, problems = load_annotations(tmp_path / "train.txt")
    assert classes == ["walk", "run", "jump"] and not problems
    assert [c.label for c in clips] == [0, 2, 1]
    assert clips[0].path == tmp_path / "a.mp4" and clips[1].where.endswith("train.txt:4")


def test_annotation_labels_without_a_class_list(tmp_path) -> None:
    (tmp_path / "names.txt").write_text("x.mp4 run\ny.mp4 walk\n")
    _, classes, _ = load_annotations(tmp_path / "names.txt")
    assert classes == ["run", "walk"]
    (tmp_path / "ints.txt").write_text("x.mp4 0\ny.mp4 3\n")
    _, classes, _ = load_annotations(tmp_path / "ints.txt")
    assert classes == ["0", "1", "2", "3"]


def test_ucf101_split_files(tmp_path) -> None:
    lists = tmp_path / "ucfTrainTestlist"
    lists.mkdir()
    (lists / "classInd.txt").write_text("1 ApplyEyeMakeup\n2 Archery\n")
    (lists / "trainlist01.txt").write_text(
        "ApplyEyeMakeup/v_ApplyEyeMakeup_g08_c01.avi 1\nArchery/v_Archery_g08_c01.avi 2\n"
    )
    (lists / "testlist01.txt").write_text("Archery/v_Archery_g01_c01.avi\n")
    videos = tmp_path / "UCF-101"
    train, classes, _ = load_annotations(lists / "trainlist01.txt", video_root=videos)
    test, _, _ = load_annotations(lists / "testlist01.txt", video_root=videos)
    assert classes == ["ApplyEyeMakeup", "Archery"]
    assert [c.label for c in train] == [0, 1]
    assert test[0].label == 1 and test[0].path == videos / "Archery/v_Archery_g01_c01.avi"


def test_folder_per_class_tree(tmp_path) -> None:
    for cls, n in (("jump", 2), ("run", 1)):
        (tmp_path / cls).mkdir()
        for i in range(n):
            write_video(tmp_path / cls / f"{i}.mp4", frames=3)
    (tmp_path / "run" / "notes.txt").write_text("not a video")
    clips, classes, _ = load_annotations(tmp_path)
    assert classes == ["jump", "run"]
    assert sorted(c.label for c in clips) == [0, 0, 1]


def test_read_classes_checks_order_and_duplicates(tmp_path) -> None:
    (tmp_path / "classInd.txt").write_text("1 a\n3 b\n")
    with pytest.raises(AnnotationError, match=r"classInd.txt:2: class index 3"):
        read_classes(tmp_path / "classInd.txt")
    (tmp_path / "dup.txt").write_text("a\na\n")
    with pytest.raises(AnnotationError, match="repeat"):
        read_classes(tmp_path / "dup.txt")


# ---- bad input: one-line errors naming the file/line -------------------------------------


def test_unknown_label_and_unparsable_line_name_the_line(tmp_path) -> None:
    (tmp_path / "classes.txt").write_text("walk\nrun\n")
    (tmp_path / "a.txt").write_text("a.mp4 0\nb.mp4 swim\n")
    with pytest.raises(AnnotationError, match=r"a.txt:2: unknown label 'swim'"):
        load_annotations(tmp_path / "a.txt")
    (tmp_path / "b.txt").write_text("a.mp4 0\nb.mp4 7\n")
    with pytest.raises(AnnotationError, match=r"b.txt:2: unknown label 7 \(outside 2 classes\)"):
        load_annotations(tmp_path / "b.txt")
    (tmp_path / "c.txt").write_text("a.mp4 0\njust-a-path-and two labels\n")
    with pytest.raises(AnnotationError, match=r"c.txt:2: cannot parse"):
        load_annotations(tmp_path / "c.txt")
    clips, _, problems = load_annotations(tmp_path / "a.txt", on_error="skip")
    assert len(clips) == 1 and len(problems) == 1 and "a.txt:2" in problems[0]


def make_bad_videos(tmp_path: Path) -> dict[str, Path]:
    good = write_video(tmp_path / "good.mp4", frames=40, width=320, height=240)
    bad = {"missing": tmp_path / "missing.mp4"}
    bad["empty"] = tmp_path / "empty.mp4"
    bad["empty"].write_bytes(b"")
    bad["not_video"] = tmp_path / "notes.mp4"
    bad["not_video"].write_text("these are not the frames you are looking for\n" * 20)
    bad["truncated"] = tmp_path / "truncated.mp4"
    bad["truncated"].write_bytes(good.read_bytes()[: good.stat().st_size // 3])
    # an audio-only container
    audio = tmp_path / "audio.m4a"
    with av.open(str(audio), "w") as out:
        stream = out.add_stream("aac", rate=16000)
        frame = av.AudioFrame.from_ndarray(
            (0.1 * np.random.randn(1, 1024)).astype(np.float32), format="fltp", layout="mono"
        )
        frame.sample_rate = 16000
        for packet in stream.encode(frame):
            out.mux(packet)
        for packet in stream.encode():
            out.mux(packet)
    bad["audio_only"] = audio
    # a Matroska file cut after its header: a video stream, but no decodable frame
    mkv = write_video(tmp_path / "full.mkv", frames=20, width=64, height=64)
    header_only = tmp_path / "noframes.mkv"
    header_only.write_bytes(mkv.read_bytes()[:700])
    bad["no_frames"] = header_only
    return bad


@pytest.mark.parametrize(
    ("kind", "message"),
    [
        ("missing", "no such video file"),
        ("empty", "empty"),
        ("not_video", "not a readable video file"),
        ("truncated", "truncated"),
        ("audio_only", "no video stream"),
        ("no_frames", "no decodable frames"),
    ],
)
def test_bad_videos_get_one_line_errors(tmp_path, kind, message) -> None:
    path = make_bad_videos(tmp_path)[kind]
    with pytest.raises(BadVideoError, match=message) as err:
        read_clip(path, 32)
    text = str(err.value)
    assert str(path) in text and "\n" not in text


def test_check_clips_and_dataset_skip_bad_videos(tmp_path) -> None:
    from avseq.data.video.annotations import Clip

    bad = make_bad_videos(tmp_path)
    good = write_video(tmp_path / "ok.mp4")
    clips = [Clip(good, 0, "list.txt:1")] + [
        Clip(p, 0, f"list.txt:{i + 2}") for i, p in enumerate(bad.values())
    ]
    usable, problems = check_clips(clips, 32)
    assert [c.path for c in usable] == [good]
    assert len(problems) == len(bad) and all(p.startswith("list.txt:") for p in problems)
    ds = VideoClipDataset(clips, 32, 8, skip_bad=True)
    batch = collate_video([ds[i] for i in range(len(ds))])
    assert batch["skipped"] == len(bad) and batch["frames"].shape[0] == 1
    strict = VideoClipDataset(clips, 32, 8, skip_bad=False)
    with pytest.raises(BadVideoError, match=r"list\.txt:2"):
        strict[1]


def test_collate_of_only_bad_items_is_empty_but_counted() -> None:
    batch = collate_video([None, None])
    assert batch == {"skipped": 2}
    assert torch.is_tensor(
        collate_video(
            [{"frames": torch.zeros(1, 2, 3, 4, 4, dtype=torch.uint8), "label": 0, "path": "p"}]
        )["frames"]
    )


def test_torchcodec_backend_matches_pyav(tmp_path) -> None:
    pytest.importorskip("torchcodec", reason="optional backend: pip install torchcodec")
    try:
        import torchcodec.decoders  # noqa: F401  (needs a system FFmpeg)
    except Exception as err:  # pragma: no cover - depends on the machine
        pytest.skip(f"torchcodec cannot load FFmpeg here: {err}")
    path = write_video(tmp_path / "v.mp4", frames=12, width=96, height=72)
    a = read_clip(path, 48, "pyav").astype(np.int16)
    b = read_clip(path, 48, "torchcodec").astype(np.int16)
    assert a.shape == b.shape == (12, 48, 48, 3)
    assert np.abs(a - b).mean() < 6  # different scalers, same pictures
    with pytest.raises(BadVideoError, match="no such video file"):
        read_clip(tmp_path / "missing.mp4", 48, "torchcodec")
