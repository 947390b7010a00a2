"""Model components: shapes, padding invariance, batch consistency, CTC decoding."""

from __future__ import annotations

from functools import partial

import pytest
import torch

from avseq.decoding.ctc import ctc_greedy, ctc_greedy_texts
from avseq.features.audio import LogMel, SpecAugment
from avseq.models.components.ctc_head import CTCHead, ctc_loss
from avseq.models.components.recognizer import build_recognizer
from avseq.models.components.rnn_encoder import RNNEncoder
from avseq.models.components.subsampling import Conv2dSubsampler
from avseq.text.tokenizer import CharTokenizer


@pytest.mark.parametrize("rnn_type", ["rnn", "lstm", "gru"])
@pytest.mark.parametrize("bidirectional", [True, False])
@pytest.mark.parametrize("packed", [True, False])
def test_encoder_shapes_and_padding_invariance(
    rnn_type: str, bidirectional: bool, packed: bool
) -> None:
    torch.manual_seed(0)
    enc = RNNEncoder(
        8,
        hidden_size=16,
        num_layers=2,
        rnn_type=rnn_type,
        bidirectional=bidirectional,
        dropout=0.0,
        packed=packed,
    ).eval()
    lengths = torch.tensor([5, 12, 3])
    x = torch.randn(3, 12, 8)  # the padding holds noise, not zeros: it must not leak through
    out = enc(x, lengths)
    assert out.shape == (3, 12, 32 if bidirectional else 16)
    for i, n in enumerate(lengths.tolist()):
        alone = enc(x[i : i + 1, :n], lengths[i : i + 1])
        torch.testing.assert_close(alone[0], out[i, :n], atol=1e-6, rtol=1e-5)
    # every state past a sequence's length is exactly zero (7 + 9 padded steps here)
    padding = torch.arange(12)[None, :] >= lengths[:, None]  # (B, T)
    assert int(padding.sum()) == 16 and out[padding].count_nonzero() == 0


def test_encoder_rejects_unknown_type() -> None:
    with pytest.raises(ValueError, match="rnn_type"):
        RNNEncoder(8, rnn_type="transformer")


def test_logmel_batch_equals_items() -> None:
    torch.manual_seed(0)
    mel = LogMel()
    lengths = torch.tensor([16000, 9000, 4000])
    waves = torch.randn(3, 16000) * (torch.arange(16000)[None] < lengths[:, None])
    feats, frames = mel(waves, lengths)
    assert feats.shape == (3, 80, int(frames.max()))
    for i, n in enumerate(lengths.tolist()):
        one, f = mel(waves[i : i + 1, :n], lengths[i : i + 1])
        assert f.item() == frames[i].item()
        torch.testing.assert_close(one[0], feats[i, :, : f.item()], atol=1e-4, rtol=1e-4)


def test_specaugment_masks_differ_per_item() -> None:
    torch.manual_seed(0)
    feats = torch.ones(4, 80, 200)
    out = SpecAugment(freq_masks=2, freq_width=20, time_masks=2, time_width=40)(feats)
    zeros = (out == 0).flatten(1).sum(1)
    assert (zeros > 0).all() and len(set(zeros.tolist())) > 1


def test_recognizer_output_and_padding_invariance() -> None:
    torch.manual_seed(0)
    model = build_recognizer(
        29,
        frontend=LogMel,
        augment=SpecAugment,
        subsampler=partial(Conv2dSubsampler, out_dim=32),
        encoder=partial(RNNEncoder, hidden_size=32, num_layers=2),
        head=CTCHead,
    ).eval()
    lengths = torch.tensor([32000, 20000, 7000])
    waves = torch.randn(3, 32000) * 0.1
    logits, frames = model(waves, lengths)
    assert logits.shape == (3, int(frames.max()), 29)
    assert frames.tolist() == [50, 31, 11]  # 10 ms hop, 4x subsampling
    for i, n in enumerate(lengths.tolist()):
        alone, f = model(waves[i : i + 1, :n], lengths[i : i + 1])
        torch.testing.assert_close(alone[0], logits[i, : f.item()], atol=1e-5, rtol=1e-4)


def test_ctc_greedy_known_paths() -> None:
    # frames: a a _ b b _ b c  -> "abbc" ; second sequence only 3 valid frames: _ c c -> "c"
    path1 = [1, 1, 0, 2, 2, 0, 2, 3]
    path2 = [0, 3, 3, 1, 1, 1, 1, 1]
    logits = torch.full((2, 8, 4), -5.0)
    for b, path in enumerate([path1, path2]):
        for t, k in enumerate(path):
            logits[b, t, k] = 5.0
    assert ctc_greedy(logits, torch.tensor([8, 3])) == [[1, 2, 2, 3], [3]]
    tok = CharTokenizer("abc")
    assert ctc_greedy_texts(logits, torch.tensor([8, 3]), tok) == ["abbc", "c"]


def test_ctc_loss_is_float32_and_finite_for_impossible_alignments() -> None:
    logits = torch.randn(2, 4, 5, dtype=torch.bfloat16, requires_grad=True)
    targets = torch.tensor([[1, 2, 3, 4, 1, 2], [1, 2, 0, 0, 0, 0]])
    loss = ctc_loss(logits, torch.tensor([4, 4]), targets, torch.tensor([6, 2]))
    assert loss.dtype == torch.float32 and torch.isfinite(loss)  # zero_infinity for item 0
    loss.backward()
    assert torch.isfinite(logits.grad.float()).all()


@pytest.mark.parametrize("rnn_type", ["rnn", "lstm", "gru"])
def test_encoder_packed_and_per_direction_paths_agree(rnn_type: str) -> None:
    torch.manual_seed(0)
    enc = RNNEncoder(8, hidden_size=16, num_layers=2, rnn_type=rnn_type, dropout=0.0)
    lengths = torch.tensor([7, 12, 2, 12])
    x = torch.randn(4, 12, 8)
    outs, grads = [], []
    for packed in (True, False):
        enc.packed = packed
        enc.zero_grad()
        out = enc(x, lengths)
        (out * torch.linspace(-1, 1, out.numel()).view_as(out)).sum().backward()
        outs.append(out.detach())
        grads.append(torch.cat([p.grad.flatten() for p in enc.parameters()]))
    torch.testing.assert_close(outs[0], outs[1], atol=1e-5, rtol=1e-4)
    torch.testing.assert_close(grads[0], grads[1], atol=1e-4, rtol=1e-3)
