"""The video model's components: frame encoders, padding invariance, attention pooling."""

from __future__ import annotations

from functools import partial
from typing import Any

import pytest
import torch

from avseq.errors import AvseqError
from avseq.features.frames import FrameEncoder, normal_flow
from avseq.models.components.attention import AdditiveAttention, AttentionPoolingClassifier
from avseq.models.components.rnn_encoder import RNNEncoder
from avseq.models.components.video_encoder import VideoEncoder, VideoModel, build_video_model

SMALL = {"channels": (8, 16, 16, 16), "out_dim": 32, "image_size": 32}


def video_model(
    num_classes: int, frames: dict[str, Any], hidden_size: int, rnn_type: str = "gru", **kw: Any
) -> VideoModel:
    """A video model with a one-layer `rnn_type` encoder over `FrameEncoder(**frames)`."""
    return build_video_model(
        partial(FrameEncoder, **frames),
        partial(RNNEncoder, hidden_size=hidden_size, num_layers=1, rnn_type=rnn_type),
        AttentionPoolingClassifier,
        num_classes=num_classes,
        **kw,
    )


def video_encoder(
    frames: dict[str, Any], hidden_size: int, frame_skip: bool = False
) -> VideoEncoder:
    enc = FrameEncoder(**frames)
    return VideoEncoder(enc, RNNEncoder(enc.out_dim, hidden_size, num_layers=1), frame_skip)


def clips(b: int, t: int, size: int = 32, seed: int = 0) -> torch.Tensor:
    g = torch.Generator().manual_seed(seed)
    return torch.randint(0, 256, (b, t, 3, size, size), generator=g, dtype=torch.uint8)


@pytest.mark.parametrize("rnn_type", ["rnn", "lstm", "gru"])
def test_video_classifier_shapes(rnn_type: str) -> None:
    model = video_model(12, SMALL, rnn_type=rnn_type, hidden_size=16).eval()
    logits, weights = model(clips(3, 5), torch.tensor([5, 3, 1]))
    assert logits.shape == (3, 12) and weights.shape == (3, 5)


@pytest.mark.parametrize(("motion", "skip"), [(False, False), (True, False), (True, True)])
def test_a_clip_gives_the_same_output_alone_and_padded_in_a_batch(motion: bool, skip: bool) -> None:
    torch.manual_seed(0)
    model = video_model(4, {**SMALL, "motion": motion}, hidden_size=16, frame_skip=skip).eval()
    batch = clips(3, 7)
    lengths = torch.tensor([7, 4, 2])
    logits, weights = model(batch, lengths)
    for i, n in enumerate(lengths.tolist()):
        alone, w_alone = model(batch[i : i + 1, :n], lengths[i : i + 1])
        torch.testing.assert_close(logits[i : i + 1], alone, atol=1e-5, rtol=1e-4)
        torch.testing.assert_close(weights[i : i + 1, :n], w_alone, atol=1e-6, rtol=1e-4)
    # padding frames do not matter, whatever they hold
    noisy = batch.clone()
    noisy[1, 4:] = 255
    torch.testing.assert_close(model(noisy, lengths)[0], logits)


def test_frame_cnn_runs_only_on_real_frames_in_training() -> None:
    """BatchNorm statistics in training must not see padded frames."""
    torch.manual_seed(0)
    enc = video_encoder(SMALL, hidden_size=8).train()
    batch, lengths = clips(2, 6), torch.tensor([6, 2])
    feats = enc.frame_features(batch, lengths)
    assert feats.shape == (2, 6, 32)
    assert feats[1, 2:].abs().sum() == 0
    torch.manual_seed(1)
    padded_differently = batch.clone()
    padded_differently[1, 2:] = 0
    enc2 = video_encoder(SMALL, hidden_size=8).train()
    enc2.load_state_dict(enc.state_dict())
    torch.testing.assert_close(enc2.frame_features(padded_differently, lengths), feats)


