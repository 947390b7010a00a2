"""`avseq study gradients`: the gradients it reports are those of the project's encoder (its
states unrolled with its own weights are the encoder's outputs, and dL/dh_t is the product of
Jacobians the docs describe); networks share one parameter budget; a tiny run writes the
report and its figures (the speech part: test_speech_study.py)."""

from __future__ import annotations

import json
from pathlib import Path

import pytest
import torch

from avseq.cli.main import main
from avseq.study.gradients import distance_curve, networks
from avseq.study.models import (
    CELLS,
    SequenceRegressor,
    matched_hidden,
    parameter_count,
    regressor_parameters,
)
from avseq.study.tasks import adding_batch


@pytest.mark.parametrize("cell", CELLS)
@pytest.mark.parametrize("bidirectional", [False, True])
def test_unrolled_states_are_the_encoders_outputs(cell: str, bidirectional: bool) -> None:
    torch.manual_seed(0)
    model = SequenceRegressor(2, 5, cell, bidirectional)
    x, _ = adding_batch(3, 9, torch.Generator().manual_seed(0))
    out = model.encoder(x, torch.full((3,), 9))
    prediction, forward, backward = model.unrolled(x)
    torch.testing.assert_close(torch.stack(forward, 1), out[:, :, :5])
    if bidirectional:
        torch.testing.assert_close(torch.stack(backward, 1), out[:, :, 5:])
    torch.testing.assert_close(prediction, model(x))


def test_the_gradient_is_the_product_of_jacobians() -> None:
    """For h_t = tanh(W x_t + U h_{t-1} + b): dL/dh_{t-1} = U^T diag(1 - h_t^2) dL/dh_t."""
    torch.manual_seed(0)
    model = SequenceRegressor(2, 6, "rnn", False)
    x, y = adding_batch(1, 12, torch.Generator().manual_seed(1))
    prediction, states, _ = model.unrolled(x)
    loss = ((prediction - y) ** 2).mean()
    autograd = torch.autograd.grad(loss, states, retain_graph=True)
    u = model.encoder.rnn.weight_hh_l0
    by_hand = [torch.autograd.grad(loss, states[-1])[0]]
    for t in range(len(states) - 1, 0, -1):
        by_hand.insert(0, (by_hand[0] * (1 - states[t] ** 2)) @ u)
    for a, b in zip(autograd, by_hand, strict=True):
        torch.testing.assert_close(a, b)
    curve = distance_curve(model, 12, seed=1, device=torch.device("cpu"))
    assert curve["relative_norm"][0] == 1.0 and curve["distance"][0] == 0


def test_every_network_gets_the_same_parameter_budget() -> None:
    nets = networks(4700)
    assert {(n["cell"], n["bidirectional"]) for n in nets} == {
        (c, b) for c in CELLS for b in (False, True)
    }
    for n in nets:
        model = SequenceRegressor(2, n["hidden"], n["cell"], n["bidirectional"])
        assert n["parameters"] == parameter_count(model)
        assert 0.9 * 4700 <= n["parameters"] <= 4700
        bigger = regressor_parameters(n["cell"], n["bidirectional"], n["hidden"] + 1)
        assert bigger > 4700
    assert matched_hidden("rnn", False, 4700) > matched_hidden("lstm", False, 4700)


def test_the_adding_problem_sums_the_two_marked_values() -> None:
    x, y = adding_batch(50, 20, torch.Generator().manual_seed(0))
    markers = x[..., 1]
    assert torch.equal(markers.sum(1), torch.full((50,), 2.0))
    assert torch.equal(markers[:, :10].sum(1), torch.ones(50))  # one in each half
    torch.testing.assert_close(y, (x[..., 0] * markers).sum(1))
    again, _ = adding_batch(50, 20, torch.Generator().manual_seed(0))
    assert torch.equal(x, again)


@pytest.mark.slow
def test_a_tiny_study_writes_the_report(tmp_path: Path, capsys) -> None:
    out = tmp_path / "study"
    assert main(["study", "gradients", "--size", "tiny", "--no-speech", "--output", str(out)]) == 0
    report = (out / "rnn_study.md").read_text()
    assert "`--no-speech`" in report and "## The same cells on the built-in speech" not in report
    assert capsys.readouterr().out.startswith(report)
    for name in ("RNN", "BiRNN", "LSTM", "BiLSTM", "GRU", "BiGRU"):
        assert f"| {name} |" in report
    pngs = sorted(out.glob("figures/*.png"))
    assert len(pngs) == 3 and all(f"]({p.relative_to(out)})" in report for p in pngs)
    assert all(p.read_bytes()[:4] == b"\x89PNG" and p.stat().st_size < 150_000 for p in pngs)
    results = json.loads((out / "rnn_study.json").read_text())
    # the vanilla RNN's gradient vanishes: far states get a tiny share of what the last gets
    for curve in results["curves"]:
        near = [v for d, v in zip(curve["distance"], curve["relative_norm"], strict=True) if d < 5]
        assert all(v > 0 for v in near)  # measured, not zeros
        if curve["cell"] == "rnn":
            assert curve["relative_norm"][-1] < 1e-3
    assert {(r["cell"], r["clip"]) for r in results["clipping"]} == {
        (c, clip) for c in CELLS for clip in (False, True)
    }
