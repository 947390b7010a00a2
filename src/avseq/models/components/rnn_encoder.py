"""Stacked (bi)directional RNN/LSTM/GRU encoder over variable-length, padded batches."""

from __future__ import annotations

import torch
import torch.nn.functional as F
from torch import _VF, nn
from torch.nn.utils.rnn import pack_padded_sequence, pad_packed_sequence

RNN_TYPES = {"rnn": nn.RNN, "lstm": nn.LSTM, "gru": nn.GRU}


def reverse_within(x: torch.Tensor, lengths: torch.Tensor) -> torch.Tensor:
    """Reverses each (B, T, C) sequence within its length; padding stays at the end."""
    t = torch.arange(x.size(1), device=x.device)[None, :]
    lens = lengths.to(x.device)[:, None]
    index = torch.where(t < lens, lens - 1 - t, t)  # (B, T)
    return x.gather(1, index[:, :, None].expand_as(x))


class RNNEncoder(nn.Module):
    """(B, T, input_size) + lengths -> (B, T, output_size) context states.

    A sequence gives the same states alone or padded in a batch: the backward direction starts
    at each sequence's true end, and outputs past a sequence's length are zero. Two equivalent
    execution paths share the same `nn.RNN`/`nn.LSTM`/`nn.GRU` parameters:

    - packed (`pack_padded_sequence`): padding costs no compute; the fast path for cuDNN.
    - per-direction on the padded batch, each sequence reversed within its length for the
      backward direction. On CPU this is faster than packed sequences (PyTorch's packed
      CPU kernels slice every step), and bucketed batches keep padding to a few percent.

    Args:
        input_size: features per step.
        hidden_size: units per direction.
        num_layers: stacked layers.
        rnn_type: "rnn", "lstm" or "gru".
        bidirectional: run a backward direction too (output_size = 2 * hidden_size).
        dropout: dropout between layers and on the output.
        packed: True/False forces a path; None packs on CUDA only.
    """

    def __init__(
        self,
        input_size: int,
        hidden_size: int = 256,
        num_layers: int = 3,
        rnn_type: str = "gru",
        bidirectional: bool = True,
        dropout: float = 0.1,
        packed: bool | None = None,
    ) -> None:
        super().__init__()
        if rnn_type not in RNN_TYPES:
            raise ValueError(f"rnn_type must be one of {sorted(RNN_TYPES)}, got {rnn_type!r}")
        if hidden_size < 1 or num_layers < 1 or not 0 <= dropout < 1:
            raise ValueError(
                f"bad encoder sizes: hidden_size={hidden_size}, "
                f"num_layers={num_layers}, dropout={dropout}"
            )
        self.rnn_type = rnn_type
        self.rnn = RNN_TYPES[rnn_type](
            input_size,
            hidden_size,
            num_layers=num_layers,
            batch_first=True,
            bidirectional=bidirectional,
            dropout=dropout if num_layers > 1 else 0.0,
        )
        self.dropout = nn.Dropout(dropout)
        self.packed = packed
        self.output_size = hidden_size * (2 if bidirectional else 1)

    def forward(self, x: torch.Tensor, lengths: torch.Tensor) -> torch.Tensor:
        packed = self.packed if self.packed is not None else x.is_cuda
        out = self._packed(x, lengths) if packed else self._per_direction(x, lengths)
        return self.dropout(out)  # (B, T, output_size), zeros past each length

    def _packed(self, x: torch.Tensor, lengths: torch.Tensor) -> torch.Tensor:
        packed = pack_padded_sequence(x, lengths.cpu(), batch_first=True, enforce_sorted=False)
        out, _ = self.rnn(packed)
        out, _ = pad_packed_sequence(out, batch_first=True, total_length=x.size(1))
        return out

    def _run_direction(self, x: torch.Tensor, layer: int, suffix: str) -> torch.Tensor:
        """One layer, one direction, over the padded batch: (B, T, C) -> (B, T, hidden)."""
        rnn = self.rnn
        weights = [
            getattr(rnn, f"{name}_l{layer}{suffix}")
            for name in ("weight_ih", "weight_hh", "bias_ih", "bias_hh")
        ]
        h0 = x.new_zeros(1, x.size(0), rnn.hidden_size)
        args = (weights, True, 1, 0.0, self.training, False, True)
        if self.rnn_type == "lstm":
            return _VF.lstm(x, (h0, h0), *args)[0]
        if self.rnn_type == "gru":
            return _VF.gru(x, h0, *args)[0]
        return _VF.rnn_tanh(x, h0, *args)[0]

    def _per_direction(self, x: torch.Tensor, lengths: torch.Tensor) -> torch.Tensor:
        mask = (torch.arange(x.size(1), device=x.device)[None, :] < lengths.to(x.device)[:, None])[
            :, :, None
        ]
        out = x
        for layer in range(self.rnn.num_layers):
            if layer > 0:
                out = F.dropout(out, self.rnn.dropout, self.training)
            outs = [self._run_direction(out, layer, "")]
            if self.rnn.bidirectional:
                backward = self._run_direction(reverse_within(out, lengths), layer, "_reverse")
                outs.append(reverse_within(backward, lengths))
            out = torch.cat(outs, dim=-1) * mask
        return out