def test_attention_masks_padding_and_sums_to_one() -> None:
    att = AdditiveAttention(6, 8)
    keys = torch.randn(2, 5, 6)
    mask = torch.tensor([[1, 1, 1, 1, 1], [1, 1, 0, 0, 0]], dtype=torch.bool)
    context, weights = att(keys, mask)
    assert torch.all(weights[1, 2:] == 0)
    torch.testing.assert_close(weights.sum(-1), torch.ones(2))
    torch.testing.assert_close(context[1], (weights[1, :2, None] * keys[1, :2]).sum(0))
    with pytest.raises(ValueError, match="query"):
        AdditiveAttention(6, 8, query_size=4)(keys, mask)
    pool = AttentionPoolingClassifier(6, 3)
    logits, w = pool(keys, torch.tensor([5, 2]))
    assert logits.shape == (2, 3) and torch.all(w[1, 2:] == 0)


@pytest.mark.parametrize(("kind", "dim"), [("resnet18", 512), ("mobilenet_v3_small", 576)])
def test_torchvision_backbones_and_their_weight_files(tmp_path, kind: str, dim: int) -> None:
    enc = FrameEncoder(kind).eval()
    frames = clips(1, 2, size=64)[0]
    assert enc(frames).shape == (2, dim)
    path = tmp_path / f"{kind}.pt"
    torch.save(enc.net.state_dict(), path)
    loaded = FrameEncoder(kind, weights=str(path)).eval()
    torch.testing.assert_close(loaded(frames), enc(frames))
    torch.save({"something": torch.zeros(3)}, tmp_path / "other.pt")
    with pytest.raises(AvseqError, match="tensors match"):
        FrameEncoder(kind, weights=str(tmp_path / "other.pt"))


def test_frozen_frame_encoder_gets_no_gradients_and_stays_in_eval_mode() -> None:
    model = video_model(3, {**SMALL, "freeze": True}, hidden_size=8).train()
    assert not model.encoder.frames.net.training
    logits, _ = model(clips(2, 3), torch.tensor([3, 3]))
    logits.sum().backward()
    assert all(p.grad is None for p in model.encoder.frames.parameters())
    assert model.head.out.weight.grad is not None


def test_unknown_frame_encoder_is_a_clear_error() -> None:
    with pytest.raises(AvseqError, match="frame encoder kind"):
        FrameEncoder("vgg99")


def test_cached_features_give_the_same_output_as_frames(tmp_path) -> None:
    from avseq.data.video.feature_cache import CachedFeatureDataset
    from avseq.media.clips import collate_video

    torch.manual_seed(0)
    model = video_model(3, {**SMALL, "freeze": True}, hidden_size=8).eval()
    frames, lengths = clips(2, 5), torch.tensor([5, 3])
    feats = model.encoder.frame_features(frames, lengths)
    data = {
        "features": [feats[0, :5].half(), feats[1, :3].half()],
        "labels": [0, 2],
        "paths": ["a", "b"],
    }
    ds = CachedFeatureDataset(data)
    batch = collate_video([ds[0], ds[1]])
    assert batch["features"].shape == (2, 5, 32) and batch["lengths"].tolist() == [5, 3]
    from_cache, _ = model(None, batch["lengths"], batch["features"])
    from_frames, _ = model(frames, lengths)
    torch.testing.assert_close(from_cache, from_frames, atol=2e-2, rtol=1e-2)  # float16 store


def test_a_frozen_encoder_is_unchanged_by_use_in_training_mode() -> None:
    enc = FrameEncoder(**SMALL, freeze=True)
    before = {k: v.clone() for k, v in enc.state_dict().items()}
    enc(clips(1, 4)[0])
    for k, v in enc.state_dict().items():
        torch.testing.assert_close(v, before[k])


def test_motion_input_sees_the_previous_frame() -> None:
    torch.manual_seed(0)
    enc = video_encoder({**SMALL, "motion": True}, hidden_size=8).eval()
    still = clips(1, 1).repeat(1, 4, 1, 1, 1)  # the same frame four times
    moving = still.clone()
    moving[0, 2] = clips(1, 1, seed=5)[0, 0]
    lengths = torch.tensor([4])
    f_still = enc.frame_features(still, lengths)
    f_moving = enc.frame_features(moving, lengths)
    torch.testing.assert_close(f_still[0, 1], f_still[0, 0])  # no change, same features
    torch.testing.assert_close(f_moving[0, 1], f_still[0, 1])  # frames before the change
    assert not torch.allclose(f_moving[0, 3], f_still[0, 3])  # differs from its previous
    with pytest.raises(AvseqError, match="motion input"):
        FrameEncoder("resnet18", motion=True)


