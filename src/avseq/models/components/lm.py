"""A recurrent language model over the recognizer's tokens, for shallow fusion in beam search.

Token ids are the recognizer's: 0 is padding (the CTC blank), 1..V-1 the tokenizer's units,
then `bos` = V and `eos` = V + 1, as in the recognizer's attention decoder.
"""

from __future__ import annotations

from typing import Any

import torch
from torch import nn

LMState = tuple[torch.Tensor, torch.Tensor]


class RNNLanguageModel(nn.Module):
    """Embedding -> stacked LSTM -> next-token logits.

    Args:
        vocab_size: the tokenizer's size including the blank (V); the model predicts V + 2 ids.
        embed_size, hidden_size, num_layers, dropout: the network.
    """

    def __init__(
        self,
        vocab_size: int,
        embed_size: int = 64,
        hidden_size: int = 256,
        num_layers: int = 2,
        dropout: float = 0.2,
    ) -> None:
        super().__init__()
        self.config: dict[str, Any] = {
            k: v for k, v in locals().items() if k not in ("self", "__class__")
        }
        self.bos, self.eos = vocab_size, vocab_size + 1
        self.num_layers, self.hidden_size = num_layers, hidden_size
        self.embed = nn.Embedding(vocab_size + 2, embed_size, padding_idx=0)
        self.rnn = nn.LSTM(
            embed_size,
            hidden_size,
            num_layers,
            batch_first=True,
            dropout=dropout if num_layers > 1 else 0.0,
        )
        self.dropout = nn.Dropout(dropout)
        self.out = nn.Linear(hidden_size, vocab_size + 2)

    def forward(self, inputs: torch.Tensor) -> torch.Tensor:
        """(B, L) token ids (starting with `bos`) -> (B, L, V + 2) next-token logits."""
        return self.run(inputs)[0]

    def run(
        self, inputs: torch.Tensor, state: LMState | None = None
    ) -> tuple[torch.Tensor, LMState]:
        """`forward` from a given state (None: `start`): (B, L) ids -> (B, L, V + 2) logits and
        the state after the last of them, for a stream fed in chunks (truncated BPTT)."""
        h, state = self.rnn(self.dropout(self.embed(inputs)), state)
        return self.out(self.dropout(h)), state

    def start(self, batch: int, device: torch.device | str = "cpu") -> LMState:
        """The state before any token (the first input is `bos`)."""
        zeros = torch.zeros(self.num_layers, batch, self.hidden_size, device=device)
        return zeros, zeros.clone()

    def step(self, tokens: torch.Tensor, state: LMState) -> tuple[torch.Tensor, LMState]:
        """(N,) current tokens -> (N, V + 2) log-probabilities of the next one, new state."""
        h, state = self.rnn(self.embed(tokens)[:, None, :], state)
        return self.out(h[:, 0]).float().log_softmax(-1), state
