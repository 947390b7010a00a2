"""Stacked (bi)directional RNN/LSTM/GRU encoder over packed, variable-length sequences."""

from __future__ import annotations

import torch
from torch import nn
from torch.nn.utils.rnn import pack_padded_sequence, pad_packed_sequence

RNN_TYPES = {"rnn": nn.RNN, "lstm": nn.LSTM, "gru": nn.GRU}


class RNNEncoder(nn.Module):
    """(B, T, input_size) + lengths -> (B, T, output_size) context states.

    Sequences are packed, so padding costs no compute and the backward direction starts at
    each sequence's true end: a sequence gives the same states alone or padded in a batch.

    Args:
        input_size: features per step.
        hidden_size: units per direction.
        num_layers: stacked layers.
        rnn_type: "rnn", "lstm" or "gru".
        bidirectional: run a backward direction too (output_size = 2 * hidden_size).
        dropout: dropout between layers and on the output.
    """

    def __init__(
        self,
        input_size: int,
        hidden_size: int = 256,
        num_layers: int = 3,
        rnn_type: str = "gru",
        bidirectional: bool = True,
        dropout: float = 0.1,
    ) -> None:
        super().__init__()
        if rnn_type not in RNN_TYPES:
            raise ValueError(f"rnn_type must be one of {sorted(RNN_TYPES)}, got {rnn_type!r}")
        if hidden_size < 1 or num_layers < 1 or not 0 <= dropout < 1:
            raise ValueError(f"bad encoder sizes: hidden_size={hidden_size}, "
                             f"num_layers={num_layers}, dropout={dropout}")
        self.rnn = RNN_TYPES[rnn_type](
            input_size, hidden_size, num_layers=num_layers, batch_first=True,
            bidirectional=bidirectional, dropout=dropout if num_layers > 1 else 0.0,
        )
        self.dropout = nn.Dropout(dropout)
        self.output_size = hidden_size * (2 if bidirectional else 1)

    def forward(self, x: torch.Tensor, lengths: torch.Tensor) -> torch.Tensor:
        packed = pack_padded_sequence(x, lengths.cpu(), batch_first=True, enforce_sorted=False)
        out, _ = self.rnn(packed)
        out, _ = pad_packed_sequence(out, batch_first=True, total_length=x.size(1))
        return self.dropout(out)  # (B, T, output_size), zeros past each length