@pytest.mark.parametrize("bright", [True, False])
def test_normal_flow_points_the_way_edges_moved_whatever_the_contrast(bright: bool) -> None:
    frame = torch.full((2, 3, 24, 24), 0.0)
    frame[0, :, 8:16, 6:14] = 1.0  # a square, then the same square 1 px to the right
    frame[1, :, 8:16, 7:15] = 1.0
    if not bright:
        frame = 1 - frame
    flow = normal_flow((frame[1:] + frame[:1]) / 2, frame[1:] - frame[:1])
    assert flow[0, 0].sum() > 0  # rightwards
    assert flow[0, 0].min() >= 0
    assert abs(flow[0, 1].sum()) < 1e-5  # no vertical motion


def test_flow_input_needs_motion_and_adds_two_channels() -> None:
    enc = FrameEncoder(**SMALL, motion=True, flow=True)
    assert enc.net.convs[0][0].in_channels == 8
    assert enc(clips(1, 2)[0].repeat(1, 2, 1, 1)).shape == (2, SMALL["out_dim"])
    with pytest.raises(AvseqError, match="flow input needs motion"):
        FrameEncoder(**SMALL, flow=True)


def test_frame_skip_states_carry_the_frame_features() -> None:
    torch.manual_seed(0)
    enc = video_encoder(SMALL, hidden_size=8, frame_skip=True).eval()
    batch, lengths = clips(2, 5), torch.tensor([5, 3])
    states = enc(batch, lengths)
    assert enc.output_size == 2 * 8 + 32 and states.shape == (2, 5, 48)
    torch.testing.assert_close(states[..., 16:], enc.frame_features(batch, lengths))
    torch.testing.assert_close(enc.frame_part(states), enc.frame_features(batch, lengths))
    torch.testing.assert_close(
        states[..., :16], enc.rnn(enc.frame_features(batch, lengths), lengths)
    )


@pytest.mark.parametrize(
    ("pool", "where", "proj_in"),
    [("mean", None, 16 * 16 + 16), ("max", 4, 4 * 16 + 16), ("meanmax", 0, 2 * 16)],
)
def test_small_cnn_pooling_choices(pool: str, where: int | None, proj_in: int) -> None:
    """The position map and the global pooling the small CNN's features are made of."""
    enc = FrameEncoder(**SMALL, global_pool=pool, where_channels=where).eval()
    assert enc.net.proj[0].in_features == proj_in
    frames = clips(1, 3)[0]
    feats = enc(frames)
    assert feats.shape == (3, SMALL["out_dim"])
    # frames are encoded one by one: a frame's features do not depend on its batch
    torch.testing.assert_close(enc(frames[1:2]), feats[1:2], atol=1e-5, rtol=1e-4)


@pytest.mark.parametrize(
    ("downsample", "size", "moved_to"), [("stride", 128, (64, 56)), ("maxpool", 96, (40, 48))]
)
def test_small_cnn_without_position_map_ignores_where_a_shape_is(
    downsample: str, size: int, moved_to: tuple[int, int]
) -> None:
    """With no position map and global max pooling, a shape moved by the CNN's total stride
    (16 pixels for four stride-2 blocks, 8 for four VGG-style blocks with three poolings)
    gives the same features, as long as it stays clear of the borders."""
    torch.manual_seed(0)
    enc = FrameEncoder(
        channels=(8, 8, 8, 8),
        out_dim=16,
        image_size=size,
        global_pool="max",
        where_channels=0,
        downsample=downsample,
    ).eval()
    frames = torch.full((2, 3, size, size), 128, dtype=torch.uint8)
    frames[0, :, 48:58, 40:50] = 255
    y, x = moved_to
    frames[1, :, y : y + 10, x : x + 10] = 255
    feats = enc(frames)
    torch.testing.assert_close(feats[0], feats[1], atol=1e-5, rtol=1e-4)


