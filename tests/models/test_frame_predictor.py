"""The frame predictor: shapes for any batch and length, an untrained model is the copy-last
baseline, the carried recurrent state equals the shared encoder's, it can fit a batch, and the
baselines' PSNR matches a hand computation."""

from __future__ import annotations

import functools
import math

import pytest
import torch

from avseq.metrics.frames import HorizonScores, copy_last, linear_extrapolation
from avseq.models.components.frame_predictor import FramePredictor
from avseq.models.components.rnn_encoder import RNNEncoder


def tiny(image_size: int = 16, rnn_type: str = "lstm", **kwargs) -> FramePredictor:
    core = functools.partial(
        RNNEncoder,
        hidden_size=32,
        num_layers=2,
        rnn_type=rnn_type,
        bidirectional=kwargs.pop("bidirectional", False),
        dropout=0.0,
    )
    return FramePredictor(image_size, core, channels=(8, 16), latent_size=32, **kwargs)


def moving_squares(batch: int, frames: int, size: int = 16, seed: int = 0) -> torch.Tensor:
    """(B, T, 3, S, S) bright squares moving at a constant, per-sequence velocity."""
    g = torch.Generator().manual_seed(seed)
    out = torch.full((batch, frames, 3, size, size), 0.1)
    for b in range(batch):
        x, y = torch.randint(2, size - 6, (2,), generator=g).tolist()
        dx, dy = (torch.randint(0, 2, (2,), generator=g) * 2 - 1).tolist()
        colour = torch.rand(3, 1, 1, generator=g) * 0.6 + 0.4
        for t in range(frames):
            px, py = (x + dx * t) % (size - 4), (y + dy * t) % (size - 4)
            out[b, t, :, py : py + 4, px : px + 4] = colour
    return out


@pytest.mark.parametrize("batch,seen,future", [(1, 2, 1), (3, 5, 3), (2, 8, 4)])
@pytest.mark.parametrize("predict_context", [False, True])
def test_shapes_for_any_batch_and_length(batch, seen, future, predict_context) -> None:
    model = tiny()
    frames = torch.rand(batch, seen, 3, 16, 16)
    with torch.no_grad():
        out = model(frames, future, predict_context=predict_context)
    steps = future + (seen - 1 if predict_context else 0)
    assert out.shape == (batch, steps, 3, 16, 16)
    assert float(out.min()) >= 0.0 and float(out.max()) <= 1.0


def test_an_untrained_model_is_the_copy_last_baseline() -> None:
    frames = torch.rand(2, 4, 3, 16, 16)
    out = tiny(rnn_type="gru")(frames, 3)
    assert torch.equal(out, copy_last(frames, 3))


def test_the_carried_state_gives_the_shared_encoders_states() -> None:
    model = tiny().eval()
    latents = torch.randn(3, 7, 32)
    whole = model.core(latents, torch.full((3,), 7))
    first, state = model.run_core(latents[:, :4])
    rest, _ = model.run_core(latents[:, 4:], state)
    torch.testing.assert_close(torch.cat([first, rest], dim=1), whole)


def test_the_core_must_not_see_the_future_and_sizes_must_fit() -> None:
    with pytest.raises(ValueError, match="unidirectional"):
        tiny(bidirectional=True)
    with pytest.raises(ValueError, match="multiple"):
        tiny(image_size=18)


@pytest.fixture
def one_thread():
    """Tiny tensors gain nothing from threads, and lose much when other work shares the CPU."""
    threads = torch.get_num_threads()
    torch.set_num_threads(1)
    yield
    torch.set_num_threads(threads)


@pytest.mark.slow
def test_a_tiny_model_fits_a_batch_far_below_the_copy_last_error(one_thread) -> None:
    torch.manual_seed(0)
    frames = moving_squares(4, 8)
    seen, future = frames[:, :5], frames[:, 5:]
    copy_mse = float(((copy_last(seen, 3) - future) ** 2).mean())
    model = tiny()
    opt = torch.optim.Adam(model.parameters(), lr=3e-3)
    for _ in range(150):
        loss = ((model(seen, 3, predict_context=True) - frames[:, 1:]) ** 2).mean()
        opt.zero_grad()
        loss.backward()
        opt.step()
    with torch.no_grad():
        mse = float(((model(seen, 3) - future) ** 2).mean())
    assert mse < 0.2 * copy_mse, (mse, copy_mse)


def test_baselines_and_psnr_by_hand() -> None:
    before, last = torch.full((1, 1, 3, 16, 16), 0.2), torch.full((1, 1, 3, 16, 16), 0.4)
    seen = torch.cat([before, last], dim=1)
    target = torch.cat([torch.full_like(last, 0.55), torch.full_like(last, 0.9)], dim=1)
    linear = linear_extrapolation(seen, 2)
    torch.testing.assert_close(linear, torch.cat([last + 0.2, last + 0.4], dim=1))
    scores = {}
    for name, pred in (("copy", copy_last(seen, 2)), ("linear", linear)):
        metric = HorizonScores(2)
        metric.update(pred, target)
        scores[name] = metric.compute()["psnr"]
    # copy-last: errors 0.15 and 0.5; linear: 0.6 vs 0.55 and 0.8 vs 0.9
    expected = {"copy": [0.15**2, 0.5**2], "linear": [0.05**2, 0.1**2]}
    for name, mses in expected.items():
        assert scores[name] == pytest.approx([10 * math.log10(1 / m) for m in mses], abs=1e-3)
    clipped = linear_extrapolation(torch.stack([before[:, 0], before[:, 0] + 0.7], dim=1), 1)
    assert float(clipped.max()) == 1.0  # 0.9 + 0.7 is clipped to the pixel range
