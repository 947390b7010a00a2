"""The networks of the study: the project's `RNNEncoder` (one layer, any cell, one or two
directions) read out by a linear head, at a matched parameter budget; and its states unrolled
step by step with its own weights, so autograd gives dL/dh_t at every step. The speech part
matches the budgets of whole (stacked) encoders the same way."""

from __future__ import annotations

from collections.abc import Callable

import torch
from torch import _VF, nn

from avseq.models.components.rnn_encoder import RNNEncoder

CELLS = ("rnn", "lstm", "gru")
_STEP = {"rnn": _VF.rnn_tanh_cell, "lstm": _VF.lstm_cell, "gru": _VF.gru_cell}


class SequenceRegressor(nn.Module):
    """(B, T, inputs) -> (B,) a number read from the state that has seen the whole sequence:
    the forward direction's last state (and the backward direction's first one).

    Args:
        inputs: features per step.
        hidden_size: units per direction.
        cell: "rnn" (tanh), "lstm" or "gru".
        bidirectional: a backward direction too.
    """

    def __init__(self, inputs: int, hidden_size: int, cell: str, bidirectional: bool) -> None:
        super().__init__()
        self.encoder = RNNEncoder(
            inputs, hidden_size, 1, cell, bidirectional, dropout=0.0, packed=False
        )
        self.head = nn.Linear(self.encoder.output_size, 1)
        self.hidden_size = hidden_size

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        lengths = torch.full((x.size(0),), x.size(1), dtype=torch.long)
        out = self.encoder(x, lengths)  # (B, T, H or 2H)
        return self.readout(out[:, -1, : self.hidden_size], out[:, 0, self.hidden_size :])

    def readout(self, last_forward: torch.Tensor, first_backward: torch.Tensor) -> torch.Tensor:
        """The head on (B, H) last forward state and (B, H or 0) first backward state."""
        return self.head(torch.cat([last_forward, first_backward], dim=-1)).squeeze(-1)

    def unrolled(self, x: torch.Tensor) -> tuple[torch.Tensor, list[torch.Tensor], list]:
        """The same prediction, the encoder run one step at a time with its own weights.

        Returns:
            (prediction (B,), forward states h_0..h_{T-1}, backward states h_0..h_{T-1} or []),
            each state (B, H) and part of the graph, so `autograd.grad` gives dL/dh_t.
        """
        forward = self._run(x, "")
        backward = self._run(x.flip(1), "_reverse")[::-1] if self.encoder.rnn.bidirectional else []
        first_backward = backward[0] if backward else forward[-1][:, :0]
        return self.readout(forward[-1], first_backward), forward, backward

    def _run(self, x: torch.Tensor, suffix: str) -> list[torch.Tensor]:
        rnn = self.encoder.rnn
        weights = [getattr(rnn, f"{w}_l0{suffix}") for w in ("weight_ih", "weight_hh")]
        weights += [getattr(rnn, f"{b}_l0{suffix}") for b in ("bias_ih", "bias_hh")]
        step = _STEP[self.encoder.rnn_type]
        h = x.new_zeros(x.size(0), self.hidden_size)
        state = (h, h) if self.encoder.rnn_type == "lstm" else h
        states = []
        for t in range(x.size(1)):
            state = step(x[:, t], state, *weights)
            states.append(state[0] if isinstance(state, tuple) else state)
        return states


def parameter_count(module: nn.Module) -> int:
    return sum(p.numel() for p in module.parameters())


GATES = {"rnn": 1, "lstm": 4, "gru": 3}


def encoder_parameters(
    cell: str, hidden: int, inputs: int, layers: int = 1, bidirectional: bool = False
) -> int:
    """The parameters of an `RNNEncoder`: per layer, direction and gate, input and recurrent
    weights and two biases; layers after the first read both directions of the one below."""
    directions = 2 if bidirectional else 1
    total = 0
    for layer in range(layers):
        below = inputs if layer == 0 else directions * hidden
        total += directions * GATES[cell] * hidden * (below + hidden + 2)
    return total


def regressor_parameters(cell: str, bidirectional: bool, hidden: int, inputs: int = 2) -> int:
    """The parameters of a `SequenceRegressor`: its one-layer encoder, then the head."""
    directions = 2 if bidirectional else 1
    return encoder_parameters(cell, hidden, inputs, 1, bidirectional) + directions * hidden + 1


def largest_hidden(parameters: Callable[[int], int], budget: int, what: str) -> int:
    """The largest hidden size h with `parameters(h)` at most `budget`."""
    hidden = 0
    while parameters(hidden + 1) <= budget:
        hidden += 1
    if hidden == 0:
        raise ValueError(f"a parameter budget of {budget} is too small for a {what}")
    return hidden


def matched_hidden(cell: str, bidirectional: bool, budget: int, inputs: int = 2) -> int:
    """The largest hidden size whose `SequenceRegressor` has at most `budget` parameters."""
    return largest_hidden(
        lambda h: regressor_parameters(cell, bidirectional, h, inputs), budget, cell
    )


def matched_encoder_hidden(
    cell: str, budget: int, inputs: int, layers: int, bidirectional: bool = True
) -> int:
    """The largest hidden size whose `RNNEncoder` has at most `budget` parameters."""
    return largest_hidden(
        lambda h: encoder_parameters(cell, h, inputs, layers, bidirectional), budget, cell
    )