@pytest.mark.parametrize(("downsample", "last_map"), [("stride", 2), ("maxpool", 4)])
def test_small_cnn_downsampling_choices(downsample: str, last_map: int) -> None:
    """Stride-2 blocks halve the map in every block; VGG-style blocks convolve at stride 1 and
    max-pool between blocks, so the last map is twice as large for the same widths."""
    enc = FrameEncoder(**SMALL, downsample=downsample, where_channels=0).eval()
    convs = [m for m in enc.net.convs.modules() if isinstance(m, torch.nn.Conv2d)]
    pools = [m for m in enc.net.convs.modules() if isinstance(m, torch.nn.MaxPool2d)]
    assert [c.stride[0] for c in convs] == ([2] * 4 if downsample == "stride" else [1] * 4)
    assert len(pools) == (0 if downsample == "stride" else 3)
    frames = clips(1, 2)[0].float().contiguous(memory_format=torch.channels_last)
    assert enc.net.convs(frames).shape[-2:] == (last_map, last_map)
    assert enc(clips(1, 2)[0]).shape == (2, SMALL["out_dim"])


@pytest.mark.parametrize(("motion", "flow", "conv_in"), [(False, False, 1), (True, True, 4)])
def test_colour_path_leaves_the_conv_stack_grey(motion: bool, flow: bool, conv_in: int) -> None:
    """With a colour path, the conv stack sees each RGB triple (frame, change) as one grey
    level: frames that differ only in which channel holds which value look the same to it,
    and only the colour path tells them apart."""
    torch.manual_seed(0)
    enc = FrameEncoder(
        **SMALL,
        motion=motion,
        flow=flow,
        global_pool="meanmax",
        where_channels=0,
        colour_channels=4,
    ).eval()
    assert enc.net.convs[0][0].in_channels == conv_in
    assert enc.net.proj[0].in_features == 2 * 16 + 2 * 4
    frames = clips(1, 4)[0]
    if motion:  # each frame with the one before it
        frames = torch.cat([frames[1:], frames[:-1]], dim=1)
    swapped = frames[:, [2, 0, 1, 5, 3, 4][: frames.size(1)]]
    assert not torch.allclose(enc(frames), enc(swapped), atol=1e-4)
    with torch.no_grad():  # without the colour path's answer, the two are the same
        enc.net.colour[0].weight.zero_()
        enc.net.colour[0].bias.zero_()
    torch.testing.assert_close(enc(frames), enc(swapped), atol=1e-5, rtol=1e-4)


def test_bad_pooling_choices_are_clear_errors() -> None:
    with pytest.raises(AvseqError, match="global_pool must be one of"):
        FrameEncoder(**SMALL, global_pool="median")
    with pytest.raises(AvseqError, match="where_channels must be"):
        FrameEncoder(**SMALL, where_channels=-1)
    with pytest.raises(AvseqError, match="colour_channels must be >= 0"):
        FrameEncoder(**SMALL, colour_channels=-2)
    with pytest.raises(AvseqError, match="downsample must be one of"):
        FrameEncoder(**SMALL, downsample="avgpool")
    with pytest.raises(AvseqError, match="colour_channels is for the 'cnn'"):
        FrameEncoder(kind="mobilenet_v3_small", colour_channels=8)


def test_concept_detector_needs_the_frame_features_in_the_states() -> None:
    with pytest.raises(ValueError, match="frame_skip=true"):
        video_model(0, SMALL, hidden_size=8, vocab_size=12, concepts=True)
    model = video_model(0, SMALL, hidden_size=8, vocab_size=12, concepts=True, frame_skip=True)
    assert model.concepts is not None
    states = model.encoder(clips(2, 4), torch.tensor([4, 2]))
    mask, logits = model.caption_context(states, torch.tensor([4, 2]))
    assert logits.shape == (2, 12) and mask.tolist()[1] == [True, True, False, False]
