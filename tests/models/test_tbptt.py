"""Truncated BPTT for the language model (`model.tbptt_steps`): the loss is the same as whole
backpropagation; the gradients are the same when a chunk covers the sentence and those of the
textbook loop (backward per chunk, state detached) otherwise; memory stays flat as the
sentence grows."""

from __future__ import annotations

from functools import partial

import pytest
import torch

from avseq.errors import AvseqError
from avseq.models.components.lm import RNNLanguageModel
from avseq.models.tasks.lm import LanguageModelTask, summed_nll
from avseq.text.tokenizer import CharTokenizer

TOK = CharTokenizer()
# training_step runs here without a Trainer: its self.log calls are no-ops
pytestmark = pytest.mark.filterwarnings("ignore:You are trying to `self.log")


@pytest.fixture(scope="module", autouse=True)
def one_thread():
    """Tiny LSTMs: on a busy machine, more threads only wait for each other."""
    threads = torch.get_num_threads()
    torch.set_num_threads(1)
    yield
    torch.set_num_threads(threads)


def task(tbptt_steps: int) -> LanguageModelTask:
    torch.manual_seed(0)
    net = partial(RNNLanguageModel, embed_size=8, hidden_size=16, num_layers=2, dropout=0.0)
    return LanguageModelTask(TOK, partial(torch.optim.SGD, lr=0.1), net, tbptt_steps=tbptt_steps)


def batch(length: int) -> dict[str, torch.Tensor]:
    g = torch.Generator().manual_seed(length)
    tokens = torch.randint(1, TOK.vocab_size, (2, length), generator=g)
    targets = torch.cat([tokens[:, 1:], torch.full((2, 1), TOK.vocab_size + 1)], dim=1)
    targets[1, length - 5 :] = 0  # the second sentence is shorter: padding
    return {"inputs": tokens, "targets": targets}


def loss_and_grads(model: LanguageModelTask, b: dict) -> tuple[float, list[torch.Tensor]]:
    model.zero_grad()
    loss = model.training_step(b, 0)
    loss.backward()
    return float(loss.detach()), [p.grad.clone() for p in model.parameters()]


def textbook(model: LanguageModelTask, b: dict, k: int) -> tuple[float, list[torch.Tensor]]:
    """The usual loop: a backward per chunk, the state detached in between."""
    model.zero_grad()
    n = (b["targets"] != 0).sum()
    state, total = None, 0.0
    for start in range(0, b["inputs"].size(1), k):
        logits, state = model.net.run(b["inputs"][:, start : start + k], state)
        loss = summed_nll(logits, b["targets"][:, start : start + k]) / n
        loss.backward()
        total += float(loss.detach())
        state = tuple(s.detach() for s in state)
    return total, [p.grad.clone() for p in model.parameters()]


@pytest.mark.parametrize("k", [40, 64])
def test_a_chunk_as_long_as_the_sentence_is_full_bptt(k: int) -> None:
    full_loss, full = loss_and_grads(task(0), batch(40))
    loss, grads = loss_and_grads(task(k), batch(40))
    assert loss == full_loss
    assert all(torch.equal(g, f) for g, f in zip(grads, full, strict=True))


def test_shorter_chunks_truncate_the_gradient_not_the_loss() -> None:
    full_loss, full = loss_and_grads(task(0), batch(40))
    loss, grads = loss_and_grads(task(7), batch(40))
    ref_loss, ref = textbook(task(0), batch(40), 7)
    assert loss == pytest.approx(full_loss, rel=1e-6) and loss == pytest.approx(ref_loss, rel=1e-6)
    for g, r in zip(grads, ref, strict=True):
        torch.testing.assert_close(g, r, rtol=1e-5, atol=1e-7)
    hh = [i for i, (name, _) in enumerate(task(0).named_parameters()) if "weight_hh" in name]
    assert all((grads[i] - full[i]).abs().max() > 1e-4 for i in hh)  # truncation did happen


class SavedBytes(torch.autograd.graph.saved_tensors_hooks):
    """The peak of the bytes autograd keeps for backward, counted as they are saved and freed."""

    def __init__(self) -> None:
        self.live = self.peak = 0
        super().__init__(self._pack, lambda handle: handle.tensor)

    def _pack(self, tensor: torch.Tensor) -> object:
        size = tensor.numel() * tensor.element_size()
        self.live += size
        self.peak = max(self.peak, self.live)
        meter = self

        class Handle:
            def __init__(self) -> None:
                self.tensor = tensor

            def __del__(self) -> None:
                meter.live -= size

        return Handle()


def peak_saved(k: int, length: int) -> int:
    model, meter = task(k), SavedBytes()
    with meter:
        model.training_step(batch(length), 0).backward()
    return meter.peak


def test_memory_stays_flat_as_the_sentence_grows() -> None:
    assert peak_saved(16, 256) == peak_saved(16, 64)
    assert peak_saved(0, 256) > 3 * peak_saved(0, 64)  # whole BPTT grows with the sentence


def test_a_negative_chunk_is_refused() -> None:
    with pytest.raises(AvseqError, match="tbptt_steps=-1"):
        task(-1)
