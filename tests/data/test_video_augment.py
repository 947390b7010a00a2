"""Training-time augmentation of video clips: shapes, determinism for a seed, consistency over
a clip's frames, temporal jitter, and that only training clips get it."""

from __future__ import annotations

import numpy as np
import pytest
import torch
from hydra.utils import instantiate

from avseq.config import load_config
from avseq.data.video.annotations import Clip
from avseq.data.video.augment import VideoAugment
from avseq.data.video.dataset import VideoClipDataset
from avseq.errors import AvseqError
from avseq.media.video import write_mp4


def clip(seed: int = 0, t: int = 12) -> torch.Tensor:
    g = torch.Generator().manual_seed(seed)
    return torch.randint(0, 256, (1, t, 3, 32, 32), dtype=torch.uint8, generator=g)


def test_keeps_shape_and_dtype_and_follows_the_seed() -> None:
    aug = VideoAugment()
    x = clip()
    a = aug.frames(x, np.random.default_rng(7))
    assert a.shape == x.shape and a.dtype == torch.uint8
    assert torch.equal(a, aug.frames(x, np.random.default_rng(7)))
    others = [aug.frames(x, np.random.default_rng(s)) for s in range(8, 12)]
    assert all(not torch.equal(a, b) for b in others)
    assert torch.equal(x, clip())  # the input is left alone


def test_leaves_torch_global_generator_alone() -> None:
    torch.manual_seed(123)
    expected = torch.rand(3)
    torch.manual_seed(123)
    VideoAugment().frames(clip(), np.random.default_rng(0))
    assert torch.equal(torch.rand(3), expected)


def test_the_same_change_on_every_frame_of_a_clip() -> None:
    still = clip(t=1).repeat(1, 10, 1, 1, 1)  # ten identical frames
    aug = VideoAugment(crop_p=1.0, colour_p=1.0, blur_p=1.0, noise_p=0.0)
    for seed in range(5):
        out = aug.frames(still, np.random.default_rng(seed))
        assert not torch.equal(out[0, 0], still[0, 0])
        assert all(torch.equal(out[0, i], out[0, 0]) for i in range(10))


def test_off_switches_change_nothing() -> None:
    aug = VideoAugment(crop_p=0, colour_p=0, blur_p=0, noise_p=0)
    x = clip()
    assert torch.equal(aug.frames(x, np.random.default_rng(0)), x)


def test_temporal_jitter_keeps_order_and_varies_speed() -> None:
    aug = VideoAugment(window=(0.5, 1.0), warp=0.5)
    spans = set()
    for seed in range(30):
        idx = aug.indices(100, 16, np.random.default_rng(seed))
        assert len(idx) == 16 and idx.dtype == np.int64
        assert np.all(np.diff(idx) >= 0) and idx[0] >= 0 and idx[-1] < 100
        spans.add(int(idx[-1] - idx[0]))
        assert np.array_equal(idx, aug.indices(100, 16, np.random.default_rng(seed)))
    assert min(spans) < 65 and max(spans) > 85  # stretches of different lengths
    assert np.array_equal(aug.indices(10, 16, np.random.default_rng(0)), np.arange(10))


@pytest.mark.parametrize(
    ("key", "value"),
    [("crop_p", 1.5), ("crop_scale", (0.9, 0.5)), ("window", (0.0, 1.0)), ("hue", 0.7)],
)
def test_bad_settings_name_the_key(key: str, value) -> None:
    with pytest.raises(AvseqError, match=key):
        VideoAugment(**{key: value})


def test_dataset_augments_training_clips_only_and_exactly_per_seed(tmp_path) -> None:
    frames = np.random.default_rng(0).integers(0, 256, (30, 48, 64, 3), dtype=np.uint8)
    write_mp4(tmp_path / "a.mp4", frames, 15)
    clips = [Clip(tmp_path / "a.mp4", 0, "a.mp4:1")]
    aug = VideoAugment()
    train = VideoClipDataset(clips, 32, 8, train=True, augment=aug)
    plain = VideoClipDataset(clips, 32, 8, train=True)
    a, b = train[(0, 5)]["frames"], train[(0, 5)]["frames"]
    assert a.shape == (1, 8, 3, 32, 32) and a.dtype == torch.uint8 and torch.equal(a, b)
    assert not torch.equal(a, train[(0, 6)]["frames"])
    assert not torch.equal(a, plain[(0, 5)]["frames"])
    evaluation = VideoClipDataset(clips, 32, 8, train=False, augment=aug)
    assert evaluation.augment is None
    assert torch.equal(evaluation[0]["frames"], VideoClipDataset(clips, 32, 8)[0]["frames"])


def test_the_video_recipe_augments_its_training_split() -> None:
    cfg = load_config(["experiment=video"])
    data = instantiate(cfg.data, corpus=None, train_annotations="unused.txt")
    assert isinstance(data.augment, VideoAugment)
    assert 0 < data.augment.crop_p <= 1 and data.augment.window[0] < 1
    off = instantiate(cfg.data, corpus=None, train_annotations="unused.txt", augment=None)
    assert off.augment is None
