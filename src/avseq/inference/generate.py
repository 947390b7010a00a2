"""Text from the recurrent language model (`avseq generate`): ancestral sampling, one unit at a
time from the LM's next-unit distribution, sharpened by a temperature and cut to the `top_k`
most likely units (Holtzman et al., 2020, discuss both)."""

from __future__ import annotations

import math
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import torch

from avseq.errors import AvseqError
from avseq.models.checkpoint import load_language_model_and_units
from avseq.models.components.lm import RNNLanguageModel
from avseq.text.tokenizer import Tokenizer


@dataclass(frozen=True)
class SamplingOptions:
    """How each next unit is chosen.

    Args:
        temperature: the log-probabilities are divided by it before sampling; < 1 sharpens,
            > 1 flattens, 0 takes the most likely unit (greedy).
        top_k: sample among the k most likely units only (0: all; 1: greedy).
        max_chars: a sample stops after this many characters if the LM has not ended it.
    """

    temperature: float = 1.0
    top_k: int = 0
    max_chars: int = 200

    def __post_init__(self) -> None:
        if not (math.isfinite(self.temperature) and self.temperature >= 0):
            raise AvseqError(
                f"temperature {self.temperature}: must be a finite number >= 0 (0: greedy)"
            )
        if self.top_k < 0:
            raise AvseqError(f"top-k {self.top_k}: must be >= 0 (0: every unit, 1: greedy)")
        if self.max_chars < 1:
            raise AvseqError(f"max-chars {self.max_chars}: must be >= 1")

    @property
    def greedy(self) -> bool:
        return self.temperature == 0 or self.top_k == 1


def sample_seed(seed: int, index: int) -> int:
    """The seed of sample `index` of a run seeded `seed`: a sample does not change when more
    samples are asked for."""
    return int(np.random.SeedSequence([seed, index]).generate_state(1)[0])


class TextGenerator:
    """Samples sentences from an `RNNLanguageModel` over its tokenizer's units (characters or
    SentencePiece pieces).

    Args:
        model: the language model (eval mode).
        tokenizer: its units.
    """

    def __init__(self, model: RNNLanguageModel, tokenizer: Tokenizer) -> None:
        self.model = model.eval()
        self.tokenizer = tokenizer
        self.device = next(model.parameters()).device

    @classmethod
    def from_checkpoint(cls, path: str | Path, device: str | torch.device = "cpu") -> TextGenerator:
        """The generator of a `speech_lm` checkpoint (`avseq train experiment=speech_lm`)."""
        return cls(*load_language_model_and_units(path, device))

    def encode_prompt(self, prompt: str) -> list[int]:
        """The prompt's unit ids, normalized as transcripts are; a final space is kept (the
        next unit then starts a word)."""
        try:
            ids = self.tokenizer.encode(prompt)
            if ids and prompt[-1].isspace() and not self.tokenizer.invalid_chars("x"):
                # normalizing drops a final space: spell "prompt x" and leave the "x" out
                ids = self.tokenizer.encode(prompt.rstrip() + " x")[:-1]
            return ids
        except ValueError as err:
            raise AvseqError(f"prompt {prompt!r}: {err}") from None

    @torch.inference_mode()
    def generate(
        self,
        prompt: str = "",
        num: int = 1,
        seed: int = 0,
        options: SamplingOptions | None = None,
    ) -> list[str]:
        """`num` samples, each the normalized prompt followed by the LM's continuation.

        Sample i draws its random numbers from a generator of its own (`sample_seed(seed, i)`):
        the same seed gives the same samples, whatever `num` is and on any device.
        """
        options = options or SamplingOptions()
        if num < 1:
            raise AvseqError(f"num {num}: must be >= 1")
        model, tok = self.model, self.tokenizer
        prompt_ids = self.encode_prompt(prompt)
        bos, eos = tok.vocab_size, tok.vocab_size + 1
        prefix = torch.tensor([[bos, *prompt_ids]] * num, device=self.device)
        logits, state = model.run(prefix)  # (num, P + 1, V + 2)
        logp = logits[:, -1].float().log_softmax(-1)
        generators = [torch.Generator().manual_seed(sample_seed(seed, i)) for i in range(num)]
        start = len(tok.decode(prompt_ids))
        out: list[list[int]] = [[] for _ in range(num)]
        texts: list[str | None] = [None] * num
        for _ in range(4 * options.max_chars):  # a unit spells one character or more
            chosen = self._choose(logp, generators, options, bos)
            for i, unit in enumerate(chosen.tolist()):
                if texts[i] is not None:
                    continue
                if unit == eos:
                    texts[i] = tok.decode(prompt_ids + out[i])
                    continue
                out[i].append(unit)
                text = tok.decode(prompt_ids + out[i])
                if len(text) - start >= options.max_chars:
                    texts[i] = text[: start + options.max_chars]
            if all(t is not None for t in texts):
                break
            logp, state = model.step(chosen, state)
        done = zip(texts, out, strict=True)
        return [t if t is not None else tok.decode(prompt_ids + o) for t, o in done]

    def _choose(
        self,
        logp: torch.Tensor,
        generators: list[torch.Generator],
        options: SamplingOptions,
        bos: int,
    ) -> torch.Tensor:
        """(N, V + 2) next-unit log-probabilities -> (N,) chosen ids (never blank nor bos)."""
        logp = logp.clone()
        logp[:, [0, bos]] = -math.inf
        if options.greedy:
            return logp.argmax(-1)
        scores = logp / options.temperature
        if options.top_k:
            kth = scores.topk(min(options.top_k, scores.size(1)), dim=-1).values[:, -1:]
            scores = scores.masked_fill(scores < kth, -math.inf)
        cdf = scores.softmax(-1).cumsum(-1)  # (N, V + 2)
        u = torch.cat([torch.rand(1, generator=g) for g in generators]).to(cdf)
        # u * total < total: never past the last unit, never on a unit of probability 0
        return torch.searchsorted(cdf, (u * cdf[:, -1])[:, None], right=True)[:, 0]
