"""The keyword classifier: an utterance's answer does not depend on the batch it is padded
into, on either RNN path; its spec round-trips through what a checkpoint stores; it learns to
tell rising from falling tones it has not heard."""

from __future__ import annotations

import functools
import math

import pytest
import torch
import torch.nn.functional as F
from torch.nn.utils.rnn import pad_sequence

from avseq.features.audio import LogMel, SpecAugment
from avseq.models.components.attention import AttentionPoolingClassifier
from avseq.models.components.keyword import KeywordClassifier, build_keyword_classifier
from avseq.models.components.rnn_encoder import RNNEncoder
from avseq.models.components.specs import build_spec, net_spec
from avseq.models.components.subsampling import Conv2dSubsampler


def tiny_builder(packed: bool) -> functools.partial:
    p = functools.partial
    return p(
        build_keyword_classifier,
        frontend=p(LogMel, n_mels=40),
        augment=p(SpecAugment, freq_width=5, time_width=5),
        subsampler=p(Conv2dSubsampler, out_dim=16, channels=4),
        encoder=p(RNNEncoder, hidden_size=16, num_layers=2, rnn_type="lstm", packed=packed),
        head=p(AttentionPoolingClassifier, attn_size=8),
    )


@pytest.mark.parametrize("packed", [False, True])
def test_an_utterance_scores_the_same_alone_and_padded_in_a_batch(packed: bool) -> None:
    torch.manual_seed(0)
    model = tiny_builder(packed)(num_classes=5).eval()
    lengths = torch.tensor([16000, 9100, 4000])
    waves = torch.randn(3, 16000) * (torch.arange(16000)[None, :] < lengths[:, None])
    with torch.no_grad():
        logits, weights = model(waves, lengths)
        for i, n in enumerate(lengths.tolist()):
            alone, alone_weights = model(waves[i : i + 1, :n], lengths[i : i + 1])
            assert torch.allclose(logits[i], alone[0], atol=1e-5), (i, logits[i], alone[0])
            frames = alone_weights.size(1)
            assert torch.allclose(weights[i, :frames], alone_weights[0], atol=1e-6)
            assert float(weights[i, frames:].abs().sum()) == 0.0  # no attention on padding
    assert torch.allclose(weights.sum(-1), torch.ones(3))


def test_the_stored_spec_rebuilds_the_same_network() -> None:
    builder = tiny_builder(packed=False)
    spec = net_spec(builder, num_classes=3)
    torch.manual_seed(1)
    first = builder(num_classes=3)
    torch.manual_seed(1)
    again = build_spec(spec)
    assert isinstance(again, KeywordClassifier)
    assert first.state_dict().keys() == again.state_dict().keys()
    for name, value in first.state_dict().items():
        assert torch.equal(value, again.state_dict()[name]), name
    with pytest.raises(ValueError, match="at least 2 classes"):
        builder(num_classes=1)


def chirps(starts: list[float], seed: int) -> tuple[torch.Tensor, torch.Tensor, torch.Tensor]:
    """A rising (label 0) and a falling (label 1) sweep between f and 2.5 f per start f, of
    0.4-0.55 s: padded waves (B, T), lengths (B,), labels (B,). Per-band normalisation of the
    log-mel erases a steady tone's pitch, not the direction of a sweep."""
    g = torch.Generator().manual_seed(seed)
    waves, labels = [], []
    for i, f in enumerate(starts):
        seconds = 0.4 + 0.05 * (i % 4)
        t = torch.arange(int(seconds * 16000)) / 16000
        for label, (f0, f1) in enumerate(((f, 2.5 * f), (2.5 * f, f))):
            phase = 2 * math.pi * (f0 * t + (f1 - f0) * t**2 / (2 * seconds))
            waves.append(0.3 * torch.sin(phase) + 0.01 * torch.randn(t.numel(), generator=g))
            labels.append(label)
    lengths = torch.tensor([w.numel() for w in waves])
    return pad_sequence(waves, batch_first=True), lengths, torch.tensor(labels)


@pytest.mark.slow
def test_it_learns_the_direction_of_sweeps_it_has_not_heard() -> None:
    threads = torch.get_num_threads()
    torch.set_num_threads(1)  # tiny tensors: more threads only contend for shared cores
    try:
        torch.manual_seed(0)
        model = tiny_builder(packed=False)(num_classes=2)
        waves, lengths, labels = chirps(torch.linspace(250, 900, 16).tolist(), seed=0)
        optimizer = torch.optim.AdamW(model.parameters(), lr=0.01)
        for _ in range(60):
            logits, _ = model.train()(waves, lengths)
            loss = F.cross_entropy(logits, labels)
            optimizer.zero_grad()
            loss.backward()
            optimizer.step()
            if loss.item() < 0.05:
                break
        held_out, held_lengths, held_labels = chirps(torch.linspace(280, 870, 8).tolist(), 50)
        with torch.no_grad():
            predicted = model.eval()(held_out, held_lengths)[0].argmax(-1)
    finally:
        torch.set_num_threads(threads)
    assert loss.item() < 0.05
    # 16 new sweeps: chance gets 13 or more right about 1% of the time
    assert (predicted == held_labels).sum() >= 13, predicted.tolist()
